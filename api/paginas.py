"""Minimal Spanish HTML pages of the cycle: the Mesa's list (``/mesa``) and the
institution's referrals (``/institucion``). Plain forms, server-rendered, no script: they
call the same handlers as the JSON API (so the same role checks, RLS and audit apply) and
every form carries the session's CSRF token."""

from __future__ import annotations

import html
import json
from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api import derivaciones
from api.acceso import AccesoError, Sesion, optional_session
from geoportal.catalog import default_catalog

router = APIRouter(include_in_schema=False)
esc = html.escape


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html lang='es'><head><meta charset='utf-8'>"
        f"<title>{esc(title)} · Geoportal SPS</title></head><body><main>"
        f"<p><a href='/cuenta'>Mi cuenta</a></p><h1>{esc(title)}</h1>{body}</main></body></html>",
        headers={"Cache-Control": "no-store"})


def _gate(sesion: Sesion | None, rol: str, here: str) -> Response | None:
    if sesion is None:
        return RedirectResponse(f"/ingresar?{urlencode({'siguiente': here})}", status_code=303)
    if sesion.rol != rol:
        return _page("Sin acceso", f"<p>Esta página es para el rol {esc(rol)}.</p>")
    return None


def _message(text: str | None) -> str:
    return f"<p role='status' id='mensaje'>{esc(text)}</p>" if text else ""


@router.get("/mesa")
def mesa_page(servicio: str = "", brecha: str = "", mensaje: str | None = None,
              sesion: Sesion | None = Depends(optional_session)) -> Response:
    refused = _gate(sesion, "mesa_distrital", "/mesa")
    if refused:
        return refused
    catalog = default_catalog()
    services = [s for s in catalog.servicios if s.unidad != "entorno"]
    try:
        answer = derivaciones.unprotected_list(
            servicio=servicio or None, categoria=None, brecha=brecha or None, paquete="todos", localidad=None,
            limite=50, desde=0, formato="json", finalidad="derivacion", sesion=sesion)
    except AccesoError as exc:
        return _page("Personas y hogares sin protección", f"<p role='alert'>{esc(exc.detail)}</p>")
    data = json.loads(answer.body)
    options = "".join(f"<option value='{s.codigo}'{' selected' if s.codigo == servicio else ''}>{esc(s.nombre)}</option>"
                      for s in services)
    kinds = "".join(f"<option value='{k}'{' selected' if k == brecha else ''}>{label}</option>"
                    for k, label in (("", "todas"), ("derivacion", "derivación (hay oferta)"), ("inversion", "inversión (sin oferta)")))
    summary = "".join(f"<tr><td>{esc(r['servicio'])}</td><td>{r['derivacion']}</td><td>{r['inversion']}</td></tr>"
                      for r in data["resumen"])
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
                      f"<input type='hidden' name='volver' value='{esc(urlencode({'servicio': servicio, 'brecha': brecha}))}'>"
                      "<button type='submit' class='derivar'>Derivar</button></form>")
        rows.append(f"<tr><td>{esc(who)}</td><td>{esc(r['categorias'])}</td><td>{esc(r['servicio_nombre'])}</td>"
                    f"<td>{esc(r['brecha'])}</td><td>{esc(r['punto_nombre'] or '—')}</td>"
                    f"<td>{'' if r['distancia_km'] is None else r['distancia_km']}</td><td>{action}</td></tr>")
    body = (
        f"{_message(mensaje)}<p>Distrito <b>{esc(data['distrito'])}</b>. Datos nominales: uso exclusivo para la "
        "derivación; cada consulta queda registrada.</p>"
        f"<form method='get' action='/mesa'><label>Servicio <select name='servicio'><option value=''>todos</option>{options}"
        f"</select></label> <label>Brecha <select name='brecha'>{kinds}</select></label> <button>Filtrar</button></form>"
        f"<p>Brechas: <b id='total'>{data['total']}</b> (se muestran las primeras 50).</p>"
        f"<table id='resumen'><tr><th>Servicio</th><th>Derivación</th><th>Inversión</th></tr>{summary}</table>"
        "<table id='lista'><tr><th>Persona / hogar</th><th>Categorías</th><th>Servicio</th><th>Brecha</th>"
        f"<th>Punto más cercano</th><th>km</th><th></th></tr>{''.join(rows)}</table>")
    return _page("Personas y hogares sin protección", body)


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
def institution_page(mensaje: str | None = None, sesion: Sesion | None = Depends(optional_session)) -> Response:
    refused = _gate(sesion, "institucion", "/institucion")
    if refused:
        return refused
    data = json.loads(derivaciones.list_referrals(estado=None, servicio=None, finalidad="seguimiento", sesion=sesion).body)
    today = date.today().isoformat()
    rows = []
    for r in data["derivaciones"]:
        who = f"{r['nombres'] or ''} {r['apellidos'] or ''}".strip() or f"Hogar {r['hogar_id']}"
        if r["estado"] == "referida":
            action = (f"<form method='post' action='/institucion/contrarreferencia'>"
                      f"<input type='hidden' name='csrf' value='{esc(sesion.csrf)}'>"
                      f"<input type='hidden' name='derivacion_id' value='{r['derivacion_id']}'>"
                      "<select name='resultado'><option value='entregada'>entregada</option>"
                      "<option value='no_entregada'>no entregada</option><option value='no_localizada'>no localizada</option>"
                      f"</select> <input type='date' name='fecha' value='{today}' max='{today}'> "
                      "<button type='submit' class='registrar'>Registrar</button></form>")
        else:
            action = esc(r["estado"])
        rows.append(f"<tr><td>{r['derivacion_id']}</td><td>{esc(who)}</td><td>{esc(r['localidad'] or '')}</td>"
                    f"<td>{esc(r['servicio'])}</td><td>{esc(r['punto_id'] or '—')}</td><td>{action}</td></tr>")
    body = (f"{_message(mensaje)}<p>Institución <b>{esc(sesion.usuario.institucion)}</b>, distritos "
            f"{esc(', '.join(sesion.usuario.distritos))}. <a href='/api/derivaciones/reporte'>Descargar reporte (CSV)</a></p>"
            "<table id='derivaciones'><tr><th>N.º</th><th>Persona / hogar</th><th>Localidad</th><th>Servicio</th>"
            f"<th>Punto</th><th>Contrarreferencia</th></tr>{''.join(rows)}</table>")
    return _page("Derivaciones recibidas", body)


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
