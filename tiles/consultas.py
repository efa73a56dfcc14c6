"""SQL of the vector tiles: pre-simplified geometries (once per version) and the tile query.

Geometries are stored in EPSG:3857 in ``publico.tesela_geom``: territorial polygons once
per zoom at which a layer shows them, simplified to one MVT grid unit of that zoom (so
the simplification is invisible and the tile query does no geometry work but clipping);
H3 cells and points once (``z = -1``), since they have nothing to simplify.

Values never live there: a tile joins the geometry with its source row
(``publico.cobertura`` …), so tiles show exactly the protected store's numbers.
"""

from __future__ import annotations

import json
import time

from psycopg import sql

from capas.catalogo import Capa, default_capas

SIMPLIFIED_LEVELS = {"departamento", "distrito"}
CODE_DEFINED_PREFIX = "h3_"  # levels whose geometry follows from the area code alone
EXTENT = 4096
BUFFER = 64
WORLD = 40075016.685578488  # width of the Web Mercator square, metres
# Simplification tolerance in MVT grid units: 4 of 4096 is a quarter of a pixel on a
# 256-pixel tile (half on a 512-pixel one), invisible, yet it halves the vertices.
TOLERANCE_UNITS = 4


def tolerance(z: int) -> float:
    """The simplification tolerance at zoom z, in metres."""
    return WORLD * TOLERANCE_UNITS / (EXTENT * 2**z)


SIMPLIFY_MAX_ZOOM = 11  # beyond it a grid unit is under 5 m: the z-11 geometry is used


def geometry_plan(capas: dict[str, Capa]) -> dict[tuple[str, str], list[int] | None]:
    """(source, level) → the zooms to simplify for, or None for one unsimplified copy."""
    plan: dict[tuple[str, str], set[int] | None] = {}
    for capa in capas.values():
        for level in capa.niveles:
            key = (capa.fuente, level.nivel)
            if level.nivel in SIMPLIFIED_LEVELS:
                zooms = range(min(level.zoom[0], SIMPLIFY_MAX_ZOOM), min(level.zoom[1], SIMPLIFY_MAX_ZOOM) + 1)
                plan.setdefault(key, set()).update(zooms)
            else:
                plan[key] = None
    return {k: (sorted(v) if v is not None else None) for k, v in plan.items()}


def stored_zoom(nivel: str, z: int) -> int:
    """The zoom whose simplified geometry a tile at zoom z uses (-1 rows match any zoom)."""
    return min(z, SIMPLIFY_MAX_ZOOM) if nivel in SIMPLIFIED_LEVELS else -1


def store_geometries(conn, capas: dict[str, Capa] | None = None) -> dict:
    """Bring ``publico.tesela_geom`` up to date with the current publication. Commits.

    Incremental and idempotent: a (source, level, code) is (re)built only when it is new
    or its source geometry changed (md5 ``huella``), or when the layer zooms changed;
    rows of areas no longer published are dropped. A district update thus costs little,
    and running it twice does nothing the second time.
    """
    capas = capas or default_capas()
    row = conn.execute("SELECT data_version FROM publico.version WHERE vigente").fetchone()
    if row is None:
        return {"data_version": None, "geometrias": 0, "nuevas": 0}
    start = time.perf_counter()
    plan = geometry_plan(capas)
    plan_json = {
        f"{f}|{n}": (None if z is None else {"z": z, "unidades": TOLERANCE_UNITS}) for (f, n), z in plan.items()
    }
    previous = conn.execute("SELECT plan, data_version, preparado_en FROM publico.tesela_estado").fetchone()
    since = previous[2] if previous else None
    if previous and previous[1] == row[0] and previous[0] == plan_json:
        total = conn.execute("SELECT count(*) FROM publico.tesela_geom").fetchone()[0]
        return {"data_version": row[0], "geometrias": total, "nuevas": 0, "segundos": 0.0}
    previous = previous[0] if previous else {}
    built = 0
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("DELETE FROM publico.tesela_geom WHERE NOT (fuente || '|' || nivel = ANY (%s))", (list(plan_json),))
        versioned = {
            f
            for f in {k[0] for k in plan}
            if cur.execute(
                "SELECT 1 FROM information_schema.columns WHERE table_schema || '.' || table_name = %s"
                " AND column_name = 'data_version'",
                (f,),
            ).fetchone()
        }
        for (fuente, nivel), zooms in plan.items():
            source = sql.SQL(fuente)
            if previous.get(f"{fuente}|{nivel}", "absent") != plan_json[f"{fuente}|{nivel}"]:
                cur.execute("DELETE FROM publico.tesela_geom WHERE fuente = %s AND nivel = %s", (fuente, nivel))
            else:
                # Areas gone, or republished with another geometry. In a source that says
                # which version published each row, only rows of versions published since
                # the last preparation are checked (a district update: a few hundred).
                # An H3 cell's outline is a function of its code: only its presence is
                # checked (a national release re-dates all 177 k rows; hashing each
                # outline again took 7 s and can never find a change).
                recent = (
                    sql.SQL(
                        "s.data_version IN (SELECT data_version FROM publico.version"
                        " WHERE calculado_en >= %(since)s) AND "
                    )
                    if fuente in versioned and since is not None
                    else sql.SQL("")
                )
                changed = (
                    ""
                    if nivel.startswith(CODE_DEFINED_PREFIX)
                    else " OR EXISTS (SELECT 1 FROM {src} s WHERE s.nivel = g.nivel AND s.codigo = g.codigo"
                    "   AND {recent}md5(ST_AsEWKB(s.geom)) <> g.huella)"
                )
                cur.execute(
                    sql.SQL(
                        "DELETE FROM publico.tesela_geom g WHERE g.fuente = %(f)s AND g.nivel = %(n)s AND ("
                        " NOT EXISTS (SELECT 1 FROM {src} s WHERE s.nivel = g.nivel AND s.codigo = g.codigo"
                        "   AND s.geom IS NOT NULL)" + changed + ")"
                    ).format(src=source, recent=recent),
                    {"f": fuente, "n": nivel, "since": since},
                )
            missing = sql.SQL(
                "SELECT nivel, codigo, md5(ST_AsEWKB(geom)) AS huella, ST_Transform(geom, 3857) AS g FROM {} s"
                " WHERE s.nivel = %s AND s.geom IS NOT NULL AND NOT EXISTS (SELECT 1 FROM publico.tesela_geom t"
                " WHERE t.fuente = %s AND t.nivel = s.nivel AND t.codigo = s.codigo)"
            ).format(source)
            if zooms is None:
                cur.execute(
                    sql.SQL(
                        "INSERT INTO publico.tesela_geom (fuente, nivel, codigo, z, huella, geom)"
                        " SELECT %s, nivel, codigo, -1, huella, g FROM ({}) m"
                    ).format(missing),
                    (fuente, nivel, fuente),
                )
            else:
                cur.execute(
                    sql.SQL(
                        "INSERT INTO publico.tesela_geom (fuente, nivel, codigo, z, huella, geom)"
                        " SELECT %s, m.nivel, m.codigo, z, m.huella, ST_SimplifyPreserveTopology(m.g, %s / (2 ^ z))"
                        " FROM ({}) m, unnest(%s::int[]) AS z"
                    ).format(missing),
                    (fuente, WORLD * TOLERANCE_UNITS / EXTENT, nivel, fuente, zooms),
                )
            built += cur.rowcount
        seconds = time.perf_counter() - start
        cur.execute(
            "INSERT INTO publico.tesela_estado (data_version, preparado_en, segundos, plan)"
            " VALUES (%s, now(), %s, %s::jsonb) ON CONFLICT (unica) DO UPDATE SET"
            " data_version = excluded.data_version, preparado_en = excluded.preparado_en,"
            " segundos = excluded.segundos, plan = excluded.plan",
            (row[0], seconds, json.dumps(plan_json)),
        )
        total = cur.execute("SELECT count(*) FROM publico.tesela_geom").fetchone()[0]
    conn.commit()
    if built:
        conn.execute("ANALYZE publico.tesela_geom")
        conn.commit()
    return {
        "data_version": row[0],
        "geometrias": total,
        "nuevas": built,
        "segundos": round(time.perf_counter() - start, 2),
    }


def tile_sql(capa: Capa, nivel: str, measures: list[str], reservable: bool, prepared: bool) -> sql.Composed:
    """The ST_AsMVT query of one layer at one level. Parameters: fuente, nivel, z, the tile's
    Mercator bounds (xmin, ymin, xmax, ymax) and, for the unprepared path, its lon/lat bounds.

    Each feature carries its code, name, ``reservado`` (only where true), the layer's
    measures (NULL, hence absent, in reserved areas) and the layer's extra properties.
    """
    s = sql.Identifier("s")
    columns = [sql.SQL("s.codigo"), sql.SQL("s.nombre")]
    if reservable:
        columns.append(sql.SQL("CASE WHEN s.reservado THEN true END AS reservado"))
    for m in measures:
        value = sql.SQL("{}.{}").format(s, sql.Identifier(m))
        if reservable:
            value = sql.SQL("CASE WHEN s.reservado THEN NULL ELSE {} END").format(value)
        columns.append(sql.SQL("{} AS {}").format(value, sql.Identifier(m)))
    for p in capa.propiedades:
        columns.append(sql.SQL("{}.{}").format(s, sql.Identifier(p)))
    envelope = sql.SQL("ST_MakeEnvelope(%(xmin)s, %(ymin)s, %(xmax)s, %(ymax)s, 3857)")
    if prepared:
        geom = sql.SQL("g.geom")
        source = sql.SQL(
            "FROM publico.tesela_geom g JOIN {fuente} s ON s.nivel = g.nivel AND s.codigo = g.codigo"
            " WHERE g.fuente = %(fuente)s AND g.nivel = %(nivel)s AND g.z = %(z_stored)s"
            " AND g.geom && ST_Expand({env}, %(margin)s)"
        ).format(fuente=sql.SQL(capa.fuente), env=envelope)
    else:
        # Not yet prepared for this version (the post-publication step has not run): the
        # same features, simplified on the fly. Slower, never different.
        geom = sql.SQL("ST_Transform(s.geom, 3857)")
        if nivel in SIMPLIFIED_LEVELS:
            geom = sql.SQL("ST_SimplifyPreserveTopology({}, %(tolerance)s)").format(geom)
        source = sql.SQL(
            "FROM {fuente} s WHERE s.nivel = %(nivel)s AND s.geom IS NOT NULL"
            " AND s.geom && ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326)"
        ).format(fuente=sql.SQL(capa.fuente))
    # OFFSET 0 keeps the planner from pushing "geom IS NOT NULL" into the scan, which
    # would compute ST_AsMVTGeom twice per row.
    inner = sql.SQL(
        "SELECT ST_AsMVTGeom({geom}, {env}, {extent}, {buffer}, true) AS geom, {columns} {source} OFFSET 0"
    ).format(
        geom=geom,
        env=envelope,
        extent=sql.Literal(EXTENT),
        buffer=sql.Literal(BUFFER),
        columns=sql.SQL(", ").join(columns),
        source=source,
    )
    return sql.SQL("SELECT ST_AsMVT(t.*, {name}, {extent}, 'geom') FROM ({inner}) t WHERE t.geom IS NOT NULL").format(
        name=sql.Literal(capa.id), extent=sql.Literal(EXTENT), inner=inner
    )
