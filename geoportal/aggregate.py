"""Aggregation of unit indicators into H3 cells and territories.

Every published number is a *count of units* (or a sum, for means) over a set of records.
A computation first builds, per unit, a boolean indicator for every measure (``Measures``),
then sums them into **fine cells**: (2022 district, 2012 polygon, H3 resolution-8 cell).
Every coarser level is a sum of fine cells, so children always add up to their parents
before disclosure control:

    nivel      codigo                      parent
    h3_8       H3 index (res 8)            h3_7
    h3_7 ...   down to h3_5                pais
    distrito   2012 polygon code           departamento
    departamento  2-digit code             pais
    pais       'PY'                        —

Means (distance to the nearest point, 2SFCA accessibility) are published only through
protected quantities, so besides each per-household sum the fine cells carry the number
of households in each *class* of the value (``mean_classes``): the published mean is
the class-midpoint mean of the perturbed class counts (``geoportal.disclosure``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import h3
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from h3.api import basic_int as h3i
from scipy import sparse

from geoportal.catalog import Catalogo

FINE_RES = 8
H3_LEVELS = (8, 7, 6, 5)
KEY_BITS = 24
KEY_MOD = 1 << KEY_BITS
FINE_KEYS = ["codigo_distrito", "codigo_2012", "dpto", "h3_8"]


def record_keys(ids: pd.Series, secret: str) -> np.ndarray:
    """Permanent pseudo-random 24-bit key of each record: a keyed hash of its id.

    The id's UTF-8 bytes (padded to 8-byte words) are folded with a splitmix64-style
    mixer seeded by the secret, all in numpy: the same id always gets the same key, and
    without the secret nobody can compute them.
    """
    array = pa.array(ids.array if isinstance(ids, pd.Series) else ids, type=pa.string(), from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    n = len(array)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    width = max(8, -(-int(pc.max(pc.binary_length(array)).as_py()) // 8) * 8)
    padded = pc.utf8_rpad(array, width=width, padding="\x00")
    if isinstance(padded, pa.ChunkedArray):
        padded = padded.combine_chunks()
    data = np.frombuffer(padded.buffers()[2], dtype=np.uint8)
    offsets = np.frombuffer(padded.buffers()[1], dtype=np.int32)[: n + 1]
    # Non-ASCII ids are longer in bytes than in characters: rebuild exact-width rows.
    if offsets[-1] - offsets[0] != n * width:
        starts, ends = offsets[:-1], offsets[1:]
        rows = np.zeros((n, int((ends - starts).max())), dtype=np.uint8)
        for i in range(n):  # rare: only ids with multi-byte characters
            rows[i, : ends[i] - starts[i]] = data[starts[i] : ends[i]]
        width = -(-rows.shape[1] // 8) * 8
        words = np.zeros((n, width), dtype=np.uint8)
        words[:, : rows.shape[1]] = rows
    else:
        words = data[offsets[0] : offsets[0] + n * width].reshape(n, width)
    words = np.ascontiguousarray(words).view(np.uint64)
    lengths = pc.binary_length(array).to_numpy(zero_copy_only=False).astype(np.int64)
    seed = np.uint64(int.from_bytes(hashlib.blake2b(secret.encode(), digest_size=8).digest(), "little"))
    h = np.full(n, seed, dtype=np.uint64) ^ lengths.astype(np.uint64)
    with np.errstate(over="ignore"):
        for j in range(words.shape[1]):
            # Only the id's own words: the key must not depend on the longest id of the batch.
            h = np.where(j * 8 < lengths, mix64(h ^ words[:, j]), h)
        h = mix64(h ^ seed)
    return (h >> np.uint64(64 - KEY_BITS)).astype(np.int64)


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (wrapping uint64 arithmetic)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def h3_cells(lon: np.ndarray, lat: np.ndarray, res: int = FINE_RES) -> np.ndarray:
    return np.fromiter(
        (h3i.latlng_to_cell(y, x, res) for x, y in zip(lon.tolist(), lat.tolist())),
        dtype=np.int64,
        count=len(lon),
    )


def parent_cells(cells: np.ndarray, res: int) -> np.ndarray:
    """Res-``res`` parent of each H3 cell (of resolution ``res`` or finer), by the index's bits:
    the resolution field (bits 52-55) set to ``res`` and the digits below it to 7 (unused),
    as ``h3.cell_to_parent`` does, without a Python call per cell."""
    c = np.asarray(cells, dtype=np.int64).view(np.uint64)
    unused = np.uint64((1 << (3 * (15 - res))) - 1)
    return ((c & ~np.uint64(0xF << 52)) | np.uint64(res << 52) | unused).view(np.int64)


@dataclass
class Measures:
    """Named per-unit indicators; ``counts`` are booleans, ``sums`` floats (for means)."""

    names: list[str] = field(default_factory=list)
    unit: list[str] = field(default_factory=list)
    values: list[np.ndarray] = field(default_factory=list)
    sum_names: list[str] = field(default_factory=list)
    sum_values: list[np.ndarray] = field(default_factory=list)
    class_values: dict[str, np.ndarray] = field(default_factory=dict)  # raw values, for mean classes

    def add(self, name: str, unit: str, indicator: np.ndarray) -> None:
        self.names.append(name)
        self.unit.append(unit)
        self.values.append(np.asarray(indicator, dtype=bool))

    def add_sum(self, name: str, value: np.ndarray, raw: np.ndarray | None = None) -> None:
        """A per-household sum; ``raw`` (default ``value``) is what its mean classes bin."""
        self.sum_names.append(name)
        self.sum_values.append(np.asarray(value, dtype=float))
        self.class_values[name] = np.asarray(value if raw is None else raw, dtype=float)


def measure_names(catalog: Catalogo) -> tuple[list[str], list[str]]:
    """Column names of counts and sums, in a stable order derived from the catalog."""
    counts = ["hogares", "hogares_urbanos", "personas", "entornos"]
    for cat in sorted(catalog.categorias, key=lambda c: c.logro):
        counts += [f"l{cat.logro}_universo", f"l{cat.logro}_protegidos", f"l{cat.logro}_ampliado"]
    for s in catalog.servicios:
        c = s.codigo.lower()
        counts += [f"{c}_aplica", f"{c}_cubiertos", f"{c}_sin_oferta", f"{c}_con_oferta"]
    counts += [lejos_column(tipo, km) for tipo in catalog.tipos_punto for km in LEJOS_KM]
    sums = []
    for tipo in catalog.tipos_punto:
        sums += [f"dist_{tipo}_km_suma", f"acceso_{tipo}_suma"]
    # Class counts of every mean's value (not published; they feed the protected means).
    counts += [name for s in sums for name in mean_classes(s)[2]]
    return counts, sums


# Population-weighted distance: persons whose household lies farther than each of these
# geodesic distances (km) from the nearest point of a type. Published as protected counts
# (family "persons beyond d of type t", ``disclosure.familias``) and shares of persons.
LEJOS_KM = (5, 10, 20)


def lejos_column(tipo: str, km: int) -> str:
    """Count column of the persons farther than ``km`` from the nearest point of ``tipo``."""
    return f"lejos_{tipo}_{km}km"


# Classes of the per-household values behind published means: distance in km (the last
# class also holds "no point of that type at all") and the 2SFCA index on a ×4 grid.
DIST_EDGES = np.array([0.5, 1, 2, 5, 10, 20, 50, 100], dtype=float)
DIST_MIDS = np.array([0.25, 0.75, 1.5, 3.5, 7.5, 15, 35, 75, 150], dtype=float)
ACCESS_EDGES = 4.0 ** np.arange(-5, 4)  # 1/1024 .. 64
ACCESS_MIDS = np.r_[0.0, ACCESS_EDGES[0] / 2, np.sqrt(ACCESS_EDGES[:-1] * ACCESS_EDGES[1:]), ACCESS_EDGES[-1] * 2]


def mean_classes(sum_name: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(edges, class midpoints, class column names) of the value summed in ``sum_name``."""
    stem = sum_name.removesuffix("_suma")
    mids = DIST_MIDS if stem.startswith("dist_") else ACCESS_MIDS
    edges = DIST_EDGES if stem.startswith("dist_") else ACCESS_EDGES
    return edges, mids, [f"{stem}_c{k}" for k in range(len(mids))]


def value_class(sum_name: str, value: np.ndarray) -> np.ndarray:
    """Class index of each household's value (see ``mean_classes``)."""
    edges, _, _ = mean_classes(sum_name)
    value = np.asarray(value, dtype=float)
    if sum_name.startswith("dist_"):
        return np.digitize(np.where(np.isfinite(value), value, np.inf), edges)
    return np.where(value > 0, np.digitize(value, edges) + 1, 0)


def age_partition(catalog: Catalogo) -> list[str]:
    """Universes of person categories whose age ranges tile 0 .. 130 (the age groups), or []."""
    by_start = {}
    for cat in catalog.categorias:
        r = cat.regla
        only_ages = r.sexo is None and r.embarazada is None and r.discapacidad is None and r.indigena is None
        if cat.universo == "persona" and only_ages and r.edad_min is not None:
            top = 130 if r.edad_max is None else r.edad_max
            if top > by_start.get(r.edad_min, (None, -1))[1]:
                by_start[r.edad_min] = (cat.logro, top)
    chain, age = [], 0
    while age in by_start:
        logro, top = by_start[age]
        chain.append(f"l{logro}_universo")
        age = top + 1
    return chain if age > 130 else []


def pair_codes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Number the distinct pairs (a, b) of two non-negative integer columns in order of first
    appearance (as ``pd.factorize`` of their MultiIndex, without materialising tuples)."""
    width = int(b.max()) + 1 if len(b) else 1
    return pd.factorize(np.asarray(a, dtype=np.int64) * width + np.asarray(b, dtype=np.int64))[0]


def fine_cells(fine_of_household: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Number the distinct fine cells of the households: (cell of each household, cells)."""
    district = pair_codes(
        pd.factorize(fine_of_household["codigo_distrito"].astype(str))[0],
        pd.factorize(fine_of_household["codigo_2012"].astype(str))[0],
    )
    # Pairs (district, h3 cell) numbered in order of first appearance, as integers (a
    # MultiIndex of millions of rows materialises tuples).
    cell = pair_codes(district, pd.factorize(fine_of_household["h3_8"].to_numpy(np.int64))[0])
    first = np.full(cell.max() + 1 if len(cell) else 0, -1, dtype=np.int64)
    first[cell[::-1]] = np.arange(len(cell))[::-1]
    return cell, fine_of_household.iloc[first][FINE_KEYS].reset_index(drop=True)


def fine_contributions(
    cells: pd.DataFrame,
    groups: dict[str, np.ndarray],
    measures: Measures,
    counts_order: list[str],
    sums_order: list[str],
) -> pd.DataFrame:
    """Sum indicators of every unit into its fine cell, and class counts of every sum.

    ``cells`` lists the fine cells (FINE_KEYS columns); ``groups[unit]`` gives each unit's
    row in it. Returns one row per fine cell with count and sum columns.
    """
    n = len(cells)
    # One column-major block per kind (a frame of hundreds of columns is built without copies).
    counts = np.zeros((n, len(counts_order)), dtype=np.int64, order="F")
    sums = np.zeros((n, len(sums_order)), dtype=float, order="F")
    at = {name: j for j, name in enumerate(counts_order)}
    for name, unit, indicator in zip(measures.names, measures.unit, measures.values):
        g = groups[unit]
        rows = np.flatnonzero(indicator)  # sparse indicators: sum only the units that count
        counts[:, at[name]] = np.bincount(g[rows], minlength=n)
    g = groups["hogar"]
    for name, value in zip(measures.sum_names, measures.sum_values):
        sums[:, sums_order.index(name)] = np.bincount(g, weights=value, minlength=n)
        if getattr(measures, "class_values", None) and name in measures.class_values:
            _, mids, names = mean_classes(name)
            classes = value_class(name, measures.class_values[name])
            both = np.bincount(g * len(mids) + classes, minlength=n * len(mids)).reshape(n, len(mids))
            for k, column in enumerate(names):
                counts[:, at[column]] = both[:, k]
    return pd.concat(
        [
            cells.reset_index(drop=True),
            pd.DataFrame(counts, columns=counts_order, copy=False),
            pd.DataFrame(sums, columns=sums_order, copy=False),
        ],
        axis=1,
    )


def level_keys(fine: pd.DataFrame) -> dict[str, np.ndarray]:
    """For each fine cell, its code at every level."""
    cells8 = fine["h3_8"].to_numpy(dtype=np.int64)
    keys = {"h3_8": cells8}
    for res in H3_LEVELS[1:]:
        keys[f"h3_{res}"] = parent_cells(cells8, res)
    return keys | territory_keys(fine)


def territory_keys(fine: pd.DataFrame) -> dict[str, np.ndarray]:
    """For each fine cell, its code at the territorial levels (``level_keys``' last three)."""
    return {
        "distrito": fine["codigo_2012"].fillna("").to_numpy(dtype=object),
        "departamento": fine["dpto"].to_numpy(dtype=object),
        "pais": np.full(len(fine), "PY", dtype=object),
    }


PARENT_LEVEL = {
    "h3_8": "h3_7",
    "h3_7": "h3_6",
    "h3_6": "h3_5",
    "h3_5": "pais",
    "distrito": "departamento",
    "departamento": "pais",
    "pais": None,
}


def h3_code(value) -> str:
    return h3.int_to_str(int(value))


def group_sum(codes: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum the rows of ``values`` by code; returns (unique codes, sums, first row of each code)."""
    uniques, inverse = np.unique(codes, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(inverse[order])) + 1] if len(order) else np.zeros(0, np.int64)
    sums = np.add.reduceat(values[order], starts, axis=0) if len(order) else np.zeros((0, values.shape[1]))
    return uniques, sums, order[starts]


def _count_matrix(fine: pd.DataFrame, counts_order: list[str]) -> np.ndarray:
    """The count columns as one matrix, in 32 bits when no sum of them can overflow it
    (a country's persons are millions): a third of the memory traffic of 64 bits."""
    counts = fine[counts_order].to_numpy(dtype=np.int64)
    total = np.abs(counts).sum(axis=0).max() if counts.size else 0
    narrow = counts.astype(np.int32) if total < np.iinfo(np.int32).max else counts
    return np.ascontiguousarray(narrow)  # row-major, as the sparse product reads it


def aggregate_levels(fine: pd.DataFrame, counts_order: list[str], sums_order: list[str]) -> pd.DataFrame:
    """All levels from fine cells: one row per (nivel, codigo) with its parent code.

    Counts are added exactly in integers, by a sparse product (group x fine cell); the
    few sums of reals in the cells' order within each group (the same float additions
    whatever the machine)."""
    keys = level_keys(fine)
    counts = _count_matrix(fine, counts_order)
    values = fine[sums_order].to_numpy(dtype=np.float64)
    heads, level_counts, level_sums = [], [], []
    for level, codes in keys.items():
        uniques, sums, first = group_sum(codes, values)
        inverse = np.searchsorted(uniques, codes)
        member = sparse.csr_matrix(
            (np.ones(len(codes), counts.dtype), (inverse, np.arange(len(codes)))), shape=(len(uniques), len(codes))
        )
        parent_level = PARENT_LEVEL[level]
        parents = keys[parent_level][first] if parent_level else np.full(len(uniques), None, dtype=object)
        if level.startswith("h3_"):
            uniques = np.array([h3_code(c) for c in uniques], dtype=object)
            if parent_level and parent_level.startswith("h3_"):
                parents = np.array([h3_code(c) for c in parents], dtype=object)
        heads.append(pd.DataFrame({"nivel": level, "codigo": uniques, "padre": parents}))
        level_counts.append(member @ counts)
        level_sums.append(sums)
    # Every level's rows in one column-major block per kind, copied once (a frame per level
    # and their concatenation copied the hundreds of columns twice more).
    return pd.concat(
        [
            pd.concat(heads, ignore_index=True),
            pd.DataFrame(_stacked(level_counts, len(counts_order), np.int64), columns=counts_order, copy=False),
            pd.DataFrame(_stacked(level_sums, len(sums_order), np.float64), columns=sums_order, copy=False),
        ],
        axis=1,
    )


def _stacked(parts: list[np.ndarray], columns: int, dtype) -> np.ndarray:
    """The matrices ``parts`` one under the other, as one column-major matrix of ``dtype``."""
    out = np.empty((sum(len(p) for p in parts), columns), dtype=dtype, order="F")
    start = 0
    for part in parts:
        out[start : start + len(part)] = part
        start += len(part)
    return out
