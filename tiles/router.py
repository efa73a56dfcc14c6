"""``GET /tiles/{capa}/{z}/{x}/{y}.mvt``: Mapbox vector tiles of the layer catalog.

Caching by design: the TileJSON (``/capas/{capa}/tilejson.json``) hands out URLs with
``?v=<data_version>``; such a response never changes, so it is immutable for a year with
a strong ETag. Without ``v`` the tile is the current version's, cacheable for a minute.
A ``v`` that is not the current version answers 404 (problem+json): the old figures are
no longer published, and mixing tiles of two versions on one map would show numbers that
do not add up; a viewer that gets it reloads the TileJSON.
"""

from __future__ import annotations

import gzip

from fastapi import APIRouter, HTTPException, Request, Response

from tiles.servicio import Teselas, in_matrix

router = APIRouter(tags=["teselas"])

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=60"
MVT = "application/vnd.mapbox-vector-tile"


def teselas(request: Request) -> Teselas:
    return request.app.state.teselas


def capa_o_404(request: Request, capa: str):
    capas = teselas(request).capas
    if capa not in capas:
        raise HTTPException(404, detail=f"Capa desconocida: {capa!r}. Capas disponibles: {', '.join(capas)}.")
    return capas[capa]


@router.get("/tiles/{capa}/{z}/{x}/{y}.mvt", response_class=Response,
            responses={200: {"content": {MVT: {}}, "description": "Tesela vectorial (gzip)"},
                       204: {"description": "Tesela vacía"}, 304: {"description": "Sin cambios"}},
            summary="Tesela vectorial de una capa")
async def tesela(request: Request, capa: str, z: int, x: int, y: int, v: str | None = None) -> Response:
    definition = capa_o_404(request, capa)
    if not in_matrix(definition, z, x, y):
        raise HTTPException(404, detail=(
            f"La tesela {z}/{x}/{y} está fuera de la matriz de teselas de la capa {capa} "
            f"(zoom {definition.minzoom} a {definition.maxzoom}; x e y entre 0 y 2^zoom − 1)."))
    service = teselas(request)
    estado = await service.current()
    if v is not None and v != estado.version:
        raise HTTPException(404, detail=(
            f"La versión de datos {v} ya no está publicada (vigente: {estado.version}). "
            f"Pida de nuevo /capas/{capa}/tilejson.json."))
    estado, tile = await service.tile(definition, z, x, y)
    headers = {"Cache-Control": IMMUTABLE if v is not None else SHORT, "X-Data-Version": estado.version,
               "Vary": "Accept-Encoding", "Access-Control-Allow-Origin": "*"}
    if not tile.gz:
        return Response(status_code=204, headers=headers)
    headers["ETag"] = tile.etag
    match = request.headers.get("if-none-match")
    if match and (match.strip() == "*" or tile.etag in [m.strip().removeprefix("W/") for m in match.split(",")]):
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(tile.gz, media_type=MVT, headers=headers)
    return Response(gzip.decompress(tile.gz), media_type=MVT, headers=headers)
