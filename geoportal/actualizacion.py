"""``geoportal calcular --distrito``: the incremental update of one 2022 district.

After a contrarreferencia, say: it subtracts the district's stored contribution from every
aggregate it touches and adds the new one (exact), re-protects the areas whose figures
changed and their siblings in the live table of authorised roles (``calculo.cobertura_viva``),
and publishes only when a batched release is due (``publish``, ``geoportal publicar``),
re-protecting the whole country then. It never reads the rest of the country otherwise, and
rewrites only the rows that changed (``geoportal.tabla_viva``).

Speed (bench/comparar.py): the district's units are read on ``conn`` while a second session,
on the same snapshot, reads the stored side; only the fine cells whose figures moved go up
the levels; and the sibling groups a process last read and wrote stay with it while no
other computation is logged (``_Held``): the country's group of H3 cells, in every
district's family, is read once, not at each update.
"""

from __future__ import annotations

import functools
import gc
import threading
from collections import OrderedDict
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from geoportal import aggregate as agg
from geoportal import tabla_viva
from geoportal.audit import log_access
from geoportal.catalog import Catalogo, default_catalog
from geoportal.coverage import Units
from geoportal.dbcopy import conninfo, copy_in, copy_out
from geoportal.huella import district_sums, fingerprints
from geoportal.pipeline import (
    EN_VIGOR,
    LAST_UPDATE,
    Timing,
    computation_inputs,
    cutoff_label,
    data_version,
    district_cutoff,
    household_side,
    log_update,
    store_fingerprints,
    unit_measures,
)
from geoportal.publicacion import described, protected_rows, publish, require_stored_columns, serialised, write_public
from geoportal.settings import Settings, get_settings


def _cyclic_gc_paused(function):
    """``function`` with Python's cyclic garbage collector paused: a district update makes
    some hundred thousand short-lived pandas objects, and each full collection they trigger
    walks the whole heap of the process (a tenth of the update in a server). Reference
    counting frees them as usual; the collector resumes when the update ends."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        if not gc.isenabled():  # paused already (a nested call, another thread's update)
            return function(*args, **kwargs)
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            gc.enable()

    return wrapper


@serialised
@_cyclic_gc_paused
def compute_district(
    conn: psycopg.Connection,
    codigo: str,
    catalog: Catalogo | None = None,
    settings: Settings | None = None,
    fecha_corte: date | None | str = EN_VIGOR,
) -> dict:
    """Recompute one 2022 district: exact aggregates, live protected table, release if due.

    At the cut-off of the national computation in force (``EN_VIGOR``); asked for another
    one it raises ``CorteDistinto`` (only a national computation changes the cut-off).

    The unprotected aggregates are updated exactly (subtract the stored contribution, add
    the new one). The live table of authorised roles re-protects the touched areas and
    their siblings with the rules within each hierarchy. The public store changes only
    when a batched release is due (``release_due``), and then it is re-protected
    nationally with every rule (``publish``).
    """
    catalog = catalog or default_catalog()
    settings = settings or get_settings()
    timing = Timing()
    exists = conn.execute("SELECT to_regclass('calculo.cobertura_viva') IS NOT NULL").fetchone()[0]
    if not exists:
        raise LookupError("Todavía no hay un cálculo nacional: ejecute `geoportal calcular` sin --distrito.")
    if not conn.execute("SELECT 1 FROM territorio.distrito WHERE codigo = %s", (codigo,)).fetchone():
        raise LookupError(f"Distrito desconocido: {codigo}")
    fecha_corte = district_cutoff(conn, fecha_corte)
    counts, sums = agg.measure_names(catalog)
    value_columns = counts + sums
    require_stored_columns(conn, value_columns)
    conn.commit()
    # One snapshot for every read: ``conn``'s, exported to a second session that reads the
    # stored side (the district's contribution, the sibling groups, the inputs' digests)
    # while ``conn`` reads the district's units: the server works on both cores.
    companion, database = conninfo(conn), _database(conn)
    with conn.transaction(), ThreadPoolExecutor(max_workers=1) as pool:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]

        ratio_rows: Future = Future()

        def read_rest():
            """The points' ratios (first: the statuses wait for them), the district's stored
            contribution, the sibling groups of the cells and territories its rows were in
            (those of new places are read when written) and the computation's inputs."""
            with psycopg.connect(companion) as other, other.transaction():
                other.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                other.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
                mark = other.execute(LAST_UPDATE).fetchone()
                held = _held(database, mark)
                ratio_rows.set_result(
                    held.ratios
                    if held
                    else copy_out(other, "SELECT punto_id, tipo, ratio FROM calculo.punto_ratio ORDER BY punto_id")
                )
                old = copy_out(
                    other, "SELECT * FROM calculo.contribucion WHERE codigo_distrito = {}", (codigo,), typed=True
                )
                old["h3_8"] = old["h3_8"].astype(np.int64)
                likely = _groups_of(old[agg.FINE_KEYS])
                inputs = computation_inputs(
                    other, settings, settings.catalogo.read_bytes(), settings.metas.read_bytes(), fecha_corte
                )
                return old, likely, _sibling_rows(other, held, likely), inputs

        reading = pool.submit(read_rest)
        units = Units.from_db(
            conn,
            fecha_corte,
            distrito=codigo,
            huellas=True,
            companion=conn,
            meanwhile=lambda partial: household_side(catalog, partial),
        )
        row_sums = district_sums(units)  # the district's fingerprint, from the rows read (as in compute_all)
        ratios = {t: g.set_index("punto_id")["ratio"] for t, g in _first(ratio_rows, reading).groupby("tipo")}
        timing.mark("lectura")
        if len(units.hogares):
            new, _, _ = unit_measures(catalog, units, ratios)
        else:
            new = pd.DataFrame(columns=agg.FINE_KEYS + value_columns)
        old, likely, read, inputs = reading.result()
    timing.mark("estatus_acceso_logros")
    delta, rewrite, stale = _change(new, old, value_columns)
    delta_levels = agg.aggregate_levels(delta, counts, sums)
    # The territories the district is in are recomputed whatever changed (their data_version).
    territories = _territories(pd.concat([new[agg.FINE_KEYS], old[agg.FINE_KEYS]], ignore_index=True))
    # Changed records, at least: the largest number of unit changes of any one count.
    cambios = int(np.abs(np.rint(delta[counts].to_numpy(float))).sum(axis=0).max()) if len(delta) else 0
    timing.mark("delta")

    conn.commit()  # the block below is then a real transaction, committed at its end
    with conn.transaction(), conn.cursor() as cur:
        touched = pd.concat([delta_levels[["nivel", "codigo"]], territories[["nivel", "codigo"]]], ignore_index=True)
        touched = touched.drop_duplicates(ignore_index=True)
        # Every row of the sibling groups the touched areas are in (a touched area's parent
        # is a function of its code), and the country: read above, but for groups of new
        # places (a locality's first entorno, say).
        wanted = pd.concat([delta_levels[["nivel", "padre"]], territories[["nivel", "padre"]]])
        wanted = wanted.dropna().drop_duplicates()
        missing = wanted[~tabla_viva.keys_in(wanted, likely, ["nivel", "padre"])]
        if len(missing):
            read = pd.concat([read, _read_groups(conn, missing, country=False)], ignore_index=True)
        is_touched = tabla_viva.keys_in(read, touched)
        current = read[is_touched]
        updated = _plus(current, delta_levels, counts, sums)
        # Only the rows that changed are rewritten (most of a district's come out as they were).
        vanished, altered, write = _differing(updated, current, ["nivel", "codigo"], ["padre", *value_columns])
        _delete_keys(cur, "calculo.agregado", pd.concat([vanished, altered]))
        copy_in(cur, "calculo.agregado", updated.loc[write, ["nivel", "codigo", "padre", *value_columns]])
        _delete_fine(cur, codigo, stale)
        copy_in(cur, "calculo.contribucion", new.loc[rewrite, agg.FINE_KEYS + value_columns])
        # Re-protect every area whose sibling group changed (complementary suppression is per group).
        groups = (
            pd.concat(
                [
                    touched.merge(updated[["nivel", "codigo", "padre"]], how="left")[["nivel", "padre"]],
                    current[["nivel", "padre"]],
                ]
            )
            .dropna()
            .drop_duplicates()
        )
        after = pd.concat([read[~is_touched], updated[read.columns]], ignore_index=True)  # the groups, as written
        in_groups = tabla_viva.keys_in(after, groups, ["nivel", "padre"]) | (after["nivel"] == "pais").to_numpy()
        family = after[in_groups].sort_values(["nivel", "codigo"], ignore_index=True)
        huellas = dict(
            cur.execute("SELECT ambito, huella FROM calculo.huella WHERE ambito <> %s", (codigo,)).fetchall()
        )
        huellas.update(fingerprints(row_sums, inputs))
        version, parametros = data_version(settings, inputs, huellas)
        protected = protected_rows(family, catalog, settings, parametros)
        rows = tabla_viva.changed(cur, "calculo.cobertura_viva", protected.head, protected.huella, touched)
        # The rows rewritten, and those of the areas left without households, persons or entornos.
        gone = pd.concat([protected.head.loc[rows, ["nivel", "codigo"]], vanished])
        _delete_keys(cur, "calculo.cobertura_viva", gone)
        shown = protected.frame(rows)
        write_public(cur, described(conn, shown, catalog, settings, version), catalog)
        mark = log_update(cur, version, f"distrito {codigo}", parametros, cambios)
        store_fingerprints(cur, huellas, replace=codigo)
        log_access(conn, "calcular", codigo, {"data_version": version, "hogares": len(units.hogares)})
    _hold(database, _Held(tuple(mark), pd.concat([likely, missing], ignore_index=True), after, ratio_rows.result()))
    timing.mark("actualizacion_interna")
    released = publish(conn, catalog, settings)["publicada"]
    timing.mark("publicacion")
    return {
        "data_version": version,
        "hogares": len(units.hogares),
        "personas": len(units.personas),
        "areas_actualizadas": len(family),
        "segundos": timing.stages,
        "publicada": released,
        "fecha_corte": cutoff_label(fecha_corte),
    }


def _differing(now: pd.DataFrame, before: pd.DataFrame, keys: list[str], values: list[str]):
    """(keys of rows of ``before`` gone from ``now``, keys of rows changed, mask of the rows
    of ``now`` new or changed): what a partial rewrite of a table holding ``before`` deletes
    and copies. Values compare exactly (NULL equal to NULL)."""
    now_keys, before_keys = pd.MultiIndex.from_frame(now[keys]), pd.MultiIndex.from_frame(before[keys])
    gone = before[keys][~before_keys.isin(now_keys)]
    where = before_keys.get_indexer(now_keys)
    found = np.flatnonzero(where >= 0)
    same = np.ones(len(found), dtype=bool)
    kinds = now.dtypes[values].map(lambda d: d.kind) + before.dtypes[values].map(lambda d: d.kind)
    numeric = [c for c, k in kinds.items() if k[0] in "biuf" and k[1] in "biuf"]
    for columns, kind in ((numeric, float), ([c for c in values if c not in numeric], object)):
        if columns:
            a = now[columns].to_numpy(dtype=kind)[found]
            b = before[columns].to_numpy(dtype=kind)[where[found]]
            same &= ((a == b) | (pd.isna(a) & pd.isna(b))).all(axis=1)
    differs = np.ones(len(now), dtype=bool)
    differs[found] = ~same
    return gone, now[keys].iloc[found[~same]], differs


def _first(part: Future, whole: Future):
    """``part``'s result, set early by the task ``whole`` (whose failure is raised instead
    when it ends without setting it)."""
    wait([part, whole], return_when=FIRST_COMPLETED)
    if not part.done():
        whole.result()  # raises the task's error
    return part.result()


def _change(new: pd.DataFrame, old: pd.DataFrame, values: list[str]):
    """The district's fine cells whose figures changed (most of a district's come out as
    they were: x - x is exactly 0; NaN counts as a change): (their keys, ``agg.FINE_KEYS``,
    and new minus old ``values``, a cell gone counting minus its old row; the rows of
    ``new`` to write, new or changed; the keys of the stored rows to delete, changed or gone)."""
    where = pd.MultiIndex.from_frame(old[agg.FINE_KEYS]).get_indexer(pd.MultiIndex.from_frame(new[agg.FINE_KEYS]))
    found = where >= 0
    before = old[values].to_numpy(dtype=float)
    change = np.array(new[values].to_numpy(dtype=float))  # a copy: subtracted in place
    change[found] -= before[where[found]]
    gone = np.ones(len(old), dtype=bool)
    gone[where[found]] = False
    keys = pd.concat([new[agg.FINE_KEYS], old.loc[gone, agg.FINE_KEYS]], ignore_index=True)
    change = np.vstack([change, -before[gone]])
    moved = ~(change == 0).all(axis=1)
    stored = np.r_[found, np.ones(gone.sum(), dtype=bool)]
    delta = pd.concat([keys[moved].reset_index(drop=True), pd.DataFrame(change[moved], columns=values)], axis=1)
    return delta, moved[: len(new)], keys[moved & stored]


def _plus(current: pd.DataFrame, delta: pd.DataFrame, counts: list[str], sums: list[str]) -> pd.DataFrame:
    """Each area's stored row (``current``) plus its change (``delta``), exact; the areas
    left without households, persons and entornos are left out."""
    head, values = ["nivel", "codigo", "padre"], counts + sums
    both = pd.concat([current[head + values], delta[head + values]], ignore_index=True)
    area = pd.factorize(pd.MultiIndex.from_frame(both[["nivel", "codigo"]]))[0]
    numbers = both[values].to_numpy(dtype=float)
    _, summed, first = agg.group_sum(area, np.where(np.isnan(numbers), 0.0, numbers))  # NaN adds nothing
    updated = pd.concat(
        [
            both[head].iloc[first].reset_index(drop=True),  # the stored row's parent, else the change's
            pd.DataFrame(np.rint(summed[:, : len(counts)]).astype(np.int64), columns=counts),
            pd.DataFrame(summed[:, len(counts) :], columns=sums),
        ],
        axis=1,
    )
    return updated[(updated["hogares"] > 0) | (updated["personas"] > 0) | (updated["entornos"] > 0)]


def _delete_fine(cur, codigo: str, keys: pd.DataFrame) -> None:
    """The district's fine rows (calculo.contribucion) of ``keys`` (agg.FINE_KEYS)."""
    cur.execute(
        "DELETE FROM calculo.contribucion t USING unnest(%s::text[], %s::text[], %s::text[], %s::bigint[])"
        " k (codigo_distrito, codigo_2012, dpto, h3_8) WHERE t.codigo_distrito = %s"
        " AND t.codigo_distrito = k.codigo_distrito AND t.codigo_2012 IS NOT DISTINCT FROM k.codigo_2012"
        " AND t.dpto IS NOT DISTINCT FROM k.dpto AND t.h3_8 IS NOT DISTINCT FROM k.h3_8",
        (*(keys[c].tolist() for c in agg.FINE_KEYS), codigo),
    )


def _territories(fine_keys: pd.DataFrame) -> pd.DataFrame:
    """The territories (nivel, codigo, padre) the fine cells ``fine_keys`` are in."""
    keys = agg.territory_keys(fine_keys)
    frames = [
        pd.DataFrame(
            {
                "nivel": level,
                "codigo": codes,
                "padre": keys[agg.PARENT_LEVEL[level]] if agg.PARENT_LEVEL[level] else None,
            }
        )
        for level, codes in keys.items()
    ]
    return pd.concat(frames, ignore_index=True).drop_duplicates(["nivel", "codigo"], ignore_index=True)


def _groups_of(fine_keys: pd.DataFrame) -> pd.DataFrame:
    """The sibling groups (nivel, padre) of every area the fine cells ``fine_keys`` are in:
    at each level, the parents at the level above of the cells' areas."""
    keys = agg.level_keys(fine_keys.drop_duplicates(ignore_index=True))
    groups = []
    for level, parent_level in agg.PARENT_LEVEL.items():
        if parent_level is None:
            continue
        parents = pd.unique(keys[parent_level])
        if parent_level.startswith("h3_"):
            parents = [agg.h3_code(c) for c in parents]
        groups.append(pd.DataFrame({"nivel": level, "padre": pd.Series(parents, dtype=object)}))
    return pd.concat(groups, ignore_index=True).dropna()


# ----------------------------------------------------------------------------- held groups
@dataclass
class _Held:
    """What this process last read and wrote of the stored side of one database, current
    while the newest row of calculo.actualizacion is ``mark``: every writer of
    calculo.agregado (national or district) adds one in the same transaction, under the
    writers' lock, so nothing of it changed since. The country's sibling group of H3 cells
    (1,647 rows of 300 columns) is in every district's family: read once, not each update."""

    mark: tuple  # (actualizacion_id, data_version, calculado_en)
    groups: pd.DataFrame  # (nivel, padre) of every sibling group held, each whole
    rows: pd.DataFrame  # their rows of calculo.agregado, and the country's
    ratios: pd.DataFrame  # calculo.punto_ratio


_HELD: OrderedDict[tuple, _Held] = OrderedDict()
_HELD_KEPT = 4  # databases (a test run uses several)
_HELD_LOCK = threading.Lock()


def _database(conn: psycopg.Connection) -> tuple:
    return (conn.info.host, conn.info.port, conn.info.dbname)


def _held(database: tuple, mark: tuple | None) -> _Held | None:
    with _HELD_LOCK:
        held = _HELD.get(database)
    return held if held is not None and mark is not None and held.mark == tuple(mark) else None


def _hold(database: tuple, held: _Held) -> None:
    with _HELD_LOCK:
        _HELD[database] = held
        _HELD.move_to_end(database)
        while len(_HELD) > _HELD_KEPT:
            _HELD.popitem(last=False)


def _sibling_rows(conn: psycopg.Connection, held: _Held | None, groups: pd.DataFrame) -> pd.DataFrame:
    """``_read_groups(conn, groups)``: the groups held taken from ``held`` (current), the rest read."""
    if held is None:
        return _read_groups(conn, groups)
    missing = groups[~tabla_viva.keys_in(groups, held.groups, ["nivel", "padre"])]
    have = held.rows[
        tabla_viva.keys_in(held.rows, groups, ["nivel", "padre"]) | (held.rows["nivel"] == "pais").to_numpy()
    ]
    if not len(missing):
        return have.reset_index(drop=True)
    return pd.concat([have, _read_groups(conn, missing, country=False)], ignore_index=True)


def _read_groups(conn: psycopg.Connection, groups: pd.DataFrame, country: bool = True) -> pd.DataFrame:
    """The rows of calculo.agregado in the sibling groups ``groups`` (nivel, padre), and the country's."""
    return copy_out(
        conn,
        "SELECT t.* FROM calculo.agregado t"
        " JOIN unnest({}::text[], {}::text[]) g (nivel, padre) ON t.nivel = g.nivel AND t.padre = g.padre"
        + (" UNION ALL SELECT t.* FROM calculo.agregado t WHERE t.nivel = 'pais'" if country else "")
        + " ORDER BY nivel, codigo",
        (groups["nivel"].tolist(), groups["padre"].tolist()),
        typed=True,
    )


def _delete_keys(cur, table: str, keys: pd.DataFrame) -> None:
    cur.execute(
        f"DELETE FROM {table} t USING unnest(%s::text[], %s::text[]) k (nivel, codigo)"
        " WHERE t.nivel = k.nivel AND t.codigo = k.codigo",
        (keys["nivel"].tolist(), keys["codigo"].tolist()),
    )
