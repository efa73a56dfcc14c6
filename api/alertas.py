"""Protected figures for authorised roles, and alerts on them.

What an aggregate role sees beyond the public (decided here, documented in the README):
the **live** protected figures (after each contrarreferencia's recompute, not only at the
next batched public release) of the territories its role covers, the alerts, and the
exact information-loss table. Never H3 resolution 9, never unrounded counts, never a
reserved area's figures: the same disclosure control as the public, because a Mesa's
screen can be photographed and its figures differenced across events just the same.

``LIVE_TABLE`` is where those figures are read. Until the disclosure-control branch lands
its live protected table, the incremental recompute publishes straight to
``publico.cobertura``, which is therefore also the live table.

Alerts (``GET /api/alertas``, ``geoportal alertas``), per territory the caller may see:
- **bajo_meta**: a Logro's published coverage is below its meta;
- **empeora**: a Logro's or a service's coverage fell by more than ``umbral`` percentage
  points since the previous snapshot of the figures (``acceso.cifra_version``, recorded
  by ``record_snapshot`` after each recompute and by ``geoportal alertas``).
"""

from __future__ import annotations

import psycopg
from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from psycopg import sql

from api.acceso import AGGREGATE_ROLES, AccesoError, Sesion, access_conn, may_see_territory, require
from geoportal.db import public_database_url

LIVE_TABLE = ("publico", "cobertura")
LEVELS = ("pais", "departamento", "distrito")
router = APIRouter(tags=["cifras"])


def _polygon(conn, nivel: str, codigo: str) -> str:
    """The stored area code: districts are published by their cartographic polygon."""
    if nivel != "distrito":
        return codigo
    row = conn.execute("SELECT coalesce(codigo_2012, 'D' || codigo) FROM territorio.distrito WHERE codigo = %s",
                       (codigo,)).fetchone()
    return row[0] if row else codigo


def _measure_columns(conn) -> list[str]:
    return [r[0] for r in conn.execute("SELECT columna FROM publico.medida ORDER BY columna").fetchall()]


@router.get("/api/cifras/{nivel}/{codigo}")
def protected_figures(nivel: str, codigo: str = "", sesion: Sesion = Depends(require(*AGGREGATE_ROLES))) -> JSONResponse:
    """Live protected figures of one territory the role covers (pais, departamento, distrito)."""
    if nivel not in LEVELS:
        raise AccesoError(422, "nivel debe ser pais, departamento o distrito.")
    codigo = codigo[:8]
    with access_conn() as conn:
        allowed = may_see_territory(conn, sesion, nivel, codigo)
    if not allowed:
        raise AccesoError(403, "Su rol no cubre este territorio.")
    with psycopg.connect(public_database_url(), connect_timeout=10) as conn:
        columns = _measure_columns(conn)
        head = ["nivel", "codigo", "nombre", "reservado", "pob_censo", "data_version"]
        row = conn.execute(sql.SQL("SELECT {} FROM {} WHERE nivel = %s AND codigo = %s").format(
            sql.SQL(", ").join(map(sql.Identifier, head + columns)), sql.Identifier(*LIVE_TABLE)),
            (nivel, _polygon(conn, nivel, codigo))).fetchone()
        version = conn.execute("SELECT data_version FROM publico.version WHERE vigente").fetchone()
    if row is None:
        raise AccesoError(404, "No hay cifras calculadas para este territorio.")
    out = dict(zip(head + columns, row))
    if out["reservado"]:
        out = {k: out[k] for k in head}
    return JSONResponse({"cifras": out, "version_vigente": version[0] if version else None},
                        headers={"Cache-Control": "private, no-store"})


# ----------------------------------------------------------------------------- snapshots and alerts
def _tracked(conn) -> list[tuple[str, str]]:
    """(column, label) of every Logro and service coverage share."""
    return conn.execute(
        "SELECT columna, etiqueta FROM publico.medida WHERE tipo = 'porcentaje' AND columna <> 'relevamiento_pct'"
        " ORDER BY columna").fetchall()


def record_snapshot(conn: psycopg.Connection) -> str | None:
    """Keep the current version's shares of pais / departamento / distrito (idempotent)."""
    version = conn.execute("SELECT data_version FROM publico.version WHERE vigente").fetchone()
    if version is None:
        return None
    columns = [c for c, _ in _tracked(conn)]
    values = sql.SQL(", ").join(
        sql.SQL("({}, {}::real)").format(sql.Literal(c), sql.Identifier(c)) for c in columns)
    conn.execute(sql.SQL(
        "INSERT INTO acceso.cifra_version (data_version, nivel, codigo, columna, valor)"
        " SELECT t.data_version_vigente, t.nivel, t.codigo, v.columna, v.valor FROM"
        " (SELECT %s AS data_version_vigente, c.* FROM {} c WHERE c.nivel IN ('pais', 'departamento', 'distrito')"
        "  AND NOT c.reservado) t CROSS JOIN LATERAL (VALUES {}) v (columna, valor) WHERE v.valor IS NOT NULL"
        " ON CONFLICT DO NOTHING").format(sql.Identifier(*LIVE_TABLE), values), (version[0],))
    conn.commit()
    return version[0]


def compute_alerts(conn: psycopg.Connection, umbral: float = 5.0) -> list[dict]:
    """Alerts of every territory (pais, departamento, distrito), worst first."""
    labels = dict(_tracked(conn))
    logros = [c for c in labels if c.startswith("l") and c.endswith("_pct") and not c.endswith("_ampliado_pct")]
    alerts = []
    for column in logros:
        meta = column.replace("_pct", "_meta")
        rows = conn.execute(sql.SQL(
            "SELECT nivel, codigo, nombre, {c}, {m} FROM {t} WHERE nivel IN ('pais', 'departamento', 'distrito')"
            " AND NOT reservado AND {c} IS NOT NULL AND {m} IS NOT NULL AND {c} < {m}").format(
            c=sql.Identifier(column), m=sql.Identifier(meta), t=sql.Identifier(*LIVE_TABLE))).fetchall()
        alerts += [{"tipo": "bajo_meta", "nivel": r[0], "codigo": r[1], "nombre": r[2], "columna": column,
                    "etiqueta": labels[column], "valor": round(float(r[3]), 1), "referencia": round(float(r[4]), 1),
                    "diferencia": round(float(r[3]) - float(r[4]), 1)} for r in rows]
    current = conn.execute("SELECT data_version FROM publico.version WHERE vigente").fetchone()
    previous = conn.execute(
        "SELECT data_version FROM acceso.cifra_version WHERE data_version <> %s GROUP BY data_version"
        " ORDER BY max(registrada) DESC LIMIT 1", (current[0] if current else "",)).fetchone()
    if current and previous:
        rows = conn.execute(
            "SELECT a.nivel, a.codigo, a.columna, a.valor, b.valor FROM acceso.cifra_version a"
            " JOIN acceso.cifra_version b USING (nivel, codigo, columna)"
            " WHERE a.data_version = %s AND b.data_version = %s AND b.valor - a.valor > %s",
            (current[0], previous[0], umbral)).fetchall()
        names = dict(conn.execute(sql.SQL("SELECT nivel || '/' || codigo, nombre FROM {}").format(
            sql.Identifier(*LIVE_TABLE))).fetchall()) if rows else {}
        alerts += [{"tipo": "empeora", "nivel": r[0], "codigo": r[1], "nombre": names.get(f"{r[0]}/{r[1]}"),
                    "columna": r[2], "etiqueta": labels.get(r[2], r[2]), "valor": round(r[3], 1),
                    "referencia": round(r[4], 1), "diferencia": round(r[3] - r[4], 1)} for r in rows]
    return sorted(alerts, key=lambda a: (a["diferencia"], a["nivel"], a["codigo"], a["columna"]))


def visible_areas(conn, sesion: Sesion) -> set[tuple[str, str]]:
    """(nivel, codigo) of the stored areas (districts by polygon) the role covers."""
    districts = conn.execute(
        "SELECT codigo, dpto, coalesce(codigo_2012, 'D' || codigo) FROM territorio.distrito").fetchall()
    u = sesion.usuario
    if u.rol == "gabinete":
        return ({("pais", "PY")} | {("departamento", d) for _, d, _ in districts}
                | {("distrito", p) for _, _, p in districts})
    if u.rol == "mesa_departamental":
        mine = {c for c, d, _ in districts if d == u.departamento}
        areas = {("departamento", u.departamento)}
    else:
        mine = {u.distrito} if u.rol == "mesa_distrital" else set(u.distritos)
        areas = set()
    polygons: dict[str, set[str]] = {}
    for code, _, polygon in districts:
        polygons.setdefault(polygon, set()).add(code)
    # a polygon shared by several 2022 districts is visible only to who covers all of them
    return areas | {("distrito", p) for p, codes in polygons.items() if codes <= mine}


@router.get("/api/alertas")
def alerts(umbral: float = Query(default=5.0, ge=0, le=100),
           sesion: Sesion = Depends(require(*AGGREGATE_ROLES))) -> JSONResponse:
    """Alerts of the territories the caller's role covers."""
    with access_conn() as conn:
        areas = visible_areas(conn, sesion)
        mine = [a for a in compute_alerts(conn, umbral) if (a["nivel"], a["codigo"]) in areas]
    return JSONResponse({"umbral": umbral, "alertas": mine}, headers={"Cache-Control": "private, no-store"})
