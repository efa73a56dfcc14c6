"""Accessibility surfaces (geoportal.superficies): distances against pyproj's geodesic on
the engine's sphere, travel time on toy road networks solved by hand, COG structure by
gdalinfo, byte-identical rebuilds, reuse and removal of versions."""

from __future__ import annotations

import json
import math
import subprocess

import numpy as np
import pandas as pd
import pytest
from pyproj import Geod, Transformer

from geoportal import superficies as s
from geoportal.geodesia import EARTH_RADIUS_KM, nearest_km

# The engine measures on the sphere of mean radius R1: the same sphere, through pyproj.
ESFERA = Geod(a=EARTH_RADIUS_KM * 1000.0, b=EARTH_RADIUS_KM * 1000.0)


def test_distance_at_chosen_cells_is_the_geodesic_to_the_nearer_of_two_points():
    # 40 x 30 cells of 1 km north-east of Asunción, UTM 21S; two points inside the grid.
    rejilla = s.Rejilla(x0=440_000.0, y0=7_200_000.0, ancho=40, alto=30, celda=1000.0)
    mask = np.ones((30, 40), bool)
    mask[0, 0] = False
    a, b = (-57.55, -25.30), (-57.30, -25.42)
    valores = s.distancia_km(rejilla, mask, np.array([a[0], b[0]]), np.array([a[1], b[1]]))
    a_lonlat = Transformer.from_crs("EPSG:32721", "EPSG:4326", always_xy=True)
    for fila, col in [(1, 1), (5, 30), (29, 39), (15, 20), (29, 0), (0, 39)]:
        lon, lat = a_lonlat.transform(440_000.0 + (col + 0.5) * 1000.0, 7_200_000.0 - (fila + 0.5) * 1000.0)
        esperado = min(ESFERA.inv(lon, lat, *a)[2], ESFERA.inv(lon, lat, *b)[2]) / 1000.0
        assert valores[fila, col] == pytest.approx(esperado, abs=1e-3), (fila, col)
        # ...and what the engine gives a household standing at the cell centre.
        motor = nearest_km(np.array([lon]), np.array([lat]), np.array([a[0], b[0]]), np.array([a[1], b[1]]))[0][0]
        assert valores[fila, col] == pytest.approx(motor, abs=1e-4)
    assert valores[0, 0] == s.NODATA
    assert valores.dtype == np.float32


def test_travel_time_along_a_road_solved_by_hand():
    # 1 x 5 cells of 1 km: walk (5 km/h: 12 min a cell), three road cells (60 km/h: 1 min), walk.
    kmh = np.array([[5.0, 60.0, 60.0, 60.0, 5.0]])
    t = s.tiempo_minutos(kmh, 1000.0, np.array([0]), np.array([0]))
    # A move costs the mean of both cells: 0 -> 1: (12+1)/2, then +1, +1, then (1+12)/2.
    assert t[0].tolist() == pytest.approx([0.0, 6.5, 7.5, 8.5, 15.0])


def test_travel_time_diagonal_barrier_and_nearest_start():
    kmh = np.full((3, 4), 6.0)  # 10 min a cell
    kmh[0, 2] = 0.0  # a barrier (outside the country)
    t = s.tiempo_minutos(kmh, 1000.0, np.array([1, 2]), np.array([1, 3]))
    assert t[1, 1] == 0 and t[2, 3] == 0
    assert t[0, 0] == pytest.approx(10 * math.sqrt(2), rel=1e-6)  # diagonal from (1, 1)
    assert t[1, 2] == pytest.approx(10.0)  # next to both starts' reach
    assert t[0, 3] == pytest.approx(20.0)  # two cells up from (2, 3)
    assert t[0, 2] == s.NODATA


def test_roads_are_burnt_with_their_class_speed(tmp_path):
    rejilla = s.Rejilla(x0=0.0, y0=5000.0, ancho=5, alto=5, celda=1000.0)
    geo = Transformer.from_crs("EPSG:32721", "EPSG:4326", always_xy=True)
    linea = [list(geo.transform(100.0, 2500.0)), list(geo.transform(4900.0, 2500.0))]
    (tmp_path / "r.geojson").write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"id": 1, "scalerank": 4, "tipo_ne": "Road"},
                        "geometry": {"type": "LineString", "coordinates": linea},
                    }
                ],
            }
        )
    )
    mask = np.ones((5, 5), bool)
    mask[4, 4] = False
    kmh = s.velocidades(rejilla, mask, tmp_path / "r.geojson")
    assert kmh[2].tolist() == [80.0] * 5
    assert kmh[0].tolist() == [s.VELOCIDAD_A_PIE] * 5
    assert kmh[4, 4] == 0.0


def _puntos():
    return pd.DataFrame(
        {
            "tipo": ["usf", "usf", "usf", "snpp"],
            "lon": [-57.60, -55.80, -60.50, -57.0],
            "lat": [-25.30, -27.00, -22.30, -25.5],
        }
    )


@pytest.fixture(scope="module")
def construidas(tmp_path_factory):
    homes = [tmp_path_factory.mktemp(f"home{i}") for i in range(2)]
    for home in homes:
        s.construir(home, "v1", _puntos(), ["usf"])
    return homes


def test_cog_is_valid_with_overviews(construidas):
    path = s.ruta(construidas[0], "v1", "usf", "distancia")
    info = subprocess.run(["gdalinfo", str(path)], capture_output=True, text=True, check=True).stdout
    assert "LAYOUT=COG" in info
    assert "Overviews:" in info and 'EPSG",32721' in info.replace(" ", "")
    assert "NoData Value=-1" in info
    from rio_cogeo.cogeo import cog_validate

    valid, errors, _ = cog_validate(str(path), quiet=True)
    assert valid, errors


def test_same_inputs_give_byte_identical_files(construidas):
    for medida in s.MEDIDAS:
        first, second = (s.ruta(h, "v1", "usf", medida).read_bytes() for h in construidas)
        assert first == second, medida


def test_national_surfaces_hold_the_engine_values(construidas):
    import rasterio

    with rasterio.open(s.ruta(construidas[0], "v1", "usf", "distancia")) as src:
        (valor,) = next(
            src.sample([Transformer.from_crs("EPSG:4326", "EPSG:32721", always_xy=True).transform(-57.0, -25.5)])
        )
        cx, cy = src.xy(
            *src.index(*Transformer.from_crs("EPSG:4326", "EPSG:32721", always_xy=True).transform(-57.0, -25.5))
        )
        lon, lat = Transformer.from_crs("EPSG:32721", "EPSG:4326", always_xy=True).transform(cx, cy)
        esperado = min(ESFERA.inv(lon, lat, x, y)[2] for x, y in [(-57.60, -25.30), (-55.80, -27.0), (-60.5, -22.3)])
        assert valor == pytest.approx(esperado / 1000.0, abs=1e-3)
        assert src.tags()["data_version"] == "v1" and src.tags()["unidad"] == "km"
    with rasterio.open(s.ruta(construidas[0], "v1", "usf", "tiempo")) as src:
        datos = src.read(1)
        assert (datos == 0).sum() == 3  # the three point cells
        assert datos.max() > 60 and (datos == s.NODATA).any()


def test_unchanged_points_reuse_files_and_old_versions_go(construidas):
    home = construidas[0]
    hechos = s.construir(home, "v2", _puntos(), ["usf"])
    assert set(hechos.values()) == {"reutilizada"}
    assert s.ruta(home, "v2", "usf", "distancia").stat().st_ino == s.ruta(home, "v1", "usf", "distancia").stat().st_ino
    movidos = _puntos().assign(lon=lambda d: d["lon"] + 0.01)
    assert set(s.construir(home, "v3", movidos, ["usf"]).values()) == {"construida"}
    assert s.limpiar(home, {"v2", "v3"}) == ["v1"]
    assert s.ruta(home, "v2", "usf", "tiempo").exists() and not (home / "superficies" / "v1").exists()


def test_the_release_drops_unreferenced_versions_and_the_command_builds_one_type_or_all(pilotos, tmp_path):
    import os
    import sys

    import psycopg

    from geoportal.catalog import default_catalog
    from tests.institucional import clone_database

    url = clone_database(pilotos["url"], "superficies_cli")
    env = {**os.environ, "GEOPORTAL_DATABASE_URL": url, "GEOPORTAL_HOME": str(tmp_path)}
    cli = [sys.executable, "-m", "geoportal.cli"]
    mal = subprocess.run(
        [*cli, "superficies", "--tipo", "hospicio"], capture_output=True, text=True, env=env, timeout=300
    )
    assert mal.returncode == 1 and "Tipo de punto desconocido: hospicio" in mal.stdout
    assert "Traceback" not in mal.stdout + mal.stderr
    uno = subprocess.run([*cli, "superficies", "--tipo", "snpp"], capture_output=True, text=True, env=env, timeout=600)
    assert uno.returncode == 0, uno.stdout + uno.stderr
    with psycopg.connect(url) as conn:
        version = s.version_vigente(conn)
    assert sorted(p.name for p in (tmp_path / "superficies" / version).glob("*.tif")) == [
        "snpp_distancia.tif",
        "snpp_tiempo.tif",
    ]
    (tmp_path / "superficies" / "vieja").mkdir()
    # A national computation publishes; the CLI's post-release step removes the files of
    # versions no published version refers to (surfaces are built on demand), and the
    # command builds every type of the new version.
    hook = subprocess.run(
        [*cli, "calcular", "--fecha-corte", "2026-01-01"], capture_output=True, text=True, env=env, timeout=1200
    )
    assert hook.returncode == 0, hook.stdout + hook.stderr
    assert not (tmp_path / "superficies" / "vieja").exists()
    todas = subprocess.run([*cli, "superficies"], capture_output=True, text=True, env=env, timeout=1200)
    assert todas.returncode == 0, todas.stdout + todas.stderr
    with psycopg.connect(url) as conn:
        version = s.version_vigente(conn)
    tipos = sorted(default_catalog().tipos_punto)
    assert sorted(p.name for p in (tmp_path / "superficies" / version).glob("*.tif")) == sorted(
        f"{t}_{m}.tif" for t in tipos for m in s.MEDIDAS
    )
