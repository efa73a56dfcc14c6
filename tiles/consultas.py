"""SQL of the vector tiles: pre-simplified geometries (once per version) and the tile query.

Geometries are stored in EPSG:3857 in ``publico.tesela_geom``: territorial polygons once
per zoom at which a layer shows them, simplified to one MVT grid unit of that zoom (so
the simplification is invisible and the tile query does no geometry work but clipping);
H3 cells and points once (``z = -1``), since they have nothing to simplify.

Values never live there: a tile joins the geometry with its source row
(``publico.cobertura`` …), so tiles show exactly the protected store's numbers.
"""

from __future__ import annotations

import time

from psycopg import sql

from capas.catalogo import Capa, default_capas

SIMPLIFIED_LEVELS = {"departamento", "distrito"}
EXTENT = 4096
BUFFER = 64
WORLD = 40075016.685578488  # width of the Web Mercator square, metres


def tolerance(z: int) -> float:
    """One MVT grid unit at zoom z, in metres."""
    return WORLD / (EXTENT * 2 ** z)


def geometry_plan(capas: dict[str, Capa]) -> dict[tuple[str, str], list[int] | None]:
    """(source, level) → the zooms to simplify for, or None for one unsimplified copy."""
    plan: dict[tuple[str, str], set[int] | None] = {}
    for capa in capas.values():
        for level in capa.niveles:
            key = (capa.fuente, level.nivel)
            if level.nivel in SIMPLIFIED_LEVELS:
                plan.setdefault(key, set()).update(range(level.zoom[0], level.zoom[1] + 1))
            else:
                plan[key] = None
    return {k: (sorted(v) if v is not None else None) for k, v in plan.items()}


def store_geometries(conn, capas: dict[str, Capa] | None = None) -> dict:
    """Rebuild ``publico.tesela_geom`` for the current data_version (idempotent). Commits."""
    capas = capas or default_capas()
    row = conn.execute("SELECT data_version FROM publico.version WHERE vigente").fetchone()
    if row is None:
        return {"data_version": None, "geometrias": 0}
    start = time.perf_counter()
    total = 0
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("DELETE FROM publico.tesela_geom")
        for (fuente, nivel), zooms in geometry_plan(capas).items():
            source = sql.SQL(fuente)
            if zooms is None:
                cur.execute(sql.SQL(
                    "INSERT INTO publico.tesela_geom (fuente, nivel, codigo, z, geom)"
                    " SELECT %s, nivel, codigo, -1, ST_Transform(geom, 3857) FROM {}"
                    " WHERE nivel = %s AND geom IS NOT NULL").format(source), (fuente, nivel))
            else:
                cur.execute(sql.SQL(
                    "INSERT INTO publico.tesela_geom (fuente, nivel, codigo, z, geom)"
                    " SELECT %s, s.nivel, s.codigo, z, ST_SimplifyPreserveTopology(s.g, %s / (2 ^ z))"
                    " FROM (SELECT nivel, codigo, ST_Transform(geom, 3857) AS g FROM {}"
                    "       WHERE nivel = %s AND geom IS NOT NULL) s, unnest(%s::int[]) AS z").format(source),
                    (fuente, WORLD / EXTENT, nivel, zooms))
            total += cur.rowcount
        seconds = time.perf_counter() - start
        cur.execute(
            "INSERT INTO publico.tesela_estado (data_version, preparado_en, segundos) VALUES (%s, now(), %s)"
            " ON CONFLICT (unica) DO UPDATE SET data_version = excluded.data_version,"
            " preparado_en = excluded.preparado_en, segundos = excluded.segundos", (row[0], seconds))
    conn.commit()
    conn.execute("ANALYZE publico.tesela_geom")
    conn.commit()
    return {"data_version": row[0], "geometrias": total, "segundos": round(time.perf_counter() - start, 2)}


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
            " WHERE g.fuente = %(fuente)s AND g.nivel = %(nivel)s AND g.z IN (%(z)s, -1)"
            " AND g.geom && ST_Expand({env}, %(margin)s)").format(fuente=sql.SQL(capa.fuente), env=envelope)
    else:
        # Not yet prepared for this version (the post-publication step has not run): the
        # same features, simplified on the fly. Slower, never different.
        geom = sql.SQL("ST_Transform(s.geom, 3857)")
        if nivel in SIMPLIFIED_LEVELS:
            geom = sql.SQL("ST_SimplifyPreserveTopology({}, %(tolerance)s)").format(geom)
        source = sql.SQL(
            "FROM {fuente} s WHERE s.nivel = %(nivel)s AND s.geom IS NOT NULL"
            " AND s.geom && ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326)").format(
            fuente=sql.SQL(capa.fuente))
    inner = sql.SQL("SELECT ST_AsMVTGeom({geom}, {env}, {extent}, {buffer}, true) AS geom, {columns} {source}").format(
        geom=geom, env=envelope, extent=sql.Literal(EXTENT), buffer=sql.Literal(BUFFER),
        columns=sql.SQL(", ").join(columns), source=source)
    return sql.SQL("SELECT ST_AsMVT(t.*, {name}, {extent}, 'geom') FROM ({inner}) t WHERE t.geom IS NOT NULL").format(
        name=sql.Literal(capa.id), extent=sql.Literal(EXTENT), inner=inner)
