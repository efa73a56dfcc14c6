"""FastAPI application factory.

``/`` is the web viewer (api/visor.py); ``/salud`` reports the current ``data_version``
and the protected national figures, read with the public role (which cannot read
nominal data).
"""

from __future__ import annotations

from contextlib import asynccontextmanager

import psycopg
from fastapi import FastAPI

from api import errores, registro, visor
from api.base import close_pool, conexion, version_vigente
from geoportal import __version__
from geoportal.db import public_database_url


def _current_version() -> dict | None:
    try:
        with psycopg.connect(public_database_url(), connect_timeout=5) as conn:
            version = conn.execute(
                "SELECT data_version, calculado_en, notas FROM publico.version WHERE vigente"
            ).fetchone()
            if version is None:
                return None
            national = conn.execute(
                "SELECT hogares, personas, relevamiento_pct FROM publico.cobertura WHERE nivel = 'pais'"
            ).fetchone()
    except psycopg.Error:
        return None
    return {"data_version": version[0], "calculado_en": version[1].isoformat(), "notas": version[2],
            "hogares": national[0] if national else None, "personas": national[1] if national else None,
            "relevamiento_pct": national[2] if national else None}


def create_app() -> FastAPI:
    from api import descargas, indicadores, ogc, servicios

    @asynccontextmanager
    async def lifespan(app):
        yield
        close_pool()

    app = FastAPI(title="Geoportal SPS «Vamos!»", version=__version__, lifespan=lifespan,
                  description="API pública del geoportal: solo cifras protegidas (control de divulgación), "
                              "puntos de entrega y territorio. Errores en application/problem+json (RFC 9457).")
    errores.install(app)
    _add_map_layers(app)
    app.include_router(ogc.router)
    app.include_router(descargas.router)
    app.include_router(indicadores.router)
    app.include_router(servicios.router)

    def _openapi() -> dict:
        from fastapi.openapi.utils import get_openapi

        if app.openapi_schema is None:
            app.openapi_schema = ogc.openapi_30(get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes))
        return app.openapi_schema

    app.openapi = _openapi

    visor.registrar(app)  # the web viewer at / (api/visor.py)

    @app.get("/salud", summary="El servicio está vivo", tags=["estado"])
    def salud() -> dict:
        return {"estado": "ok", "version": __version__, "datos": _current_version()}

    @app.get("/listo", summary="Base de datos alcanzable y una versión publicada", tags=["estado"])
    def listo() -> dict:
        from api.base import BaseNoDisponible

        with conexion() as conn:
            version = version_vigente(conn)
        if version is None:
            raise BaseNoDisponible("todavía no hay cifras publicadas (ejecute geoportal calcular)")
        return {"estado": "listo", "data_version": version["data_version"], "calculado_en": version["calculado_en"]}

    from api import acceso

    acceso.install(app)  # institutional access: login, sessions, nominal list, referrals (issue 15)
    registro.install(app)  # no nominal id in the access log (after every router is included)
    return app


def _add_map_layers(app: FastAPI) -> None:
    """Layer catalog (validated now: a bad capas/*.yaml stops the start-up) and vector tiles."""
    from api import capas as capas_api
    from capas import default_capas
    from tiles import router as tiles_router
    from tiles.servicio import Teselas

    app.state.teselas = Teselas(default_capas())
    app.include_router(capas_api.router)
    app.include_router(tiles_router.router)
    app.add_middleware(tiles_router.FastPath, service=app.state.teselas)
    previous = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application):
        async with previous(application) as state:
            yield state
        await application.state.teselas.close()

    app.router.lifespan_context = lifespan
