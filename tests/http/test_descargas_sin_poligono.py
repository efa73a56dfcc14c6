"""A 2022 district without a 2012 polygon of its own still downloads in every format and has a profile.

San José del Rosario (0222, created after the 2012 cartography) is published as district
``D0222`` with no geometry; a GeoPackage row may lack a geometry, it must not fail.
"""

from __future__ import annotations

from datetime import date

import httpx
import psycopg
import pyogrio

from tests.conftest import load_hand_fixture
from tests.servidor_local import Server

SEAT = (-56.92691, -24.265314)  # census seat of San José del Rosario


def test_a_district_without_its_own_polygon_downloads_as_a_row_without_geometry(make_database, tmp_path):
    from tiles.publicacion import preparar_publicacion

    url = make_database("sin_poligono")
    households = [
        [
            f"R{i}",
            "0222",
            "San José del Rosario",
            "rural",
            "2025-10-01",
            SEAT[1] + 0.001 * i,
            SEAT[0],
            "AGUA",
            "sintetico",
        ]
        for i in range(12)
    ]
    persons = [
        [f"PR{i}", f"R{i}", "Nombre", "Apellido", "F", "1980-01-01", "no", "no", "no", "CEDULA", "sintetico"]
        for i in range(12)
    ]
    load_hand_fixture(url, tmp_path, points=[], households=households, persons=persons, cut=date(2026, 1, 1))
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT codigo, geom IS NULL FROM publico.cobertura WHERE nivel = 'distrito'").fetchall()
        preparar_publicacion(conn)
    assert row == [("D0222", True)]  # the case under test exists
    server = Server(url)
    try:
        for fmt in ("geojson", "csv", "gpkg"):
            answer = httpx.get(f"{server.base}/descargas/cobertura.{fmt}?nivel=distrito", timeout=60)
            assert answer.status_code == 200, (fmt, answer.text[:300])
        # Every published area has a profile, this one too.
        profile = httpx.get(f"{server.base}/api/territorios/D0222", timeout=60)
        assert profile.status_code == 200, profile.text[:300]
        assert profile.json()["codigo"] == "D0222"
        path = tmp_path / "distritos.gpkg"
        path.write_bytes(answer.content)
        frame = pyogrio.read_dataframe(path, layer=pyogrio.list_layers(path)[0][0])
    finally:
        server.stop()
    assert frame["codigo"].tolist() == ["D0222"]
    assert frame.geometry.isna().tolist() == [True]
