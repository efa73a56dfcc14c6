"""Ingest of hostile files, as a careless data clerk would try: every unreadable file gets a
clear Spanish error (no traceback, exit 1, nothing loaded); a bad row never rejects the
rest of the file, it goes to quarantine with its reason."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import zipfile

import psycopg
import pytest

from geoportal.ingest import FileError, ingest_file
from tests.base_datos.test_ingesta import HOUSEHOLD_COLUMNS, TODAY, count, household, quarantine_of, write_csv
from tests.rutas import RAIZ

GEOPORTAL = [sys.executable, "-m", "geoportal.cli"]
PERSON_COLUMNS = ["persona_id", "hogar_id", "nombres", "apellidos", "sexo", "fecha_nacimiento"]
ONCE = "No se cargó ninguna fila."


def cli(*args, url):
    env = {**os.environ, "GEOPORTAL_DATABASE_URL": url}
    return subprocess.run([*GEOPORTAL, *args], capture_output=True, text=True, env=env, timeout=300, check=False)


def assert_clean_failure(result, *fragments):
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output and "Error" not in result.stderr, output
    flat = " ".join(result.stdout.split())  # rich wraps long lines
    for fragment in fragments:
        assert fragment in flat, flat
    assert flat.lower().count("no se cargó ninguna fila") == 1, flat


def person(pid, hid, **overrides):
    row = {
        "persona_id": pid,
        "hogar_id": hid,
        "nombres": "María Belén",
        "apellidos": "Benítez Ñamandú",
        "sexo": "F",
        "fecha_nacimiento": "1990-05-17",
    }
    row.update(overrides)
    return row


def _xlsx(path):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")


UNREADABLE = {
    "binario.csv": (lambda p: p.write_bytes(random.Random(11).randbytes(20_000)), "contiene datos binarios"),
    "vacio.csv": (lambda p: p.write_bytes(b""), "el archivo está vacío"),
    "utf16.csv": (lambda p: p.write_text("hogar_id,localidad\nH1,Luque\n", encoding="utf-16"), "UTF-16"),
    "latin_roto.csv": (
        lambda p: p.write_bytes(b"hogar_id,localidad\nH1,Lambar\x81\x8d\n"),
        "no está en UTF-8 ni en Windows-1252 (byte 0x81 en la línea 2)",
    ),
    "planilla.csv": (_xlsx, "planilla XLSX"),
    "sin_ninguna_fila_buena.csv": (
        lambda p: p.write_text("hogar_id,localidad,zona\nH1;Luque;urbana\nH2,Itá\n"),
        "ninguna fila tiene las 3 columnas del encabezado",
    ),
    "falso.gpkg": (lambda p: p.write_text("hogar_id,localidad\nH1,Luque\n"), "no es un GeoPackage válido"),
    "falso.geojson": (
        lambda p: p.write_text('{"type": "FeatureCollection", "features": [{"type": '),
        "no es un GeoJSON válido",
    ),
}


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_an_unreadable_file_is_refused_with_a_reason_and_loads_nothing(territorio, conn, tmp_path, name):
    make, reason = UNREADABLE[name]
    path = tmp_path / name
    make(path)
    before = count(conn, "nominal.lote_ingesta")
    with pytest.raises(FileError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        ingest_file(path, "hogares", conn, today=TODAY)
    assert count(conn, "nominal.lote_ingesta") == before


@pytest.mark.parametrize("name", ["binario.csv", "falso.gpkg"])
def test_the_cli_reports_an_unreadable_file_in_spanish_without_a_traceback(territorio, tmp_path, name):
    make, reason = UNREADABLE[name]
    make(tmp_path / name)
    assert_clean_failure(cli("ingestar", "hogares", str(tmp_path / name), url=territorio), reason)


def test_a_folder_is_called_a_folder(territorio, conn, tmp_path):
    folder = tmp_path / "hogares.csv"
    folder.mkdir()
    with pytest.raises(FileError, match="hogares.csv es una carpeta, no un archivo"):
        ingest_file(folder, "hogares", conn, today=TODAY)


def test_the_missing_columns_message_is_two_sentences(territorio, tmp_path):
    path = write_csv(tmp_path / "h.csv", [{"hogar_id": "X"}], ["hogar_id"])
    result = cli("ingestar", "hogares", str(path), url=territorio)
    assert_clean_failure(result, f"Columnas encontradas: hogar_id. {ONCE}")


def test_control_characters_quarantine_their_row_and_the_rest_loads(territorio, conn, tmp_path):
    write_csv(tmp_path / "h.csv", [household("NUL-H1")], HOUSEHOLD_COLUMNS)
    ingest_file(tmp_path / "h.csv", "hogares", conn, today=TODAY)
    rows = [person(f"NUL-{i}", "NUL-H1") for i in range(1, 11)]
    rows[3]["nombres"] = "Ana\x00Lía"  # 4: the NUL byte of the audit
    rows[5]["apellidos"] = "Gó\x07mez"  # 6: a bell
    rows[7]["nombres"] = "Juan\nCarlos"  # 8: a line break inside a quoted value
    rows[8]["nombres"] = "Rosa\x85"  # 9: a C1 control left by a mis-decoded file
    path = write_csv(tmp_path / "p.csv", rows, PERSON_COLUMNS)
    report = ingest_file(path, "personas", conn, today=TODAY)
    assert (report.leidas, report.nuevas, report.cuarentena) == (10, 6, 4)
    found = quarantine_of(conn, report.lote_id)
    assert {fila: motivo for fila, (motivo, _) in found.items()} == {
        4: "caracteres_invalidos",
        6: "caracteres_invalidos",
        8: "caracteres_invalidos",
        9: "caracteres_invalidos",
    }
    assert found[4][1]["nombres"] == "Ana\u2400Lía"  # kept, NUL shown as ␀ (jsonb cannot hold NUL)
    assert found[6][1]["apellidos"] == "Gó\x07mez"
    detail = conn.execute(
        "SELECT detalle FROM nominal.cuarentena WHERE lote_id = %s AND fila = 4", (report.lote_id,)
    ).fetchone()[0]
    assert "'nombres'" in detail
    assert count(conn, "nominal.persona", "persona_id LIKE 'NUL-%%'") == 6


def test_a_truncated_last_line_is_quarantined_and_the_rest_loads(territorio, conn, tmp_path):
    path = write_csv(tmp_path / "h.csv", [household(f"CUT-{i}") for i in range(1, 11)], HOUSEHOLD_COLUMNS)
    data = path.read_bytes()
    path.write_bytes(data[: data.rindex(b",2025-06-01")])  # the transfer stopped inside row 10
    report = ingest_file(path, "hogares", conn, today=TODAY)
    assert (report.leidas, report.nuevas, report.cuarentena) == (10, 9, 1)
    found = quarantine_of(conn, report.lote_id)
    assert list(found) == [10] and found[10][0] == "fila_mal_formada"
    assert found[10][1]["texto"].startswith("CUT-10,1116,")
    assert count(conn, "nominal.hogar", "hogar_id LIKE 'CUT-%%'") == 9


def test_a_bad_row_in_the_middle_keeps_every_row_number(territorio, conn, tmp_path):
    rows = [household(f"MAL-{i}") for i in range(1, 7)]
    rows[4]["lat"] = ""  # row 5: coordenadas_faltantes
    path = write_csv(tmp_path / "h.csv", rows, HOUSEHOLD_COLUMNS)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2] + ",columna,de,mas"  # row 2 has more fields than the header
    lines.append('MAL-7,1116,"Compañía sin cerrar,rural')  # row 7 ends inside quotes
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = ingest_file(path, "hogares", conn, today=TODAY)
    assert report.cuadra() and (report.leidas, report.nuevas, report.cuarentena) == (7, 4, 3)
    found = quarantine_of(conn, report.lote_id)
    assert {fila: motivo for fila, (motivo, _) in found.items()} == {
        2: "fila_mal_formada",
        5: "coordenadas_faltantes",
        7: "fila_mal_formada",
    }
    assert found[5][1]["hogar_id"] == "MAL-5"
    assert found[2][1]["texto"].startswith("MAL-2,")
    loaded = {r[0] for r in conn.execute("SELECT hogar_id FROM nominal.hogar WHERE hogar_id LIKE 'MAL-%%'")}
    assert loaded == {"MAL-1", "MAL-3", "MAL-4", "MAL-6"}
    # The same bytes again: recognised, nothing changes, the same counts are reported.
    again = ingest_file(path, "hogares", conn, today=TODAY)
    assert again.ya_cargado and (again.leidas, again.sin_cambio, again.cuarentena) == (7, 4, 3)


def test_texts_longer_than_their_documented_limit_are_quarantined(territorio, conn, tmp_path):
    rows = [
        household("LEN-1", localidad="x" * 100),  # 1: at the limit, loads
        household("LEN-2", localidad="Ñ" * 10_000),  # 2: the audit's 10,000 characters
        household("L" * 65),
    ]  # 3: identifier of 65 characters
    path = write_csv(tmp_path / "h.csv", rows, HOUSEHOLD_COLUMNS)
    report = ingest_file(path, "hogares", conn, today=TODAY)
    assert (report.nuevas, report.cuarentena, report.motivos) == (1, 2, {"texto_demasiado_largo": 2})
    details = dict(
        conn.execute("SELECT fila, detalle FROM nominal.cuarentena WHERE lote_id = %s", (report.lote_id,)).fetchall()
    )
    assert details == {
        2: "'localidad' tiene 10.000 caracteres; el máximo es 100",
        3: "'hogar_id' tiene 65 caracteres; el máximo es 64",
    }
    assert count(conn, "nominal.hogar", "hogar_id = 'LEN-1'") == 1


def test_a_row_of_several_megabytes_is_quarantined_not_the_whole_file(territorio, conn, tmp_path):
    """Issue 19: a row longer than the CSV reader's block (1 MB) rejected the whole file
    with an English pyarrow message; it is one more over-long text."""
    rows = [household("MB-1"), household("MB-2", localidad="x" * 3_200_000), household("MB-3")]
    path = write_csv(tmp_path / "h.csv", rows, HOUSEHOLD_COLUMNS)
    report = ingest_file(path, "hogares", conn, today=TODAY)
    assert (report.leidas, report.nuevas, report.cuarentena) == (3, 2, 1)
    assert report.motivos == {"texto_demasiado_largo": 1}
    detail = conn.execute(
        "SELECT fila, detalle FROM nominal.cuarentena WHERE lote_id = %s", (report.lote_id,)
    ).fetchall()
    assert detail == [(2, "'localidad' tiene 3.200.000 caracteres; el máximo es 100")]
    assert count(conn, "nominal.hogar", "hogar_id IN ('MB-1', 'MB-3')") == 2
    result = cli(
        "ingestar",
        "hogares",
        str(write_csv(tmp_path / "h2.csv", [household("MB-4", localidad="y" * 3_200_000)], HOUSEHOLD_COLUMNS)),
        url=territorio,
    )
    flat = " ".join(result.stdout.split())
    assert result.returncode == 0 and "cuarentena · texto_demasiado_largo: 1" in flat, result.stdout + result.stderr
    assert "straddl" not in result.stdout + result.stderr


def test_a_quoted_text_of_several_megabytes_with_line_breaks_is_quarantined_not_the_whole_file(
    territorio, conn, tmp_path
):
    """Issue 21, item 19: a quoted value whose line breaks span the reader's blocks put
    Arrow's parser "out of sync" and rejected the file; it is one more bad row."""
    long_text = ("y" * 99 + "\n") * 32_000  # 3.2 MB typed with Enter in it
    rows = [household("NL-1"), household("NL-2", localidad=long_text), household("NL-3")]
    path = write_csv(tmp_path / "h.csv", rows, HOUSEHOLD_COLUMNS)
    assert path.read_bytes().count(b'"') >= 2  # the value is quoted, as any spreadsheet writes it
    report = ingest_file(path, "hogares", conn, today=TODAY)
    assert (report.leidas, report.nuevas, report.cuarentena) == (3, 2, 1)
    assert report.motivos == {"caracteres_invalidos": 1}  # the line breaks are found first, then its length
    assert count(conn, "nominal.hogar", "hogar_id IN ('NL-1', 'NL-3')") == 2


def test_the_documented_limits_are_the_ones_applied():

    from geoportal.ingest.validate import LIMITES

    doc = (RAIZ / "docs" / "FORMATOS.md").read_text(encoding="utf-8")
    for column, limit in LIMITES.items():
        assert f"| `{column}` | {limit} |" in doc, column


def test_a_lost_connection_gives_only_the_spanish_error_and_loads_nothing(make_database, tmp_path):
    url = make_database("conexion_perdida")
    with psycopg.connect(url) as conn:
        conn.execute("""
            CREATE FUNCTION public.cortar() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF NEW.hogar_id = 'LOST-3' THEN PERFORM pg_terminate_backend(pg_backend_pid());
                  PERFORM pg_sleep(5); END IF; RETURN NEW; END $$;
            CREATE TRIGGER cortar BEFORE INSERT ON nominal.hogar FOR EACH ROW EXECUTE FUNCTION public.cortar();
        """)
    # Large enough that the client is still sending COPY data when the server goes away
    # (then psycopg logs its own English warning while giving up the COPY).
    path = write_csv(tmp_path / "h.csv", [household(f"LOST-{i}") for i in range(60_000)], HOUSEHOLD_COLUMNS)
    result = cli("ingestar", "hogares", str(path), url=url)
    assert_clean_failure(result, "Se perdió la conexión con la base de datos")
    assert result.stderr == ""
    for english in ("WARNING", "error ignored", "server closed", "terminating connection"):
        assert english not in result.stdout + result.stderr
    with psycopg.connect(url) as conn:
        assert count(conn, "nominal.hogar") == 0 and count(conn, "nominal.lote_ingesta") == 0


def test_a_file_with_every_kind_of_damage_still_balances(territorio, conn, tmp_path):
    rows = [household(f"MIX-{i}") for i in range(1, 9)]
    rows[1]["localidad"] = "Itá\x00"
    rows[2]["localidad"] = "y" * 101
    path = write_csv(tmp_path / "h.csv", rows, HOUSEHOLD_COLUMNS)
    data = path.read_bytes()
    path.write_bytes(data[: data.rindex(b",2025-06-01") + 5])  # cut inside row 8's date
    report = ingest_file(path, "hogares", conn, today=TODAY)
    assert report.cuadra()
    assert report.motivos == {"caracteres_invalidos": 1, "texto_demasiado_largo": 1, "fila_mal_formada": 1}
    stored = conn.execute(
        "SELECT filas_leidas, filas_nuevas, filas_cuarentena FROM nominal.lote_ingesta WHERE lote_id = %s",
        (report.lote_id,),
    ).fetchone()
    assert stored == (8, 5, 3)
    data = conn.execute(
        "SELECT datos FROM nominal.cuarentena WHERE lote_id = %s AND fila = 2", (report.lote_id,)
    ).fetchone()[0]
    assert json.dumps(data, ensure_ascii=False).count("\u2400") == 1
