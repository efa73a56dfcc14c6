"""The web's database connections. The application's lifespan (``api.app``) opens and
closes every pool; they live on ``app.state``, never in a module global:

- ``app.state.publico``: public-role connections (``geoportal_publico``, which cannot read
  ``nominal`` nor ``calculo``) for every public handler. Each connection is checked before
  it is lent, so after a database restart the broken ones are replaced and the service
  recovers by itself;
- ``app.state.teselas``: the tile service, with its own asynchronous pool
  (``tiles.servicio.Teselas``).

The institutional wing connects per transaction with its own roles (the session's
territory is set for that transaction only: ``api.institucional.acceso``).

URLs are worked out at start-up without starting the embedded cluster: only the CLI
starts it (``geoportal db up``, ``geoportal servir``). A database that cannot be reached
becomes a 503 problem (:class:`api.base.errores.BaseNoDisponible`), never a 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import psycopg
from fastapi import Depends, Request
from psycopg_pool import ConnectionPool, PoolTimeout

from api.base.ajustes import AjustesWeb
from api.base.errores import BaseNoDisponible
from geoportal.db import public_database_url


def url_publica() -> str | None:
    """The public role's URL, or None when it cannot be worked out (then every public
    request is a 503 until the server is restarted with a reachable configuration)."""
    try:
        return public_database_url(start=False)
    except Exception:  # noqa: BLE001 -- embedded cluster unknown, secrets missing...
        return None


def abrir_publico(url: str, ajustes: AjustesWeb) -> ConnectionPool:
    return ConnectionPool(
        url, min_size=1, max_size=ajustes.api_pool_max, open=True, name="publico",
        timeout=ajustes.api_pool_timeout_s, check=ConnectionPool.check_connection,
        reconnect_timeout=0, max_lifetime=600,
        kwargs={"connect_timeout": 3, "autocommit": True,
                "options": f"-c statement_timeout={ajustes.api_statement_timeout_ms}"},
    )


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
