"""The ``geoportal`` command: help, Spanish errors without tracebacks, progress output."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

GEOPORTAL = [sys.executable, "-m", "geoportal.cli"]


def run(*args, env=None):
    return subprocess.run(
        [*GEOPORTAL, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300
    )


def test_help_lists_the_commands_of_the_platform():
    out = run("--help").stdout
    for command in (
        "db",
        "territorio",
        "oferta",
        "catalogo",
        "ingestar",
        "sintetico",
        "calcular",
        "brechas",
        "simular",
        "servir",
        "demo",
    ):
        assert command in out
    assert all(sub in run("db", "--help").stdout for sub in ("up", "down", "status", "reset"))
    assert all(sub in run("ingestar", "--help").stdout for sub in ("hogares", "personas", "puntos"))
    assert all(sub in run("catalogo", "--help").stdout for sub in ("validar", "mostrar"))


def test_catalog_validation_errors_are_spanish_and_precise(tmp_path):
    bad = tmp_path / "servicios.yaml"
    bad.write_text(
        "categorias: []\ninstituciones: {}\ntipos_punto: {}\nservicios:\n"
        "  - {codigo: CPN, nombre: x, institucion: MSPBS, paquete: basico, unidad: persona, categorias: [gestante]}\n",
        encoding="utf-8",
    )
    result = run("catalogo", "validar", str(bad))
    assert result.returncode == 1
    assert "servicios.yaml, servicio 'CPN' (n.º 1), campo 'paquete'" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    good = run("catalogo", "validar")
    assert good.returncode == 0 and "Catálogo válido" in good.stdout


def test_ingesting_a_missing_or_malformed_file_fails_cleanly(pilotos, tmp_path):
    env = {"GEOPORTAL_DATABASE_URL": pilotos["url"]}
    missing = run("ingestar", "hogares", str(tmp_path / "no-existe.csv"), env=env)
    assert missing.returncode == 1 and "No existe el archivo" in missing.stdout
    wrong = tmp_path / "hogares.txt"
    wrong.write_text("hogar_id\nX\n", encoding="utf-8")
    result = run("ingestar", "hogares", str(wrong), env=env)
    assert result.returncode == 1 and "faltan columnas obligatorias" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (("calcular", "--fecha-corte", "2026-13-01"), "Fecha de corte no válida"),
        (("calcular", "--distrito", "9999"), "Distrito desconocido: 9999"),
        (("brechas", "--distrito", "9999"), "No hay datos publicados del distrito 9999"),
    ],
)
def test_wrong_arguments_get_a_useful_spanish_message(pilotos, args, message):
    result = run(*args, env={"GEOPORTAL_DATABASE_URL": pilotos["url"]})
    assert result.returncode == 1, result.stdout + result.stderr
    assert message in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
