"""Accessibility surfaces over HTTP (titiler in the same app): PNG tiles whose pixel colour
is the class of the raster value under it, transparent tiles outside, immutable caching,
TileJSON, the value under the cursor, the COG download (valid for gdalinfo), and the
"preparando" answer while a missing surface of the current version is being built."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import morecantile
import numpy as np
import psycopg
import pytest
import rasterio
from pyproj import Transformer
from rasterio.io import MemoryFile

from capas.raster import default_rasters
from geoportal import superficies as s
from tests.servidor_local import serve

TMS = morecantile.tms.get("WebMercatorQuad")


@pytest.fixture(scope="module")
def servidor(pilotos):
    home = Path(os.environ["GEOPORTAL_HOME"])
    with psycopg.connect(pilotos["url"]) as conn:
        hecho = s.tras_publicar(conn, home, ["usf", "snpp", "escuela"], tipo="usf")
    yield from ({"base": base, "version": hecho["data_version"], "home": home} for base in serve(pilotos["url"]))


def _png(content: bytes) -> np.ndarray:
    with MemoryFile(content) as mem, mem.open() as img:
        assert img.driver == "PNG"
        return img.read()  # (bands, rows, cols): RGBA


def test_tile_pixel_has_the_colour_of_the_raster_value_under_it(servidor):
    path = s.ruta(servidor["home"], servidor["version"], "usf", "distancia")
    capa = default_rasters()["distancia"]
    with rasterio.open(path) as src:
        datos = src.read(1)
        filas, cols = np.nonzero(datos > 0)
        comprobados = 0
        for i in np.linspace(0, len(filas) - 1, 6).astype(int):
            cx, cy = src.xy(filas[i], cols[i])  # a cell centre
            lon, lat = Transformer.from_crs(src.crs, "EPSG:4326", always_xy=True).transform(cx, cy)
            tile = TMS.tile(lon, lat, 12)
            r = httpx.get(
                f"{servidor['base']}/raster/{servidor['version']}/usf_distancia/tiles/WebMercatorQuad/"
                f"{tile.z}/{tile.x}/{tile.y}.png",
                timeout=60,
            )
            assert r.status_code == 200, r.text
            assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
            bounds = TMS.xy_bounds(tile)
            mx, my = TMS.xy(lon, lat)
            px = int((mx - bounds.left) / (bounds.right - bounds.left) * 256)
            py = int((bounds.top - my) / (bounds.top - bounds.bottom) * 256)
            rgba = tuple(int(v) for v in _png(r.content)[:, py, px])
            valor = float(datos[filas[i], cols[i]])
            byte = int(np.clip(round((valor - capa.rescala[0]) / (capa.rescala[1] - capa.rescala[0]) * 255), 0, 255))
            assert rgba == capa.colormap()[byte], (valor, rgba)
            comprobados += 1
            punto = httpx.get(
                f"{servidor['base']}/raster/{servidor['version']}/usf_distancia/punto", params={"lon": lon, "lat": lat}
            ).json()
            assert punto["valor"] == pytest.approx(valor, abs=1e-3) and punto["unidad"] == "km"
    assert comprobados == 6


def test_tile_outside_is_transparent_and_point_outside_has_no_value(servidor):
    base = f"{servidor['base']}/raster/{servidor['version']}/usf_tiempo"
    lejos = TMS.tile(10.0, 50.0, 8)  # Europe
    r = httpx.get(f"{base}/tiles/WebMercatorQuad/{lejos.z}/{lejos.x}/{lejos.y}.png", timeout=60)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert (_png(r.content)[3] == 0).all()
    borde = TMS.tile(-58.0, -21.5, 7)  # straddles the Bolivian border: part transparent
    alfa = _png(httpx.get(f"{base}/tiles/WebMercatorQuad/{borde.z}/{borde.x}/{borde.y}.png", timeout=60).content)[3]
    assert (alfa == 0).any() and (alfa == 255).any()
    assert httpx.get(f"{base}/punto", params={"lon": 10.0, "lat": 50.0}).json()["valor"] is None


def test_tilejson_and_listing(servidor):
    r = httpx.get(f"{servidor['base']}/raster/{servidor['version']}/usf_distancia/WebMercatorQuad/tilejson.json")
    assert r.status_code == 200 and "immutable" in r.headers["cache-control"]
    assert f"/raster/{servidor['version']}/usf_distancia/tiles/WebMercatorQuad/" in r.json()["tiles"][0]
    listado = httpx.get(f"{servidor['base']}/raster/superficies").json()
    assert listado["data_version"] == servidor["version"]
    assert {c["medida"] for c in listado["capas"]} == {"distancia", "tiempo"}
    assert "PY08" in next(c for c in listado["capas"] if c["medida"] == "tiempo")["limites"]


def test_cog_download_is_the_file_and_a_valid_cog(servidor, tmp_path):
    r = httpx.get(f"{servidor['base']}/descargas/superficies/usf_tiempo.tif", timeout=60)
    assert r.status_code == 200
    assert r.content == s.ruta(servidor["home"], servidor["version"], "usf", "tiempo").read_bytes()
    (tmp_path / "t.tif").write_bytes(r.content)
    info = subprocess.run(["gdalinfo", str(tmp_path / "t.tif")], capture_output=True, text=True, check=True).stdout
    assert "LAYOUT=COG" in info and "Overviews:" in info


def test_unknown_surface_or_version_is_a_spanish_404(servidor):
    for path in (
        "/raster/" + servidor["version"] + "/hospicio_distancia/punto?lon=-57&lat=-25",
        "/raster/otra_version/usf_distancia/tiles/WebMercatorQuad/7/44/72.png",
        "/descargas/superficies/hospicio_tiempo.tif",
    ):
        r = httpx.get(servidor["base"] + path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("application/problem+json")
    assert httpx.get(servidor["base"] + "/raster/../etc/usf_distancia/info").status_code == 404


def test_missing_surface_of_the_current_version_is_prepared_in_the_background(servidor):
    url = f"{servidor['base']}/raster/{servidor['version']}/snpp_distancia/punto"
    r = httpx.get(url, params={"lon": -57.5, "lat": -25.3})
    assert r.status_code == 503 and r.headers["retry-after"]
    assert r.headers["content-type"].startswith("application/problem+json") and "preparando" in r.text
    deadline = time.monotonic() + 300  # generous: national build on a shared machine
    for medida in ("distancia", "tiempo"):
        while time.monotonic() < deadline:
            r = httpx.get(
                url.replace("distancia", medida), params={"lon": -57.5, "lat": -25.3}, timeout=60
            )  # the build shares the GIL with the server
            if r.status_code != 503:
                break
            time.sleep(2)
        assert r.status_code == 200 and r.json()["valor"] > 0, medida
    assert s.ruta(servidor["home"], servidor["version"], "snpp", "tiempo").exists()


def test_rendered_tiles_are_kept_by_their_versioned_path(servidor):
    import shutil

    origen = s.ruta(servidor["home"], servidor["version"], "usf", "distancia")
    copia = s.ruta(servidor["home"], "copia_cache", "usf", "distancia")
    copia.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(origen, copia)
    tile = TMS.tile(-57.45, -25.36, 9)
    url = f"{servidor['base']}/raster/copia_cache/usf_distancia/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png"
    primera = httpx.get(url, timeout=60)
    assert primera.status_code == 200
    shutil.rmtree(copia.parent)
    segunda = httpx.get(url, timeout=60)  # the file is gone: only the server's tile cache can answer
    assert segunda.status_code == 200 and segunda.content == primera.content
    assert segunda.headers["cache-control"] == "public, max-age=31536000, immutable"
    # Answered before routing (api.publico.superficies.CaminoRapido) with the route's own
    # headers, and still inside the transport layer (HEAD as for any answer).
    assert {k: v for k, v in segunda.headers.items() if k != "date"} == {
        k: v for k, v in primera.headers.items() if k != "date"
    }
    assert segunda.headers["content-type"] == "image/png"
    cabeza = httpx.head(url, timeout=60)
    assert (
        cabeza.status_code == 200
        and cabeza.content == b""
        and cabeza.headers["content-length"] == str(len(primera.content))
    )
    otra = httpx.get(url.replace(f"/{tile.z}/{tile.x}/", f"/{tile.z}/{tile.x + 1}/"), timeout=60)
    assert otra.status_code == 404


@pytest.mark.parametrize(
    "cola, status",
    [
        ("tiles/WebMercatorQuad/99/1/1.png", 400),
        ("tiles/WebMercatorQuad/5/100/3.png", 404),
        ("tiles/WebMercatorQuad/5/10/17.jp2", 400),
        ("tiles/WebMercatorQuad/5/10/17.png?tilesize=100000", 400),
        ("tiles/WGS1984Quad/5/10/17.png", 400),
        ("punto?lon=1000&lat=0", 400),
    ],
)
def test_wrong_tile_requests_are_spanish_problems(servidor, cola, status):
    r = httpx.get(f"{servidor['base']}/raster/{servidor['version']}/usf_distancia/{cola}", timeout=60)
    assert r.status_code == status and r.headers["content-type"].startswith("application/problem+json")


def test_client_options_cannot_change_the_surface(servidor):
    base = f"{servidor['base']}/raster/{servidor['version']}/usf_distancia/tiles/WebMercatorQuad/7/44/72.png"
    fija = httpx.get(base, timeout=60).content
    for q in ("bidx=5", "expression=b1*2", "expression=import", "buffer=3000", "colormap_name=viridis", "rescale=0,1"):
        r = httpx.get(f"{base}?{q}", timeout=60)
        assert r.status_code == 200 and r.content == fija, q
