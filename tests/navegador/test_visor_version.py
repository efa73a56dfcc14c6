"""A viewer left open across a release (issue 21, item 22): its old ``?v=`` tiles are
redirected to the current version, and the viewer reloads its catalog and TileJSON and
redraws, so the map never goes blank and ends with the new version's tiles only."""

from __future__ import annotations

import time

import psycopg
import pytest

from tests.navegador.test_visor import DIST, Pagina, chromium, published_copy, rows, serve_viewer  # noqa: F401 -- chromium is a fixture


@pytest.fixture(scope="module")
def base_url(pilotos):
    return published_copy(pilotos, "visor_version")


@pytest.fixture(scope="module")
def server(base_url):
    yield from serve_viewer(base_url)


def _version(url: str) -> str:
    return rows(url, "SELECT data_version FROM publico.version WHERE vigente")[0]["data_version"]


def _new_release(url: str) -> None:
    """One district's figures change (every person gets a cédula from a record) and are published."""
    from geoportal.actualizacion import compute_district
    from geoportal.publicacion import publish
    from tests.conftest import FECHA_CORTE

    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO nominal.estatus_evento (unidad, unidad_id, servicio, cubierto, fecha, fuente)"
            " SELECT 'persona', p.persona_id, 'CEDULA', true, %s, 'prueba' FROM nominal.persona p"
            " JOIN nominal.hogar h USING (hogar_id) WHERE h.codigo_distrito = '1116'",
            (FECHA_CORTE,),
        )
        conn.commit()
        compute_district(conn, "1116", fecha_corte=FECHA_CORTE)
        publish(conn, forzar=True)


def test_an_open_viewer_follows_a_new_release_without_a_blank_map(chromium, server, base_url):
    pagina = Pagina(chromium, server)
    page = pagina.abrir("/")
    old = _version(base_url)
    assert page.text_content("#data-version") == old
    assert pagina.pedidos_de_teselas() and all(f"v={old}" in u for u in pagina.pedidos_de_teselas())
    _new_release(base_url)
    new = _version(base_url)
    assert new != old
    time.sleep(1.2)  # the tile service re-reads the version at most once a second
    # The user pans: the layer still asks for the old version's tiles, and gets the new ones.
    pagina.pedidos.clear()
    pagina.fallidos.clear()
    page.evaluate("() => window.geoportal.mapa.panBy([300, 0], {animate: false})")
    pagina.esperar_teselas()
    assert any(f"v={old}" in u for u in pagina.pedidos_de_teselas())
    assert pagina.fallidos == []
    # The tab comes back to the front: the viewer sees the new version and reloads its TileJSON.
    pagina.pedidos.clear()
    page.evaluate("() => document.dispatchEvent(new Event('visibilitychange'))")
    page.wait_for_function(f"() => document.getElementById('data-version').textContent === '{new}'", timeout=15_000)
    pagina.esperar_teselas()
    tiles = pagina.pedidos_de_teselas()
    assert tiles and all(f"v={new}" in u for u in tiles) and not any(f"v={old}" in u for u in tiles)
    assert any("/tilejson.json" in u or u.endswith("/capas") for u in pagina.pedidos)
    assert page.locator(".leaflet-tematica-pane path[class*=clase-]").count() >= 1
    assert pagina.fallidos == [] and pagina.errores == []
    pagina.captura("visor-version-nueva.png")
    page.close()
