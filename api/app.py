"""The FastAPI application: ``create_app()`` (``uvicorn api.app:create_app --factory``).

One lifespan works out every database URL once (``api.base.conexiones.resolver_urls``,
never starting the embedded cluster: only the CLI starts it) and opens and closes every
pool, kept on ``app.state``: the public-role pool, one pool per institutional role
(login and sessions, nominal, admin) and the tile service's. Every route comes
from the one aggregator (``api.rutas``); the error handlers from ``api.base.errores``; the
door every request passes first (session before body, body caps, null bytes, security
headers, the last-resort 500) from ``api.base.guardia``; ``/docs`` from
``api.base.documentacion``; access-log redaction is installed last, once every route
exists (``api.base.registro``).
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api import rutas
from api.base import documentacion, errores, registro
from api.base.ajustes import ajustes
from api.base.conexiones import abrir_publico, abrir_roles, cerrar_roles, resolver_urls
from api.base.guardia import Guardia
from api.institucional.acceso import COOKIE, session_required
from api.institucional.derivaciones import recalculos_en_segundo_plano
from api.institucional.ingreso import sesion_vigente
from api.publico import ogc, superficies, transporte, visor
from capas import default_capas
from geoportal import __version__
from tiles import router as tiles_router
from tiles.servicio import Teselas

DESCRIPCION = (
    "API pública del geoportal: solo cifras protegidas (control de divulgación), "
    "puntos de entrega y territorio. Errores en application/problem+json (RFC 9457)."
)


@asynccontextmanager
async def lifespan(app: FastAPI):
    urls = resolver_urls()
    app.state.urls = urls
    app.state.publico = abrir_publico(urls.publico, ajustes()) if urls.publico is not None else None
    app.state.roles = abrir_roles(urls, ajustes())
    app.state.teselas.usar_url(urls.publico)
    try:
        async with recalculos_en_segundo_plano():  # districts pending after a contrarreferencia
            yield
    finally:
        if app.state.publico is not None:
            app.state.publico.close()
            app.state.publico = None
        cerrar_roles(app.state.roles)
        app.state.roles = {}
        await app.state.teselas.close()


def create_app() -> FastAPI:
    app = FastAPI(
        title="Geoportal SPS «Vamos!»",
        version=__version__,
        lifespan=lifespan,
        description=DESCRIPCION,
        docs_url=None,
        redoc_url=None,
    )
    errores.install(app)
    # The layer catalog is validated now: a bad capas/*.yaml stops the start-up.
    web = ajustes()
    app.state.teselas = Teselas(
        default_capas(), cache_mb=web.teselas_cache_mb, disk=web.teselas_dir, conexiones=web.teselas_conexiones
    )
    app.add_middleware(tiles_router.FastPath, service=app.state.teselas)
    app.add_middleware(superficies.CaminoRapido)  # raster tiles already drawn, before routing too
    transporte.instalar(app)  # HEAD, CORS on public routes, gzip (outside the tile fast path)
    # Outermost: the session is checked and bodies capped before anything reads them.
    app.add_middleware(
        Guardia,
        requiere_sesion=session_required,
        sesion_vigente=sesion_vigente,
        cookie=COOKIE,
        cuerpo_max=web.cuerpo_max_kb * 1024,
        archivo_max=web.archivo_max_mb * 1024 * 1024,
    )
    app.include_router(rutas.router)
    documentacion.montar(app)
    visor.montar_estaticos(app)

    def _openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = ogc.openapi_30(
                get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            )
        return app.openapi_schema

    app.openapi = _openapi
    registro.install(app)  # no nominal id in the access log (after every route is included)
    return app
