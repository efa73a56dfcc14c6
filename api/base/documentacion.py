"""``/docs``: the API's interactive documentation (Swagger UI) served from this server.

FastAPI's own ``/docs`` and ``/redoc`` load their scripts and styles from a CDN; here
``/docs`` is a page from the templates (``docs.html``) whose scripts and styles come from
``/docs/recursos``, the files of the ``swagger-ui-bundle`` package, and ``/redoc`` does not
exist. The document itself is ``/openapi.json``. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from api.base.plantilla import render

RECURSOS = "/docs/recursos"
# Swagger UI's start-up (an inline script would need 'unsafe-inline' under a stricter CSP).
INICIO = """window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout", validatorUrl: null});
"""


def montar(app: FastAPI) -> None:
    """Add ``/docs`` and its files (call once; the app is built with ``docs_url=None``)."""
    from swagger_ui_bundle import swagger_ui_path

    @app.get("/docs", include_in_schema=False)
    def documentacion() -> HTMLResponse:
        return HTMLResponse(render("docs.html", titulo=app.title, recursos=RECURSOS))

    @app.get(f"{RECURSOS}/documentacion.js", include_in_schema=False)
    def inicio() -> Response:
        return Response(INICIO, media_type="text/javascript")

    app.mount(RECURSOS, StaticFiles(directory=str(swagger_ui_path)), name="docs-recursos")
