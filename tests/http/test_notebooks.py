"""The planners' folium notebooks (notebooks/) run end to end against the real API.

Each notebook is executed with nbclient in a fresh kernel, reading only the public API of
a real uvicorn (the same prepared pilot copy the browser tests use); the figures they print
are checked against ``publico`` read directly, and the repository copies must carry no
outputs.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tests.navegador import test_visor
from tests.navegador.test_visor import rows
from tests.rutas import RAIZ

# The same prepared pilot copy and server as the browser tests.
base_url = test_visor.base_url
server = test_visor.server

NOTEBOOKS = RAIZ / "notebooks"


def run(name: str, api: str, folder: Path, **env) -> str:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    previous = dict(os.environ)
    os.environ.update({"GEOPORTAL_API": api, "GEOPORTAL_SALIDA": str(folder), **env})
    try:
        NotebookClient(notebook, timeout=300, kernel_name="python3", cwd=str(folder)).execute()
    finally:
        os.environ.clear()
        os.environ.update(previous)
    return "".join(
        o.get("text", "")
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "stream"
    )


def test_notebooks_are_stored_without_outputs():
    names = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert len(names) == 4
    for name in names:
        notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
        assert all(
            not c.get("outputs") and not c.get("execution_count") for c in notebook.cells if c.cell_type == "code"
        )


def test_district_gaps_notebook_maps_the_largest_gap_and_the_districts_points(server, base_url, tmp_path):
    printed = run("01_brechas_distrito.ipynb", server, tmp_path, GEOPORTAL_DISTRITO="1116")
    row = rows(base_url, "SELECT * FROM publico.cobertura WHERE nivel = 'distrito' AND codigo = '1116'")[0]
    labels = {
        r["servicio"]: r["etiqueta"].split(":")[0]
        for r in rows(base_url, "SELECT servicio, etiqueta FROM publico.medida WHERE columna LIKE '%%_sin_oferta'")
    }
    gaps = {s: (row[f"{s.lower()}_sin_oferta"] or 0) + (row[f"{s.lower()}_con_oferta"] or 0) for s in labels}
    largest = max(gaps.values())
    winners = [labels[s] for s in gaps if gaps[s] == largest]
    assert any(f"Villeta: brecha principal {w}: {largest} " in printed for w in winners), printed
    points = rows(base_url, "SELECT count(*) n FROM oferta.punto_entrega WHERE codigo_2012 = '1116'")[0]["n"]
    assert f"{points} puntos de entrega" in printed
    html = (tmp_path / "brechas_1116.html").read_text(encoding="utf-8")
    assert html.count("L.circleMarker(") == points


def test_logros_notebook_draws_every_department_with_published_figures(server, base_url, tmp_path):
    printed = run("02_logros_departamentos.ipynb", server, tmp_path, GEOPORTAL_LOGRO="3")
    n = rows(base_url, "SELECT count(*) n FROM publico.cobertura WHERE nivel = 'departamento'")[0]["n"]
    label = rows(base_url, "SELECT etiqueta FROM publico.medida WHERE columna = 'l3_pct'")[0]["etiqueta"]
    assert f"{label} — {n} departamentos con cifras publicadas" in printed
    html = (tmp_path / "logro_3_departamentos.html").read_text(encoding="utf-8")
    assert label.split(" n")[0] in html and "choropleth" in html  # the legend names the measure


def _km(lon1, lat1, lon2, lat2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


def test_new_usf_notebook_counts_far_households_before_and_after(server, base_url, tmp_path):
    printed = run("03_que_pasaria_usf.ipynb", server, tmp_path, GEOPORTAL_DISTRITO="1116", GEOPORTAL_RADIO_KM="3")
    # Independent recomputation from publico and oferta: hexagon centres (vertex mean) to the nearest USF.
    cells = rows(
        base_url,
        "SELECT c.hogares, ST_AsGeoJSON(c.geom)::json g FROM publico.cobertura c WHERE c.nivel = 'h3_8'"
        " AND NOT c.reservado AND c.hogares > 0 AND ST_Intersects(ST_PointOnSurface(c.geom), (SELECT geom"
        " FROM territorio.distrito_cartografico WHERE codigo_2012 = '1116'))",
    )
    usf = [(r["lon"], r["lat"]) for r in rows(base_url, "SELECT lon, lat FROM oferta.punto_entrega WHERE tipo = 'usf'")]
    far = 0
    for c in cells:
        ring = c["g"]["coordinates"][0][:-1]
        x, y = sum(p[0] for p in ring) / len(ring), sum(p[1] for p in ring) / len(ring)
        if min(_km(x, y, a, b) for a, b in usf) > 3:
            far += c["hogares"]
    assert f"Hogares relevados a más de 3 km de una USF: antes {far}, después " in printed
    after = int(printed.split("después ")[1].split()[0])
    assert after < far
    assert (tmp_path / "usf_nueva_1116.html").exists()
