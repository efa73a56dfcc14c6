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
  transaction (who, role, what, territory, purpose, row count). A refused (403) or
  not-found (404) nominal request leaves a row too (``audit_probe``: who, route template,
  territory; never the probed id).

Errors are ``application/problem+json`` with a Spanish ``detail`` (never a nominal value).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import psycopg
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from api.base.ajustes import ajustes
from api.base.conexiones import conexion_rol
from api.base.errores import AccesoError
from api.base.registro import redactar
from geoportal.audit import log_access
from geoportal.territory import POLIGONO_SQL
from geoportal.usuarios import COLUMNS, Rol, Usuario, _row, nombre_rol

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
    with conexion_rol("acceso") as conn:
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
            raise AccesoError(
                403, "Falta el token CSRF de la sesión o no coincide; recargue la página.", "Solicitud rechazada (CSRF)"
            )
    request.state.sesion = found
    return found


async def session_required(sesion: Sesion | None = Depends(optional_session)) -> Sesion:
    if sesion is None:
        raise AccesoError(401, "Inicie sesión para acceder (/ingresar); la sesión pudo haber vencido o cerrado.")
    return sesion


def require(*roles: str):
    """Dependency: a session whose role is one of ``roles``. A refusal on a nominal route
    leaves an audit row (``audit_probe``)."""

    async def dependency(request: Request, sesion: Sesion = Depends(session_required)) -> Sesion:
        route = getattr(request.scope.get("route"), "path", None)
        RUTA.set(route)
        if sesion.rol not in roles:
            if is_nominal_route(route):
                await run_in_threadpool(_audit_refusal, sesion, route, 403)
            raise AccesoError(403, f"El rol {nombre_rol(sesion.rol)} no tiene acceso a este recurso.")
        return sesion

    return dependency


# ----------------------------------------------------------------------------- probes
# The route template of the request being served (set by ``require``): what an audit row
# of a refused or not-found probe names, never the path with the probed id in it.
RUTA: ContextVar[str | None] = ContextVar("geoportal_ruta", default=None)
NOMINAL_PREFIXES = ("/api/nominal/", "/api/derivaciones")


def is_nominal_route(route: str | None) -> bool:
    return bool(route) and route.startswith(NOMINAL_PREFIXES)


def _territory_asked(sesion: Sesion) -> str | None:
    u = sesion.usuario
    if u.rol in NOMINAL_ROLES:
        return territorio_de(sesion)
    return u.departamento if u.rol == Rol.MESA_DEPARTAMENTAL else None


def audit_probe(conn: psycopg.Connection, sesion: Sesion, status: int) -> None:
    """The audit row of a denied (403) or not-found (404) nominal request: who, role, the
    route's template and the territory the session may ask for. Never the probed id nor
    anything about the row it may name (so an id outside the scope and a missing one
    leave the same row)."""
    log_access(
        conn,
        "acceso_denegado" if status == 403 else "no_encontrado",
        _territory_asked(sesion),
        {"ruta": RUTA.get(), "estado": status},
        usuario=sesion.usuario.nombre,
        rol=sesion.rol,
    )


def _audit_refusal(sesion: Sesion, route: str | None, status: int) -> None:
    """A role refused before any nominal transaction: its own connection, no rows in scope."""
    RUTA.set(route)
    with conexion_rol("nominal") as conn:
        audit_probe(conn, sesion, status)


# ----------------------------------------------------------------------------- territory
def district_scope(sesion: Sesion) -> tuple[list[str], str]:
    """(districts, institution) a nominal transaction is limited to; '*' = every institution."""
    user = sesion.usuario
    if user.rol == Rol.MESA_DISTRITAL:
        return [user.distrito], "*"
    if user.rol == Rol.INSTITUCION:
        return list(user.distritos), user.institucion
    raise AccesoError(403, f"El rol {nombre_rol(user.rol)} no accede a datos nominales.")


def _own_districts(sesion: Sesion) -> set[str]:
    u = sesion.usuario
    return {u.distrito} if u.rol == Rol.MESA_DISTRITAL else set(u.distritos)


def may_see_territory(conn: psycopg.Connection, sesion: Sesion, nivel: str, codigo: str) -> bool:
    """Aggregate scope: gabinete the country; a Mesa its department / district; an institution
    its districts. ``nivel``: pais | departamento | distrito (2022 code or 2012 polygon).

    A district is published by its 2012 polygon, which several 2022 districts may share
    (Mcal. Estigarribia 1602 and Boquerón 1606 share polygon 1602). A Mesa or institution
    sees the published area of each of its districts, shared or not: the same protected
    figures the public sees for that area, live, labelled ``compartida_con`` the other
    districts (``shared_with``). Nominal lists stay own-district only (RLS, ``nominal_tx``)."""
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
    return _area_of(conn, codigo) in _areas_of(conn, _own_districts(sesion))


def _area_of(conn: psycopg.Connection, codigo: str) -> str | None:
    """The published area (2012 polygon) a district-level code names: a 2022 district's
    polygon, or the polygon code itself."""
    row = conn.execute(f"SELECT {POLIGONO_SQL} FROM territorio.distrito WHERE codigo = %s", (codigo,)).fetchone()
    if row:
        return row[0]
    known = conn.execute("SELECT 1 FROM territorio.distrito WHERE codigo_2012 = %s", (codigo,)).fetchone()
    return codigo if known else None


def _areas_of(conn: psycopg.Connection, districts: set[str]) -> set[str]:
    return {
        p
        for (p,) in conn.execute(
            f"SELECT {POLIGONO_SQL} FROM territorio.distrito WHERE codigo = ANY(%s)", (sorted(districts),)
        ).fetchall()
    }


def shared_with(conn: psycopg.Connection, sesion: Sesion, nivel: str, codigo: str) -> list[str]:
    """The 2022 districts outside the session's own that share the published area ``codigo``
    (empty when the area is the district's alone): the label of a shared polygon."""
    if nivel != "distrito":
        return []
    area = _area_of(conn, codigo)
    members = [
        c
        for (c,) in conn.execute(
            f"SELECT codigo FROM territorio.distrito WHERE {POLIGONO_SQL} = %s ORDER BY codigo", (area,)
        ).fetchall()
    ]
    mine = _own_districts(sesion) if sesion.rol in (Rol.MESA_DISTRITAL, Rol.INSTITUCION) else set()
    return [c for c in members if c not in mine] if len(members) > 1 else []


def visible_areas(conn, sesion: Sesion) -> set[tuple[str, str]]:
    """(nivel, codigo) of the stored areas (districts by polygon) the role covers."""
    districts = conn.execute(f"SELECT codigo, dpto, {POLIGONO_SQL} FROM territorio.distrito").fetchall()
    u = sesion.usuario
    if u.rol == Rol.GABINETE:
        return (
            {("pais", "PY")}
            | {("departamento", d) for _, d, _ in districts}
            | {("distrito", p) for _, _, p in districts}
        )
    polygons: dict[str, set[str]] = {}
    for code, _, polygon in districts:
        polygons.setdefault(polygon, set()).add(code)
    if u.rol == Rol.MESA_DEPARTAMENTAL:
        mine = {c for c, d, _ in districts if d == u.departamento}
        # a polygon across two departments is no one department's
        return {("departamento", u.departamento)} | {("distrito", p) for p, codes in polygons.items() if codes <= mine}
    mine = _own_districts(sesion)
    # a Mesa / institution sees the published area of each of its districts, shared or not
    return {("distrito", p) for p, codes in polygons.items() if codes & mine}


def territorio_de(sesion: Sesion) -> str:
    """The territory an audit row names for a nominal read of this session."""
    u = sesion.usuario
    return u.distrito if u.rol == Rol.MESA_DISTRITAL else ",".join(u.distritos)


@contextmanager
def nominal_tx(sesion: Sesion) -> Iterator[psycopg.Connection]:
    """One transaction as ``geoportal_nominal``, scoped by Row-Level Security to the session."""
    districts, institution = district_scope(sesion)
    with conexion_rol("nominal") as conn:
        conn.execute(
            "SELECT set_config('geoportal.distritos', %s, true), set_config('geoportal.institucion', %s, true),"
            " set_config('geoportal.rol', %s, true), set_config('geoportal.usuario', %s, true)",
            (",".join(districts), institution, sesion.rol, sesion.usuario.nombre),
        )
        try:
            yield conn
        except AccesoError as exc:
            if exc.status in (403, 404) and is_nominal_route(RUTA.get()):
                conn.rollback()  # the probe's row outlives the refused transaction
                audit_probe(conn, sesion, exc.status)
                conn.commit()
            raise


def audit(
    conn: psycopg.Connection, sesion: Sesion, accion: str, territorio: str | None, filas: int, finalidad: str, **detalle
) -> None:
    """The audit row of a nominal read or write, in the same transaction as the access."""
    log_access(
        conn,
        accion,
        territorio,
        {"finalidad": finalidad, "filas": filas, **detalle},
        usuario=sesion.usuario.nombre,
        rol=sesion.rol,
    )
