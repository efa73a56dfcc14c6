"""The layer catalog (capas/): validation messages, measures from publico.medida, legends."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import psycopg
import pytest
import yaml

from capas import CapaError, load_capas, validate_against_db
from capas.catalogo import CARPETA
from tests.servidor_local import serve


def copy_with(tmp_path: Path, name: str, edit) -> Path:
    """The shipped layer folder, with one file's first layer changed by ``edit``."""
    folder = tmp_path / "capas"
    shutil.copytree(CARPETA, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    raw = yaml.safe_load((folder / name).read_text(encoding="utf-8"))
    edit(raw["capas"][0])
    (folder / name).write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return folder


def test_the_shipped_catalog_has_every_layer_the_issue_asks_for():
    capas = load_capas()
    assert {"logros", "servicios", "brechas", "avance", "relevamiento", "accesibilidad", "puntos", "territorio"} <= set(
        capas
    )
    assert all(c.audiencia == "publico" and "Reservado" in c.texto_reservado for c in capas.values())
    assert all(
        any("CC BY 4.0" in a for a in c.atribucion) and "sintético" in c.etiqueta_sintetica for c in capas.values()
    )
    assert [n.nivel for n in capas["logros"].niveles] == ["departamento", "distrito", "h3_5", "h3_6", "h3_7", "h3_8"]


@pytest.mark.parametrize(
    "name, edit, message",
    [
        (
            "brechas.yaml",
            lambda c: c["niveles"][0].update(zoom=[7, 3]),
            "brechas.yaml, capa 'brechas' (n.º 1), campo 'niveles.0.zoom': el rango de zoom",
        ),
        (
            "cobertura.yaml",
            lambda c: c.update(rampa="arcoiris"),
            "cobertura.yaml, capa 'logros' (n.º 1), campo 'rampa': rampa desconocida",
        ),
        (
            "cobertura.yaml",
            lambda c: c.pop("titulo"),
            "cobertura.yaml, capa 'logros' (n.º 1), campo 'titulo': falta este campo obligatorio",
        ),
        (
            "avance.yaml",
            lambda c: c.update(color="rojo"),
            "avance.yaml, capa 'avance' (n.º 1), campo 'color': campo desconocido",
        ),
        (
            "relevamiento.yaml",
            lambda c: c["niveles"].append({"nivel": "h3_5", "zoom": [10, 12]}),
            "relevamiento.yaml, capa 'relevamiento' (n.º 1): los rangos de zoom de los niveles se superponen",
        ),
        (
            "avance.yaml",
            lambda c: c.update(clasificacion={"metodo": "fijo", "cortes": [50, 25]}),
            "avance.yaml, capa 'avance' (n.º 1), campo 'clasificacion': los cortes deben ser crecientes",
        ),
        (
            "cobertura.yaml",
            lambda c: c.update(medida_inicial="relevamiento_pct"),
            "cobertura.yaml, capa 'logros' (n.º 1): medida_inicial 'relevamiento_pct' no coincide con el patrón",
        ),
        (
            "puntos.yaml",
            lambda c: c.update(fuente="nominal.hogar"),
            "puntos.yaml, capa 'puntos' (n.º 1), campo 'fuente': formato inválido",
        ),
        (
            "territorio.yaml",
            lambda c: c.update(audiencia="institucional"),
            "territorio.yaml, capa 'territorio' (n.º 1), campo 'audiencia': valor no permitido",
        ),
        (
            "territorio.yaml",
            lambda c: c.update(id="logros"),
            "territorio.yaml, capa 'logros' (n.º 1), campo 'id': la capa 'logros' ya está definida",
        ),
    ],
)
def test_a_bad_layer_file_names_file_entry_and_field(tmp_path, name, edit, message):
    folder = copy_with(tmp_path, name, edit)
    with pytest.raises(CapaError) as error:
        load_capas(folder)
    assert str(error.value).startswith(message), str(error.value)


def test_broken_yaml_names_the_file(tmp_path):
    folder = copy_with(tmp_path, "avance.yaml", lambda c: None)
    (folder / "avance.yaml").write_text("capas: [id: {", encoding="utf-8")
    with pytest.raises(CapaError, match=r"^avance\.yaml: YAML inválido"):
        load_capas(folder)


def test_the_app_refuses_to_start_with_a_bad_catalog(tmp_path):
    """create_app validates capas/ at start-up: a bad file stops uvicorn with the message."""
    folder = copy_with(tmp_path, "brechas.yaml", lambda c: c.update(niveles=[]))
    result = subprocess.run(
        [sys.executable, "-c", "from api.app import create_app; create_app()"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "GEOPORTAL_CAPAS": str(folder)},
    )
    assert result.returncode != 0
    assert "brechas.yaml, capa 'brechas' (n.º 1), campo 'niveles'" in result.stderr


def test_every_layer_resolves_against_the_published_dictionary(pilotos):
    with psycopg.connect(pilotos["url"]) as conn:
        resolved = validate_against_db(conn)
        dictionary = {r[0]: r for r in conn.execute("SELECT columna, servicio FROM publico.medida").fetchall()}
    assert [m["columna"] for m in resolved["logros"]] == [f"l{n}_pct" for n in range(1, 11)]
    services = {c for c, (_, s) in dictionary.items() if s is not None and c.endswith("_pct")}
    assert {m["columna"] for m in resolved["servicios"]} == services
    assert {m["columna"] for m in resolved["brechas"]} == {
        c for c in dictionary if c.endswith(("_sin_oferta", "_con_oferta"))
    }
    assert {m["columna"] for m in resolved["accesibilidad"]} == {
        c for c in dictionary if (c.startswith("dist_") and c.endswith("_km")) or c.startswith("acceso_")
    }
    assert resolved["puntos"] == [] and resolved["territorio"] == []


def test_a_layer_naming_an_unpublished_measure_is_rejected_when_the_database_is_reachable(pilotos, tmp_path):
    folder = copy_with(tmp_path, "relevamiento.yaml", lambda c: c.update(medidas=["relevamiento_pct", "ingreso_medio"]))
    capas = load_capas(folder)  # structurally fine
    with psycopg.connect(pilotos["url"]) as conn, pytest.raises(CapaError) as error:
        validate_against_db(conn, capas)
    assert "capa 'relevamiento', campo 'medidas': ingreso_medio no figura en publico.medida" in str(error.value)


@pytest.fixture(scope="module")
def prepared(pilotos):
    from tiles.publicacion import preparar_publicacion

    with psycopg.connect(pilotos["url"]) as conn:
        first = preparar_publicacion(conn)
        second = preparar_publicacion(conn)  # idempotent: same rows again
        stored = conn.execute("SELECT count(*) FROM publico.leyenda").fetchone()[0]
    assert first["leyendas"] == second["leyendas"] == stored > 0
    assert first["geometrias"] == second["geometrias"] > 0
    assert second["nuevas"] == 0  # nothing changed: nothing rebuilt
    return pilotos["url"]


@pytest.fixture(scope="module")
def server(prepared):
    yield from serve(prepared)


def test_capas_lists_levels_measures_with_spanish_labels_and_legends(server, prepared):
    body = httpx.get(f"{server}/capas").json()
    with psycopg.connect(prepared) as conn:
        version = conn.execute("SELECT data_version FROM publico.version WHERE vigente").fetchone()[0]
        labels = dict(conn.execute("SELECT columna, etiqueta FROM publico.medida").fetchall())
        units = dict(conn.execute("SELECT columna, unidad FROM publico.medida").fetchall())
    assert body["data_version"] == version
    logros = next(c for c in body["capas"] if c["id"] == "logros")
    assert logros["niveles"][1] == {"nivel": "distrito", "zoom_min": 7, "zoom_max": 8}
    assert logros["tiles"].endswith(f"/tiles/logros/{{z}}/{{x}}/{{y}}.mvt?v={version}")
    assert logros["medida_inicial"] == "l1_pct" and logros["texto_reservado"].startswith("Reservado")
    for m in logros["medidas"]:
        assert m["etiqueta"] == labels[m["columna"]] and m["unidad"] == units[m["columna"]] == "%"
        for level in ("departamento", "distrito", "h3_5", "h3_6", "h3_7", "h3_8"):
            legend = m["leyenda"][level]
            assert legend["cortes"] == [20, 40, 60, 80]  # fixed: comparable everywhere
            assert len(legend["colores"]) == 5 and len(set(legend["colores"])) == 5
    assert httpx.get(f"{server}/capas/logros").json() == logros


def test_computed_breaks_are_the_quantiles_of_the_published_values(server, prepared):
    capa = httpx.get(f"{server}/capas/accesibilidad").json()
    measure = next(m for m in capa["medidas"] if m["columna"] == "dist_usf_km")
    with psycopg.connect(prepared) as conn:
        values = np.array(
            [
                r[0]
                for r in conn.execute(
                    "SELECT dist_usf_km FROM publico.cobertura WHERE nivel = 'h3_7' AND NOT reservado"
                    " AND dist_usf_km IS NOT NULL"
                ).fetchall()
            ],
            dtype=float,
        )
    expected = sorted({round(float(q), 6) for q in np.percentile(values, [20, 40, 60, 80])} - {values.max()})
    expected = [q for q in expected if q < values.max()]
    legend = measure["leyenda"]["h3_7"]
    assert legend["metodo"] == "cuantiles"
    assert legend["cortes"] == pytest.approx(expected, abs=1e-6)
    assert len(legend["colores"]) == len(legend["cortes"]) + 1


def test_points_legend_has_one_colour_per_point_type(server, prepared):
    capa = httpx.get(f"{server}/capas/puntos").json()
    with psycopg.connect(prepared) as conn:
        types = [r[0] for r in conn.execute("SELECT DISTINCT tipo FROM oferta.punto_entrega ORDER BY 1").fetchall()]
    legend = capa["leyenda"]["punto"]
    assert legend["categorias"] == types and len(legend["colores"]) == len(types)


def test_unknown_layer_is_404_in_spanish(server):
    response = httpx.get(f"{server}/capas/no_existe")
    assert response.status_code == 404 and "Capa desconocida" in response.json()["detail"]
    assert httpx.get(f"{server}/capas/no_existe/tilejson.json").status_code == 404


def test_the_cli_validates_the_layer_folder_with_the_same_messages(tmp_path):
    folder = copy_with(tmp_path, "avance.yaml", lambda c: c.update(rampa="jet"))
    cli = [sys.executable, "-m", "geoportal.cli", "capas", "validar", str(folder), "--sin-base"]
    bad = subprocess.run(cli, capture_output=True, text=True, check=False)
    assert bad.returncode != 0
    assert "avance.yaml, capa 'avance' (n.º 1), campo 'rampa': rampa desconocida" in bad.stdout + bad.stderr
    good = subprocess.run(cli[:-2] + [str(CARPETA), "--sin-base"], capture_output=True, text=True, check=False)
    assert good.returncode == 0 and "Capas válidas" in good.stdout
