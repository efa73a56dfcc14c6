"""notebooks/superficies.ipynb runs end to end against the real API (like tests/test_notebooks.py):
the surface overlaid as the geoportal's own raster tiles, the districts with the largest gap,
and beside each the surface value inside it, equal to the COG read directly."""

from __future__ import annotations

import os
import re
from pathlib import Path

import psycopg
import pytest
import rasterio
from pyproj import Transformer

from geoportal import superficies as s
from tests.http.test_notebooks import run
from tests.navegador import test_visor

base_url = test_visor.base_url
server = test_visor.server


def test_surface_notebook_overlays_the_tiles_and_reads_the_values_of_the_gap_districts(server, base_url, tmp_path):
    home = Path(os.environ["GEOPORTAL_HOME"])
    with psycopg.connect(base_url) as conn:
        version = s.tras_publicar(conn, home, ["usf"], tipo="usf")["data_version"]
    printed = run(
        "superficies.ipynb",
        server,
        tmp_path,
        GEOPORTAL_TIPO="usf",
        GEOPORTAL_MEDIDA="distancia",
        GEOPORTAL_SERVICIO="CPN",
    )
    assert f"Superficie usf_distancia (km), versión de datos {version}" in printed
    lines = re.findall(r"distancia en su interior \((-?[\d.]+), (-?[\d.]+)\): ([\d.]+|None) km", printed)
    assert lines, printed
    with rasterio.open(s.ruta(home, version, "usf", "distancia")) as src:
        to_utm = Transformer.from_crs("EPSG:4326", src.crs, always_xy=True)
        for lon, lat, valor in lines:
            (esperado,) = next(src.sample([to_utm.transform(float(lon), float(lat))]))
            assert float(valor) == pytest.approx(float(esperado), abs=1e-3)
    html = (tmp_path / "superficie_usf_distancia.html").read_text(encoding="utf-8")
    assert f"/raster/{version}/usf_distancia/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}" in html
    assert "Brecha CPN por distrito" in html
