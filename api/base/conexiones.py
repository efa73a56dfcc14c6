"""The web's database connections. The application's lifespan (``api.app``) opens and
closes every pool; they live on ``app.state``, never in a module global:

- ``app.state.publico``: public-role connections (``geoportal_publico``, which cannot read
  ``nominal`` nor ``calculo``) for every public handler. Each connection is checked before
  it is lent, so after a database restart the broken ones are replaced and the service
  recovers by itself;
- ``app.state.roles``: one pool per institutional role (``acceso`` for login and sessions,
  ``nominal`` for the RLS-scoped transactions, ``admin`` for the planner's what-if), lent
  by :func:`conexion_rol`; the session's territory is set for one transaction only
  (``api.institucional.acceso``), so a connection goes back to its pool clean;
- ``app.state.teselas``: the tile service, with its own asynchronous pool
  (``tiles.servicio.Teselas``).

Every URL (public role, login role, nominal role, admin) is worked out **once**, at
start-up (:func:`resolver_urls`, kept on ``app.state.urls``), without starting the embedded
cluster: only the CLI starts it (``geoportal db up``, ``geoportal servir``). A request never
looks a URL up again nor spawns a process; a request after ``geoportal db down`` gets 503 and
PostgreSQL stays stopped. Code that runs inside a request but has no ``Request`` at hand
(the institutional connections) reads them with :func:`url_de` and :func:`conexion_rol`: the
request's middleware (``api.base.guardia``) lends URLs and pools through context variables. A database that cannot be
reached becomes a 503 problem (:class:`api.base.errores.BaseNoDisponible`), never a 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from typing import Annotated, NamedTuple

import psycopg
from fastapi import Depends, Request
from psycopg_pool import ConnectionPool, PoolTimeout

from api.base.ajustes import AjustesWeb
from api.base.errores import BaseNoDisponible
from geoportal.db import database_url, public_database_url
from geoportal.roles import ACCESS_ROLE, NOMINAL_ROLE, role_url


class Urls(NamedTuple):
    """The connection URLs of one running application (None: could not be worked out)."""

    publico: str | None
    acceso: str | None
    nominal: str | None
    admin: str | None


# The running application's URLs and institutional pools during a request (set by
# ``api.base.guardia.Guardia``).
URLS: ContextVar[Urls | None] = ContextVar("geoportal_urls", default=None)
ROLES: ContextVar[dict[str, ConnectionPool] | None] = ContextVar("geoportal_roles", default=None)
INSTITUCIONALES = ("acceso", "nominal", "admin")


def _o_none(resolver) -> str | None:
    try:
        return resolver()
    except Exception:  # noqa: BLE001 -- embedded cluster unknown, secrets missing...
        return None


def resolver_urls() -> Urls:
    """Every URL the web uses, worked out once (the lifespan); never starts a cluster."""
    return Urls(
        publico=url_publica(),
        acceso=_o_none(lambda: role_url(ACCESS_ROLE, start=False)),
        nominal=_o_none(lambda: role_url(NOMINAL_ROLE, start=False)),
        admin=_o_none(lambda: database_url(start=False)),
    )


def url_de(rol: str) -> str:
    """The URL of ``rol`` (``publico``, ``acceso``, ``nominal``, ``admin``) resolved at
    start-up; outside a request (a script, a test) it is worked out now, still without
    starting anything. Unknown -> :class:`BaseNoDisponible`."""
    urls = URLS.get()
    if urls is None:
        urls = resolver_urls()
    url = getattr(urls, rol)
    if url is None:
        raise BaseNoDisponible("no se pudo determinar la conexión a la base de datos")
    return url


def url_publica() -> str | None:
    """The public role's URL, or None when it cannot be worked out (then every public
    request is a 503 until the server is restarted with a reachable configuration)."""
    try:
        return public_database_url(start=False)
    except Exception:  # noqa: BLE001 -- embedded cluster unknown, secrets missing...
        return None


def abrir_publico(url: str, ajustes: AjustesWeb) -> ConnectionPool:
    return ConnectionPool(
        url,
        min_size=1,
        max_size=ajustes.api_pool_max,
        open=True,
        name="publico",
        timeout=ajustes.api_pool_timeout_s,
        check=ConnectionPool.check_connection,
        reconnect_timeout=0,
        max_lifetime=600,
        kwargs={
            "connect_timeout": 3,
            "autocommit": True,
            "options": f"-c statement_timeout={ajustes.api_statement_timeout_ms}",
        },
    )


def abrir_roles(urls: Urls, ajustes: AjustesWeb) -> dict[str, ConnectionPool]:
    """One pool per institutional role whose URL is known (transactions: not autocommit).
    Connections are opened in the background: a database down at start-up is a 503 per
    request, and the pools recover by themselves once it is back."""
    tamano = {"acceso": ajustes.acceso_pool_max, "nominal": ajustes.nominal_pool_max, "admin": ajustes.admin_pool_max}
    pools = {}
    for rol in INSTITUCIONALES:
        url = getattr(urls, rol)
        if url is None:
            continue
        pools[rol] = ConnectionPool(
            url,
            min_size=1,
            max_size=tamano[rol],
            open=True,
            name=rol,
            timeout=ajustes.api_pool_timeout_s,
            check=ConnectionPool.check_connection,
            reconnect_timeout=0,
            max_lifetime=600,
            kwargs={"connect_timeout": 3},
        )
    return pools


def cerrar_roles(pools: dict[str, ConnectionPool]) -> None:
    for pool in pools.values():
        pool.close()


@contextmanager
def conexion_rol(rol: str) -> Iterator[psycopg.Connection]:
    """A connection as ``rol`` (``acceso``, ``nominal``, ``admin``) for one transaction:
    committed when the block ends, rolled back on an error. During a request it comes from
    the application's pool; outside one (a script, a test) it is a new connection. An
    unreachable database -> :class:`BaseNoDisponible`."""
    pool = (ROLES.get() or {}).get(rol)
    if pool is None:
        with psycopg.connect(url_de(rol), connect_timeout=10) as conn:
            yield conn
        return
    with ExitStack() as stack:
        try:
            # A pool left with no connection at all (every one failed: the database is
            # down) waits one second, not its whole timeout, so a refused request frees its
            # thread at once; a new connection to a live server takes milliseconds.
            vacio = pool.get_stats().get("pool_size", 1) == 0
            conn = stack.enter_context(pool.connection(timeout=1.0 if vacio else None))
        except PoolTimeout as exc:
            raise BaseNoDisponible("la base de datos no responde") from exc
        except psycopg.OperationalError as exc:
            raise BaseNoDisponible("se perdió la conexión con la base de datos") from exc
        yield conn


def pool_publico(request: Request) -> ConnectionPool:
    pool = getattr(request.app.state, "publico", None)
    if pool is None:
        raise BaseNoDisponible("no se pudo determinar la conexión a la base de datos")
    return pool


PoolPublico = Annotated[ConnectionPool, Depends(pool_publico)]


@contextmanager
def conexion(pool: ConnectionPool) -> Iterator[psycopg.Connection]:
    """A pooled public-role connection; unreachable database -> :class:`BaseNoDisponible`."""
    try:
        with pool.connection() as conn:
            yield conn
    except PoolTimeout as exc:
        raise BaseNoDisponible("la base de datos no responde") from exc
    except psycopg.OperationalError as exc:
        raise BaseNoDisponible("se perdió la conexión con la base de datos") from exc
    except psycopg.errors.UndefinedTable as exc:
        raise BaseNoDisponible("todavía no hay cifras publicadas (ejecute geoportal calcular)") from exc
