"""Institutional access: the one module that checks the role, scopes the territory and
writes the audit log.

- **Login** (``GET/POST /ingresar``, ``POST /salir``): argon2 passwords
  (``geoportal.usuarios``), server-side sessions in ``acceso.sesion``. The cookie holds a
  random token (only its SHA-256 is stored), is ``HttpOnly``, ``SameSite=Strict`` and
  ``Secure`` when the request came over HTTPS (or ``GEOPORTAL_COOKIE_SEGURA=true``). A new
  token is issued at every login and any token the browser brought is closed, so a
  planted session id is worthless (no fixation). Sessions end after
  ``GEOPORTAL_SESION_MINUTOS`` or ``GEOPORTAL_SESION_INACTIVIDAD_MINUTOS`` idle, at logout,
  and at once when the user is deactivated or changes role.
- **CSRF**: every state-changing request of a session must carry the session's token
  (``X-CSRF-Token`` header or ``csrf`` form field); the login form uses a double-submit
  cookie. A cross-site ``Origin`` is refused as well.
- **Lockout**: ``GEOPORTAL_INTENTOS_MAX`` failures for one user name (known or not, so
  nobody learns which names exist) or ``GEOPORTAL_INTENTOS_IP_MAX`` from one address within
  ``GEOPORTAL_BLOQUEO_MINUTOS`` refuse further attempts, even with the right password.
- **Nominal access** (``nominal_tx``): a transaction as the database role
  ``geoportal_nominal`` with the session's districts and institution set for that
  transaction only; Row-Level Security then hides every other row, so a handler bug
  cannot return another district's households. ``audit`` writes the log row in the same
  transaction (who, role, what, territory, purpose, row count).

Errors are ``application/problem+json`` with a Spanish ``detail`` (never a nominal value).
"""

from __future__ import annotations

import hashlib
import html
import secrets
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Iterator

import psycopg
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.registro import RutaInstitucional, redactar
from geoportal.audit import log_access
from geoportal.roles import ACCESS_ROLE, NOMINAL_ROLE, role_url
from geoportal.usuarios import COLUMNS, Usuario, _row, verify_password

COOKIE = "geoportal_sesion"
LOGIN_COOKIE = "geoportal_ingreso"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
NOMINAL_ROLES = ("mesa_distrital", "institucion")
AGGREGATE_ROLES = ("gabinete", "mesa_departamental", "mesa_distrital", "institucion")


class AccesoSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GEOPORTAL_", extra="ignore")

    sesion_minutos: int = 480
    sesion_inactividad_minutos: int = 30
    cookie_segura: bool | None = None  # None: Secure when the request arrived over HTTPS
    intentos_max: int = 5
    intentos_ip_max: int = 30
    bloqueo_minutos: int = 15
    # Ages in the nominal lists and the recompute after a contrarreferencia refer to this
    # date when set, else to each household's survey date (as `geoportal calcular`).
    fecha_corte: date | None = None


def settings() -> AccesoSettings:
    return AccesoSettings()


class AccesoError(Exception):
    """An access problem shown to the user as problem+json (or a login page)."""

    def __init__(self, status: int, detail: str, title: str | None = None, headers: dict | None = None):
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers or {}
        self.title = title or {401: "No autenticado", 403: "Prohibido", 404: "No encontrado", 409: "Conflicto",
                               422: "Solicitud no válida", 429: "Demasiados intentos"}.get(status, "Error")


def problem(status: int, title: str, detail: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"type": "about:blank", "title": title, "status": status, "detail": detail},
                        status_code=status, media_type="application/problem+json", headers=headers)


# ----------------------------------------------------------------------------- sessions
@dataclass(frozen=True)
class Sesion:
    usuario: Usuario
    csrf: str
    token_hash: str

    @property
    def rol(self) -> str:
        return self.usuario.rol


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@contextmanager
def access_conn() -> Iterator[psycopg.Connection]:
    """The login/session role (no nominal data); commits on success."""
    with psycopg.connect(role_url(ACCESS_ROLE), connect_timeout=10) as conn:
        yield conn


def _load_session(token: str | None) -> Sesion | None:
    if not token:
        return None
    cfg = settings()
    with access_conn() as conn:
        row = conn.execute(
            f"UPDATE acceso.sesion s SET ultima = now() FROM acceso.usuario u"
            f" WHERE s.token_hash = %s AND u.usuario_id = s.usuario_id AND s.cerrada IS NULL AND s.expira > now()"
            f" AND s.ultima > now() - make_interval(mins => %s) AND u.activo"
            f" RETURNING s.csrf, {', '.join('u.' + c.strip() for c in COLUMNS.split(','))}",
            (_digest(token), cfg.sesion_inactividad_minutos),
        ).fetchone()
    if row is None:
        return None
    return Sesion(_row(row[1:]), row[0], _digest(token))


async def _csrf_sent(request: Request) -> str | None:
    sent = request.headers.get("x-csrf-token")
    if sent:
        return sent
    if request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # cached on the request: handlers can still read it
        value = form.get("csrf")
        return value if isinstance(value, str) else None
    return None


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


@redactar  # whoever reads a session is institutional: its path is logged redacted
async def optional_session(request: Request) -> Sesion | None:
    """The caller's session, or None (anonymous = public)."""
    cached = getattr(request.state, "sesion", False)
    if cached is not False:
        return cached
    found = await run_in_threadpool(_load_session, request.cookies.get(COOKIE))
    if found is not None and request.method not in SAFE_METHODS:
        sent = await _csrf_sent(request)
        if not _same_origin(request) or not sent or not secrets.compare_digest(sent, found.csrf):
            raise AccesoError(403, "Falta el token CSRF de la sesión o no coincide; recargue la página.",
                              "Solicitud rechazada (CSRF)")
    request.state.sesion = found
    return found


async def session_required(sesion: Sesion | None = Depends(optional_session)) -> Sesion:
    if sesion is None:
        raise AccesoError(401, "Inicie sesión para acceder (/ingresar); la sesión pudo haber vencido o cerrado.")
    return sesion


def require(*roles: str):
    """Dependency: a session whose role is one of ``roles``."""

    async def dependency(sesion: Sesion = Depends(session_required)) -> Sesion:
        if sesion.rol not in roles:
            raise AccesoError(403, f"El rol {sesion.rol} no tiene acceso a este recurso.")
        return sesion

    return dependency


# ----------------------------------------------------------------------------- territory
def district_scope(sesion: Sesion) -> tuple[list[str], str]:
    """(districts, institution) a nominal transaction is limited to; '*' = every institution."""
    user = sesion.usuario
    if user.rol == "mesa_distrital":
        return [user.distrito], "*"
    if user.rol == "institucion":
        return list(user.distritos), user.institucion
    raise AccesoError(403, f"El rol {user.rol} no accede a datos nominales.")


def may_see_territory(conn: psycopg.Connection, sesion: Sesion, nivel: str, codigo: str) -> bool:
    """Aggregate scope: gabinete the country; a Mesa its department / district; an institution
    its districts. ``nivel``: pais | departamento | distrito (2022 code or 2012 polygon)."""
    user = sesion.usuario
    if user.rol == "gabinete":
        return True
    if user.rol == "admin" or nivel == "pais":
        return False
    if nivel == "departamento":
        return user.rol == "mesa_departamental" and codigo == user.departamento
    if nivel != "distrito":
        return False
    districts = conn.execute(
        "SELECT codigo, dpto FROM territorio.distrito WHERE codigo = %s OR codigo_2012 = %s", (codigo, codigo)
    ).fetchall()
    if not districts:
        return False
    if user.rol == "mesa_departamental":
        return all(d == user.departamento for _, d in districts)
    own = {user.distrito} if user.rol == "mesa_distrital" else set(user.distritos)
    return all(c in own for c, _ in districts)


@contextmanager
def nominal_tx(sesion: Sesion) -> Iterator[psycopg.Connection]:
    """One transaction as ``geoportal_nominal``, scoped by Row-Level Security to the session."""
    districts, institution = district_scope(sesion)
    with psycopg.connect(role_url(NOMINAL_ROLE), connect_timeout=10) as conn:
        conn.execute(
            "SELECT set_config('geoportal.distritos', %s, true), set_config('geoportal.institucion', %s, true),"
            " set_config('geoportal.rol', %s, true)",
            (",".join(districts), institution, sesion.rol),
        )
        yield conn


def audit(conn: psycopg.Connection, sesion: Sesion, accion: str, territorio: str | None, filas: int,
          finalidad: str, **detalle) -> None:
    """The audit row of a nominal read or write, in the same transaction as the access."""
    log_access(conn, accion, territorio, {"finalidad": finalidad, "filas": filas, **detalle},
               usuario=sesion.usuario.nombre, rol=sesion.rol)


# ----------------------------------------------------------------------------- login
router = APIRouter(tags=["acceso"], route_class=RutaInstitucional)


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int | None) -> None:
    secure = settings().cookie_segura
    if secure is None:
        secure = request.url.scheme == "https"
    response.set_cookie(name, value, max_age=max_age, httponly=True, secure=secure, samesite="strict", path="/")


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/cuenta"


def _login_page(csrf: str, error: str = "", siguiente: str = "/cuenta") -> str:
    from api.plantilla import pagina

    alert = f"<p class='error' role='alert'>{html.escape(error)}</p>" if error else ""
    return pagina("Ingreso institucional", (
        "<p>Acceso para Mesas de Protección Social, instituciones y el Gabinete Social. "
        "Los datos nominales se usan solo para la finalidad autorizada y todo acceso queda registrado.</p>"
        f"{alert}<form class='ingreso' method='post' action='/ingresar'>"
        f"<input type='hidden' name='csrf' value='{html.escape(csrf)}'>"
        f"<input type='hidden' name='siguiente' value='{html.escape(siguiente)}'>"
        "<label>Usuario <input name='usuario' autocomplete='username' required></label>"
        "<label>Contraseña <input name='clave' type='password' autocomplete='current-password' required></label>"
        "<button type='submit'>Ingresar</button></form>"
        "<p class='nota'>El mapa público no necesita ingreso: <a href='/'>volver al mapa</a>.</p>"))


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
        return problem(status, "Ingreso rechazado", message, headers)
    csrf = secrets.token_urlsafe(24)
    response = HTMLResponse(_login_page(csrf, message), status_code=status, headers=headers)
    _cookie(response, request, LOGIN_COOKIE, csrf, max_age=3600)
    return response


@router.post("/ingresar", include_in_schema=False)
async def login(request: Request) -> Response:
    cfg = settings()
    form = await request.form()
    nombre = str(form.get("usuario", "")).strip().lower()[:64]
    clave = str(form.get("clave", ""))
    sent, expected = str(form.get("csrf", "")), request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not sent or not secrets.compare_digest(sent, expected) or not _same_origin(request):
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
            conn.execute("UPDATE acceso.sesion SET cerrada = now() WHERE token_hash = %s AND cerrada IS NULL", (_digest(old),))
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        conn.execute(
            "INSERT INTO acceso.sesion (token_hash, usuario_id, csrf, expira)"
            " VALUES (%s, %s, %s, now() + make_interval(mins => %s))",
            (_digest(token), user.usuario_id, csrf, cfg.sesion_minutos),
        )
    if _wants_json(request):
        response: Response = JSONResponse({"usuario": user.nombre, "rol": user.rol, "csrf": csrf})
    else:
        response = RedirectResponse(_safe_next(str(form.get("siguiente", ""))), status_code=303)
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
    from api.plantilla import pagina

    u = sesion.usuario
    links = {"mesa_distrital": "<p><a href='/mesa'>Lista de personas y hogares sin protección</a></p>",
             "institucion": "<p><a href='/institucion'>Derivaciones recibidas</a></p>",
             "admin": "<p><a href='/api/auditoria'>Registro de auditoría (JSON)</a> · "
                      "<a href='/api/auditoria?formato=csv'>CSV</a></p>"}
    aggregate = ("<p>En el <a href='/'>mapa</a>, el bloque «Mi territorio» muestra las alertas de su territorio.</p>"
                 if u.rol in AGGREGATE_ROLES else "")
    return HTMLResponse(pagina(f"Sesión de {u.nombre_completo or u.nombre}", (
        f"<p>Rol: <b id='rol'>{html.escape(u.rol)}</b>; territorio: <b id='territorio'>{html.escape(u.territorio or '—')}</b>"
        f"{'; institución <b>' + html.escape(u.institucion) + '</b>' if u.institucion else ''}</p>"
        f"{links.get(u.rol, '')}{aggregate}"), sesion), headers={"Cache-Control": "no-store"})


# ----------------------------------------------------------------------------- admin: audit log
@router.get("/api/auditoria")
def audit_log(limite: int = 200, formato: str = "json", sesion: Sesion = Depends(require("admin"))) -> Response:
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
        import csv
        import io

        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=names)
        writer.writeheader()
        writer.writerows(records)
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": "attachment; filename=auditoria.csv"})
    return JSONResponse({"registros": records})


# ----------------------------------------------------------------------------- wiring
def install(app: FastAPI) -> None:
    """Routers of institutional access and the problem+json handlers they rely on."""
    from api import alertas, contrarreferencias, derivaciones, paginas

    @app.exception_handler(AccesoError)
    async def _access_error(request: Request, exc: AccesoError) -> Response:
        return problem(exc.status, exc.title, exc.detail, exc.headers)

    from fastapi.exception_handlers import request_validation_exception_handler

    # Unless the map service already maps validation errors to problem+json (api/errores.py).
    if app.exception_handlers.get(RequestValidationError) in (None, request_validation_exception_handler):
        @app.exception_handler(RequestValidationError)
        async def _invalid(request: Request, exc: RequestValidationError) -> Response:
            fields = ", ".join(".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]) for e in exc.errors())
            return problem(422, "Solicitud no válida", f"Parámetros no válidos: {fields}.")

    app.include_router(router)
    app.include_router(contrarreferencias.router)
    app.include_router(derivaciones.router)
    app.include_router(alertas.router)
    app.include_router(paginas.router)
