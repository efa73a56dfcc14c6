"""Coverage engine on a hand-built fixture: three households, six persons, two points.

Every expected value below is worked out by hand from the catalog (servicios.yaml) and
written as a literal; distances are checked against pyproj's ellipsoidal geodesic, which
the engine does not use.

Layout (Villeta, 1116; all points 8+ km inside the polygon), cut-off date 2026-01-01:

    USF  A  (-57.600, -25.7152)  capacity 2 households
    school B (-57.600, -25.7062) capacity 50 pupils          ~1.0 km north of A
    H1 urbana (-57.590, -25.7152) "Centro"         ~1.0 km east of A
    H3 urbana (-57.610, -25.7152) "Centro"         ~1.0 km west of A
    H2 rural  (-57.600, -25.8352) "Compañía Ñu Guasu" ~13.3 km south of A (USF rural radius 10 km)
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import psycopg
import pytest
from pyproj import Geod

from tests.conftest import load_hand_fixture

CUT = date(2026, 1, 1)
A = (-57.600, -25.7152)
B = (-57.600, -25.7062)
HOUSEHOLDS = {
    "H1": (-57.590, -25.7152, "urbana", "Centro", "AGUA;ELECTRICIDAD;SANEAMIENTO;ENT_CAMINO"),
    "H2": (-57.600, -25.8352, "rural", "Compañía Ñu Guasu", "AGUA"),
    "H3": (-57.610, -25.7152, "urbana", "Centro", ""),
}
PERSONS = [
    # id, household, sex, born, pregnant, services
    ("P1", "H1", "F", "1990-03-10", "si", "CPN;CEDULA;USF_ADSCRIPCION;INSCRIPCION_NAC"),
    ("P2", "H1", "M", "2023-06-01", "no", "INSCRIPCION_NAC;VACUNAS;CONTROL_CRECIMIENTO;USF_ADSCRIPCION"),
    ("P3", "H2", "F", "2025-05-01", "no", "INSCRIPCION_NAC"),
    ("P4", "H2", "M", "1950-01-01", "no", "CEDULA;INSCRIPCION_NAC;USF_ADSCRIPCION"),
    ("P5", "H3", "F", "2015-02-01", "no", "INSCRIPCION_NAC;ESCOLAR_BASICA;CEDULA;USF_ADSCRIPCION"),
    ("P6", "H3", "M", "1996-07-01", "no", ""),
]


@pytest.fixture(scope="module")
def hand(make_database, tmp_path_factory):
    url = make_database("a_mano")
    folder = tmp_path_factory.mktemp("a_mano")
    load_hand_fixture(
        url,
        folder,
        points=[
            ["A", "usf", "USF de prueba", "urbana", 2, A[1], A[0], "sintetico"],
            ["B", "escuela", "Escuela de prueba", "urbana", 50, B[1], B[0], "sintetico"],
        ],
        households=[
            [h, "1116", loc, zona, "2025-10-01", lat, lon, srv, "sintetico"]
            for h, (lon, lat, zona, loc, srv) in HOUSEHOLDS.items()
        ],
        persons=[
            [p, h, "Nombre", "Apellido", sex, born, preg, "no", "no", srv, "sintetico"]
            for p, h, sex, born, preg, srv in PERSONS
        ],
        cut=CUT,
    )
    return url


def district_row(url: str, nivel: str = "distrito", codigo: str = "1116") -> dict:
    with psycopg.connect(url) as conn:
        cur = conn.execute("SELECT * FROM calculo.agregado WHERE nivel = %s AND codigo = %s", (nivel, codigo))
        return dict(zip([d.name for d in cur.description], cur.fetchone()))


def test_logros_worked_out_by_hand(hand):
    row = district_row(hand)
    assert (row["hogares"], row["personas"], row["entornos"]) == (3, 6, 2)
    expected = {  # logro: (universe, protected)
        1: (1, 1),  # P1 pregnant with CPN
        2: (1, 0),  # P3 born 2025: no PARTO_INST
        3: (2, 1),  # P2 complete; P3 lacks VACUNAS, CONTROL_CRECIMIENTO, USF
        4: (1, 1),  # P5 (10 y): INSCRIPCION_NAC, ESCOLAR_BASICA, CEDULA, USF
        5: (0, 0),
        6: (1, 0),  # P6 (29 y) has nothing
        7: (1, 1),  # P1 (35 y): INSCRIPCION_NAC, CEDULA, USF
        8: (1, 0),  # P4 (76 y): no PENSION_AM
        9: (3, 1),  # only H1 has water, electricity and sanitation
        10: (2, 0),  # Centro: road reported by 1 of 2 households (not a majority); Ñu Guasu: no USF in reach
    }
    got = {n: (row[f"l{n}_universo"], row[f"l{n}_protegidos"]) for n in range(1, 11)}
    assert got == expected


def test_gaps_split_between_no_offer_and_offer_within_reach(hand):
    row = district_row(hand)
    # USF adscription applies to all six; P3 (H2, 13 km, rural radius 10) has no USF in
    # reach: an investment case; P6 (H3, 1 km) has one: a referral case.
    assert (row["usf_adscripcion_aplica"], row["usf_adscripcion_cubiertos"]) == (6, 4)
    assert (row["usf_adscripcion_sin_oferta"], row["usf_adscripcion_con_oferta"]) == (1, 1)
    # Pensions are not place-based: the missing one is a referral case.
    assert (row["pension_am_aplica"], row["pension_am_sin_oferta"], row["pension_am_con_oferta"]) == (1, 0, 1)
    # No hospital exists at all: the newborn's missing institutional delivery is an offer gap.
    assert (row["parto_inst_aplica"], row["parto_inst_sin_oferta"]) == (1, 1)
    # Pre-school applies to ages 4-5 only: nobody here.
    assert row["educ_inicial_aplica"] == 0


def test_distances_are_geodesic_kilometres(hand):
    geod = Geod(ellps="WGS84")
    expected = sum(geod.inv(A[0], A[1], lon, lat)[2] / 1000 for lon, lat, *_ in HOUSEHOLDS.values())
    assert expected == pytest.approx(1.003 + 13.33 + 1.003, rel=0.01)  # sanity of the layout itself
    assert district_row(hand)["dist_usf_km_suma"] == pytest.approx(expected, rel=0.005)


def test_two_step_floating_catchment_by_hand(hand):
    row = district_row(hand)
    # USF A: capacity 2 households; demand within reach = H1 + H3 (H2 is 13 km away,
    # beyond the rural 10 km) -> R_A = 1; A_H1 = A_H3 = 1, A_H2 = 0.
    assert row["acceso_usf_suma"] == pytest.approx(2.0)
    # School B: capacity 50; demand = persons of school age = P5 only -> R_B = 50;
    # H1 and H3 are ~1.35 km from B (within 3 km), H2 ~14 km (beyond 10) -> 50 + 50.
    assert row["acceso_escuela_suma"] == pytest.approx(100.0)


def test_children_sum_to_parents_before_disclosure_control(hand):
    with psycopg.connect(hand) as conn:
        cur = conn.execute("SELECT nivel, codigo, padre, hogares, personas, l3_universo FROM calculo.agregado")
        frame = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
    for level, parent in [
        ("h3_8", "h3_7"),
        ("h3_7", "h3_6"),
        ("h3_6", "h3_5"),
        ("h3_5", "pais"),
        ("distrito", "departamento"),
        ("departamento", "pais"),
    ]:
        children = frame[frame["nivel"] == level].groupby("padre")[["hogares", "personas", "l3_universo"]].sum()
        parents = frame[frame["nivel"] == parent].set_index("codigo")[["hogares", "personas", "l3_universo"]]
        assert children.sort_index().equals(parents.loc[children.index].sort_index()), level
    # Every person in exactly one cell of each resolution and one district.
    for level in ("h3_8", "h3_5", "distrito"):
        assert frame.loc[frame["nivel"] == level, "personas"].sum() == 6


def test_contrarreferencia_updates_one_district_incrementally(hand):
    from geoportal.actualizacion import compute_district

    with psycopg.connect(hand) as conn:
        conn.execute(
            "INSERT INTO nominal.estatus_evento (unidad, unidad_id, servicio, cubierto, fecha, fuente)"
            " VALUES ('persona', 'P6', 'USF_ADSCRIPCION', true, '2025-12-01', 'contrarreferencia USF A')"
        )
        conn.commit()
        before = conn.execute("SELECT data_version FROM publico.version WHERE vigente").fetchone()[0]
        result = compute_district(conn, "1116", fecha_corte=CUT)
    row = district_row(hand)
    assert (row["usf_adscripcion_cubiertos"], row["usf_adscripcion_con_oferta"]) == (5, 0)
    assert district_row(hand, "pais", "PY")["usf_adscripcion_cubiertos"] == 5
    assert result["data_version"] != before
    with psycopg.connect(hand) as conn:
        # Public releases are batched: one contrarreferencia changes the live table only.
        assert not result["publicada"]
        assert conn.execute("SELECT data_version FROM publico.version WHERE vigente").fetchone()[0] == before
        live = conn.execute(
            "SELECT data_version FROM calculo.cobertura_viva WHERE nivel = 'distrito' AND codigo = '1116'"
        ).fetchone()[0]
        assert live == result["data_version"]
        from geoportal.publicacion import publish

        assert publish(conn, forzar=True)["publicada"]
        current = conn.execute("SELECT data_version FROM publico.version WHERE vigente").fetchone()[0]
        loss = conn.execute("SELECT count(*) FROM publico.sdc_perdida WHERE data_version = %s", (current,)).fetchone()[
            0
        ]
    assert current == result["data_version"] and loss > 0


def test_targets_apply_the_most_specific_scope_and_give_progress(hand):
    with psycopg.connect(hand) as conn:
        rows = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT nivel, l3_meta, l1_meta, l10_meta, l3_pct, l3_avance FROM publico.cobertura"
                " WHERE (nivel, codigo) IN (('distrito', '1116'), ('departamento', '11'), ('pais', 'PY'))"
            )
        }
    # metas.csv: PY L3 = 80, L1 = 90, L10 = 60; district 1116 overrides L3 with 85.
    assert rows["distrito"][:3] == (85.0, 90.0, 60.0)
    assert rows["departamento"][:3] == (80.0, 90.0, 60.0)
    assert rows["pais"][:3] == (80.0, 90.0, 60.0)
    # Only 3 households: below the threshold, so no share and no progress is published.
    assert rows["distrito"][3] is None and rows["distrito"][4] is None


def test_a_bad_targets_file_names_file_row_and_column(tmp_path):
    from geoportal.metas import MetasError, load_targets

    bad = tmp_path / "metas.csv"
    bad.write_text("ambito,logro,meta_pct\nPY,3,80\n1116,11,50\n", encoding="utf-8")
    with pytest.raises(MetasError, match=r"metas.csv, fila 3, columna 'logro': debe ser un entero de 1 a 10"):
        load_targets(bad)
    bad.write_text("ambito,logro,meta_pct\nPY,3,ochenta\n", encoding="utf-8")
    with pytest.raises(MetasError, match=r"fila 2, columna 'meta_pct'"):
        load_targets(bad)
