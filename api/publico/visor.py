"""The web viewer: ``/`` serves the built page (web/dist, bundled by ``npm run build``)
and ``/visor/*`` its script, styles and images, all from this server.

The page's footer carries the current ``data_version`` and its date already in the HTML,
read with the public role, so it is right even before the script runs.
"""

from __future__ import annotations

import html
from datetime import datetime
from pathlib import Path

import psycopg
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api.base.conexiones import conexion
from api.base.errores import BaseNoDisponible
from api.base.publicado import version_vigente

DIST = Path(__file__).resolve().parent.parent.parent / "web" / "dist"
router = APIRouter(include_in_schema=False)

SIN_CONSTRUIR = (
    "<!doctype html><html lang='es-PY'><head><meta charset='utf-8'><title>Geoportal SPS «Vamos!»</title></head>"
    "<body><h1>Geoportal del Sistema de Protección Social</h1>"
    "<p>El visor de mapas no está construido en este servidor: ejecute <code>bash scripts/setup.sh</code> "
    "(necesita Node.js y npm) o <code>cd web && npm ci && npm run build</code>.</p>"
    "<p>Hogares y personas de esta instalación: datos sintéticos.</p>"
    "<p>Versión de datos <b id='data-version'><!--data_version--></b> del <!--data_fecha-->.</p></body></html>"
)


def _version(pool) -> tuple[str, str]:
    """Current data_version and its date, through the API's public-role pool (the page
    still renders, "sin publicar", when the database cannot say)."""
    try:
        if pool is None:
            raise BaseNoDisponible("sin conexión")
        with conexion(pool) as conn:
            version = version_vigente(conn)
    except (BaseNoDisponible, psycopg.Error):
        version = None
    if version is None:
        return "sin publicar", "—"
    return version["data_version"], datetime.fromisoformat(version["calculado_en"]).strftime("%d/%m/%Y")


@router.get("/", response_class=HTMLResponse)
def visor(request: Request) -> HTMLResponse:
    index = DIST / "index.html"
    page = index.read_text(encoding="utf-8") if index.is_file() else SIN_CONSTRUIR
    version, fecha = _version(getattr(request.app.state, "publico", None))
    page = page.replace("<!--data_version-->", html.escape(version)).replace("<!--data_fecha-->", html.escape(fecha))
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})


def montar_estaticos(app: FastAPI) -> None:
    """The viewer's script, styles and images at ``/visor`` (a mount, not a route)."""
    if DIST.is_dir():
        app.mount("/visor", StaticFiles(directory=DIST), name="visor")
