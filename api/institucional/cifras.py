"""Protected figures for authorised roles, and alerts on them.

What an aggregate role sees beyond the public (decided here, documented in the README):
the **live** protected figures (after each contrarreferencia's recompute, not only at the
next batched public release) of the territories its role covers, the alerts, and the
exact information-loss table. Never H3 resolution 9, never unrounded counts, never a
reserved area's figures: the same disclosure control as the public, because a Mesa's
screen can be photographed and its figures differenced across events just the same.

They are read through ``acceso.cifras_vivas`` (SQL function, migration 0007): the live
protected table ``calculo.cobertura_viva`` when it exists, else ``publico.cobertura``.

The exact information loss (``GET /api/perdida``, JSON or ``formato=csv``; roles
``PERDIDA_ROLES``): ``calculo.sdc_perdida`` of the current public release (or of
``data_version``), national by level and zone, read through ``acceso.perdida_exacta``
(SECURITY DEFINER, migration 0010). Not for institutions (they act on referrals, not on
the disclosure control) nor for the admin (users and audit, no figures). The public has
only the whole-percent ``publico.sdc_perdida``.

Alerts (``GET /api/alertas``): computed by ``geoportal.alertas`` (below a meta; worse than
the previous snapshot by more than ``umbral`` points), listed for the territories the
caller's role covers (``api.institucional.acceso.visible_areas``), each with its Logro, the
protected size of that Logro's population and ``pequena`` when under ``MUESTRA_MINIMA``
(the viewer's panel and the ``/gabinete`` dashboard count those apart), and the name of
the caller's territory (``territorio_nombre``: Villeta, not 1116).
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response

from api.base.errores import AccesoError
from api.base.hojas import csv_document
from api.base.registro import RutaInstitucional
from api.institucional.acceso import (
    AGGREGATE_ROLES,
    PERDIDA_ROLES,
    Sesion,
    access_conn,
    may_see_territory,
    require,
    shared_with,
    visible_areas,
)
from geoportal.alertas import NIVELES as LEVELS
from geoportal.alertas import compute_alerts, live_rows
from geoportal.catalog import default_catalog
from geoportal.nombres import nombre_de_lugar
from geoportal.seguimiento import logros_of
from geoportal.territory import POLIGONO_SQL
from geoportal.usuarios import Rol

MUESTRA_MINIMA = 20  # persons (or households) in the Logro's population: below it an alert is marked

LOSS_COLUMNS = {  # column -> Spanish header of the CSV
    "data_version": "Versión de datos",
    "nivel": "Nivel",
    "zona": "Zona",
    "areas": "Áreas",
    "areas_reservadas_pct": "Áreas reservadas (%)",
    "hogares_en_reservadas_pct": "Hogares en áreas reservadas (%)",
    "cifras_cambiadas_pct": "Conteos cambiados por el redondeo (%)",
    "cambio_absoluto_medio": "Cambio absoluto medio de los conteos publicados",
}
LOSS_ORDER = ("pais", "departamento", "distrito", "h3_5", "h3_6", "h3_7", "h3_8", "h3_9")
router = APIRouter(tags=["cifras"], route_class=RutaInstitucional)


def _polygon(conn, nivel: str, codigo: str) -> str:
    """The stored area code: districts are published by their cartographic polygon."""
    if nivel != "distrito":
        return codigo
    row = conn.execute(f"SELECT {POLIGONO_SQL} FROM territorio.distrito WHERE codigo = %s", (codigo,)).fetchone()
    return row[0] if row else codigo


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
        shared = shared_with(conn, sesion, nivel, codigo)  # a 2012 polygon several districts share
        version = conn.execute("SELECT data_version FROM publico.version WHERE vigente").fetchone()
    if not rows:
        raise AccesoError(404, "No hay cifras calculadas para este territorio.")
    out = rows[0]
    if out.get("reservado"):
        out = {k: out.get(k) for k in ("nivel", "codigo", "nombre", "reservado", "pob_censo", "data_version")}
    return JSONResponse(
        {"cifras": out, "compartida_con": shared, "publicacion_vigente": version[0] if version else None},
        headers={"Cache-Control": "private, no-store"},
    )


# ----------------------------------------------------------------------------- alerts
@router.get("/api/alertas")
def alerts(
    umbral: float = Query(default=5.0, ge=0, le=100), sesion: Sesion = Depends(require(*AGGREGATE_ROLES))
) -> JSONResponse:
    """Alerts of the territories the caller's role covers."""
    with access_conn() as conn:
        areas = visible_areas(conn, sesion)
        mine = annotate(
            conn,
            [
                {**a, "compartida_con": shared_with(conn, sesion, a["nivel"], a["codigo"])}
                for a in compute_alerts(conn, umbral)
                if (a["nivel"], a["codigo"]) in areas
            ],
        )
        name = territory_name(conn, sesion.usuario)
    return JSONResponse(
        {"umbral": umbral, "muestra_minima": MUESTRA_MINIMA, "territorio_nombre": name, "alertas": mine},
        headers={"Cache-Control": "private, no-store"},
    )


def territory_name(conn, usuario) -> str:
    """The name of the territory a role covers (Villeta, not 1116)."""
    if usuario.rol == Rol.GABINETE:
        return "Paraguay"
    if usuario.rol == Rol.MESA_DEPARTAMENTAL:
        found = conn.execute(
            "SELECT nombre FROM territorio.departamento WHERE codigo = %s", (usuario.departamento,)
        ).fetchall()
    else:
        codes = [usuario.distrito] if usuario.rol == Rol.MESA_DISTRITAL else list(usuario.distritos)
        found = conn.execute(
            "SELECT nombre FROM territorio.distrito WHERE codigo = ANY(%s) ORDER BY codigo", (codes,)
        ).fetchall()
    names = [nombre_de_lugar(r[0]) or "" for r in found]
    return ", ".join(n.title() if n.isupper() else n for n in names if n)


def annotate(conn, alerts: list[dict]) -> list[dict]:
    """Each alert with its Logro(s), the (protected) size of the Logro's population in that
    territory, ``pequena`` when it is under ``MUESTRA_MINIMA`` (a 0 % of 3 persons is no
    trend) and the department it lies in (districts by their polygon)."""
    live = {(r["nivel"], r["codigo"]): r for r in live_rows(conn)}
    medidas = {
        c: (lg, sv) for c, lg, sv in conn.execute("SELECT columna, logro, servicio FROM publico.medida").fetchall()
    }
    of_polygon = dict(conn.execute(f"SELECT DISTINCT {POLIGONO_SQL}, dpto FROM territorio.distrito").fetchall())
    by_service = logros_of(default_catalog())
    out = []
    for a in alerts:
        lg, sv = medidas.get(a["columna"], (None, None))
        logros = [lg] if lg else by_service.get(sv or "", [])
        counts = [live.get((a["nivel"], a["codigo"]), {}).get(f"l{n}_universo") for n in logros]
        counts = [c for c in counts if c is not None]
        universe = max(counts) if counts else None
        dept = (
            a["codigo"]
            if a["nivel"] == "departamento"
            else of_polygon.get(a["codigo"])
            if a["nivel"] == "distrito"
            else None
        )
        out.append(
            {
                **a,
                "logro": logros[0] if logros else None,
                "logros": logros,
                "universo": universe,
                "pequena": universe is not None and universe < MUESTRA_MINIMA,
                "departamento": dept,
            }
        )
    return out


# ----------------------------------------------------------------------------- exact information loss
@router.get("/api/perdida")
def exact_loss(
    data_version: str | None = Query(default=None, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$"),
    formato: Literal["json", "csv"] = "json",
    sesion: Sesion = Depends(require(*PERDIDA_ROLES)),
) -> Response:
    """Exact loss of information of the disclosure control, national by level and zone."""
    with access_conn() as conn:
        rows = conn.execute("SELECT * FROM acceso.perdida_exacta(%s)", (data_version,)).fetchall()
        current = conn.execute("SELECT data_version FROM publico.version WHERE vigente").fetchone()
    if not rows:
        which = f"la versión {data_version}" if data_version else "la publicación vigente"
        raise AccesoError(404, f"No hay pérdida de información calculada para {which}.")
    rank = {n: i for i, n in enumerate(LOSS_ORDER)}
    records = sorted(
        (dict(zip(LOSS_COLUMNS, r)) for r in rows), key=lambda r: (rank.get(r["nivel"], 99), r["nivel"], r["zona"])
    )
    if formato == "csv":
        body = csv_document(LOSS_COLUMNS.values(), (r.values() for r in records))
        return Response(
            body.encode(),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f"attachment; filename=perdida_{records[0]['data_version']}.csv",
                "Cache-Control": "private, no-store",
            },
        )
    return JSONResponse(
        {
            "data_version": records[0]["data_version"],
            "publicacion_vigente": current[0] if current else None,
            "perdida": [{k: v for k, v in r.items() if k != "data_version"} for r in records],
        },
        headers={"Cache-Control": "private, no-store"},
    )
