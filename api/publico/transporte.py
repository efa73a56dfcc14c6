"""How responses travel to GIS clients and other sites: gzip, CORS and HEAD.

``instalar(app)`` (called once by ``api.app.create_app``, after the tile fast path, so it
wraps it) adds one ASGI middleware that

* answers ``HEAD`` on every ``GET`` route: the request goes in as a ``GET`` and only the
  status and headers come out (RFC 9110 §9.3.2);
* adds ``Access-Control-Allow-Origin: *`` to the **public read-only** routes
  (``PUBLICAS_CORS``: OGC API, layers and TileJSON, tiles, downloads, indicators,
  measures, territories, search, service points, the OpenAPI document), and answers
  their CORS preflight. Never on an institutional route, nor on a response that sets a
  cookie: a public answer carries no session, so no credentials are ever allowed;
* compresses JSON, GeoJSON, CSV, JavaScript and CSS with gzip above ``GZIP_MINIMO``
  bytes (Starlette's ``GZipMiddleware``). Tiles are not touched: they are stored
  gzip-encoded MVT and sent with ``Content-Encoding: gzip`` already (``tiles.router``),
  and raster tiles are PNG or WebP, so neither passes through the gzip layer (both have a
  warm path before routing); PNG, GeoPackage and HTML pages are not compressed (HTML pages may carry a form token,
  and compressing a secret beside reflected text is the BREACH attack).
"""

from __future__ import annotations

from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

GZIP_MINIMO = 1000
SIN_GZIP = (
    *DEFAULT_EXCLUDED_CONTENT_TYPES,
    "image/*",
    "text/html",
    "application/vnd.mapbox-vector-tile",
    "application/geopackage+sqlite3",
    "application/octet-stream",
    "application/x-protobuf",
)
# Public read-only routes: these paths exactly, or anything under them.
PUBLICAS_CORS = (
    "/ogc",
    "/capas",
    "/tiles",
    "/descargas",
    "/api/indicadores",
    "/api/medidas",
    "/api/territorios",
    "/api/buscar",
    "/api/servicios",
    "/openapi.json",
)
EXPUESTAS = "ETag, Link, Content-Disposition, X-Version-Datos, X-Data-Version"


def es_publica(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PUBLICAS_CORS)


class Transporte:
    """HEAD → GET, CORS on public routes, gzip on text data (see the module docstring)."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=GZIP_MINIMO, compresslevel=5, exclude_content_types=SIN_GZIP)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        publica = es_publica(scope["path"])
        if method == "OPTIONS" and publica and _header(scope, b"access-control-request-method"):
            await _preflight(send)
            return
        head = method == "HEAD"
        if head:
            scope = {**scope, "method": "GET"}
        # Tiles skip the gzip layer entirely: they are compressed already, and the fast path
        # of cached tiles must stay as thin as it is.
        path = scope["path"]
        teselas = path.startswith("/tiles/") or (path.startswith("/raster/") and "/tiles/" in path)
        inner = self.app if teselas else self.gzip

        async def enviar(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                if publica and b"set-cookie" not in names and b"access-control-allow-origin" not in names:
                    headers += [
                        (b"access-control-allow-origin", b"*"),
                        (b"access-control-expose-headers", EXPUESTAS.encode()),
                    ]
                message = {**message, "headers": headers}
            elif head and message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        await inner(scope, receive, enviar)


def _header(scope: Scope, name: bytes) -> bytes | None:
    return next((v for k, v in scope.get("headers", []) if k.lower() == name), None)


async def _preflight(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 204,
            "headers": [
                (b"access-control-allow-origin", b"*"),
                (b"access-control-allow-methods", b"GET, HEAD, OPTIONS"),
                (b"access-control-allow-headers", b"Accept, Accept-Encoding, If-None-Match, Range"),
                (b"access-control-max-age", b"86400"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b""})


def instalar(app) -> None:
    """Add the middleware (outermost of the ones added so far)."""
    app.add_middleware(Transporte)
