"""Login, logout, the session's own pages and the audit log: ``GET/POST /ingresar``,
``POST /salir``, ``GET /api/sesion``, ``GET /api/sesion/estado``, ``GET /cuenta``,
``GET /api/auditoria`` (admin). How sessions, CSRF and lockout work is told in
``api.institucional.acceso``, which these routes use.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass

import anyio
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
from geoportal.usuarios import COLUMNS, Rol, Usuario, _row, verify_password

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


# -------------------------------------------------------------------------- lockout
# Failures of one name count since its last success or unlock (`geoportal usuarios
# desbloquear`, `geoportal usuarios clave`), within a day; failures of one address within
# an hour. From GEOPORTAL_INTENTOS_MAX failures of a name (GEOPORTAL_INTENTOS_IP_MAX of an
# address) each further try waits GEOPORTAL_BLOQUEO_BASE_SEGUNDOS after the last failure,
# doubled per failure beyond the threshold, at most GEOPORTAL_BLOQUEO_MINUTOS. A try made
# while waiting is refused unchecked (429 + Retry-After) and never counts as a failure; the
# right password after the wait gets in. A name that got in from an address in the last 30
# days is not held back by that address's failures (an office behind one NAT keeps working).
ESTADO_SQL = """
WITH reinicio AS (
    SELECT coalesce(max(momento), '-infinity') AS desde FROM acceso.intento_ingreso
     WHERE nombre = %(n)s AND (exito OR tipo = 'desbloqueo')),
por_nombre AS (
    SELECT count(*) AS fallos, extract(epoch FROM now() - max(momento)) AS hace
      FROM acceso.intento_ingreso, reinicio
     WHERE nombre = %(n)s AND tipo = 'intento' AND NOT exito AND momento > reinicio.desde
       AND momento > now() - interval '1 day'),
por_ip AS (
    SELECT count(*) AS fallos, extract(epoch FROM now() - max(momento)) AS hace
      FROM acceso.intento_ingreso
     WHERE ip = %(ip)s AND tipo = 'intento' AND NOT exito AND momento > now() - interval '1 hour')
SELECT por_nombre.fallos, por_nombre.hace, por_ip.fallos, por_ip.hace,
       EXISTS (SELECT 1 FROM acceso.intento_ingreso WHERE nombre = %(n)s AND ip = %(ip)s AND exito
                AND momento > now() - interval '30 days')
  FROM por_nombre, por_ip
"""


def espera(fallos: int, hace: float | None, umbral: int, base: float, tope: float) -> float:
    """Seconds a new try must still wait: 0 below ``umbral`` failures, else ``base``
    doubled per failure beyond it (at most ``tope``) counted from the last failure."""
    if fallos < umbral or hace is None:
        return 0.0
    return max(0.0, min(base * 2 ** min(fallos - umbral, 32), tope) - float(hace))


@dataclass(frozen=True)
class Intento:
    """What a login attempt came to: ``espera`` > 0 (refused unchecked), or the user and
    the new session's token and CSRF token (None: wrong name or password)."""

    espera: float = 0.0
    usuario: Usuario | None = None
    token: str = ""
    csrf: str = ""


def intentar(nombre: str, clave: str, ip: str, anterior: str | None) -> Intento:
    """The whole login in one transaction, blocking (argon2 and the database): the route
    runs it in a worker thread, a few at a time, so the event loop never waits on it."""
    cfg = ajustes()
    tope = cfg.bloqueo_minutos * 60
    with access_conn() as conn:
        by_name, name_ago, by_ip, ip_ago, known = conn.execute(ESTADO_SQL, {"n": nombre, "ip": ip}).fetchone()
        wait = espera(by_name, name_ago, cfg.intentos_max, cfg.bloqueo_base_segundos, tope)
        if not known:
            wait = max(wait, espera(by_ip, ip_ago, cfg.intentos_ip_max, cfg.bloqueo_base_segundos, tope))
        if wait > 0:
            conn.execute(
                "INSERT INTO acceso.intento_ingreso (nombre, ip, exito, tipo) VALUES (%s, %s, false, 'bloqueado')",
                (nombre, ip),
            )
            return Intento(espera=wait)
        row = conn.execute(f"SELECT clave_hash, {COLUMNS} FROM acceso.usuario WHERE nombre = %s", (nombre,)).fetchone()
        ok = verify_password(row[0] if row else None, clave) and bool(row and row[-1])
        conn.execute("INSERT INTO acceso.intento_ingreso (nombre, ip, exito) VALUES (%s, %s, %s)", (nombre, ip, ok))
        if not ok:
            return Intento()
        user = _row(row[1:])
        if anterior:  # whatever session id the browser brought is closed, never adopted
            conn.execute(
                "UPDATE acceso.sesion SET cerrada = now() WHERE token_hash = %s AND cerrada IS NULL",
                (token_digest(anterior),),
            )
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        conn.execute(
            "INSERT INTO acceso.sesion (token_hash, usuario_id, csrf, expira)"
            " VALUES (%s, %s, %s, now() + make_interval(mins => %s))",
            (token_digest(token), user.usuario_id, csrf, cfg.sesion_minutos),
        )
    return Intento(usuario=user, token=token, csrf=csrf)


_turnos: dict[str, anyio.CapacityLimiter] = {}


def _limitador() -> anyio.CapacityLimiter:
    """Logins verified at once (GEOPORTAL_INGRESOS_SIMULTANEOS): a burst queues instead of
    taking every core and the memory of argon2 from the map's requests."""
    if "ingreso" not in _turnos:
        _turnos["ingreso"] = anyio.CapacityLimiter(ajustes().ingresos_simultaneos)
    return _turnos["ingreso"]


@router.post("/ingresar", include_in_schema=False)
async def login(request: Request) -> Response:
    cfg = ajustes()
    form = await request.form()  # at most GEOPORTAL_CUERPO_MAX_KB (api.base.guardia)
    nombre = str(form.get("usuario", "")).strip().lower()[:64]
    clave = str(form.get("clave", ""))
    sent, expected = str(form.get("csrf", "")), request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not sent or not secrets.compare_digest(sent, expected) or not same_origin(request):
        return _refuse_login(request, 403, "El formulario venció o no es de este sitio; vuelva a intentarlo.")
    if not nombre or not clave:
        return _refuse_login(request, 422, "Escriba su usuario y su contraseña.")
    ip = request.client.host if request.client else "desconocida"
    done = await anyio.to_thread.run_sync(
        intentar, nombre, clave[:1024], ip, request.cookies.get(COOKIE), limiter=_limitador()
    )
    if done.espera > 0:
        seconds = math.ceil(done.espera)
        when = f"{seconds} segundos" if seconds < 120 else f"{math.ceil(seconds / 60)} minutos"
        return _refuse_login(
            request,
            429,
            f"Demasiados intentos fallidos. Espere {when} y vuelva a intentar.",
            {"Retry-After": str(seconds)},
        )
    if done.usuario is None:
        return _refuse_login(request, 401, "Usuario o contraseña incorrectos.")
    if _wants_json(request):
        response: Response = JSONResponse({"usuario": done.usuario.nombre, "rol": done.usuario.rol, "csrf": done.csrf})
    else:
        response = RedirectResponse(
            landing_url(done.usuario, _safe_next(str(form.get("siguiente", "")))), status_code=303
        )
    _cookie(response, request, COOKIE, done.token, max_age=cfg.sesion_minutos * 60)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


def sesion_vigente(token: str) -> bool:
    """Whether ``token`` names a live session (blocking; ``api.base.guardia`` asks it, in a
    thread, before a state-changing request's body is read). Touches nothing."""
    with access_conn() as conn:
        return (
            conn.execute(
                "SELECT 1 FROM acceso.sesion s JOIN acceso.usuario u ON u.usuario_id = s.usuario_id"
                " WHERE s.token_hash = %s AND s.cerrada IS NULL AND s.expira > now()"
                " AND s.ultima > now() - make_interval(mins => %s) AND u.activo",
                (token_digest(token), ajustes().sesion_inactividad_minutos),
            ).fetchone()
            is not None
        )


@router.post("/salir", include_in_schema=False)
def logout(request: Request, sesion: Sesion = Depends(session_required)) -> Response:
    with access_conn() as conn:
        conn.execute("UPDATE acceso.sesion SET cerrada = now() WHERE token_hash = %s", (sesion.token_hash,))
    response = JSONResponse({"sesion": "cerrada"}) if _wants_json(request) else RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _user_json(sesion: Sesion) -> dict:
    u = sesion.usuario
    return {
        "usuario": u.nombre,
        "nombre": u.nombre_completo,
        "rol": u.rol,
        "territorio": u.territorio,
        "institucion": u.institucion,
        "csrf": sesion.csrf,
    }


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
    body = pagina(
        "cuenta.html", f"Sesión de {u.nombre_completo or u.nombre}", sesion, u=u, agregado=u.rol in AGGREGATE_ROLES
    )
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
            " FROM acceso.auditoria ORDER BY auditoria_id DESC LIMIT %s",
            (limite,),
        ).fetchall()
    names = ["auditoria_id", "momento", "usuario", "rol", "accion", "territorio", "finalidad", "filas"]
    records = [dict(zip(names, [r[0], r[1].isoformat(), *r[2:]])) for r in rows]
    if formato == "csv":
        return csv_records(records, "auditoria.csv")
    return JSONResponse({"registros": records})
