"""Ingest: every row loaded or quarantined with its reason, atomic, idempotent."""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import pandas as pd
import psycopg
import pytest
from shapely.geometry import Point

from geoportal.ingest import FileError, ingest_file

TODAY = date(2026, 1, 15)
# Villeta (1116): a point 8 km inside, one 0.9 km outside (within the 2 km tolerance)
# and one 4.9 km outside, all on the parallel -25.7152 (checked against the polygon).
INSIDE = (-57.60, -25.7152)
NEAR_BORDER = (-57.51, -25.7152)
FAR_OUTSIDE = (-57.47, -25.7152)

HOUSEHOLD_COLUMNS = [
    "hogar_id",
    "codigo_distrito",
    "localidad",
    "zona",
    "fecha_relevamiento",
    "lat",
    "lon",
    "servicios",
]


def household(hid, lon=INSIDE[0], lat=INSIDE[1], **overrides):
    row = {
        "hogar_id": hid,
        "codigo_distrito": "1116",
        "localidad": "Compañía Ñandutí",
        "zona": "rural",
        "fecha_relevamiento": "2025-06-01",
        "lat": str(lat),
        "lon": str(lon),
        "servicios": "AGUA;ELECTRICIDAD",
    }
    row.update(overrides)
    return row


def write_csv(path, rows, columns, encoding="utf-8", sep=","):
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False, encoding=encoding, sep=sep)
    return path


def count(conn, table, where="TRUE", params=()):
    return conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", params).fetchone()[0]


def quarantine_of(conn, lote_id):
    rows = conn.execute(
        "SELECT fila, motivo, datos FROM nominal.cuarentena WHERE lote_id = %s ORDER BY fila", (lote_id,)
    )
    return {fila: (motivo, datos) for fila, motivo, datos in rows}


def test_every_household_quarantine_reason_is_detected(territorio, conn, tmp_path):
    rows = [
        household("Q-H1"),  # 1 loaded
        household("Q-H2", lat="", lon=""),  # 2 coordenadas_faltantes
        household("Q-H3", lat="abc", lon="-57.6"),  # 3 coordenadas_invalidas
        household("Q-H4", lat="-25,7152", lon="-57,60"),  # 4 coma_decimal
        household("Q-H5", lat=INSIDE[0], lon=INSIDE[1]),  # 5 lat_lon_invertidas
        household("Q-H6", lat=-34.60, lon=-58.38),  # 6 fuera_de_paraguay (Buenos Aires)
        household("Q-H7", lon=FAR_OUTSIDE[0], lat=FAR_OUTSIDE[1]),  # 7 fuera_del_distrito
        household("Q-H8", codigo_distrito="9999"),  # 8 distrito_desconocido
        household("Q-H1"),  # 9 id_duplicado
        household("Q-H9", fecha_relevamiento="2024-13-45"),  # 10 fecha_invalida
        household("Q-H10", servicios="AGUA;TELEPORTE"),  # 11 servicio_desconocido
        household("Q-H11", lon=NEAR_BORDER[0], lat=NEAR_BORDER[1]),  # 12 loaded (within tolerance)
        household("Q-H12", zona="suburbana"),  # 13 valor_invalido
        household("Q-H13", hogar_id=""),  # 14 campo_faltante
        household("Q-H14", fecha_relevamiento="2030-01-01"),  # 15 fecha_invalida (future)
    ]
    rows[13]["hogar_id"] = ""
    path = write_csv(tmp_path / "hogares.csv", rows, HOUSEHOLD_COLUMNS)
    report = ingest_file(path, "hogares", conn, today=TODAY)

    expected = {
        2: "coordenadas_faltantes",
        3: "coordenadas_invalidas",
        4: "coma_decimal",
        5: "lat_lon_invertidas",
        6: "fuera_de_paraguay",
        7: "fuera_del_distrito",
        8: "distrito_desconocido",
        9: "id_duplicado",
        10: "fecha_invalida",
        11: "servicio_desconocido",
        13: "valor_invalido",
        14: "campo_faltante",
        15: "fecha_invalida",
    }
    found = quarantine_of(conn, report.lote_id)
    assert {fila: motivo for fila, (motivo, _) in found.items()} == expected
    assert (report.leidas, report.nuevas, report.cuarentena) == (15, 2, 13)
    assert report.leidas == report.nuevas + report.actualizadas + report.sin_cambio + report.cuarentena
    assert count(conn, "nominal.hogar", "hogar_id IN ('Q-H1', 'Q-H11')") == 2
    # The quarantined row keeps the original text, so nothing is lost.
    assert found[4][1]["lat"] == "-25,7152"
    # The near-border household is located in its real polygon, Villeta's neighbour.
    assert conn.execute("SELECT codigo_2012 FROM nominal.hogar WHERE hogar_id = 'Q-H11'").fetchone()[0] != "1116"


def test_every_person_quarantine_reason_is_detected(territorio, conn, tmp_path):
    write_csv(tmp_path / "h.csv", [household("QP-H1")], HOUSEHOLD_COLUMNS)
    ingest_file(tmp_path / "h.csv", "hogares", conn, today=TODAY)
    base = {
        "hogar_id": "QP-H1",
        "nombres": "Ñandutí Aguĩ",
        "apellidos": "Núñez Peña",
        "sexo": "F",
        "fecha_nacimiento": "1990-05-17",
        "embarazada": "no",
        "discapacidad": "no",
        "indigena": "no",
        "servicios": "CEDULA;USF_ADSCRIPCION",
    }
    rows = [
        {**base, "persona_id": "QP-1"},  # 1 loaded
        {**base, "persona_id": "QP-2", "hogar_id": "NO-EXISTE"},  # 2 persona_sin_hogar
        {**base, "persona_id": "QP-3", "fecha_nacimiento": "1890-01-01"},  # 3 edad_fuera_de_rango
        {**base, "persona_id": "QP-4", "fecha_nacimiento": "31/02/2020"},  # 4 fecha_invalida
        {**base, "persona_id": "QP-5", "servicios": "CEDULA;XYZ"},  # 5 servicio_desconocido
        {**base, "persona_id": "QP-5"},  # 6 id_duplicado
        {**base, "persona_id": "QP-7", "sexo": "M", "embarazada": "si"},  # 7 valor_invalido
        {**base, "persona_id": "QP-8", "sexo": "X"},  # 8 valor_invalido
        {**base, "persona_id": "QP-9", "fecha_nacimiento": "2026-03-01"},  # 9 edad_fuera_de_rango (unborn)
        {**base, "persona_id": "QP-10", "servicios": "AGUA"},  # 10 servicio_desconocido (household code)
        {**base, "persona_id": "QP-11", "fecha_nacimiento": "17/05/1990", "embarazada": "Sí"},  # 11 loaded
    ]
    path = write_csv(tmp_path / "p.csv", rows, ["persona_id", *base])
    report = ingest_file(path, "personas", conn, today=TODAY)
    expected = {
        2: "persona_sin_hogar",
        3: "edad_fuera_de_rango",
        4: "fecha_invalida",
        5: "servicio_desconocido",
        6: "id_duplicado",
        7: "valor_invalido",
        8: "valor_invalido",
        9: "edad_fuera_de_rango",
        10: "servicio_desconocido",
    }
    assert {f: m for f, (m, _) in quarantine_of(conn, report.lote_id).items()} == expected
    assert (report.nuevas, report.cuarentena) == (2, 9)
    stored = conn.execute(
        "SELECT nombres, apellidos, fecha_nacimiento, embarazada, servicios FROM nominal.persona WHERE persona_id = 'QP-11'"
    ).fetchone()
    assert stored == ("Ñandutí Aguĩ", "Núñez Peña", date(1990, 5, 17), True, ["CEDULA", "USF_ADSCRIPCION"])


@pytest.mark.parametrize("encoding, sep", [("utf-8", ","), ("utf-8-sig", ";"), ("cp1252", ";")])
def test_spanish_names_survive_every_csv_encoding(territorio, conn, tmp_path, encoding, sep):
    # g̃ (g + combining tilde) has no Windows-1252 form; the other letters do.
    locality = "Itá Ybaté Ñu Guasu" + (" Yg̃ua" if encoding != "cp1252" else "")
    hid = f"ENC-{encoding}"
    path = write_csv(tmp_path / "h.csv", [household(hid, localidad=locality)], HOUSEHOLD_COLUMNS, encoding, sep)
    report = ingest_file(path, "hogares", conn, today=TODAY)
    assert report.nuevas == 1
    assert conn.execute("SELECT localidad FROM nominal.hogar WHERE hogar_id = %s", (hid,)).fetchone()[0] == locality


@pytest.mark.parametrize("suffix, driver", [(".geojson", "GeoJSON"), (".gpkg", "GPKG")])
def test_geojson_and_geopackage_take_coordinates_from_geometry(territorio, conn, tmp_path, suffix, driver):
    rows = [household(f"GEO{suffix}-1"), household(f"GEO{suffix}-2")]
    frame = pd.DataFrame(rows).drop(columns=["lat", "lon"])
    gdf = gpd.GeoDataFrame(frame, geometry=[Point(*INSIDE), None], crs=4326)
    path = tmp_path / f"hogares{suffix}"
    gdf.to_file(path, driver=driver)
    report = ingest_file(path, "hogares", conn, today=TODAY)
    assert (report.nuevas, report.cuarentena, report.motivos) == (1, 1, {"coordenadas_faltantes": 1})
    lon, lat = conn.execute(
        "SELECT ST_X(geom), ST_Y(geom) FROM nominal.hogar WHERE hogar_id = %s", (f"GEO{suffix}-1",)
    ).fetchone()
    assert (round(lon, 6), round(lat, 6)) == INSIDE


def test_loading_the_same_file_twice_changes_nothing(territorio, conn, tmp_path):
    rows = [household(f"IDEM-{i}") for i in range(5)] + [household("IDEM-bad", lat="")]
    path = write_csv(tmp_path / "h.csv", rows, HOUSEHOLD_COLUMNS)
    first = ingest_file(path, "hogares", conn, today=TODAY)
    snapshot = lambda: conn.execute(
        "SELECT (SELECT count(*) FROM nominal.hogar), (SELECT count(*) FROM nominal.lote_ingesta),"
        " (SELECT count(*) FROM nominal.cuarentena), (SELECT max(xmin::text::bigint) FROM nominal.hogar)"
    ).fetchone()
    before = snapshot()
    second = ingest_file(path, "hogares", conn, today=TODAY)
    assert snapshot() == before
    assert second.ya_cargado and (second.nuevas, second.sin_cambio, second.cuarentena) == (0, 5, 1)
    assert first.nuevas == 5

    # Same rows in other bytes (another encoding and separator): still nothing to change.
    other = write_csv(tmp_path / "h2.csv", rows, HOUSEHOLD_COLUMNS, "utf-8-sig", ";")
    third = ingest_file(other, "hogares", conn, today=TODAY)
    assert (third.nuevas, third.actualizadas, third.sin_cambio, third.cuarentena) == (0, 0, 5, 1)
    assert count(conn, "nominal.hogar", "hogar_id LIKE 'IDEM-%%'") == 5


def test_changed_row_is_updated_not_duplicated(territorio, conn, tmp_path):
    write_csv(tmp_path / "a.csv", [household("UPD-1")], HOUSEHOLD_COLUMNS)
    ingest_file(tmp_path / "a.csv", "hogares", conn, today=TODAY)
    write_csv(tmp_path / "b.csv", [household("UPD-1", servicios="AGUA")], HOUSEHOLD_COLUMNS)
    report = ingest_file(tmp_path / "b.csv", "hogares", conn, today=TODAY)
    assert (report.nuevas, report.actualizadas) == (0, 1)
    assert conn.execute("SELECT servicios FROM nominal.hogar WHERE hogar_id = 'UPD-1'").fetchone()[0] == ["AGUA"]


def test_a_failure_half_way_leaves_the_database_as_it_was(territorio, conn, tmp_path):
    # A real database error on a row in the middle of the file: a trigger that rejects it.
    conn.execute("""
        CREATE FUNCTION pg_temp.rechazar() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.hogar_id = 'MID-500' THEN RAISE EXCEPTION 'fallo simulado'; END IF; RETURN NEW; END $$;
        CREATE TRIGGER rechazar BEFORE INSERT ON nominal.hogar FOR EACH ROW EXECUTE FUNCTION pg_temp.rechazar();
    """)
    conn.commit()
    try:
        rows = [household(f"MID-{i}") for i in range(1000)] + [household("MID-bad", lat="x")]
        path = write_csv(tmp_path / "h.csv", rows, HOUSEHOLD_COLUMNS)
        before = conn.execute(
            "SELECT (SELECT count(*) FROM nominal.hogar), (SELECT count(*) FROM nominal.lote_ingesta),"
            " (SELECT count(*) FROM nominal.cuarentena)"
        ).fetchone()
        with psycopg.connect(territorio) as other, pytest.raises(psycopg.errors.RaiseException):
            ingest_file(path, "hogares", other, today=TODAY)
        after = conn.execute(
            "SELECT (SELECT count(*) FROM nominal.hogar), (SELECT count(*) FROM nominal.lote_ingesta),"
            " (SELECT count(*) FROM nominal.cuarentena)"
        ).fetchone()
        assert after == before
        assert count(conn, "nominal.hogar", "hogar_id LIKE 'MID-%%'") == 0
    finally:
        conn.execute("DROP TRIGGER rechazar ON nominal.hogar")
        conn.commit()


def test_missing_columns_fail_the_whole_file_with_a_clear_message(territorio, conn, tmp_path):
    path = write_csv(tmp_path / "h.csv", [{"hogar_id": "X"}], ["hogar_id"])
    with pytest.raises(FileError, match="faltan columnas obligatorias para hogares: codigo_distrito"):
        ingest_file(path, "hogares", conn, today=TODAY)


def test_points_are_labelled_real_or_synthetic_and_unknown_types_quarantined(territorio, conn, tmp_path):
    columns = ["punto_id", "tipo", "nombre", "zona", "capacidad", "lat", "lon", "origen"]
    rows = [
        ["T-USF-1", "usf", "USF sintética Villeta 1", "rural", "300", INSIDE[1], INSIDE[0], "sintetico"],
        ["T-ESC-1", "escuela", "Escuela Básica N° 1", "urbana", "250", INSIDE[1], INSIDE[0], "real:mec-2014"],
        ["T-X-1", "teletransporte", "x", "rural", "1", INSIDE[1], INSIDE[0], "sintetico"],
        ["T-X-2", "usf", "x", "rural", "0", INSIDE[1], INSIDE[0], "sintetico"],
        ["T-X-3", "usf", "x", "rural", "10", INSIDE[1], INSIDE[0], "inventado"],
    ]
    path = write_csv(tmp_path / "p.csv", rows, columns)
    report = ingest_file(path, "puntos", conn, today=TODAY)
    assert report.nuevas == 2
    assert report.motivos == {"tipo_desconocido": 1, "valor_invalido": 2}
    got = dict(conn.execute("SELECT punto_id, origen FROM oferta.punto_entrega WHERE punto_id LIKE 'T-%%'").fetchall())
    assert got == {"T-USF-1": "sintetico", "T-ESC-1": "real:mec-2014"}


def test_a_failure_during_a_first_bulk_load_leaves_the_table_empty(make_database, tmp_path):
    # An empty table takes the bulk path (TRUNCATE, indexes dropped, COPY, indexes rebuilt):
    # a failure must undo all of it, indexes included.
    url = make_database("carga_masiva")
    with psycopg.connect(url) as conn:
        conn.execute("""
            CREATE FUNCTION pg_temp.rechazar() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF NEW.hogar_id = 'BULK-700' THEN RAISE EXCEPTION 'fallo simulado'; END IF; RETURN NEW; END $$;
            CREATE TRIGGER rechazar BEFORE INSERT ON nominal.hogar FOR EACH ROW EXECUTE FUNCTION pg_temp.rechazar();
        """)
        conn.commit()
        path = write_csv(tmp_path / "h.csv", [household(f"BULK-{i}") for i in range(1000)], HOUSEHOLD_COLUMNS)
        with psycopg.connect(url) as other, pytest.raises(psycopg.errors.RaiseException):
            ingest_file(path, "hogares", other, today=TODAY)
        assert count(conn, "nominal.hogar") == 0
        assert count(conn, "nominal.lote_ingesta") == 0
        indexes = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'hogar'")}
        assert indexes == {"hogar_pkey", "hogar_codigo_distrito_idx"}
        conn.execute("DROP TRIGGER rechazar ON nominal.hogar")
        conn.commit()
        report = ingest_file(path, "hogares", conn, today=TODAY)
        assert report.nuevas == 1000 and count(conn, "nominal.hogar") == 1000


def test_every_load_leaves_an_audit_row(territorio, conn, tmp_path):
    path = write_csv(tmp_path / "h.csv", [household("AUD-1")], HOUSEHOLD_COLUMNS)
    report = ingest_file(path, "hogares", conn, today=TODAY)
    row = conn.execute(
        "SELECT rol, accion, detalle->>'archivo', (detalle->>'lote_id')::int FROM nominal.auditoria"
        " WHERE accion = 'ingesta:hogares' ORDER BY auditoria_id DESC LIMIT 1"
    ).fetchone()
    assert row == ("sistema", "ingesta:hogares", "h.csv", report.lote_id)
