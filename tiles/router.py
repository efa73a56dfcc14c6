"""``GET /tiles/{capa}/{z}/{x}/{y}.mvt``: Mapbox vector tiles of the layer catalog.

Caching by design: the TileJSON (``/capas/{capa}/tilejson.json``) hands out URLs with
``?v=<data_version>``; such a response never changes, so it is immutable for a year with
a strong ETag. Without ``v`` the tile is the current version's, cacheable for a minute.
A ``v`` that is not the current version (a viewer left open across a release) is
redirected (307) to the same tile of the current version, with a short cache
(``REDIRECCION``): the old figures are no longer published, so the map keeps drawing the
current ones instead of going blank, and the viewer, which watches the version, reloads
its TileJSON so that no tile of the old version stays on screen beside a new one.
"""

from __future__ import annotations

import gzip
import re
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request, Response

from tiles.servicio import Teselas, in_matrix

router = APIRouter(tags=["teselas"])

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=60"
REDIRECCION = "public, max-age=10"
_VERSION = re.compile(r"[0-9A-Za-z_.-]{1,64}")
MVT = "application/vnd.mapbox-vector-tile"


def teselas(request: Request) -> Teselas:
    return request.app.state.teselas


def capa_o_404(request: Request, capa: str):
    capas = teselas(request).capas
    if capa not in capas:
        raise HTTPException(404, detail=f"Capa desconocida: {capa!r}. Capas disponibles: {', '.join(capas)}.")
    return capas[capa]


@router.get(
    "/tiles/{capa}/{z}/{x}/{y}.mvt",
    response_class=Response,
    responses={
        200: {"content": {MVT: {}}, "description": "Tesela vectorial (gzip)"},
        204: {"description": "Tesela vacía"},
        304: {"description": "Sin cambios"},
        307: {"description": "Versión de datos anterior: la misma tesela de la versión vigente"},
    },
    summary="Tesela vectorial de una capa",
)
async def tesela(request: Request, capa: str, z: int, x: int, y: int, v: str | None = None) -> Response:
    definition = capa_o_404(request, capa)
    if not in_matrix(definition, z, x, y):
        raise HTTPException(
            404,
            detail=(
                f"La tesela {z}/{x}/{y} está fuera de la matriz de teselas de la capa {capa} "
                f"(zoom {definition.minzoom} a {definition.maxzoom}; x e y entre 0 y 2^zoom − 1)."
            ),
        )
    service = teselas(request)
    estado = await service.current()
    if v is not None and v != estado.version:
        if not _VERSION.fullmatch(v):
            raise HTTPException(404, detail=f"La versión de datos pedida no existe (vigente: {estado.version}).")
        return Response(
            status_code=307,
            headers={
                "Location": f"/tiles/{capa}/{z}/{x}/{y}.mvt?v={estado.version}",
                "Cache-Control": REDIRECCION,
                "X-Data-Version": estado.version,
                "Access-Control-Allow-Origin": "*",
            },
        )
    estado, tile = await service.tile(definition, z, x, y)
    status, headers, body = respond(
        tile,
        estado.version,
        v is not None,
        request.headers.get("if-none-match"),
        request.headers.get("accept-encoding", ""),
    )
    return Response(body, status_code=status, headers=headers, media_type=MVT if status == 200 else None)


def respond(tile, version: str, versioned: bool, if_none_match: str | None, accept_encoding: str):
    """Status, headers and body of a tile response (shared by the route and the fast path)."""
    headers = {
        "Cache-Control": IMMUTABLE if versioned else SHORT,
        "X-Data-Version": version,
        "Vary": "Accept-Encoding",
        "Access-Control-Allow-Origin": "*",
    }
    if not tile.gz:
        return 204, headers, b""
    headers["ETag"] = tile.etag
    if if_none_match and (
        if_none_match.strip() == "*" or tile.etag in [m.strip().removeprefix("W/") for m in if_none_match.split(",")]
    ):
        return 304, headers, b""
    if "gzip" in accept_encoding:
        headers["Content-Encoding"] = "gzip"
        return 200, headers, tile.gz
    return 200, headers, gzip.decompress(tile.gz)


_PATH = re.compile(r"^/tiles/([a-z][a-z0-9_]*)/([0-9]{1,2})/([0-9]{1,8})/([0-9]{1,8})\.mvt$")


class FastPath:
    """ASGI middleware answering cache hits before routing (the warm path of a tile server).

    Only a GET of a tile that is in the memory cache of the current version, checked
    within the last VERSION_TTL seconds, is answered here; everything else (misses,
    errors, a stale version check) goes through the route above.
    """

    def __init__(self, app, service: Teselas):
        self.app = app
        self.service = service

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"].startswith("/tiles/"):
            answer = self._hit(scope)
            if answer is not None:
                status, headers, body = answer
                raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
                if status == 200:
                    raw += [(b"content-type", MVT.encode()), (b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": status, "headers": raw})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _hit(self, scope):
        match = _PATH.match(scope["path"])
        estado = self.service.fresh_state()
        if match is None or estado is None:
            return None
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if set(query) - {"v"} or len(query.get("v", [])) > 1:
            return None
        v = query.get("v", [None])[0]
        if v is not None and v != estado.version:
            return None
        capa, z, x, y = match.group(1), int(match.group(2)), int(match.group(3)), int(match.group(4))
        tile = self.service.cache.get((estado.version, capa, z, x, y))
        if tile is None:
            return None
        headers = {
            k.decode("latin-1"): val.decode("latin-1")
            for k, val in scope["headers"]
            if k in (b"if-none-match", b"accept-encoding")
        }
        return respond(
            tile, estado.version, v is not None, headers.get("if-none-match"), headers.get("accept-encoding", "")
        )
