"""The FastAPI application: ``create_app()`` (``uvicorn api.app:create_app --factory``).

One lifespan opens and closes every pool, kept on ``app.state`` (``api.base.conexiones``):
the public-role pool and the tile service's. The database URLs are worked out at
start-up without starting the embedded cluster (only the CLI starts it). Every route
comes from the one aggregator (``api.rutas``); the error handlers from
``api.base.errores``; access-log redaction is installed last, once every route exists
(``api.base.registro``).
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api import rutas
from api.base import errores, registro
from api.base.ajustes import ajustes
from api.base.conexiones import abrir_publico, url_publica
from api.institucional.derivaciones import recalculos_en_segundo_plano
from api.publico import ogc, transporte, visor
from capas import default_capas
from geoportal import __version__
from tiles import router as tiles_router
from tiles.servicio import Teselas

DESCRIPCION = ("API pública del geoportal: solo cifras protegidas (control de divulgación), "
               "puntos de entrega y territorio. Errores en application/problem+json (RFC 9457).")


@asynccontextmanager
async def lifespan(app: FastAPI):
    url = url_publica()
    app.state.url_publica = url
    app.state.publico = abrir_publico(url, ajustes()) if url is not None else None
    app.state.teselas.usar_url(url)
    try:
        async with recalculos_en_segundo_plano():  # districts pending after a contrarreferencia
            yield
    finally:
        if app.state.publico is not None:
            app.state.publico.close()
            app.state.publico = None
        await app.state.teselas.close()


def create_app() -> FastAPI:
    app = FastAPI(title="Geoportal SPS «Vamos!»", version=__version__, lifespan=lifespan, description=DESCRIPCION)
    errores.install(app)
    # The layer catalog is validated now: a bad capas/*.yaml stops the start-up.
    web = ajustes()
    app.state.teselas = Teselas(default_capas(), cache_mb=web.teselas_cache_mb, disk=web.teselas_dir,
                                conexiones=web.teselas_conexiones)
    app.add_middleware(tiles_router.FastPath, service=app.state.teselas)
    transporte.instalar(app)  # HEAD, CORS on public routes, gzip (outside the tile fast path)
    app.include_router(rutas.router)
    visor.montar_estaticos(app)

    def _openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = ogc.openapi_30(get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes))
        return app.openapi_schema

    app.openapi = _openapi
    registro.install(app)  # no nominal id in the access log (after every route is included)
    return app
