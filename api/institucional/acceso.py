"""Institutional access: the one module that checks the role, scopes the territory and
writes the audit log.

- **Login** (``GET/POST /ingresar``, ``POST /salir``, routes in ``api.institucional.ingreso``): argon2 passwords
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
- **Lockout** (``api.institucional.ingreso``): from ``GEOPORTAL_INTENTOS_MAX`` failures of
  one user name (known or not, so nobody learns which names exist) or
  ``GEOPORTAL_INTENTOS_IP_MAX`` of one address, each further try waits, exponentially
  longer per failure up to ``GEOPORTAL_BLOQUEO_MINUTOS``; tries made while waiting are
  refused unchecked and never counted; ``geoportal usuarios desbloquear`` ends the wait.
- **Nominal access** (``nominal_tx``): a transaction as the database role
  ``geoportal_nominal`` with the session's districts and institution set for that
  transaction only; Row-Level Security then hides every other row, so a handler bug
  cannot return another district's households. ``audit`` writes the log row in the same
  transaction (who, role, what, territory, purpose, row count).

Errors are ``application/problem+json`` with a Spanish ``detail`` (never a nominal value).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from api.base.ajustes import ajustes
from api.base.conexiones import url_de
from api.base.errores import AccesoError
from api.base.registro import redactar
from geoportal.audit import log_access
from geoportal.territory import POLIGONO_SQL
from geoportal.usuarios import COLUMNS, Rol, Usuario, _row

COOKIE = "geoportal_sesion"
LOGIN_COOKIE = "geoportal_ingreso"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# Who sees what, decided here and nowhere else (the README's role table).
NOMINAL_ROLES = (Rol.MESA_DISTRITAL, Rol.INSTITUCION)
AGGREGATE_ROLES = (Rol.GABINETE, Rol.MESA_DEPARTAMENTAL, Rol.MESA_DISTRITAL, Rol.INSTITUCION)
# The exact information loss: not for institutions (they act on referrals, not on the
# disclosure control) nor for the admin (users and audit, no figures).
PERDIDA_ROLES = (Rol.GABINETE, Rol.MESA_DEPARTAMENTAL, Rol.MESA_DISTRITAL)


# ----------------------------------------------------------------------------- sessions
@dataclass(frozen=True)
class Sesion:
    usuario: Usuario
    csrf: str
    token_hash: str

    @property
    def rol(self) -> str:
        return self.usuario.rol


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@contextmanager
def access_conn() -> Iterator[psycopg.Connection]:
    """The login/session role (no nominal data); commits on success."""
    with psycopg.connect(url_de("acceso"), connect_timeout=10) as conn:
        yield conn


def _load_session(token: str | None) -> Sesion | None:
    if not token:
        return None
    cfg = ajustes()
    with access_conn() as conn:
        row = conn.execute(
            f"UPDATE acceso.sesion s SET ultima = now() FROM acceso.usuario u"
            f" WHERE s.token_hash = %s AND u.usuario_id = s.usuario_id AND s.cerrada IS NULL AND s.expira > now()"
            f" AND s.ultima > now() - make_interval(mins => %s) AND u.activo"
            f" RETURNING s.csrf, {', '.join('u.' + c.strip() for c in COLUMNS.split(','))}",
            (token_digest(token), cfg.sesion_inactividad_minutos),
        ).fetchone()
    if row is None:
        return None
    return Sesion(_row(row[1:]), row[0], token_digest(token))


async def _csrf_sent(request: Request) -> str | None:
    sent = request.headers.get("x-csrf-token")
    if sent:
        return sent
    if request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # cached on the request: handlers can still read it
        value = form.get("csrf")
        return value if isinstance(value, str) else None
    return None


def same_origin(request: Request) -> bool:
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
        if not same_origin(request) or not sent or not secrets.compare_digest(sent, found.csrf):
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
    if user.rol == Rol.MESA_DISTRITAL:
        return [user.distrito], "*"
    if user.rol == Rol.INSTITUCION:
        return list(user.distritos), user.institucion
    raise AccesoError(403, f"El rol {user.rol} no accede a datos nominales.")


def may_see_territory(conn: psycopg.Connection, sesion: Sesion, nivel: str, codigo: str) -> bool:
    """Aggregate scope: gabinete the country; a Mesa its department / district; an institution
    its districts. ``nivel``: pais | departamento | distrito (2022 code or 2012 polygon)."""
    user = sesion.usuario
    if user.rol == Rol.GABINETE:
        return True
    if user.rol == Rol.ADMIN or nivel == "pais":
        return False
    if nivel == "departamento":
        return user.rol == Rol.MESA_DEPARTAMENTAL and codigo == user.departamento
    if nivel != "distrito":
        return False
    districts = conn.execute(
        "SELECT codigo, dpto FROM territorio.distrito WHERE codigo = %s OR codigo_2012 = %s", (codigo, codigo)
    ).fetchall()
    if not districts:
        return False
    if user.rol == Rol.MESA_DEPARTAMENTAL:
        return all(d == user.departamento for _, d in districts)
    own = {user.distrito} if user.rol == Rol.MESA_DISTRITAL else set(user.distritos)
    return all(c in own for c, _ in districts)


def visible_areas(conn, sesion: Sesion) -> set[tuple[str, str]]:
    """(nivel, codigo) of the stored areas (districts by polygon) the role covers."""
    districts = conn.execute(
        f"SELECT codigo, dpto, {POLIGONO_SQL} FROM territorio.distrito").fetchall()
    u = sesion.usuario
    if u.rol == Rol.GABINETE:
        return ({("pais", "PY")} | {("departamento", d) for _, d, _ in districts}
                | {("distrito", p) for _, _, p in districts})
    if u.rol == Rol.MESA_DEPARTAMENTAL:
        mine = {c for c, d, _ in districts if d == u.departamento}
        areas = {("departamento", u.departamento)}
    else:
        mine = {u.distrito} if u.rol == Rol.MESA_DISTRITAL else set(u.distritos)
        areas = set()
    polygons: dict[str, set[str]] = {}
    for code, _, polygon in districts:
        polygons.setdefault(polygon, set()).add(code)
    # a polygon shared by several 2022 districts is visible only to who covers all of them
    return areas | {("distrito", p) for p, codes in polygons.items() if codes <= mine}


def territorio_de(sesion: Sesion) -> str:
    """The territory an audit row names for a nominal read of this session."""
    u = sesion.usuario
    return u.distrito if u.rol == Rol.MESA_DISTRITAL else ",".join(u.distritos)


@contextmanager
def nominal_tx(sesion: Sesion) -> Iterator[psycopg.Connection]:
    """One transaction as ``geoportal_nominal``, scoped by Row-Level Security to the session."""
    districts, institution = district_scope(sesion)
    with psycopg.connect(url_de("nominal"), connect_timeout=10) as conn:
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
