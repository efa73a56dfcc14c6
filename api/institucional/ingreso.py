"""Login, logout, the session's own pages and the audit log: ``GET/POST /ingresar``,
``POST /salir``, ``GET /api/sesion``, ``GET /api/sesion/estado``, ``GET /cuenta``,
``GET /api/auditoria`` (admin). How sessions, CSRF and lockout work is told in
``api.institucional.acceso``, which these routes use.
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from api.base.ajustes import ajustes
from api.base.errores import AccesoError, problem
from api.base.hojas import csv_records
from api.base.plantilla import pagina
from api.base.registro import RutaInstitucional
from api.institucional.acceso import (
    AGGREGATE_ROLES,
    COOKIE,
    LOGIN_COOKIE,
    Sesion,
    access_conn,
    optional_session,
    require,
    same_origin,
    session_required,
    token_digest,
)
from api.institucional.seguimiento import landing_url
from geoportal.usuarios import COLUMNS, Rol, _row, verify_password

router = APIRouter(tags=["acceso"], route_class=RutaInstitucional)


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int | None) -> None:
    secure = ajustes().cookie_segura
    if secure is None:
        secure = request.url.scheme == "https"
    response.set_cookie(name, value, max_age=max_age, httponly=True, secure=secure, samesite="strict", path="/")


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/cuenta"


def _login_page(csrf: str, error: str = "", siguiente: str = "/cuenta") -> str:
    return pagina("ingreso.html", "Ingreso institucional", csrf=csrf, error=error, siguiente=siguiente)


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


@router.get("/ingresar", response_class=HTMLResponse, include_in_schema=False)
def login_form(request: Request, siguiente: str = "/cuenta") -> HTMLResponse:
    csrf = secrets.token_urlsafe(24)
    response = HTMLResponse(_login_page(csrf, siguiente=_safe_next(siguiente)))
    _cookie(response, request, LOGIN_COOKIE, csrf, max_age=3600)
    return response


def _refuse_login(request: Request, status: int, message: str, headers: dict | None = None) -> Response:
    if _wants_json(request):
        return problem(status, message, None, headers, title="Ingreso rechazado")
    csrf = secrets.token_urlsafe(24)
    response = HTMLResponse(_login_page(csrf, message), status_code=status, headers=headers)
    _cookie(response, request, LOGIN_COOKIE, csrf, max_age=3600)
    return response


@router.post("/ingresar", include_in_schema=False)
async def login(request: Request) -> Response:
    cfg = ajustes()
    form = await request.form()
    nombre = str(form.get("usuario", "")).strip().lower()[:64]
    clave = str(form.get("clave", ""))
    sent, expected = str(form.get("csrf", "")), request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not sent or not secrets.compare_digest(sent, expected) or not same_origin(request):
        return _refuse_login(request, 403, "El formulario venció o no es de este sitio; vuelva a intentarlo.")
    if not nombre or not clave:
        return _refuse_login(request, 422, "Escriba su usuario y su contraseña.")
    ip = request.client.host if request.client else "desconocida"
    window = cfg.bloqueo_minutos
    with access_conn() as conn:
        by_name, by_ip = conn.execute(
            "SELECT (SELECT count(*) FROM acceso.intento_ingreso WHERE nombre = %(n)s AND NOT exito"
            "        AND momento > now() - make_interval(mins => %(w)s)"
            "        AND momento > coalesce((SELECT max(momento) FROM acceso.intento_ingreso"
            "                                WHERE nombre = %(n)s AND exito), '-infinity')),"
            " (SELECT count(*) FROM acceso.intento_ingreso WHERE ip = %(ip)s AND NOT exito"
            "        AND momento > now() - make_interval(mins => %(w)s))",
            {"n": nombre, "ip": ip, "w": window},
        ).fetchone()
        locked = by_name >= cfg.intentos_max or by_ip >= cfg.intentos_ip_max
        row = None if locked else conn.execute(
            f"SELECT clave_hash, {COLUMNS} FROM acceso.usuario WHERE nombre = %s", (nombre,)
        ).fetchone()
        ok = (not locked) and verify_password(row[0] if row else None, clave) and bool(row and row[-1])
        conn.execute("INSERT INTO acceso.intento_ingreso (nombre, ip, exito) VALUES (%s, %s, %s)", (nombre, ip, ok))
        if locked:
            conn.commit()
            return _refuse_login(request, 429, f"Demasiados intentos fallidos. Espere {window} minutos y vuelva a intentar.",
                                 {"Retry-After": str(window * 60)})
        if not ok:
            conn.commit()
            return _refuse_login(request, 401, "Usuario o contraseña incorrectos.")
        user = _row(row[1:])
        old = request.cookies.get(COOKIE)
        if old:  # whatever session id the browser brought is closed, never adopted
            conn.execute("UPDATE acceso.sesion SET cerrada = now() WHERE token_hash = %s AND cerrada IS NULL", (token_digest(old),))
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        conn.execute(
            "INSERT INTO acceso.sesion (token_hash, usuario_id, csrf, expira)"
            " VALUES (%s, %s, %s, now() + make_interval(mins => %s))",
            (token_digest(token), user.usuario_id, csrf, cfg.sesion_minutos),
        )
    if _wants_json(request):
        response: Response = JSONResponse({"usuario": user.nombre, "rol": user.rol, "csrf": csrf})
    else:
        response = RedirectResponse(landing_url(user, _safe_next(str(form.get("siguiente", "")))), status_code=303)
    _cookie(response, request, COOKIE, token, max_age=cfg.sesion_minutos * 60)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.post("/salir", include_in_schema=False)
def logout(request: Request, sesion: Sesion = Depends(session_required)) -> Response:
    with access_conn() as conn:
        conn.execute("UPDATE acceso.sesion SET cerrada = now() WHERE token_hash = %s", (sesion.token_hash,))
    response = JSONResponse({"sesion": "cerrada"}) if _wants_json(request) else RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _user_json(sesion: Sesion) -> dict:
    u = sesion.usuario
    return {"usuario": u.nombre, "nombre": u.nombre_completo, "rol": u.rol, "territorio": u.territorio,
            "institucion": u.institucion, "csrf": sesion.csrf}


@router.get("/api/sesion")
def current_session(sesion: Sesion = Depends(session_required)) -> dict:
    """Who is logged in, their scope, and the CSRF token a page must send with each POST."""
    return _user_json(sesion)


@router.get("/api/sesion/estado")
def session_state(sesion: Sesion | None = Depends(optional_session)) -> JSONResponse:
    """For the public viewer: the logged-in user (without the CSRF token), or null; never 401."""
    user = None if sesion is None else {k: v for k, v in _user_json(sesion).items() if k != "csrf"}
    return JSONResponse({"sesion": user}, headers={"Cache-Control": "private, no-store"})


@router.get("/cuenta", response_class=HTMLResponse, include_in_schema=False)
def account_page(sesion: Sesion | None = Depends(optional_session)) -> Response:
    if sesion is None:
        return RedirectResponse("/ingresar?siguiente=/cuenta", status_code=303)
    u = sesion.usuario
    body = pagina("cuenta.html", f"Sesión de {u.nombre_completo or u.nombre}", sesion, u=u,
                  agregado=u.rol in AGGREGATE_ROLES)
    return HTMLResponse(body, headers={"Cache-Control": "no-store"})


# ----------------------------------------------------------------------------- admin: audit log
@router.get("/api/auditoria")
def audit_log(limite: int = 200, formato: str = "json", sesion: Sesion = Depends(require(Rol.ADMIN))) -> Response:
    """The audit log, newest first (admin only; CSV with ``formato=csv``)."""
    if not 1 <= limite <= 100_000 or formato not in ("json", "csv"):
        raise AccesoError(422, "limite debe estar entre 1 y 100000 y formato ser json o csv.")
    with access_conn() as conn:
        rows = conn.execute(
            "SELECT auditoria_id, momento, usuario, rol, accion, territorio, finalidad, filas"
            " FROM acceso.auditoria ORDER BY auditoria_id DESC LIMIT %s", (limite,)
        ).fetchall()
    names = ["auditoria_id", "momento", "usuario", "rol", "accion", "territorio", "finalidad", "filas"]
    records = [dict(zip(names, [r[0], r[1].isoformat(), *r[2:]])) for r in rows]
    if formato == "csv":
        return csv_records(records, "auditoria.csv")
    return JSONResponse({"registros": records})
