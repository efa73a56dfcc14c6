"""What-if simulation (geoportal.whatif / ``geoportal simular``) on a hand-built fixture.

Every expected value is worked out by hand from the catalog (servicios.yaml). Layout
(cut-off date 2026-01-01; distances checked with pyproj in the first test):

    USF    A (-57.600, -25.7152) urbana, capacity 2 households      Villeta (1116)
    school B (-57.600, -25.7062) urbana, capacity 50                 ~1.0 km north of A
    H1 urbana "Centro"        (-57.590, -25.7152)  1116   ~1.0 km from A
    H2 rural  "Compañía Sur"  (-57.545, -25.8100)  1116  ~11.9 km from A (USF rural radius 10)
    H3 rural  "Compañía Sur"  (-57.535, -25.8000)  1116  ~11.4 km from A
    H4 rural  "Costa"         (-57.500, -25.8000)  1111 Nueva Italia, ~13.7 km from A
    simulated USF N (-57.540, -25.805), capacity 3: ~0.75 km from H2 and H3, ~4 km from H4

Persons (USF adscription applies to everybody):
    P1 H1 F 35 y   USF_ADSCRIPCION, CEDULA, INSCRIPCION_NAC   covered
    P2 H1 M 29 y   nothing                                     gap, USF A in reach: 'con oferta'
    P3 H2 F 0 y    INSCRIPCION_NAC                             gap, nothing in reach: 'sin oferta'
    P4 H2 M 76 y   CEDULA, INSCRIPCION_NAC, USF_ADSCRIPCION    covered
    P5 H3 F 41 y pregnant, nothing                             gap (and CPN gap): 'sin oferta'
    P6 H4 M 46 y   nothing                                     other district (only demand for N)
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

import pandas as pd
import psycopg
import pytest
from psycopg.pq import TransactionStatus
from pyproj import Geod

from geoportal.whatif import COLUMNAS, PuntoNuevo, simulate
from tests.conftest import load_hand_fixture

CUT = date(2026, 1, 1)
A = (-57.600, -25.7152)
B = (-57.600, -25.7062)
N = (-57.540, -25.805)
HOUSEHOLDS = {
    "H1": ("1116", -57.590, -25.7152, "urbana", "Centro", "AGUA;ELECTRICIDAD;SANEAMIENTO;ENT_CAMINO"),
    "H2": ("1116", -57.545, -25.8100, "rural", "Compañía Sur", "AGUA"),
    "H3": ("1116", -57.535, -25.8000, "rural", "Compañía Sur", ""),
    "H4": ("1111", -57.500, -25.8000, "rural", "Costa", ""),
}
PERSONS = [
    # id, household, sex, born, pregnant, services
    ("P1", "H1", "F", "1990-03-10", "no", "USF_ADSCRIPCION;CEDULA;INSCRIPCION_NAC"),
    ("P2", "H1", "M", "1996-07-01", "no", ""),
    ("P3", "H2", "F", "2025-05-01", "no", "INSCRIPCION_NAC"),
    ("P4", "H2", "M", "1950-01-01", "no", "CEDULA;INSCRIPCION_NAC;USF_ADSCRIPCION"),
    ("P5", "H3", "F", "1985-01-01", "si", ""),
    ("P6", "H4", "M", "1980-01-01", "no", ""),
]
NUEVA_USF = PuntoNuevo("usf", N[0], N[1], 3)


@pytest.fixture(scope="module")
def sim(make_database, tmp_path_factory):
    url = make_database("simulacion")
    folder = tmp_path_factory.mktemp("simulacion")
    load_hand_fixture(
        url,
        folder,
        points=[
            ["A", "usf", "USF de prueba", "urbana", 2, A[1], A[0], "sintetico"],
            ["B", "escuela", "Escuela de prueba", "urbana", 50, B[1], B[0], "sintetico"],
        ],
        households=[
            [h, dist, loc, zona, "2025-10-01", lat, lon, srv, "sintetico"]
            for h, (dist, lon, lat, zona, loc, srv) in HOUSEHOLDS.items()
        ],
        persons=[
            [p, h, "Nombre", "Apellido", sex, born, preg, "no", "no", srv, "sintetico"]
            for p, h, sex, born, preg, srv in PERSONS
        ],
        cut=CUT,
    )
    return {"url": url, "estado": snapshot(url)}


def snapshot(url: str) -> dict:
    """Row counts and an md5 of every table a simulation could conceivably touch."""
    tables = {
        "oferta.punto_entrega": "punto_id",
        "publico.cobertura": "nivel, codigo",
        "calculo.punto_ratio": "punto_id",
        "calculo.demanda_lugar": "lon, lat, urbana",
        "calculo.agregado": "nivel, codigo",
        "publico.version": "data_version",
        "nominal.hogar": "hogar_id",
        "nominal.persona": "persona_id",
        "nominal.estatus_evento": "evento_id",
    }
    with psycopg.connect(url) as conn:
        return {
            t: conn.execute(
                f"SELECT count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY {order}), '')) FROM {t} x"
            ).fetchone()
            for t, order in tables.items()
        }


def run(url: str, **kwargs) -> pd.DataFrame:
    with psycopg.connect(url) as conn:
        result = simulate(conn, "1116", fecha_corte=CUT, **kwargs)
        assert conn.info.transaction_status == TransactionStatus.IDLE
    return result.set_index("servicio")


def test_layout_distances_are_as_documented():
    geod = Geod(ellps="WGS84")
    km = lambda p, q: geod.inv(p[0], p[1], q[0], q[1])[2] / 1000
    pos = {h: (v[1], v[2]) for h, v in HOUSEHOLDS.items()}
    assert km(A, pos["H1"]) == pytest.approx(1.0, abs=0.05)
    assert 11.0 < km(A, pos["H3"]) < km(A, pos["H2"]) < 12.5 and km(A, pos["H4"]) > 13  # beyond rural 10 km
    assert max(km(N, pos["H2"]), km(N, pos["H3"])) < 1.0 and km(N, pos["H4"]) == pytest.approx(4.05, abs=0.1)
    assert km(N, pos["H1"]) > 11  # H1 is urban: 3 km anyway


def test_before_matches_the_published_calculation(sim):
    out = run(sim["url"])
    assert list(out.reset_index().columns) == COLUMNAS
    with psycopg.connect(sim["url"]) as conn:
        cur = conn.execute("SELECT * FROM calculo.agregado WHERE nivel = 'distrito' AND codigo = '1116'")
        row = dict(zip([d.name for d in cur.description], cur.fetchone()))
    for code in ("USF_ADSCRIPCION", "CPN", "VACUNAS", "ENT_USF"):
        c = code.lower()
        got = out.loc[code]
        assert (got["aplica"], got["cubiertos"], got["brecha_sin_oferta_antes"], got["brecha_con_oferta_antes"]) == (
            row[f"{c}_aplica"],
            row[f"{c}_cubiertos"],
            row[f"{c}_sin_oferta"],
            row[f"{c}_con_oferta"],
        )
    assert out.loc["USF_ADSCRIPCION", "acceso_medio_antes"] == pytest.approx(row["acceso_usf_suma"] / row["hogares"])
    assert (out.loc["LOGRO_10", "aplica"], out.loc["LOGRO_10", "cubiertos"]) == (
        row["l10_universo"],
        row["l10_protegidos"],
    )
    # Without any change, before and after agree everywhere.
    assert (out["cambio"] == "sin cambios").all()
    assert (out["cubiertos"] == out["cubiertos_despues"]).all()
    assert out["acceso_medio_antes"].equals(out["acceso_medio_despues"])


def test_new_usf_turns_investment_cases_into_referral_cases(sim):
    out = run(sim["url"], agregar=[NUEVA_USF])
    usf = out.loc["USF_ADSCRIPCION"]
    # P1, P4 covered; P2 'con oferta' (A); P3 and P5 'sin oferta' before, 'con oferta' after.
    assert (usf["aplica"], usf["cubiertos"], usf["cubiertos_despues"]) == (5, 2, 2)
    assert (usf["brecha_sin_oferta_antes"], usf["brecha_sin_oferta_despues"]) == (2, 0)
    assert (usf["brecha_con_oferta_antes"], usf["brecha_con_oferta_despues"]) == (1, 3)
    # 2SFCA. Before: R_A = 2 / 1 household (H1) = 2 -> (2 + 0 + 0) / 3. After: N's demand is
    # H2, H3 and H4 of the neighbouring district (3 households) -> R_N = 1 -> (2 + 1 + 1) / 3.
    # (With the district's own demand only it would be R_N = 1.5 and 5/3.)
    assert usf["acceso_medio_antes"] == pytest.approx(2 / 3)
    assert usf["acceso_medio_despues"] == pytest.approx(4 / 3)
    assert usf["cambio"] == (
        "2 personas pasan de 'sin oferta' a 'con oferta' (casos de derivación); accesibilidad media de 0,667 a 1,333"
    )
    assert usf["distancia_media_km_despues"] < usf["distancia_media_km_antes"]
    # P5 (pregnant) for CPN and P3 (0 years) for vaccination move the same way.
    assert out.loc["CPN", "cambio"].startswith("1 persona pasa de 'sin oferta' a 'con oferta'")
    assert (out.loc["VACUNAS", "brecha_sin_oferta_antes"], out.loc["VACUNAS", "brecha_con_oferta_despues"]) == (1, 1)
    # Entorno: Compañía Sur now has a USF within 10 km, but no school or road: Logro 10 unchanged.
    assert (out.loc["ENT_USF", "cubiertos"], out.loc["ENT_USF", "cubiertos_despues"]) == (1, 2)
    assert out.loc["ENT_USF", "cambio"].startswith("1 entorno pasa a tener un punto usf al alcance")
    assert (out.loc["LOGRO_10", "cubiertos"], out.loc["LOGRO_10", "cubiertos_despues"]) == (1, 1)
    # Other point types are untouched; services without a place are not listed.
    assert out.loc["ESCOLAR_BASICA", "cambio"] == "sin cambios"
    assert "PENSION_AM" not in out.index and "AGUA" not in out.index


def test_removing_the_only_usf_in_reach_moves_referrals_back(sim):
    out = run(sim["url"], quitar=["A"])
    usf = out.loc["USF_ADSCRIPCION"]
    assert (usf["brecha_sin_oferta_antes"], usf["brecha_sin_oferta_despues"]) == (2, 3)
    assert (usf["brecha_con_oferta_antes"], usf["brecha_con_oferta_despues"]) == (1, 0)
    assert usf["cubiertos_despues"] == usf["cubiertos"] == 2  # what the FIPS recorded does not change
    assert usf["acceso_medio_despues"] == 0.0
    assert usf["cambio"] == (
        "1 persona pasa de 'con oferta' a 'sin oferta' (casos de inversión); accesibilidad media de 0,667 a 0,000"
    )
    # Centro loses its USF: no longer protected in Logro 10.
    assert (out.loc["ENT_USF", "cubiertos"], out.loc["ENT_USF", "cubiertos_despues"]) == (1, 0)
    assert (out.loc["LOGRO_10", "cubiertos"], out.loc["LOGRO_10", "cubiertos_despues"]) == (1, 0)
    assert out.loc["LOGRO_10", "cambio"] == "1 entorno deja de estar protegido"


def test_moving_the_usf_counts_both_directions(sim):
    out = run(sim["url"], agregar=[NUEVA_USF], quitar=["A"])
    usf = out.loc["USF_ADSCRIPCION"]
    assert (usf["brecha_sin_oferta_despues"], usf["brecha_con_oferta_despues"]) == (1, 2)
    # H1: 0, H2 and H3: 1 -> mean 2/3, as before: no accessibility clause.
    assert usf["acceso_medio_despues"] == pytest.approx(2 / 3)
    assert usf["cambio"] == (
        "2 personas pasan de 'sin oferta' a 'con oferta' (casos de derivación); "
        "1 persona pasa de 'con oferta' a 'sin oferta' (casos de inversión)"
    )


def test_replacing_a_point_by_an_identical_one_changes_nothing(sim):
    # The simulated twin's ratio is recomputed from the households around it; the stored
    # one came from the national run: both are 2.
    out = run(sim["url"], agregar=[PuntoNuevo("usf", A[0], A[1], 2, "urbana")], quitar=["A"])
    assert (out["cambio"] == "sin cambios").all()
    assert out["acceso_medio_despues"].equals(out["acceso_medio_antes"])


def test_missing_stored_ratios_are_recomputed_with_neighbours(sim):
    with psycopg.connect(sim["url"]) as conn:
        conn.execute("DELETE FROM calculo.punto_ratio")  # as if no national run had stored them
        out = simulate(conn, "1116", agregar=[NUEVA_USF], fecha_corte=CUT).set_index("servicio")
        assert conn.info.transaction_status == TransactionStatus.INTRANS  # the caller's transaction survives
        conn.rollback()
    assert out.attrs["ratios_recalculados"] == ["A", "B", "simulado:1"]
    assert out.loc["USF_ADSCRIPCION", "acceso_medio_antes"] == pytest.approx(2 / 3)
    assert out.loc["USF_ADSCRIPCION", "acceso_medio_despues"] == pytest.approx(4 / 3)


def test_new_points_take_the_demand_the_national_run_stored(sim):
    # N's ratio is capacity / demand around it, from calculo.demanda_lugar: with that demand
    # doubled (A and B keep their stored ratios) N's ratio, and so its share of the
    # district's mean accessibility (4/3 - 2/3 above), halves: 2/3 + 1/3 = 1.
    with psycopg.connect(sim["url"]) as conn:
        conn.execute("UPDATE calculo.demanda_lugar SET usf = 2 * usf")
        out = simulate(conn, "1116", agregar=[NUEVA_USF], fecha_corte=CUT).set_index("servicio")
        conn.rollback()
    assert out.attrs["ratios_recalculados"] == ["simulado:1"]
    assert out.loc["USF_ADSCRIPCION", "acceso_medio_antes"] == pytest.approx(2 / 3)
    assert out.loc["USF_ADSCRIPCION", "acceso_medio_despues"] == pytest.approx(1.0)


def test_without_a_stored_demand_the_households_around_give_it(sim):
    with psycopg.connect(sim["url"]) as conn:
        conn.execute("DELETE FROM calculo.punto_ratio")
        conn.execute("DELETE FROM calculo.demanda_lugar")  # as before any national run
        out = simulate(conn, "1116", agregar=[NUEVA_USF], fecha_corte=CUT).set_index("servicio")
        conn.rollback()
    assert out.attrs["ratios_recalculados"] == ["A", "B", "simulado:1"]
    assert out.loc["USF_ADSCRIPCION", "acceso_medio_antes"] == pytest.approx(2 / 3)
    assert out.loc["USF_ADSCRIPCION", "acceso_medio_despues"] == pytest.approx(4 / 3)


def test_bad_input_gives_spanish_errors(sim):
    cases = [
        (
            {"agregar": [PuntoNuevo("posta", *N, 3)]},
            "Tipo de punto desconocido 'posta'.*Tipos válidos: escuela, hospital, identificaciones, ips, registro_civil, snpp, usf",
        ),
        ({"agregar": [PuntoNuevo("usf", -60.0, -10.0, 3)]}, "punto nuevo n.º 1 .* cae fuera de Paraguay"),
        ({"agregar": [PuntoNuevo("usf", N[1], N[0], 3)]}, "fuera de Paraguay. ¿Latitud y longitud invertidas?"),
        (
            {"agregar": [NUEVA_USF, PuntoNuevo("usf", -56.5, -25.5, 3)]},
            r"punto nuevo n.º 2 .* está a \d+\.\d km del distrito 1116 \(Villeta\)",
        ),
        ({"agregar": [PuntoNuevo("usf", *N, 0)]}, "Capacidad no válida"),
        ({"quitar": ["A", "NO-EXISTE"]}, r"Punto\(s\) desconocido\(s\) en quitar: NO-EXISTE"),
    ]
    with psycopg.connect(sim["url"]) as conn:
        for kwargs, message in cases:
            with pytest.raises(ValueError, match=message):
                simulate(conn, "1116", fecha_corte=CUT, **kwargs)
            assert conn.info.transaction_status == TransactionStatus.IDLE
        with pytest.raises(ValueError, match="Distrito desconocido: '9999'"):
            simulate(conn, "9999", agregar=[NUEVA_USF])
        with pytest.raises(ValueError, match="no tiene hogares relevados"):
            simulate(conn, "0101", quitar=["A"])
    with pytest.raises(ValueError, match="mal escrito"):
        PuntoNuevo.desde_texto("usf:-57.6;-25.7:3")
    with pytest.raises(ValueError, match="Capacidad no válida"):
        PuntoNuevo.desde_texto("usf:-57.6,-25.7:muchos")
    assert PuntoNuevo.desde_texto("USF: -57.6, -25.7 :300:urbana") == PuntoNuevo("usf", -57.6, -25.7, 300, "urbana")


def cli(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GEOPORTAL_DATABASE_URL": url, "COLUMNS": "400"}
    return subprocess.run(
        [sys.executable, "-m", "geoportal.cli", "simular", *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_prints_a_spanish_table_and_saves_nothing(sim):
    done = cli(
        sim["url"],
        "--distrito",
        "1116",
        "--agregar",
        f"usf:{N[0]},{N[1]}:3",
        "--quitar",
        "A",
        "--fecha-corte",
        "2026-01-01",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "Simulación: no se guardó nada en la base de datos." in out
    assert "Distrito 1116 (Villeta): 3 hogares, 5 personas, 2 entornos" in out
    assert "+ simulado:1: usf en lon -57.54, lat -25.805, capacidad 3" in out and "− A" in out
    assert "2 personas pasan de 'sin oferta' a 'con oferta' (casos de derivación)" in out
    assert "1 entorno deja de estar protegido" in out

    bad = cli(sim["url"], "--distrito", "1116", "--agregar", f"posta:{N[0]},{N[1]}:3")
    assert bad.returncode == 1
    assert "Tipo de punto desconocido 'posta'" in bad.stdout
    nothing = cli(sim["url"], "--distrito", "1116")
    assert nothing.returncode == 1 and "Indique al menos un --agregar" in nothing.stdout


def test_database_is_unchanged_but_the_audit_log(sim):
    audits = "SELECT count(*) FROM nominal.auditoria WHERE accion = 'simular' AND territorio = '1116'"
    with psycopg.connect(sim["url"]) as conn:
        before = conn.execute(audits).fetchone()[0]
        conn.commit()
        simulate(conn, "1116", agregar=[NUEVA_USF], quitar=["A", "B"], fecha_corte=CUT)
        conn.execute("SELECT 1")
        simulate(conn, "1116", agregar=[NUEVA_USF], fecha_corte=CUT)  # inside the caller's open transaction
        conn.commit()
        assert conn.execute(audits).fetchone()[0] == before + 2
    assert snapshot(sim["url"]) == sim["estado"]
