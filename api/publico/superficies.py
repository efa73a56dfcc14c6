"""Accessibility surfaces as raster tiles (titiler) and as downloadable COGs.

* ``/raster/{data_version}/{superficie}/tiles/WebMercatorQuad/{z}/{x}/{y}.png``, ``.../info``
  and ``.../WebMercatorQuad/tilejson.json``: a ``titiler.core`` ``TilerFactory`` whose
  reader only opens the COGs that ``geoportal.superficies`` wrote (``superficie`` is
  ``<tipo>_<distancia|tiempo>``; no client URL is ever opened), with the colour map and
  rescale of ``capas/superficies.yaml`` fixed per measure. The URL carries the version, so
  every answer is ``Cache-Control: immutable``. A tile outside the surface is transparent.
* ``/raster/{data_version}/{superficie}/punto?lon=&lat=``: the value under the cursor.
* ``/raster/superficies``: the current version, its surfaces and their legends.
* ``/descargas/superficies/{superficie}.tif``: the current version's COG (QGIS, GDAL).

The current version's surfaces are built after each release (``geoportal superficies``,
the post-release hook); if one is missing, the first request starts its build in a
background thread and answers 503 "preparando" with ``Retry-After``.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated

import morecantile
import numpy as np
import psycopg
from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import FileResponse
from fastapi.routing import APIRoute
from morecantile import TileMatrixSets
from rio_tiler.errors import PointOutsideBounds
from rio_tiler.io import Reader
from rio_tiler.models import ImageData
from titiler.core.dependencies import ImageRenderingParams
from titiler.core.factory import TilerFactory

from api.base.conexiones import PoolPublico, conexion
from api.base.errores import ErrorApi, NoEncontrado, SolicitudIncorrecta
from capas.raster import CapaRaster, default_rasters
from geoportal import superficies as motor
from geoportal.catalog import default_catalog
from geoportal.settings import get_settings

IMMUTABLE = "public, max-age=31536000, immutable"
MAX_ZOOM = 18
FORMATOS = ("png", "webp")
PREFIJO = "/raster/{data_version}/{superficie}"
VERSION = r"^[A-Za-z0-9_.-]{1,80}$"
SUPERFICIE = r"^[a-z][a-z0-9_]{1,40}_(distancia|tiempo)$"
preparacion = motor.Preparacion()


class Preparando(ErrorApi):
    """The surface of the current version is being built (503, retry shortly)."""

    status = 503

    def __init__(self, superficie: str):
        super().__init__(
            f"La superficie {superficie} se está preparando; intente de nuevo en unos segundos.",
            titulo="Preparando",
            headers={"Retry-After": "15"},
        )


def _capa(superficie: str) -> CapaRaster:
    tipo, _, medida = superficie.rpartition("_")
    if tipo not in default_catalog().tipos_punto:
        raise NoEncontrado(
            f"Superficie desconocida: {superficie!r}. Tipos de punto: "
            f"{', '.join(sorted(default_catalog().tipos_punto))}."
        )
    return default_rasters()[medida]


def _construir(url: str, data_version: str, primero: str) -> None:
    """The type asked for first, then the other types (one thread per version)."""
    home = get_settings().home
    with psycopg.connect(url, autocommit=True) as conn:
        if motor.version_vigente(conn) != data_version:
            return
        puntos = motor.leer_puntos(conn)
    motor.construir(home, data_version, puntos, [primero])
    motor.construir(home, data_version, puntos, list(default_catalog().tipos_punto))


def _vigente(request: Request) -> str | None:
    pool = getattr(request.app.state, "publico", None)
    if pool is None:
        return None
    with conexion(pool) as conn:
        return motor.version_vigente(conn)


def ruta_cog(
    request: Request,
    data_version: Annotated[str, Path(pattern=VERSION, description="Versión de datos publicada")],
    superficie: Annotated[str, Path(pattern=SUPERFICIE, description="<tipo de punto>_<distancia|tiempo>")],
) -> str:
    """The COG of a surface: the only files this router opens."""
    _capa(superficie)
    path = motor.ruta(get_settings().home, data_version, *superficie.rsplit("_", 1))
    if path.exists():
        return str(path)
    url = request.app.state.urls.publico  # resolved once at start-up (the lifespan)
    if _vigente(request) == data_version and url:
        tipo = superficie.rsplit("_", 1)[0]
        preparacion.pedir(data_version, lambda: _construir(url, data_version, tipo))
        raise Preparando(superficie)
    raise NoEncontrado(f"No hay superficie {superficie} para la versión de datos {data_version}.")


class LectorSuperficie(Reader):
    """rio-tiler's reader; a tile off the raster is an empty (transparent) image, not an error."""

    def tile(self, tile_x: int, tile_y: int, tile_z: int, tilesize: int | None = None, **kwargs) -> ImageData:
        if not 0 <= tile_z <= MAX_ZOOM:
            raise SolicitudIncorrecta(f"El zoom debe estar entre 0 y {MAX_ZOOM}.")
        matriz = self.tms.matrix(tile_z)
        if not (0 <= tile_x < matriz.matrixWidth and 0 <= tile_y < matriz.matrixHeight):
            raise NoEncontrado(f"La tesela {tile_z}/{tile_x}/{tile_y} está fuera de la matriz de teselas.")
        if tilesize is not None and not 64 <= tilesize <= 1024:
            raise SolicitudIncorrecta("El tamaño de tesela debe estar entre 64 y 1024 píxeles.")
        if not self.tile_exists(tile_x, tile_y, tile_z):
            size = tilesize or self.tms.matrix(tile_z).tileWidth
            vacio = np.ma.masked_all((1, size, size), dtype="float32")
            return ImageData(vacio, bounds=self.tms.xy_bounds(tile_x, tile_y, tile_z), crs=self.tms.rasterio_crs)
        return super().tile(tile_x, tile_y, tile_z, tilesize=tilesize, **kwargs)


def colormap_fijo(superficie: Annotated[str, Path(pattern=SUPERFICIE)]) -> dict:
    return _capa(superficie).colormap()


def render_fijo(superficie: Annotated[str, Path(pattern=SUPERFICIE)]) -> ImageRenderingParams:
    lo, hi = _capa(superficie).rescala
    return ImageRenderingParams(rescale=[f"{lo:g},{hi:g}"])


@dataclass
class SinOpciones:
    """No options from the client (bands, expressions, nodata, buffer...): the surfaces are fixed."""

    def as_dict(self, exclude_none: bool = True) -> dict:
        return {}


class CacheTeselas:
    """Rendered tiles by path (the path holds the data_version, so an entry never goes
    stale), least recently used first out, within ``limite`` bytes."""

    def __init__(self, limite: int = 64 * 2**20):
        self.limite, self.usado, self._d, self._lock = limite, 0, OrderedDict(), threading.Lock()

    def get(self, clave: str) -> tuple[bytes, dict] | None:
        with self._lock:
            valor = self._d.get(clave)
            if valor is not None:
                self._d.move_to_end(clave)
            return valor

    def put(self, clave: str, cuerpo: bytes, headers: dict) -> None:
        with self._lock:
            if clave in self._d or len(cuerpo) > self.limite:
                return
            self._d[clave] = (cuerpo, headers)
            self.usado += len(cuerpo)
            while self.usado > self.limite:
                _, (viejo, _) = self._d.popitem(last=False)
                self.usado -= len(viejo)


cache_teselas = CacheTeselas()


class CaminoRapido:
    """ASGI middleware answering raster tiles already drawn (``cache_teselas``) before routing.

    The same answer as the route's own cache (:class:`RutaInmutable`: same key, bytes and
    headers), without the routing and the exception layers in between: the warm path of
    the vector tiles (``tiles.router.FastPath``) does the same. Inside ``Transporte``, so
    CORS and HEAD still apply; a miss goes on to the route.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and path.startswith("/raster/")
            and "/tiles/" in path
            and not scope.get("query_string")
            and (guardada := cache_teselas.get(path)) is not None
        ):
            cuerpo, headers = guardada
            raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
            await send({"type": "http.response.start", "status": 200, "headers": raw})
            await send({"type": "http.response.body", "body": cuerpo})
            return
        await self.app(scope, receive, send)


class RutaInmutable(APIRoute):
    """Versioned raster answers never change: ``Cache-Control: immutable`` on every 200,
    and rendered PNG tiles are kept in memory (:class:`CacheTeselas`)."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def con_cache(request: Request) -> Response:
            if request.scope.get("path_params", {}).get("format") not in (None, *FORMATOS):
                raise SolicitudIncorrecta(f"Formato de tesela no disponible; use {' o '.join(FORMATOS)}.")
            teselas = "/tiles/" in request.url.path and not request.url.query
            if teselas and (guardada := cache_teselas.get(request.url.path)) is not None:
                return Response(guardada[0], headers=guardada[1])
            response = await handler(request)
            if response.status_code == 200:
                response.headers["Cache-Control"] = IMMUTABLE
                if teselas and hasattr(response, "body"):
                    cache_teselas.put(request.url.path, bytes(response.body), dict(response.headers))
            return response

        return con_cache


class FabricaSuperficies(TilerFactory):
    def register_routes(self):
        self.info()
        self.tile()
        self.tilejson()


fabrica = FabricaSuperficies(
    reader=LectorSuperficie,
    path_dependency=ruta_cog,
    colormap_dependency=colormap_fijo,
    render_dependency=render_fijo,
    dataset_dependency=SinOpciones,
    process_dependency=lambda: None,
    layer_dependency=SinOpciones,
    tile_dependency=SinOpciones,
    router=APIRouter(route_class=RutaInmutable),
    router_prefix=PREFIJO,
    supported_tms=TileMatrixSets({"WebMercatorQuad": morecantile.tms.get("WebMercatorQuad")}),
    add_preview=False,
    add_part=False,
    add_viewer=False,
)
router = APIRouter(tags=["superficies"])
inmutable = APIRouter(tags=["superficies"], route_class=RutaInmutable)


@router.get("/raster/superficies", summary="Superficies de accesibilidad de la versión vigente y sus leyendas")
def listado(publico: PoolPublico) -> dict:
    with conexion(publico) as conn:
        version = motor.version_vigente(conn)
    tipos = default_catalog().tipos_punto
    return {
        "data_version": version,
        "tipos": [{"codigo": t, "nombre": tipos[t].nombre} for t in sorted(tipos)],
        "capas": [{**c.model_dump(exclude={"tipo"}), "leyenda": c.leyenda()} for c in default_rasters().values()],
    }


@inmutable.get(PREFIJO + "/punto", summary="Valor de la superficie en un punto (lon, lat WGS84)")
def valor_en_punto(
    request: Request,
    data_version: Annotated[str, Path(pattern=VERSION)],
    superficie: Annotated[str, Path(pattern=SUPERFICIE)],
    lon: Annotated[float, Query(ge=-180, le=180)],
    lat: Annotated[float, Query(ge=-90, le=90)],
) -> dict:
    path = ruta_cog(request, data_version, superficie)
    capa = _capa(superficie)
    valor = None
    try:
        with LectorSuperficie(path) as src:
            dato = src.point(lon, lat)
        if not bool(np.ma.getmaskarray(dato.array)[0]) and float(dato.array[0]) != motor.NODATA:
            valor = round(float(dato.array[0]), 3)
    except PointOutsideBounds:
        pass
    return {
        "data_version": data_version,
        "superficie": superficie,
        "lon": lon,
        "lat": lat,
        "valor": valor,
        "unidad": capa.unidad,
    }


@router.get(
    "/descargas/superficies/{superficie}.tif",
    response_class=FileResponse,
    summary="La superficie vigente como GeoTIFF optimizado para la nube (COG)",
    responses={200: {"content": {"image/tiff; application=geotiff; profile=cloud-optimized": {}}}},
)
def descargar(request: Request, superficie: Annotated[str, Path(pattern=SUPERFICIE)]) -> FileResponse:
    version = _vigente(request)
    if version is None:
        raise NoEncontrado("Todavía no hay cifras publicadas.")
    path = ruta_cog(request, version, superficie)
    nombre = re.sub(r"[^A-Za-z0-9_.-]", "", f"{superficie}_{version[:12]}.tif")
    return FileResponse(
        path,
        media_type="image/tiff; application=geotiff; profile=cloud-optimized",
        filename=nombre,
        headers={"Cache-Control": "no-cache"},
    )


router.include_router(inmutable)
router.include_router(fabrica.router, prefix=PREFIJO, tags=["superficies"])
