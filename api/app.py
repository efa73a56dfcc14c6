"""FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from geoportal import __version__


def create_app() -> FastAPI:
    app = FastAPI(title="Geoportal SPS «Vamos!»", version=__version__)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def inicio() -> str:
        return (
            "<!doctype html><html lang='es'><head><meta charset='utf-8'>"
            "<title>Geoportal SPS</title></head><body><h1>Geoportal del Sistema de Protección Social</h1>"
            "<p>El visor de mapas está en construcción. Datos de hogares y personas: <b>sintéticos</b>.</p>"
            "</body></html>"
        )

    @app.get("/salud")
    def salud() -> dict:
        return {"estado": "ok", "version": __version__}

    return app
