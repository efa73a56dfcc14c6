"""Spanish HTML pages of the cycle: the Mesa's list (``/mesa``) and the institution's
referrals (``/institucion``). Plain forms, server-rendered from templates
(``api/base/templates``), no script: they call the same plain functions as the JSON routes
(``api.institucional.derivaciones``: the same role checks, RLS and audit apply) and every
form carries the session's CSRF token."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.base.conexiones import PoolPublico, conexion
from api.base.errores import AccesoError
from api.base.plantilla import km, pagina
from api.base.registro import RutaInstitucional
from api.institucional import derivaciones
from api.institucional.acceso import Sesion, optional_session
from geoportal import lista_nominal as nominal
from geoportal.catalog import default_catalog
from geoportal.usuarios import Rol

router = APIRouter(include_in_schema=False, route_class=RutaInstitucional)


def _page(plantilla: str, title: str, sesion: Sesion | None = None, **datos) -> HTMLResponse:
    return HTMLResponse(pagina(plantilla, title, sesion, **datos), headers={"Cache-Control": "no-store"})


BRECHAS = {"derivacion": "derivación", "inversion": "inversión"}
TIPOS_DE_BRECHA = (("", "todas"), ("derivacion", "derivación (hay oferta)"), ("inversion", "inversión (sin oferta)"))
POR_PAGINA = 50


def _gate(sesion: Sesion | None, rol: str, here: str) -> Response | None:
    if sesion is None:
        return RedirectResponse(f"/ingresar?{urlencode({'siguiente': here})}", status_code=303)
    if sesion.rol != rol:
        return _page("aviso.html", "Sin acceso", sesion, texto=f"Esta página es para el rol {rol}.")
    return None


@router.get("/mesa")
def mesa_page(servicio: str = "", brecha: str = "", desde: int = 0, mensaje: str | None = None,
              sesion: Sesion | None = Depends(optional_session)) -> Response:
    refused = _gate(sesion, Rol.MESA_DISTRITAL, "/mesa")
    if refused:
        return refused
    catalog = default_catalog()
    services = [s for s in catalog.servicios if s.unidad != "entorno"]
    desde = max(0, desde)
    title = "Personas y hogares sin protección"
    try:
        data = derivaciones.nominal_list(sesion, servicio=servicio or None, brecha=brecha or None, paquete="todos",
                                         limite=POR_PAGINA, desde=desde, finalidad="derivacion")
    except AccesoError as exc:
        return _page("aviso.html", title, sesion, texto=exc.detail, error=True)
    names = {s.codigo: s.nombre for s in services}
    filters = {"servicio": servicio, "brecha": brecha}
    rows = [{**r, "quien": f"{r.get('nombres', '')} {r.get('apellidos', '')}".strip() or f"Hogar {r['hogar_id']}",
             "categorias": r["categorias"].replace(",", ", "), "brecha": BRECHAS.get(r["brecha"], r["brecha"]),
             "punto": r["punto_nombre"] or "—", "km": km(r["distancia_km"])} for r in data["filas"]]
    shown = f"{desde + 1}–{desde + len(rows)}" if rows else "ninguna"
    previous = f"/mesa?{urlencode({**filters, 'desde': max(0, desde - POR_PAGINA)})}" if desde > 0 else None
    following = (f"/mesa?{urlencode({**filters, 'desde': desde + POR_PAGINA})}"
                 if desde + len(rows) < data["total"] else None)
    csv = f"/api/nominal/brechas?{urlencode({k: v for k, v in filters.items() if v} | {'paquete': 'todos', 'formato': 'csv'})}"
    return _page("mesa.html", title, sesion, mensaje=mensaje, distrito=data["distrito"], servicios=services,
                 servicio=servicio, brecha=brecha, brechas=TIPOS_DE_BRECHA, total=data["total"], mostradas=shown,
                 csv=csv, resumen=[{**r, "nombre": names.get(r["servicio"], r["servicio"])} for r in data["resumen"]],
                 filas=rows, volver=urlencode({**filters, "desde": desde}), anteriores=previous, siguientes=following)


@router.post("/mesa/derivar")
def mesa_refer(unidad: str = Form(...), unidad_id: str = Form(...), servicio: str = Form(...), volver: str = Form(""),
               sesion: Sesion | None = Depends(optional_session)) -> Response:
    refused = _gate(sesion, Rol.MESA_DISTRITAL, "/mesa")
    if refused:
        return refused
    try:
        created = derivaciones.refer(derivaciones.DerivacionNueva(unidad=unidad, unidad_id=unidad_id, servicio=servicio),
                                     "derivacion", sesion)
        message = f"Derivación n.º {created['derivacion_id']} enviada a {created['institucion']}."
    except AccesoError as exc:
        message = exc.detail
    except ValueError:
        message = "Datos del formulario no válidos."
    return RedirectResponse(f"/mesa?{volver}&{urlencode({'mensaje': message})}", status_code=303)


@router.get("/institucion")
def institution_page(publico: PoolPublico, mensaje: str | None = None,
                     sesion: Sesion | None = Depends(optional_session)) -> Response:
    refused = _gate(sesion, Rol.INSTITUCION, "/institucion")
    if refused:
        return refused
    referrals = derivaciones.visible_referrals(sesion, finalidad="seguimiento")
    points = _point_names(publico, [r["punto_id"] for r in referrals])
    states = {"referida": "pendiente", "entregada": "entregada", "no_entregada": "no entregada",
              "no_localizada": "no localizada"}
    rows = [{"derivacion_id": r["derivacion_id"],
             "quien": f"{r['nombres'] or ''} {r['apellidos'] or ''}".strip() or f"Hogar {r['hogar_id']}",
             "localidad": r["localidad"] or "", "servicio": r["servicio"],
             "punto": points.get(r["punto_id"], r["punto_id"] or "—"), "creada": _fecha(r["creada"]),
             "pendiente": r["estado"] == "referida", "estado": states.get(r["estado"], r["estado"])} for r in referrals]
    return _page("institucion.html", "Derivaciones recibidas", sesion, mensaje=mensaje, filas=rows,
                 pendientes=sum(r["pendiente"] for r in rows), hoy=date.today().isoformat())


def _fecha(iso: str) -> str:
    """2026-12-02 → 02/12/2026, as dates are written in Paraguay."""
    year, month, day = iso[:10].split("-")
    return f"{day}/{month}/{year}"


def _point_names(pool, ids) -> dict[str, str]:
    """Delivery points are public: their names come through the public role."""
    if not any(ids):
        return {}
    with conexion(pool) as conn:
        return nominal.point_names(conn, ids)


@router.post("/institucion/contrarreferencia")
def institution_counter(derivacion_id: int = Form(...), resultado: str = Form(...), fecha: str = Form(...),
                        sesion: Sesion | None = Depends(optional_session)) -> Response:
    refused = _gate(sesion, Rol.INSTITUCION, "/institucion")
    if refused:
        return refused
    try:
        body = derivaciones.Contrarreferencia(resultado=resultado, fecha=fecha)
        done = derivaciones.counter_refer(derivacion_id, body, "seguimiento", sesion)
        message = f"Contrarreferencia de la derivación n.º {derivacion_id} registrada: {done['estado']}."
        if done["actualizando"]:  # the district is recomputed after this answer
            message += " Las cifras del distrito se están actualizando."
    except AccesoError as exc:
        message = exc.detail
    except ValueError:
        message = "Datos del formulario no válidos."
    return RedirectResponse(f"/institucion?{urlencode({'mensaje': message})}", status_code=303)
