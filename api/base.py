"""What every public handler shares: settings, the public-role connection pool, the
dictionary of measures and the current publication.

Every query of the public API runs on the role ``geoportal_publico`` (it cannot read
``nominal`` nor ``calculo``). A pool keeps a few connections open; each one is checked
before it is lent, so after a database restart the broken ones are replaced and the
service recovers by itself. A database that cannot be reached becomes a 503 problem
(``api.errores``), never a 500.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout
from pydantic_settings import BaseSettings, SettingsConfigDict

from geoportal.db import public_database_url

NIVELES = ("pais", "departamento", "distrito", "h3_5", "h3_6", "h3_7", "h3_8")
HEAD_COLUMNS = ("nivel", "codigo", "padre", "nombre", "reservado", "pob_censo", "data_version")
ATRIBUCION = ("Territorio y población: INE Paraguay (censo 2022, cartografía DGEEC 2012); escuelas: MEC "
              "(CC BY 4.0); localidades: GeoNames (CC BY 4.0); salud: MSPBS; red sintética de puntos y "
              "hogares: geoportal SPS «Vamos!».")
ETIQUETA_SINTETICA = ("Datos de demostración: hogares y personas SINTÉTICOS (origen = sintetico); "
                      "no describen a personas reales.")
PAIS_BBOX = (-62.65, -27.61, -54.25, -19.28)


class ApiSettings(BaseSettings):
    """Settings of the public API (env prefix ``GEOPORTAL_``)."""

    model_config = SettingsConfigDict(env_prefix="GEOPORTAL_", extra="ignore")

    api_pool_max: int = 8
    api_pool_timeout_s: float = 4.0
    api_statement_timeout_ms: int = 60_000
    api_limite_max: int = 10_000
    api_relevamiento_bajo_pct: float = 50.0


@lru_cache
def api_settings() -> ApiSettings:
    return ApiSettings()


class BaseNoDisponible(RuntimeError):
    """The database cannot be reached or has nothing published yet (answered as 503)."""


_pool: ConnectionPool | None = None
_lock = threading.Lock()


def pool() -> ConnectionPool:
    global _pool
    if _pool is None:
        with _lock:
            if _pool is None:
                settings = api_settings()
                try:
                    url = public_database_url()
                except Exception as exc:  # embedded cluster not startable, secrets missing...
                    raise BaseNoDisponible("no se pudo determinar la conexión a la base de datos") from exc
                _pool = ConnectionPool(
                    url, min_size=1, max_size=settings.api_pool_max, open=True, name="publico",
                    timeout=settings.api_pool_timeout_s, check=ConnectionPool.check_connection,
                    reconnect_timeout=0, max_lifetime=600,
                    kwargs={"connect_timeout": 3, "autocommit": True,
                            "options": f"-c statement_timeout={settings.api_statement_timeout_ms}"},
                )
    return _pool


def close_pool() -> None:
    global _pool
    with _lock:
        if _pool is not None:
            _pool.close()
            _pool = None


@contextmanager
def conexion() -> Iterator[psycopg.Connection]:
    """A pooled public-role connection; unreachable database -> :class:`BaseNoDisponible`."""
    try:
        with pool().connection() as conn:
            yield conn
    except PoolTimeout as exc:
        raise BaseNoDisponible("la base de datos no responde") from exc
    except psycopg.OperationalError as exc:
        raise BaseNoDisponible("se perdió la conexión con la base de datos") from exc
    except psycopg.errors.UndefinedTable as exc:
        raise BaseNoDisponible("todavía no hay cifras publicadas (ejecute geoportal calcular)") from exc


@dataclass(frozen=True)
class Medida:
    columna: str
    etiqueta: str
    tipo: str
    unidad: str
    logro: int | None
    servicio: str | None
    paquete: str | None


def medidas(conn: psycopg.Connection) -> list[Medida]:
    """The dictionary of published measures that really are columns of publico.cobertura."""
    rows = conn.execute(
        "SELECT m.columna, m.etiqueta, m.tipo, m.unidad, m.logro, m.servicio, m.paquete FROM publico.medida m"
        " JOIN information_schema.columns c ON c.table_schema = 'publico' AND c.table_name = 'cobertura'"
        " AND c.column_name = m.columna ORDER BY c.ordinal_position"
    ).fetchall()
    return [Medida(*r) for r in rows]


def version_vigente(conn: psycopg.Connection) -> dict | None:
    row = conn.execute(
        "SELECT data_version, calculado_en, notas FROM publico.version WHERE vigente"
    ).fetchone()
    if row is None:
        return None
    return {"data_version": row[0], "calculado_en": row[1].isoformat(), "notas": row[2]}


def version_o_503(conn: psycopg.Connection) -> dict:
    version = version_vigente(conn)
    if version is None:
        raise BaseNoDisponible("todavía no hay cifras publicadas (ejecute geoportal calcular)")
    return version


def ident_list(names) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


CODIGO_DEPARTAMENTO = re.compile(r"^[0-9]{2}$")
CODIGO_DISTRITO = re.compile(r"^[0-9]{4}$")
