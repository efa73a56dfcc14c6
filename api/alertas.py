"""Protected figures for authorised roles, and alerts on them.

What an aggregate role sees beyond the public (decided here, documented in the README):
the **live** protected figures (after each contrarreferencia's recompute, not only at the
next batched public release) of the territories its role covers, the alerts, and the
exact information-loss table. Never H3 resolution 9, never unrounded counts, never a
reserved area's figures: the same disclosure control as the public, because a Mesa's
screen can be photographed and its figures differenced across events just the same.

They are read through ``acceso.cifras_vivas`` (SQL function, migration 0007): the live
protected table ``calculo.cobertura_viva`` once the disclosure-control redesign creates
it, else ``publico.cobertura`` (which the incremental recompute then updates at once).

The exact information loss (``GET /api/perdida``, JSON or ``formato=csv``; roles
``PERDIDA_ROLES``): ``calculo.sdc_perdida`` of the current public release (or of
``data_version``), national by level and zone, read through ``acceso.perdida_exacta``
(SECURITY DEFINER, migration 0010). Not for institutions (they act on referrals, not on
the disclosure control) nor for the admin (users and audit, no figures). The public has
only the whole-percent ``publico.sdc_perdida``.

Alerts (``GET /api/alertas``, ``geoportal alertas``), per territory the caller may see:
- **bajo_meta**: a Logro's published coverage is below its meta;
- **empeora**: a Logro's or a service's coverage fell by more than ``umbral`` percentage
  points since the previous snapshot of the figures (``acceso.cifra_version``, recorded
  by ``record_snapshot`` after each recompute and by ``geoportal alertas``).
"""

from __future__ import annotations

from typing import Literal

import pandas as pd
import psycopg
from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response

from api.registro import RutaInstitucional
from api.acceso import AGGREGATE_ROLES, AccesoError, Sesion, access_conn, may_see_territory, require
from geoportal.dbcopy import copy_in

LEVELS = ("pais", "departamento", "distrito")
PERDIDA_ROLES = ("gabinete", "mesa_departamental", "mesa_distrital")
LOSS_COLUMNS = {  # column -> Spanish header of the CSV
    "data_version": "Versión de datos", "nivel": "Nivel", "zona": "Zona", "areas": "Áreas",
    "areas_reservadas_pct": "Áreas reservadas (%)", "hogares_en_reservadas_pct": "Hogares en áreas reservadas (%)",
    "cifras_cambiadas_pct": "Conteos cambiados por el redondeo (%)",
    "cambio_absoluto_medio": "Cambio absoluto medio de los conteos publicados",
}
LOSS_ORDER = ("pais", "departamento", "distrito", "h3_5", "h3_6", "h3_7", "h3_8", "h3_9")
router = APIRouter(tags=["cifras"], route_class=RutaInstitucional)


def _polygon(conn, nivel: str, codigo: str) -> str:
    """The stored area code: districts are published by their cartographic polygon."""
    if nivel != "distrito":
        return codigo
    row = conn.execute("SELECT coalesce(codigo_2012, 'D' || codigo) FROM territorio.distrito WHERE codigo = %s",
                       (codigo,)).fetchone()
    return row[0] if row else codigo


def live_rows(conn: psycopg.Connection, niveles=LEVELS, area: str | None = None) -> list[dict]:
    """Live protected rows (``acceso.cifras_vivas``: the live table once it exists, else publico.cobertura)."""
    return [r[0] for r in conn.execute("SELECT * FROM acceso.cifras_vivas(%s, %s)", (list(niveles), area)).fetchall()]


@router.get("/api/cifras/{nivel}/{codigo}")
def protected_figures(nivel: str, codigo: str, sesion: Sesion = Depends(require(*AGGREGATE_ROLES))) -> JSONResponse:
    """Live protected figures of one territory the role covers (pais, departamento, distrito)."""
    if nivel not in LEVELS:
        raise AccesoError(422, "nivel debe ser pais, departamento o distrito.")
    codigo = codigo[:8]
    with access_conn() as conn:
        if not may_see_territory(conn, sesion, nivel, codigo):
            raise AccesoError(403, "Su rol no cubre este territorio.")
        rows = live_rows(conn, [nivel], _polygon(conn, nivel, codigo))
        version = conn.execute("SELECT data_version FROM publico.version WHERE vigente").fetchone()
    if not rows:
        raise AccesoError(404, "No hay cifras calculadas para este territorio.")
    out = rows[0]
    if out.get("reservado"):
        out = {k: out.get(k) for k in ("nivel", "codigo", "nombre", "reservado", "pob_censo", "data_version")}
    return JSONResponse({"cifras": out, "publicacion_vigente": version[0] if version else None},
                        headers={"Cache-Control": "private, no-store"})


# ----------------------------------------------------------------------------- snapshots and alerts
def _tracked(conn) -> dict[str, str]:
    """column -> label of every Logro and service coverage share."""
    return dict(conn.execute(
        "SELECT columna, etiqueta FROM publico.medida WHERE tipo = 'porcentaje' AND columna <> 'relevamiento_pct'"
        " ORDER BY columna").fetchall())


def _snapshot_key(rows: list[dict]) -> str | None:
    """The country row changes with every recompute, so its data_version names the state."""
    country = next((r for r in rows if r["nivel"] == "pais"), None)
    return None if country is None else country["data_version"]


def record_snapshot(conn: psycopg.Connection) -> str | None:
    """Keep the live shares of pais / departamento / distrito (once per state: a state
    already kept, as before a recompute that follows another, costs one lookup)."""
    key = _snapshot_key(live_rows(conn, ["pais"]))
    if key is None:
        return None
    if conn.execute("SELECT 1 FROM acceso.cifra_version WHERE data_version = %s LIMIT 1", (key,)).fetchone():
        conn.commit()
        return key
    rows = live_rows(conn)
    tracked = _tracked(conn)
    values = pd.DataFrame([(key, r["nivel"], r["codigo"], c, r[c]) for r in rows if not r.get("reservado")
                           for c in tracked if r.get(c) is not None],
                          columns=["data_version", "nivel", "codigo", "columna", "valor"])
    try:
        with conn.cursor() as cur:
            copy_in(cur, "acceso.cifra_version", values)
        conn.commit()
    except psycopg.errors.UniqueViolation:  # another process kept the same state meanwhile
        conn.rollback()
    return key


def compute_alerts(conn: psycopg.Connection, umbral: float = 5.0) -> list[dict]:
    """Alerts of every territory (pais, departamento, distrito), worst first."""
    labels = _tracked(conn)
    rows = live_rows(conn)
    logros = [c for c in labels if c.startswith("l") and c.endswith("_pct") and not c.endswith("_ampliado_pct")]
    alerts = []
    for r in rows:
        if r.get("reservado"):
            continue
        for column in logros:
            value, meta = r.get(column), r.get(column.replace("_pct", "_meta"))
            if value is not None and meta is not None and value < meta:
                alerts.append({"tipo": "bajo_meta", "nivel": r["nivel"], "codigo": r["codigo"], "nombre": r["nombre"],
                               "columna": column, "etiqueta": labels[column], "valor": round(value, 1),
                               "referencia": round(meta, 1), "diferencia": round(value - meta, 1)})
    key = _snapshot_key(rows)
    previous = conn.execute(
        "SELECT data_version FROM acceso.cifra_version WHERE data_version <> %s GROUP BY data_version"
        " ORDER BY max(registrada) DESC LIMIT 1", (key or "",)).fetchone()
    if previous:
        before = {(n, c, col): v for n, c, col, v in conn.execute(
            "SELECT nivel, codigo, columna, valor FROM acceso.cifra_version WHERE data_version = %s", previous).fetchall()}
        for r in rows:
            if r.get("reservado"):
                continue
            for column in labels:
                old, new = before.get((r["nivel"], r["codigo"], column)), r.get(column)
                if old is not None and new is not None and old - new > umbral:
                    alerts.append({"tipo": "empeora", "nivel": r["nivel"], "codigo": r["codigo"], "nombre": r["nombre"],
                                   "columna": column, "etiqueta": labels[column], "valor": round(new, 1),
                                   "referencia": round(old, 1), "diferencia": round(new - old, 1)})
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


# ----------------------------------------------------------------------------- exact information loss
@router.get("/api/perdida")
def exact_loss(data_version: str | None = Query(default=None, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$"),
               formato: Literal["json", "csv"] = "json",
               sesion: Sesion = Depends(require(*PERDIDA_ROLES))) -> Response:
    """Exact loss of information of the disclosure control, national by level and zone."""
    with access_conn() as conn:
        rows = conn.execute("SELECT * FROM acceso.perdida_exacta(%s)", (data_version,)).fetchall()
        current = conn.execute("SELECT data_version FROM publico.version WHERE vigente").fetchone()
    if not rows:
        which = f"la versión {data_version}" if data_version else "la publicación vigente"
        raise AccesoError(404, f"No hay pérdida de información calculada para {which}.")
    rank = {n: i for i, n in enumerate(LOSS_ORDER)}
    records = sorted((dict(zip(LOSS_COLUMNS, r)) for r in rows), key=lambda r: (rank.get(r["nivel"], 99), r["nivel"], r["zona"]))
    if formato == "csv":
        from api.descargas import csv_line

        body = "\ufeff" + csv_line(LOSS_COLUMNS.values()) + "".join(csv_line(r.values()) for r in records)
        return Response(body.encode(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f"attachment; filename=perdida_{records[0]['data_version']}.csv",
                                 "Cache-Control": "private, no-store"})
    return JSONResponse({"data_version": records[0]["data_version"], "publicacion_vigente": current[0] if current else None,
                         "perdida": [{k: v for k, v in r.items() if k != "data_version"} for r in records]},
                        headers={"Cache-Control": "private, no-store"})
