"""``geoportal ingestar registros ARCHIVO``: administrative records
become status events through the ingest machinery: every row loaded or quarantined with
its reason, one transaction, a repeated load changes nothing, a correction is a new
event that wins; the computation counts them."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from geoportal.ingest import ingest_file
from tests.conftest import load_hand_fixture
from tests.rutas import RAIZ

TODAY = date(2026, 1, 15)
COLUMNS = ["unidad", "unidad_id", "servicio", "cubierto", "fecha", "fuente"]
GOOD = [
    ("persona", "R1", "USF_ADSCRIPCION", "si", "2025-05-01", "SIIS MSPBS"),  # 1 new
    ("hogar", "RH1", "AGUA", "no", "2025-05-01", "ESSAP"),  # 2 new (the FIPS said yes)
    ("persona", "R9", "CEDULA", "si", "2025-05-02", "Identificaciones"),  # 3 new; R9 is not loaded yet
]
BAD = [
    (("vecino", "R1", "CEDULA", "si", "2025-05-01", "x"), "valor_invalido"),
    (("persona", "R1", "AGUA", "si", "2025-05-01", "x"), "servicio_desconocido"),  # a household's service
    (("persona", "R1", "NO_EXISTE", "si", "2025-05-01", "x"), "servicio_desconocido"),
    (("persona", "R1", "CEDULA", "tal vez", "2025-05-01", "x"), "valor_invalido"),
    (("persona", "R1", "CEDULA", "si", "2025-13-01", "x"), "fecha_invalida"),
    (("persona", "R1", "CEDULA", "si", "2026-02-01", "x"), "fecha_invalida"),  # after today
    (("persona", "R1", "CEDULA", "si", "2025-05-01", "contrarreferencia:7"), "valor_invalido"),
    (("persona", "R1", "USF_ADSCRIPCION", "si", "2025-05-01", "SIIS MSPBS"), "id_duplicado"),  # = row 1
    (("persona", "", "CEDULA", "si", "2025-05-01", "x"), "campo_faltante"),
    (("persona", "R1", "CEDULA", "", "2025-05-01", "x"), "campo_faltante"),
    (("persona", "R1", "CEDULA", "si", "2025-05-01", "SIIS\x00"), "caracteres_invalidos"),
    (("persona", "R1", "CEDULA", "si", "2025-05-01", "f" * 101), "texto_demasiado_largo"),
]


@pytest.fixture(scope="module")
def base(make_database, tmp_path_factory):
    url = make_database("registros")
    load_hand_fixture(
        url,
        tmp_path_factory.mktemp("registros"),
        points=[],
        households=[
            ["RH1", "1116", "Centro", "urbana", "2025-03-01", -25.7152, -57.59, "AGUA;ELECTRICIDAD", "sintetico"]
        ],
        persons=[
            ["R1", "RH1", "Ana", "Benítez", "F", "1990-03-10", "no", "no", "no", "CEDULA", "sintetico"],
            ["R2", "RH1", "Juan", "Benítez", "M", "1988-01-01", "no", "no", "no", "", "sintetico"],
        ],
        cut=TODAY,
    )
    return url


def write(path: Path, rows, sep=",", truncated: str | None = None) -> Path:
    pd.DataFrame(rows, columns=COLUMNS).to_csv(path, index=False, sep=sep)
    if truncated:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(truncated)
    return path


def events(url) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT unidad, unidad_id, servicio, cubierto, fecha::text, fuente, codigo_distrito"
            " FROM nominal.estatus_evento ORDER BY evento_id"
        ).fetchall()


def district(url) -> dict:
    from geoportal.pipeline import compute_all

    with psycopg.connect(url) as conn:
        compute_all(conn)
        cur = conn.execute("SELECT * FROM calculo.agregado WHERE nivel = 'distrito' AND codigo = '1116'")
        return dict(zip([d.name for d in cur.description], cur.fetchone()))


def test_every_record_is_loaded_or_quarantined_with_its_reason(base, tmp_path):
    path = write(tmp_path / "registros.csv", GOOD + [row for row, _ in BAD], truncated="persona,R2,CED")
    with psycopg.connect(base) as conn:
        report = ingest_file(path, "registros", conn, today=TODAY)
        quarantine = dict(
            conn.execute("SELECT fila, motivo FROM nominal.cuarentena WHERE lote_id = %s", (report.lote_id,)).fetchall()
        )
        tipo = conn.execute("SELECT tipo FROM nominal.lote_ingesta WHERE lote_id = %s", (report.lote_id,)).fetchone()[0]
    assert (report.leidas, report.nuevas, report.actualizadas, report.sin_cambio, report.cuarentena) == (
        16,
        3,
        0,
        0,
        13,
    )
    assert report.cuadra() and report.sin_unidad == 1 and tipo == "registros"
    expected = {len(GOOD) + i + 1: motivo for i, (_, motivo) in enumerate(BAD)}
    expected[16] = "fila_mal_formada"
    assert quarantine == expected
    assert events(base) == [  # written in the order of the record's key
        ("hogar", "RH1", "AGUA", False, "2025-05-01", "ESSAP", "1116"),
        ("persona", "R1", "USF_ADSCRIPCION", True, "2025-05-01", "SIIS MSPBS", "1116"),
        ("persona", "R9", "CEDULA", True, "2025-05-02", "Identificaciones", None),  # counts once R9 is loaded
    ]
    # The same bytes again, and the same records in other bytes: nothing changes.
    with psycopg.connect(base) as conn:
        again = ingest_file(path, "registros", conn, today=TODAY)
        other = ingest_file(write(tmp_path / "otra.csv", GOOD[::-1], sep=";"), "registros", conn, today=TODAY)
    assert again.ya_cargado and (again.leidas, again.cuarentena) == (16, 13)
    assert (other.nuevas, other.actualizadas, other.sin_cambio, other.cuarentena) == (0, 0, 3, 0)
    assert len(events(base)) == 3


def test_the_computation_counts_records_and_a_correction_wins(base, tmp_path):
    with psycopg.connect(base) as conn:
        ingest_file(write(tmp_path / "primero.csv", GOOD), "registros", conn, today=TODAY)
    row = district(base)
    # R1's USF adscription from the record (R2 has none); the household's water: the
    # record of 2025-05-01 (after the interview of 2025-03-01) says no.
    assert (row["usf_adscripcion_aplica"], row["usf_adscripcion_cubiertos"]) == (2, 1)
    assert (row["agua_aplica"], row["agua_cubiertos"]) == (1, 0)
    correction = [("hogar", "RH1", "AGUA", "si", "2025-05-01", "ESSAP")]
    with psycopg.connect(base) as conn:
        report = ingest_file(write(tmp_path / "correccion.csv", correction), "registros", conn, today=TODAY)
    assert (report.nuevas, report.actualizadas, report.sin_cambio) == (0, 1, 0)
    assert [e[3] for e in events(base) if e[2] == "AGUA"] == [False, True]  # history kept, the newer wins
    assert district(base)["agua_cubiertos"] == 1


def test_the_cli_loads_records_and_the_format_is_documented(base, tmp_path):
    path = write(
        tmp_path / "cli.csv",
        [
            ("persona", "R2", "CEDULA", "si", "2025-06-01", "Identificaciones"),
            ("persona", "R7", "CEDULA", "si", "2025-06-01", "Identificaciones"),
        ],
    )
    result = subprocess.run(
        [sys.executable, "-m", "geoportal.cli", "ingestar", "registros", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "GEOPORTAL_DATABASE_URL": base, "COLUMNS": "300"},
    )
    said = " ".join(result.stdout.split())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "leídas 2 = nuevas 2 + actualizadas 0 + sin cambio 0 + cuarentena 0" in said
    assert "Aviso: 1 registros de unidades aún no cargadas" in said
    doc = (RAIZ / "docs" / "FORMATOS.md").read_text(encoding="utf-8")
    assert "## registros" in doc and "geoportal ingestar registros" in doc
    for column in COLUMNS:
        assert f"| `{column}` |" in doc, column
