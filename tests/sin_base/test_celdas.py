"""H3 parents by the index's bits agree with the h3 library, cell by cell."""

import h3
import numpy as np

from geoportal.aggregate import parent_cells


def test_parents_by_bits_are_the_libraries_parents():
    rng = np.random.default_rng(7)
    # Paraguay's bounding box and a margin: cells of several base cells and pentagon-free faces.
    lat, lon = rng.uniform(-28.0, -19.0, 5_000), rng.uniform(-63.0, -54.0, 5_000)
    for fine in (8, 9):
        cells = np.array([int(h3.latlng_to_cell(a, b, fine), 16) for a, b in zip(lat, lon)], dtype=np.int64)
        for res in range(fine + 1):
            expected = [int(h3.cell_to_parent(h3.int_to_str(int(c)), res), 16) for c in cells]
            assert parent_cells(cells, res).tolist() == expected, (fine, res)


def test_a_pentagons_children_find_it():
    pentagon = h3.get_pentagons(4)[0]
    children = np.array([int(c, 16) for c in h3.cell_to_children(pentagon, 8)], dtype=np.int64)
    assert set(parent_cells(children, 4).tolist()) == {int(pentagon, 16)}
