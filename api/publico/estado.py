"""``/salud`` (the service is alive: its version, the current ``data_version`` and the
protected national figures) and ``/listo`` (the database answers and a publication exists).

Both read with the public role, which cannot read nominal data, through the public pool
(a connection per request cost a new backend and its authentication: /salud served 25
requests a second against /listo's 150). ``/salud`` answers 200 even with the database
down (alive, not ready): it waits at most a second for a pooled connection.
"""

from __future__ import annotations

import psycopg
from fastapi import APIRouter, Request
from psycopg_pool import ConnectionPool, PoolTimeout

from api.base.conexiones import PoolPublico, conexion
from api.base.errores import BaseNoDisponible
from api.base.publicado import version_vigente
from geoportal import __version__

router = APIRouter(tags=["estado"])


def _current_version(pool: ConnectionPool | None) -> dict | None:
    if pool is None:
        return None
    try:
        with pool.connection(timeout=1.0) as conn:
            version = conn.execute(
                "SELECT data_version, calculado_en, notas FROM publico.version WHERE vigente"
            ).fetchone()
            if version is None:
                return None
            national = conn.execute(
                "SELECT hogares, personas, relevamiento_pct FROM publico.cobertura WHERE nivel = 'pais'"
            ).fetchone()
    except (psycopg.Error, PoolTimeout):
        return None
    return {
        "data_version": version[0],
        "calculado_en": version[1].isoformat(),
        "notas": version[2],
        "hogares": national[0] if national else None,
        "personas": national[1] if national else None,
        "relevamiento_pct": national[2] if national else None,
    }


@router.get("/salud", summary="El servicio está vivo")
def salud(request: Request) -> dict:
    return {
        "estado": "ok",
        "version": __version__,
        "datos": _current_version(getattr(request.app.state, "publico", None)),
    }


@router.get("/listo", summary="Base de datos alcanzable y una versión publicada")
def listo(publico: PoolPublico) -> dict:
    with conexion(publico) as conn:
        version = version_vigente(conn)
    if version is None:
        raise BaseNoDisponible("todavía no hay cifras publicadas (ejecute geoportal calcular)")
    return {"estado": "listo", "data_version": version["data_version"], "calculado_en": version["calculado_en"]}
