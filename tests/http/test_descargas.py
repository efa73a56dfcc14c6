"""Downloads and "same numbers everywhere": OGC item, GeoJSON, CSV, GPKG and the indicators
agree with publico.cobertura, reserved areas are reserved in all of them."""

from __future__ import annotations

import csv
import io
import json

import httpx
import numpy as np
import psycopg
import pytest

MEASURES = [
    "hogares",
    "personas",
    "l1_universo",
    "l1_protegidos",
    "l1_pct",
    "l1_meta",
    "l1_avance",
    "cpn_sin_oferta",
    "cpn_con_oferta",
    "relevamiento_pct",
    "dist_usf_km",
]


def _published(url: str, nivel: str, codigo: str) -> dict:
    with psycopg.connect(url) as conn:
        cur = conn.execute("SELECT * FROM publico.cobertura WHERE nivel = %s AND codigo = %s", (nivel, codigo))
        return dict(zip([d.name for d in cur.description], cur.fetchone()))


def _labels(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT columna, etiqueta FROM publico.medida").fetchall())


def _csv_value(text: str):
    if text == "":
        return None
    if text in ("sí", "no"):
        return text == "sí"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return text


def _all_formats(base: str, nivel: str, codigo: str, tmp_path) -> dict[str, dict]:
    """The area's measures as read back from each public format."""
    import pyogrio

    query = {"nivel": nivel, "medidas": ",".join(MEASURES)}
    out = {}
    item = httpx.get(f"{base}/ogc/collections/cobertura_{nivel}/items/{codigo}").json()["properties"]
    out["ogc"] = item
    geojson = httpx.get(f"{base}/descargas/cobertura.geojson", params=query, timeout=60).json()
    out["geojson"] = next(f["properties"] for f in geojson["features"] if f["id"] == codigo)
    text = httpx.get(f"{base}/descargas/cobertura.csv", params=query, timeout=60).content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    labels = _labels_cache[0]
    header = rows[0]
    row = next(r for r in rows[1:] if r[1] == codigo)
    by_header = dict(zip(header, row))
    out["csv"] = {m: _csv_value(by_header[labels[m]]) for m in MEASURES}
    out["csv"]["reservado"] = _csv_value(by_header["Reservado (control de divulgación)"])
    gpkg = tmp_path / f"{nivel}.gpkg"
    gpkg.write_bytes(httpx.get(f"{base}/descargas/cobertura.gpkg", params=query, timeout=60).content)
    frame = pyogrio.read_dataframe(gpkg, layer=f"cobertura_{nivel}").set_index("codigo")
    out["gpkg"] = {k: (None if v != v else v) for k, v in frame.loc[codigo].drop("geometry").to_dict().items()}
    out["tesela"] = _from_tile(base, nivel, codigo)
    return out


def _from_tile(base: str, nivel: str, codigo: str) -> dict:
    """The area's l1_pct and reserved flag decoded from the 'logros' vector tile that shows its level."""
    import mapbox_vector_tile
    import morecantile
    import shapely

    feature = httpx.get(f"{base}/ogc/collections/cobertura_{nivel}/items/{codigo}").json()
    point = shapely.geometry.shape(feature["geometry"]).point_on_surface()
    z = {"distrito": 8, "h3_6": 10, "h3_8": 13}[nivel]
    tile = morecantile.tms.get("WebMercatorQuad").tile(point.x, point.y, z)
    response = httpx.get(f"{base}/tiles/logros/{z}/{tile.x}/{tile.y}.mvt", timeout=60)
    assert response.status_code == 200, response.text
    props = next(
        f["properties"]
        for f in mapbox_vector_tile.decode(response.content)["logros"]["features"]
        if f["properties"]["codigo"] == codigo
    )
    # Tiles carry reals as 32-bit floats and omit missing values and a false reserved flag.
    value = props.get("l1_pct")
    return {
        "l1_pct": None if value is None else float(np.float32(value)),
        "reservado": props.get("reservado", False),
        "_float32": True,
    }


_labels_cache: list = []


@pytest.mark.parametrize(
    "nivel, reservado", [("distrito", False), ("h3_6", True), ("h3_8", False)]
)  # reserved res-7/8: not listed
def test_one_area_has_the_same_numbers_in_every_format(api_server, pilotos, tmp_path, nivel, reservado):
    _labels_cache[:] = [_labels(pilotos["url"])]
    with psycopg.connect(pilotos["url"]) as conn:
        codigo = conn.execute(
            "SELECT codigo FROM publico.cobertura WHERE nivel = %s AND reservado = %s"
            " AND (reservado OR hogares > 0) ORDER BY codigo LIMIT 1",
            (nivel, reservado),
        ).fetchone()[0]
    expected = _published(pilotos["url"], nivel, codigo)
    formats = _all_formats(api_server, nivel, codigo, tmp_path)
    if nivel == "distrito":
        indicators = httpx.get(f"{api_server}/api/indicadores", params={"nivel": nivel, "codigo": codigo}).json()
        logro1 = indicators["logros"][0]
        formats["indicadores"] = {
            "l1_universo": logro1["denominador"],
            "l1_protegidos": logro1["numerador"],
            "l1_pct": logro1["porcentaje"],
            "l1_meta": logro1["meta"],
            "l1_avance": logro1["avance"],
            "reservado": indicators["reservado"],
        }
        cpn = next(s for s in indicators["servicios"] if s["servicio"] == "CPN")
        formats["indicadores"] |= {"cpn_sin_oferta": cpn["sin_oferta"], "cpn_con_oferta": cpn["con_oferta"]}
    for name, values in formats.items():
        for measure in MEASURES + ["reservado"]:
            if measure in values:
                want = expected[measure]
                if values.get("_float32") and isinstance(want, float):
                    want = float(np.float32(want))
                assert values[measure] == want, (name, measure)
    if reservado:
        assert expected["reservado"] and all(expected[m] is None for m in MEASURES)
    else:
        assert expected["hogares"] > 0 and expected["hogares"] % 5 == 0


def test_csv_opens_in_spanish_excel(api_server, pilotos):
    response = httpx.get(f"{api_server}/descargas/logros.csv", params={"nivel": "distrito"})
    assert response.status_code == 200
    assert response.content.startswith(b"\xef\xbb\xbf")
    header, first = response.content.decode("utf-8-sig").splitlines()[:2]
    labels = _labels(pilotos["url"])
    columns = header.split(";")
    assert labels["l1_pct"] in columns and labels["l10_pct"] in columns and "Versión de datos" in columns
    value = first.split(";")[columns.index(labels["l1_pct"])]
    assert "," in value and "." not in value
    assert "describedby" in response.headers["link"]
    dictionary = httpx.get(f"{api_server}/descargas/logros/diccionario.csv?nivel=distrito").content.decode("utf-8-sig")
    assert "(versión de datos)" in dictionary and "SINTÉTICOS" in dictionary and labels["l1_pct"] in dictionary
    assert "(control de divulgación)" in dictionary


def test_text_that_would_be_a_formula_gets_an_apostrophe(api_server, pilotos):
    names = {
        "fx:1": '=HYPERLINK("http://x","clic")',
        "fx:2": "+1+1",
        "fx:3": "-2+3",
        "fx:4": "@SUM(A1)",
        "fx:5": "\tTAB",
        "fx:6": "Escuela normal",
    }
    with psycopg.connect(pilotos["url"]) as conn:
        for punto_id, nombre in names.items():
            conn.execute(
                "INSERT INTO oferta.punto_entrega (punto_id, tipo, nombre, institucion, zona, codigo_2012,"
                " capacidad, origen, lon, lat) VALUES (%s, 'escuela', %s, 'MEC', 'urbana', '1116', 10,"
                " 'sintetico', -57.6, -25.6)",
                (punto_id, nombre),
            )
    try:
        text = httpx.get(f"{api_server}/descargas/puntos_entrega.csv?distrito=1116").content.decode("utf-8-sig")
        rows = {r[0]: r for r in csv.reader(io.StringIO(text), delimiter=";")}
        for punto_id, nombre in names.items():
            cell = rows[punto_id][3]
            if nombre[0] in "=+-@\t":
                assert cell == "'" + nombre
            else:
                assert cell == nombre
        assert rows["fx:1"][8] == "10"  # numbers stay numbers
    finally:
        with psycopg.connect(pilotos["url"]) as conn:
            conn.execute("DELETE FROM oferta.punto_entrega WHERE punto_id LIKE 'fx:%'")


def test_every_download_carries_version_attribution_sdc_note_and_synthetic_label(api_server, pilotos, tmp_path):
    import pyogrio

    with psycopg.connect(pilotos["url"]) as conn:
        version, notas = conn.execute("SELECT data_version, notas FROM publico.version WHERE vigente").fetchone()
    geojson = httpx.get(f"{api_server}/descargas/brechas.geojson?nivel=departamento").json()
    assert geojson["data_version"] == version and geojson["nota_sdc"] == notas
    assert "INE" in geojson["atribucion"] and "SINTÉTICOS" in geojson["datos"]
    assert all(f["properties"]["data_version"] == version for f in geojson["features"])
    path = tmp_path / "b.gpkg"
    path.write_bytes(httpx.get(f"{api_server}/descargas/brechas.gpkg?nivel=departamento").content)
    meta = pyogrio.read_info(path, layer="brechas_departamento")["layer_metadata"]
    assert meta["data_version"] == version and meta["nota_sdc"] == notas and "SINTÉTICOS" in meta["datos"]
    dictionary = pyogrio.read_dataframe(path, layer="diccionario")
    assert "cpn_sin_oferta" in set(dictionary["columna"])
    assert httpx.get(f"{api_server}/descargas/brechas.csv?nivel=departamento").headers["x-version-datos"] == version


def test_downloads_are_streamed_not_sized_in_advance(api_server):
    for fmt in ("geojson", "csv"):
        with httpx.stream("GET", f"{api_server}/descargas/cobertura.{fmt}?nivel=h3_8") as response:
            assert response.status_code == 200
            assert response.headers.get("transfer-encoding") == "chunked"
            assert "content-length" not in response.headers
            size = sum(len(chunk) for chunk in response.iter_bytes())
        assert size > 100_000


def test_geojson_download_is_rfc7946(api_server):
    body = httpx.get(f"{api_server}/descargas/cobertura.geojson?nivel=distrito&departamento=16").json()
    assert body["type"] == "FeatureCollection" and "crs" not in body
    assert [f["id"] for f in body["features"]] == ["1602"]
    ring = body["features"][0]["geometry"]["coordinates"][0][0]
    assert -63 < ring[0][0] < -54 and -28 < ring[0][1] < -19  # longitude first
    assert json.dumps(body)  # plain JSON, no NaN


def _gdal_quiet(*args: str) -> tuple[str, str]:
    import shutil
    import subprocess

    tool = shutil.which(args[0])
    assert tool, f"Falta {args[0]} (gdal-bin)"
    done = subprocess.run([tool, *args[1:]], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr


def test_geopackage_is_version_1_2_and_gdal_3_6_reads_it_without_a_warning(api_server, tmp_path):
    import sqlite3

    path = tmp_path / "brechas.gpkg"
    path.write_bytes(httpx.get(f"{api_server}/descargas/brechas.gpkg?nivel=distrito", timeout=60).content)
    with sqlite3.connect(path) as db:
        application_id = db.execute("PRAGMA application_id").fetchone()[0]
        user_version = db.execute("PRAGMA user_version").fetchone()[0]
    assert application_id == 0x47504B47 and user_version == 10200  # "GPKG", version 1.2.0
    out, err = _gdal_quiet("ogrinfo", "-ro", "-so", "-al", str(path))
    assert "warning" not in (out + err).lower() and "brechas_distrito" in out


def test_csv_carries_a_wkt_point_that_gdal_reads_as_geometry_without_options(api_server, pilotos, tmp_path):
    path = tmp_path / "puntos.csv"
    path.write_bytes(httpx.get(f"{api_server}/descargas/puntos_entrega.csv?distrito=1116", timeout=60).content)
    out, _err = _gdal_quiet("ogrinfo", "-ro", "-al", "-so", str(path))
    assert "Geometry: Unknown (any)" in out or "Geometry: Point" in out
    extent = next(line for line in out.splitlines() if line.startswith("Extent:"))
    import re

    west, south, east, north = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", extent)]
    with psycopg.connect(pilotos["url"]) as conn:
        expected = conn.execute(
            "SELECT min(lon), min(lat), max(lon), max(lat) FROM oferta.punto_entrega WHERE codigo_2012 = '1116'"
        ).fetchone()
    assert (west, south, east, north) == pytest.approx(expected, abs=1e-5)
    text = path.read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    wkt = rows[0].index("WKT")
    lon, lat = rows[0].index("Longitud (punto representativo)"), rows[0].index("Latitud (punto representativo)")
    assert len(rows) > 2
    for row in rows[1:]:
        x, y = map(float, row[wkt].removeprefix("POINT(").removesuffix(")").split())
        assert (x, y) == (float(row[lon].replace(",", ".")), float(row[lat].replace(",", ".")))


def test_the_csv_dictionary_says_how_to_keep_the_leading_zero_of_codes_in_excel(api_server):
    text = httpx.get(f"{api_server}/descargas/distritos/diccionario.csv").content.decode("utf-8-sig")
    rows = {r[0]: r for r in csv.reader(io.StringIO(text), delimiter=";")}
    assert "0 inicial" in rows["(códigos)"][1] and "Texto" in rows["(códigos)"][1]
    assert "(WKT)" in rows
