"""Ranked gap list of a district: which service is missing, how many units, and where.

Reads only the protected public table (``publico.cobertura``), so the list can be shown
to anyone and agrees with the map: gaps split into *sin oferta al alcance* (no delivery
point of the type within the catchment: an investment case) and *con oferta al alcance*
(a point is near but the unit is not covered: a referral case). "Where" lists the H3
resolution-7 cells (about 5 km²) of the district with the largest published gap.
"""

from __future__ import annotations

import pandas as pd
import psycopg
from psycopg import sql

from geoportal.catalog import Catalogo, default_catalog


def ranked_gaps(conn: psycopg.Connection, distrito: str, paquete: str | None = "nucleo",
                catalog: Catalogo | None = None, lugares: int = 3) -> pd.DataFrame:
    """One row per service (of ``paquete``; all when None), largest published gap first."""
    catalog = catalog or default_catalog()
    district = conn.execute(
        "SELECT nombre, reservado FROM publico.cobertura WHERE nivel = 'distrito' AND codigo = %s", (distrito,)
    ).fetchone()
    if district is None:
        raise LookupError(f"No hay datos publicados del distrito {distrito} (use el código del polígono, p. ej. 1116).")
    services = [s for s in catalog.servicios if paquete is None or s.paquete == paquete]
    rows = []
    for s in services:
        c = s.codigo.lower()
        without, within, applies, pct = (sql.Identifier(f"{c}_{x}") for x in ("sin_oferta", "con_oferta", "aplica", "pct"))
        total = conn.execute(sql.SQL(
            "SELECT {}, {}, {}, {} FROM publico.cobertura WHERE nivel = 'distrito' AND codigo = %s"
        ).format(without, within, applies, pct), (distrito,)).fetchone()
        places = conn.execute(sql.SQL(
            "SELECT c.codigo, coalesce(c.{w}, 0) + coalesce(c.{v}, 0) AS brecha FROM publico.cobertura c"
            " JOIN publico.cobertura d ON d.nivel = 'distrito' AND d.codigo = %s"
            " WHERE c.nivel = 'h3_7' AND NOT c.reservado AND ST_Intersects(d.geom, ST_PointOnSurface(c.geom))"
            " AND coalesce(c.{w}, 0) + coalesce(c.{v}, 0) > 0 ORDER BY brecha DESC, c.codigo LIMIT %s"
        ).format(w=without, v=within), (distrito, lugares)).fetchall()
        gap = None if total[0] is None else total[0] + total[1]
        rows.append({
            "servicio": s.codigo, "nombre": s.nombre, "paquete": s.paquete, "unidad": s.unidad,
            "brecha": gap, "sin_oferta": total[0], "con_oferta": total[1], "aplica": total[2],
            "cobertura_pct": total[3],
            "donde": ", ".join(f"{code} ({n})" for code, n in places),
        })
    frame = pd.DataFrame(rows)
    frame["_orden"] = frame["brecha"].fillna(-1)
    frame = frame.sort_values(["_orden", "servicio"], ascending=[False, True]).drop(columns="_orden")
    frame.attrs["distrito"] = district[0]
    frame.attrs["reservado"] = district[1]
    return frame.reset_index(drop=True)
