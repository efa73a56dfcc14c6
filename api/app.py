"""FastAPI application factory.

Until the map viewer lands this serves a Spanish status page with the current
``data_version`` and the protected national figures, read with the public role (which
cannot read nominal data).
"""

from __future__ import annotations

import html
from contextlib import asynccontextmanager

import psycopg
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from api import errores
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

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def inicio() -> str:
        info = _current_version()
        if info is None:
            body = "<p>Todavía no hay cifras publicadas. Ejecute <code>geoportal calcular</code>.</p>"
        else:
            fmt = lambda n: "reservado" if n is None else f"{n:,}".replace(",", ".")  # noqa: E731
            body = (
                f"<p>Versión de datos <b id='data-version'>{html.escape(info['data_version'])}</b>, "
                f"calculada el {html.escape(info['calculado_en'][:16])}.</p>"
                f"<p>Hogares relevados: <b>{fmt(info['hogares'])}</b>; personas: <b>{fmt(info['personas'])}</b>.</p>"
                f"<p class='nota'>{html.escape(info['notas'])}</p>"
            )
        return (
            "<!doctype html><html lang='es'><head><meta charset='utf-8'>"
            "<title>Geoportal SPS «Vamos!»</title></head><body>"
            "<h1>Geoportal del Sistema de Protección Social</h1>"
            "<p>El visor de mapas está en construcción. Hogares y personas de esta instalación: "
            "<b>datos sintéticos</b>; territorio y escuelas: datos reales (INE, MEC).</p>"
            f"{body}</body></html>"
        )

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
