"""Spanish HTML pages of the cycle: the Mesa's list (``/mesa``) and the
institution's referrals (``/institucion``). Plain forms, server-rendered, no script: they
call the same handlers as the JSON API (so the same role checks, RLS and audit apply) and
every form carries the session's CSRF token."""

from __future__ import annotations

import html
import json
from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.base.conexiones import PoolPublico, conexion
from api.base.errores import AccesoError
from api.base.plantilla import km, pagina, tabla
from api.base.registro import RutaInstitucional
from api.institucional import derivaciones
from api.institucional.acceso import Sesion, optional_session
from geoportal import lista_nominal as nominal
from geoportal.catalog import default_catalog

router = APIRouter(include_in_schema=False, route_class=RutaInstitucional)
esc = html.escape


def _page(title: str, body: str, sesion: Sesion | None = None) -> HTMLResponse:
    return HTMLResponse(pagina(title, body, sesion), headers={"Cache-Control": "no-store"})


BRECHAS = {"derivacion": "derivación", "inversion": "inversión"}
POR_PAGINA = 50


def _gate(sesion: Sesion | None, rol: str, here: str) -> Response | None:
    if sesion is None:
        return RedirectResponse(f"/ingresar?{urlencode({'siguiente': here})}", status_code=303)
    if sesion.rol != rol:
        return _page("Sin acceso", f"<p>Esta página es para el rol {esc(rol)}.</p>", sesion)
    return None


def _message(text: str | None) -> str:
    return f"<p role='status' id='mensaje'>{esc(text)}</p>" if text else ""


@router.get("/mesa")
def mesa_page(servicio: str = "", brecha: str = "", desde: int = 0, mensaje: str | None = None,
              sesion: Sesion | None = Depends(optional_session)) -> Response:
    refused = _gate(sesion, "mesa_distrital", "/mesa")
    if refused:
        return refused
    catalog = default_catalog()
    services = [s for s in catalog.servicios if s.unidad != "entorno"]
    desde = max(0, desde)
    try:
        answer = derivaciones.unprotected_list(
            servicio=servicio or None, categoria=None, brecha=brecha or None, paquete="todos", localidad=None,
            limite=POR_PAGINA, desde=desde, formato="json", finalidad="derivacion", sesion=sesion)
    except AccesoError as exc:
        return _page("Personas y hogares sin protección", f"<p role='alert' class='error'>{esc(exc.detail)}</p>", sesion)
    data = json.loads(answer.body)
    names = {s.codigo: s.nombre for s in services}
    options = "".join(f"<option value='{s.codigo}'{' selected' if s.codigo == servicio else ''}>{esc(s.nombre)}</option>"
                      for s in services)
    kinds = "".join(f"<option value='{k}'{' selected' if k == brecha else ''}>{label}</option>"
                    for k, label in (("", "todas"), ("derivacion", "derivación (hay oferta)"), ("inversion", "inversión (sin oferta)")))
    summary = [f"<tr><td>{esc(names.get(r['servicio'], r['servicio']))}</td><td class=num>{r['derivacion']}</td>"
               f"<td class=num>{r['inversion']}</td></tr>" for r in data["resumen"]]
    filters = {"servicio": servicio, "brecha": brecha}
    rows = []
    for r in data["filas"]:
        who = f"{r.get('nombres', '')} {r.get('apellidos', '')}".strip() or f"Hogar {r['hogar_id']}"
        if r["derivacion_abierta"]:
            action = f"derivada (n.º {r['derivacion_abierta']})"
        else:
            action = (f"<form method='post' action='/mesa/derivar'><input type='hidden' name='csrf' value='{esc(sesion.csrf)}'>"
                      f"<input type='hidden' name='unidad' value='{esc(r['unidad'])}'>"
                      f"<input type='hidden' name='unidad_id' value='{esc(r['unidad_id'])}'>"
                      f"<input type='hidden' name='servicio' value='{esc(r['servicio'])}'>"
                      f"<input type='hidden' name='volver' value='{esc(urlencode({**filters, 'desde': desde}))}'>"
                      "<button type='submit' class='derivar'>Derivar</button></form>")
        rows.append(f"<tr><td>{esc(who)}</td><td>{esc(r['categorias'].replace(',', ', '))}</td>"
                    f"<td>{esc(r['servicio_nombre'])}</td><td>{esc(BRECHAS.get(r['brecha'], r['brecha']))}</td>"
                    f"<td>{esc(r['punto_nombre'] or '—')}</td><td class=num>{km(r['distancia_km'])}</td><td>{action}</td></tr>")
    shown = f"{desde + 1}–{desde + len(rows)}" if rows else "ninguna"
    pages = []
    if desde > 0:
        pages.append(f"<a href='/mesa?{esc(urlencode({**filters, 'desde': max(0, desde - POR_PAGINA)}))}'>← anteriores</a>")
    if desde + len(rows) < data["total"]:
        pages.append(f"<a href='/mesa?{esc(urlencode({**filters, 'desde': desde + POR_PAGINA}))}'>siguientes →</a>")
    csv = f"/api/nominal/brechas?{esc(urlencode({k: v for k, v in filters.items() if v} | {'paquete': 'todos', 'formato': 'csv'}))}"
    body = (
        f"{_message(mensaje)}<p>Distrito <b>{esc(data['distrito'])}</b>. Datos nominales: uso exclusivo para la "
        "derivación; cada consulta queda registrada.</p>"
        f"<form class='filtros' method='get' action='/mesa'><label>Servicio <select name='servicio'><option value=''>todos</option>"
        f"{options}</select></label> <label>Brecha <select name='brecha'>{kinds}</select></label> <button>Filtrar</button></form>"
        f"<p>Brechas: <b id='total'>{data['total']}</b> (se muestran {shown}). <a href='{csv}'>Descargar la lista (CSV)</a></p>"
        "<details><summary>Resumen por servicio: derivación (hay oferta al alcance) e inversión (no la hay)</summary>"
        f"{tabla('resumen', ['Servicio', 'Derivación', 'Inversión'], summary, (1, 2))}</details>"
        + tabla("lista", ["Persona / hogar", "Categorías", "Servicio", "Brecha", "Punto más cercano", "km", ""], rows, (5,))
        + f"<p class='paginas'>{' '.join(pages)}</p>")
    return _page("Personas y hogares sin protección", body, sesion)


@router.post("/mesa/derivar")
def mesa_refer(unidad: str = Form(...), unidad_id: str = Form(...), servicio: str = Form(...), volver: str = Form(""),
               sesion: Sesion | None = Depends(optional_session)) -> Response:
    refused = _gate(sesion, "mesa_distrital", "/mesa")
    if refused:
        return refused
    try:
        created = derivaciones.create_referral(
            derivaciones.DerivacionNueva(unidad=unidad, unidad_id=unidad_id, servicio=servicio),
            finalidad="derivacion", sesion=sesion)
        message = f"Derivación n.º {created['derivacion_id']} enviada a {created['institucion']}."
    except AccesoError as exc:
        message = exc.detail
    except ValueError:
        message = "Datos del formulario no válidos."
    return RedirectResponse(f"/mesa?{volver}&{urlencode({'mensaje': message})}", status_code=303)


@router.get("/institucion")
def institution_page(publico: PoolPublico, mensaje: str | None = None,
                     sesion: Sesion | None = Depends(optional_session)) -> Response:
    refused = _gate(sesion, "institucion", "/institucion")
    if refused:
        return refused
    data = json.loads(derivaciones.list_referrals(estado=None, servicio=None, finalidad="seguimiento", sesion=sesion).body)
    today = date.today().isoformat()
    points = _point_names(publico, [r["punto_id"] for r in data["derivaciones"]])
    states = {"referida": "pendiente", "entregada": "entregada", "no_entregada": "no entregada",
              "no_localizada": "no localizada"}
    rows = []
    for r in data["derivaciones"]:
        who = f"{r['nombres'] or ''} {r['apellidos'] or ''}".strip() or f"Hogar {r['hogar_id']}"
        if r["estado"] == "referida":
            action = (f"<form method='post' action='/institucion/contrarreferencia'>"
                      f"<input type='hidden' name='csrf' value='{esc(sesion.csrf)}'>"
                      f"<input type='hidden' name='derivacion_id' value='{r['derivacion_id']}'>"
                      "<select name='resultado' aria-label='Resultado'><option value='entregada'>entregada</option>"
                      "<option value='no_entregada'>no entregada</option><option value='no_localizada'>no localizada</option>"
                      f"</select> <input type='date' name='fecha' value='{today}' max='{today}' aria-label='Fecha'> "
                      "<button type='submit' class='registrar'>Registrar</button></form>")
        else:
            action = esc(states.get(r["estado"], r["estado"]))
        rows.append(f"<tr><td class=num>{r['derivacion_id']}</td><td>{esc(who)}</td><td>{esc(r['localidad'] or '')}</td>"
                    f"<td>{esc(r['servicio'])}</td><td>{esc(points.get(r['punto_id'], r['punto_id'] or '—'))}</td>"
                    f"<td>{_fecha(r['creada'])}</td><td>{action}</td></tr>")
    pending = sum(r["estado"] == "referida" for r in data["derivaciones"])
    body = (f"{_message(mensaje)}<p>Institución <b>{esc(sesion.usuario.institucion)}</b>, distritos "
            f"{esc(', '.join(sesion.usuario.distritos))}: {len(rows)} derivaciones, {pending} pendientes de "
            "contrarreferencia. <a href='/api/derivaciones/reporte'>Descargar reporte (CSV)</a></p>"
            + tabla("derivaciones", ["N.º", "Persona / hogar", "Localidad", "Servicio", "Punto", "Derivada el",
                                     "Contrarreferencia"], rows, (0,)))
    return _page("Derivaciones recibidas", body, sesion)


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
    refused = _gate(sesion, "institucion", "/institucion")
    if refused:
        return refused
    try:
        body = derivaciones.Contrarreferencia(resultado=resultado, fecha=fecha)
        done = derivaciones.counter_referral(derivacion_id, body, finalidad="seguimiento", sesion=sesion)
        message = f"Contrarreferencia de la derivación n.º {derivacion_id} registrada: {done['estado']}."
    except AccesoError as exc:
        message = exc.detail
    except ValueError:
        message = "Datos del formulario no válidos."
    return RedirectResponse(f"/institucion?{urlencode({'mensaje': message})}", status_code=303)
