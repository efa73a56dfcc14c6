"""Rows of the live protected table (``calculo.cobertura_viva``) into PostgreSQL.

The rows go straight into their table by COPY, each with its geometry: an H3 cell's
polygon is built here as EWKB (``cell_ewkb``), a territory's (district, department,
country) is set from ``territorio`` by one UPDATE right after (``territory_geometry``).

Each row carries ``huella``, a 64-bit hash (``row_hash``) of its protected counts and of
every input its other values derive from (``publicacion.protected_rows``): equal hashes,
equal rows but for the data_version. A district update re-protects some thousands of
areas and most come out as they were: it names and describes, and rewrites, only the
rows whose hash changed (``changed``) and the rows of the territories it recomputed (its
district, department and the country, whose data_version names the live state for the
alerts). So a territory's data_version is that of the last computation that recomputed
it, an H3 cell's that of the last one that changed its figures.
"""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from geoportal.dbcopy import copy_in

NOT_HASHED = ("data_version", "huella")
TERRITORIES = ("distrito", "departamento", "pais")
_MISSING = np.uint64(0x7FF8_0000_DEAD_BEEF)  # a NaN no computation makes: what a missing value hashes as
_PRIME = np.uint64(0x0000_0100_0000_01B3)  # FNV-1a 64-bit multiplier


def cell_ewkb(cells: list[str]) -> np.ndarray:
    """EWKB polygons (SRID 4326, little-endian) of H3 cells, lon/lat rounded to 6 decimals,
    built as whole arrays (formatting 177 k WKT strings one by one took 3 s per release)."""
    rings = [h3.cell_to_boundary(c) for c in cells]
    out = np.empty(len(cells), dtype=object)
    sizes = np.fromiter((len(r) for r in rings), dtype=np.int64, count=len(rings))
    for n in np.unique(sizes):  # hexagons (6 vertices) and the 12 pentagons (5)
        idx = np.flatnonzero(sizes == n)
        lat_lng = np.array([rings[i] for i in idx], dtype=np.float64).reshape(len(idx), n, 2)
        ring = np.round(np.concatenate([lat_lng, lat_lng[:, :1]], axis=1)[:, :, ::-1], 6)
        record = np.dtype(
            [
                ("orden", "u1"),
                ("tipo", "<u4"),
                ("srid", "<u4"),
                ("anillos", "<u4"),
                ("puntos", "<u4"),
                ("xy", "<f8", (n + 1, 2)),
            ]
        )
        wkb = np.empty(len(idx), dtype=record)
        wkb["orden"], wkb["tipo"], wkb["srid"] = 1, 3 | 0x2000_0000, 4326  # polygon, with SRID
        wkb["anillos"], wkb["puntos"], wkb["xy"] = 1, n + 1, ring
        data, width = wkb.tobytes(), record.itemsize
        out[idx] = [data[k * width : (k + 1) * width] for k in range(len(idx))]
    return out


def with_geometry(frame: pd.DataFrame, as_hex: bool) -> pd.DataFrame:
    """``frame`` with ``geom``: EWKB of its H3 cells (hex text for a CSV COPY, raw bytes
    for a binary one), NULL for territories (``territory_geometry``)."""
    geom = np.full(len(frame), None, dtype=object)
    hexes = frame["nivel"].str.startswith("h3_").to_numpy()
    if hexes.any():
        ewkb = cell_ewkb(frame.loc[hexes, "codigo"].tolist())
        geom[hexes] = [g.hex() for g in ewkb] if as_hex else ewkb
    return frame.assign(geom=geom)


def territory_geometry(table: str, written: pd.DataFrame | None = None) -> sql.Composed:
    """Each territory row of ``table`` written without geometry gets its outline (only the
    rows ``written``, when given: a district without a 2012 polygon keeps no outline, and
    its row is not to be written again by every update)."""
    only = sql.SQL("")
    if written is not None:
        rows = written[written["nivel"].isin(TERRITORIES)]
        only = sql.SQL(" AND (v.nivel, v.codigo) IN (SELECT * FROM unnest({}::text[], {}::text[]))").format(
            sql.Literal(rows["nivel"].tolist()), sql.Literal(rows["codigo"].tolist())
        )
    return sql.SQL(
        "UPDATE {} v SET geom = CASE v.nivel"
        " WHEN 'distrito' THEN (SELECT geom FROM territorio.distrito_cartografico d WHERE d.codigo_2012 = v.codigo)"
        " WHEN 'departamento' THEN (SELECT geom FROM territorio.departamento d WHERE d.codigo = v.codigo)"
        " ELSE (SELECT geom FROM territorio.pais) END"
        " WHERE v.geom IS NULL AND v.nivel IN ('distrito', 'departamento', 'pais'){}"
    ).format(sql.SQL(table), only)


def copy_rows(cur: psycopg.Cursor, table: str, frame: pd.DataFrame) -> None:
    """The rows of ``frame`` (the table's columns) into ``table``, each with its geometry."""
    copy_in(cur, table, with_geometry(frame, as_hex=True))
    cur.execute(territory_geometry(table, frame))


def keys_in(frame: pd.DataFrame, keys: pd.DataFrame, columns=("nivel", "codigo")) -> np.ndarray:
    """Whether each row of ``frame`` has one of the ``columns`` tuples of ``keys``."""
    columns = list(columns)
    return pd.MultiIndex.from_frame(frame[columns]).isin(pd.MultiIndex.from_frame(keys[columns]))


def row_hash(frame: pd.DataFrame, seed: int = 0) -> np.ndarray:
    """A 64-bit hash (as int64) of each row's values, but its data_version and huella, and
    of ``seed`` (0 .. 2**64 - 1): equal values hash equal whatever their pandas type
    (nullable or not, integer or real)."""
    return column_hash((frame[c].array for c in frame.columns if c not in NOT_HASHED), len(frame), seed)


def column_hash(columns, rows: int, seed: int = 0) -> np.ndarray:
    """``row_hash`` of the rows whose columns (arrays, in order) ``columns`` yields."""
    out = np.full(rows, seed, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for values in columns:
            if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
                if isinstance(values, np.ndarray):
                    numbers = values.astype(np.float64, copy=False)
                else:
                    numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
                bits = numbers.view(np.uint64).copy()
                bits[np.isnan(numbers)] = _MISSING
            else:
                bits = pd.util.hash_array(np.asarray(values, dtype=object))
            out = (out ^ bits) * _PRIME
    return out.view(np.int64)


def changed(cur: psycopg.Cursor, table: str, keys: pd.DataFrame, huella: np.ndarray, recomputed: pd.DataFrame):
    """Which rows (``keys``: nivel, codigo; their ``huella``) to write over ``table``: the
    new, the changed, and the territories ``recomputed`` (nivel, codigo): their
    data_version says which computation their figures are from."""
    same = cur.execute(
        sql.SQL(
            "SELECT k.i FROM unnest(%s::text[], %s::text[], %s::bigint[]) WITH ORDINALITY k (nivel, codigo, huella, i)"
            " JOIN {} t ON t.nivel = k.nivel AND t.codigo = k.codigo AND t.huella = k.huella"
        ).format(sql.SQL(table)),
        (keys["nivel"].tolist(), keys["codigo"].tolist(), huella.tolist()),
    ).fetchall()
    out = np.ones(len(keys), dtype=bool)
    out[np.array([i for (i,) in same], dtype=np.int64) - 1] = False
    territories = np.flatnonzero(keys["nivel"].isin(TERRITORIES).to_numpy())
    recomputed = recomputed[recomputed["nivel"].isin(TERRITORIES)]
    out[territories[keys_in(keys.iloc[territories], recomputed)]] = True
    return out
