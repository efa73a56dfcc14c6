"""Ranked gaps of a territory: which service is missing, how many units, and where.

One function for every door (``geoportal brechas`` in the CLI, ``/api/territorios/{codigo}``
in the API): :func:`ranked_service_gaps`. It reads only the protected public table
(``publico.cobertura``), so the list can be shown to anyone and agrees with the map: gaps
split into *sin oferta al alcance* (no delivery point of the type within the catchment:
an investment case) and *con oferta al alcance* (a point is near but the unit is not
covered: a referral case). "Where" lists the H3 resolution-7 cells (about 5 km²) of the
territory with the largest published gap.
"""

from __future__ import annotations

import pandas as pd
import psycopg
from psycopg import sql

from geoportal.catalog import Catalogo, default_catalog

# The territory's own geometry, by level (a district by its 2012 polygon's code).
GEOMETRIA = {
    "distrito": ("territorio.distrito_cartografico", "codigo_2012"),
    "departamento": ("territorio.departamento", "codigo"),
}


def _where(conn: psycopg.Connection, nivel: str, codigo: str, servicio: str, lugares: int) -> list[tuple[str, int]]:
    """(cell, gap) of the territory's published H3 res-7 cells with the largest gap of ``servicio``."""
    table, key = GEOMETRIA[nivel]
    w, v = (sql.Identifier(f"{servicio.lower()}_{x}") for x in ("sin_oferta", "con_oferta"))
    return [
        tuple(r)
        for r in conn.execute(
            sql.SQL(
                "SELECT c.codigo, coalesce(c.{w}, 0) + coalesce(c.{v}, 0) FROM publico.cobertura c"
                " WHERE c.nivel = 'h3_7' AND NOT c.reservado AND ST_Intersects("
                " (SELECT g.geom FROM {table} g WHERE g.{key} = %s), ST_PointOnSurface(c.geom))"
                " AND coalesce(c.{w}, 0) + coalesce(c.{v}, 0) > 0 ORDER BY 2 DESC, 1 LIMIT %s"
            ).format(w=w, v=v, table=sql.SQL(table), key=sql.Identifier(key)),
            (codigo, lugares),
        ).fetchall()
    ]


def ranked_service_gaps(conn: psycopg.Connection, fila: dict, servicios: list[str], lugares: int = 3) -> list[dict]:
    """One entry per service of ``servicios`` for the published row ``fila`` of a territory,
    largest gap first (then by code; an unpublished gap last)::

        {"servicio", "brecha", "sin_oferta", "con_oferta", "aplica", "cobertura_pct", "donde"}

    ``brecha`` = sin_oferta + con_oferta (None when either is not published); ``donde``:
    up to ``lugares`` (cell, gap) pairs, only for a district or a department with a gap.
    """
    ranked = []
    for servicio in servicios:
        c = servicio.lower()
        without, within = fila.get(f"{c}_sin_oferta"), fila.get(f"{c}_con_oferta")
        gap = None if without is None or within is None else without + within
        donde = (
            _where(conn, fila["nivel"], fila["codigo"], servicio, lugares) if gap and fila["nivel"] in GEOMETRIA else []
        )
        ranked.append(
            {
                "servicio": servicio,
                "brecha": gap,
                "sin_oferta": without,
                "con_oferta": within,
                "aplica": fila.get(f"{c}_aplica"),
                "cobertura_pct": fila.get(f"{c}_pct"),
                "donde": donde,
            }
        )
    ranked.sort(key=lambda r: (-(r["brecha"] if r["brecha"] is not None else -1), r["servicio"]))
    return ranked


def ranked_gaps(
    conn: psycopg.Connection,
    distrito: str,
    paquete: str | None = "nucleo",
    catalog: Catalogo | None = None,
    lugares: int = 3,
) -> pd.DataFrame:
    """The CLI's table: one row per service (of ``paquete``; all when None), largest published gap first."""
    catalog = catalog or default_catalog()
    cur = conn.execute("SELECT * FROM publico.cobertura WHERE nivel = 'distrito' AND codigo = %s", (distrito,))
    row = cur.fetchone()
    if row is None:
        raise LookupError(f"No hay datos publicados del distrito {distrito} (use el código del polígono, p. ej. 1116).")
    fila = dict(zip([d.name for d in cur.description], row))
    services = {s.codigo: s for s in catalog.servicios if paquete is None or s.paquete == paquete}
    rows = [
        {
            "servicio": g["servicio"],
            "nombre": services[g["servicio"]].nombre,
            "paquete": services[g["servicio"]].paquete,
            "unidad": services[g["servicio"]].unidad,
            **{k: g[k] for k in ("brecha", "sin_oferta", "con_oferta", "aplica", "cobertura_pct")},
            "donde": ", ".join(f"{code} ({n})" for code, n in g["donde"]),
        }
        for g in ranked_service_gaps(conn, fila, list(services), lugares)
    ]
    frame = pd.DataFrame(rows)
    frame.attrs["distrito"] = fila["nombre"]
    frame.attrs["reservado"] = fila["reservado"]
    return frame
