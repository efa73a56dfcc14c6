"""The live table's row hash and H3 cell geometry (geoportal/tabla_viva.py) and a district's
change of its fine cells (geoportal/actualizacion.py), checked against values built here:
shapely's reading of the EWKB, h3's own boundary, hand-made cells."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import shapely

from geoportal.tabla_viva import cell_ewkb, row_hash


def _rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "nivel": ["h3_8", "distrito", "pais"],
            "codigo": ["88a8a06a5bfffff", "1116", "PY"],
            "padre": ["87a8a06a5ffffff", "11", None],
            "hogares": pd.array([12, None, 40_000], dtype="Int64"),
            "l1_pct": pd.array([50.5, None, 7.0], dtype="Float64"),
            "dist_usf_km": [1.25, np.nan, 3.0],
            "reservado": [False, True, False],
            "data_version": ["a", "a", "a"],
        }
    )


def test_equal_values_hash_equal_whatever_their_pandas_type_and_version():
    rows = _rows()
    plain = rows.assign(
        hogares=rows["hogares"].astype(float),
        l1_pct=rows["l1_pct"].to_numpy(dtype=float, na_value=np.nan),
        padre=rows["padre"].astype(object),
        data_version=["b", "c", "d"],
    )
    assert (row_hash(rows) == row_hash(plain)).all()
    assert row_hash(rows).dtype == np.int64
    assert len(set(row_hash(rows))) == 3


def test_any_shown_value_changes_the_hash_of_its_row_only():
    rows = _rows()
    before = row_hash(rows)
    for column, value in [("hogares", 13), ("l1_pct", 50.6), ("padre", "87a8a06a5bfffff"), ("reservado", True)]:
        changed = rows.copy()
        changed.loc[0, column] = value
        after = row_hash(changed)
        assert after[0] != before[0], column
        assert (after[1:] == before[1:]).all(), column
    missing = rows.copy()
    missing.loc[2, "dist_usf_km"] = np.nan  # a value that goes missing is a change too
    assert row_hash(missing)[2] != before[2]


def test_cell_geometry_is_the_h3_boundary_with_its_srid():
    cells = ["88a8a06a5bfffff", h3.latlng_to_cell(-25.3, -57.6, 7), "8009fffffffffff"]  # the last: a pentagon
    for cell, ewkb in zip(cells, cell_ewkb(cells), strict=True):
        polygon = shapely.from_wkb(ewkb)
        assert shapely.get_srid(polygon) == 4326
        expected = [(round(lng, 6), round(lat, 6)) for lat, lng in h3.cell_to_boundary(cell)]
        assert list(polygon.exterior.coords) == [*expected, expected[0]]
        assert polygon.is_valid


def test_a_protection_hashes_as_its_rows_and_its_inputs_change_every_hash():
    """A district update hashes the protection's arrays (``Protected.shown``), a release
    its frame: both must give each row the same huella, reserved rows (NA counts) included;
    other inputs (the seed: territory, catalogue, targets...) change every row's."""
    from geoportal.disclosure import Protected
    from geoportal.tabla_viva import column_hash

    head = pd.DataFrame(
        {"nivel": ["pais", "h3_5", "h3_5"], "codigo": ["PY", "85a8", "85a9"], "padre": [None, "PY", "PY"]}
    )
    values = np.array([[40, 120], [0, 0], [35, 100]], dtype=np.int64)
    protection = Protected(
        head, np.array([False, True, False]), np.array([False, True, False]), ["hogares", "personas"], values
    )
    frame = protection.frame()
    assert frame["hogares"].isna().tolist() == [False, True, False]
    from_arrays = column_hash(protection.shown(), 3, seed=7)
    assert (from_arrays == row_hash(frame, seed=7)).all()
    assert len(set(from_arrays)) == 3
    assert (column_hash(protection.shown(), 3, seed=8) != from_arrays).all()
    only = np.array([False, False, True])
    assert row_hash(protection.frame(only), seed=7)[0] == from_arrays[2]


def test_a_district_change_keeps_the_cells_that_moved_and_subtracts_those_gone():
    from geoportal.actualizacion import _change

    keys = ["codigo_distrito", "codigo_2012", "dpto", "h3_8"]
    old = pd.DataFrame(
        [
            ["1116", "1116", "11", 1, 5, 2.5],  # as it was: left out
            ["1116", "1116", "11", 2, 3, 1.0],  # one more household
            ["1116", None, "11", 3, 4, np.nan],  # gone (no 2012 polygon): minus its row
            ["1116", "1116", "11", 4, 2, np.nan],  # same count, a sum still missing: kept (NaN)
        ],
        columns=[*keys, "hogares", "dist_usf_km_suma"],
    )
    new = pd.DataFrame(
        [
            ["1116", "1116", "11", 4, 2, np.nan],
            ["1116", "1116", "11", 2, 4, 1.0],
            ["1116", "1116", "11", 1, 5, 2.5],
            ["1116", "1116", "11", 9, 1, 0.75],  # new cell
        ],
        columns=old.columns,
    )
    got, rewrite, stale = _change(new, old, ["hogares", "dist_usf_km_suma"])
    by_cell = {row.h3_8: (row.hogares, row.dist_usf_km_suma, row.codigo_2012) for row in got.itertuples()}
    assert set(by_cell) == {2, 3, 4, 9}
    assert by_cell[2][:2] == (1.0, 0.0)
    assert by_cell[3][0] == -4.0 and np.isnan(by_cell[3][1]) and pd.isna(by_cell[3][2])  # a missing sum stays missing
    assert by_cell[4][0] == 0.0 and np.isnan(by_cell[4][1])
    assert by_cell[9][:2] == (1.0, 0.75)
    assert rewrite.tolist() == [True, True, False, True]  # new rows written: all but the one as it was
    assert sorted(stale["h3_8"]) == [2, 3, 4]  # stored rows deleted: changed or gone
