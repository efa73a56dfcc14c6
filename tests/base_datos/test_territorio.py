"""The real territory in PostGIS (geoportal.territory) and the delivery points file (geoportal.puntos).

Expected figures are written out from datos/FUENTES.md, never computed with the code
under test; point-in-polygon checks use geopandas/shapely independently of the module.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pytest
import shapely

from geoportal.settings import DATA_DIR

POB_NACIONAL_2022 = 6_109_903  # FUENTES.md: INE national total, CNPV 2022
PILOTOS = {
    "1116": "Villeta",
    "0607": "San Juan Nepomuceno",
    "0218": "Santa Rosa del Aguaray",
    "1602": "Mariscal José Félix Estigarribia",
}
ESCUELA_FUERA_DEL_PAIS = "1601022"  # broken MEC UTM coordinate, ~41 km into Argentina


# ------------------------------------------------------------------------ territorio
@pytest.fixture(scope="module")
def cargado(db_url) -> dict[str, int]:
    from geoportal.territory import load_territory

    with psycopg.connect(db_url) as conn:
        return load_territory(conn)


def _snapshot(conn) -> dict[str, str]:
    """md5 of every territorio table's full content, geometry included."""
    queries = {
        "departamento": "SELECT md5(string_agg(codigo || nombre || md5(ST_AsEWKB(geom)), ',' ORDER BY codigo)) FROM territorio.departamento",
        "distrito_cartografico": "SELECT md5(string_agg(codigo_2012 || dpto || nombre || md5(ST_AsEWKB(geom)), ',' ORDER BY codigo_2012)) FROM territorio.distrito_cartografico",
        "distrito": "SELECT md5(string_agg(d::text, ',' ORDER BY codigo)) FROM territorio.distrito d",
        "localidad": "SELECT md5(string_agg(l::text, ',' ORDER BY geonameid)) FROM territorio.localidad l",
        "fuente": "SELECT md5(string_agg(f::text, ',' ORDER BY capa)) FROM territorio.fuente f",
    }
    return {k: conn.execute(q).fetchone()[0] for k, q in queries.items()}


def test_counts(cargado, conn):
    assert cargado["departamento"] == 18
    assert cargado["distrito_cartografico"] == 245
    assert cargado["distrito"] == 263
    assert cargado["localidad"] == 171
    n = {
        t: conn.execute(f"SELECT count(*) FROM territorio.{t}").fetchone()[0]
        for t in ("departamento", "distrito_cartografico", "distrito", "localidad")
    }
    assert n == {
        "departamento": 18,
        "distrito_cartografico": 245,
        "distrito": 263,
        "localidad": 171,
    }


def test_census_population_adds_up_to_the_national_total(cargado, conn):
    total, hombres, mujeres = conn.execute(
        "SELECT sum(pob_total), sum(pob_hombres), sum(pob_mujeres) FROM territorio.distrito"
    ).fetchone()
    assert total == POB_NACIONAL_2022
    assert hombres + mujeres == POB_NACIONAL_2022
    bad = conn.execute(
        "SELECT count(*) FROM territorio.distrito WHERE NOT (pob_15ymas < pob_5ymas AND pob_5ymas < pob_total)"
    ).fetchone()[0]
    assert bad == 0


def test_codes_keep_leading_zeros(cargado, conn):
    assert conn.execute("SELECT nombre FROM territorio.distrito WHERE codigo = '0000'").fetchone()[0] == "Asunción"
    assert conn.execute("SELECT count(*) FROM territorio.departamento WHERE codigo = '00'").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM territorio.distrito WHERE dpto = '01'").fetchone()[0] > 0


def test_four_pilots(cargado, conn):
    from geoportal.territory import pilot_codes

    rows = dict(conn.execute("SELECT codigo, nombre FROM territorio.distrito WHERE piloto").fetchall())
    assert rows == PILOTOS
    assert pilot_codes() == sorted(PILOTOS)
    # Each pilot is an unchanged 2012 district with its own polygon.
    links = dict(conn.execute("SELECT codigo, codigo_2012 FROM territorio.distrito WHERE piloto").fetchall())
    assert links == {c: c for c in PILOTOS}


def test_crosswalk_links(cargado, conn):
    sin_poligono = conn.execute(
        "SELECT codigo FROM territorio.distrito WHERE codigo_2012 IS NULL ORDER BY codigo"
    ).fetchall()
    assert [r[0] for r in sin_poligono] == ["0222", "0918"]  # San José del Rosario, María Antonia
    relaciones = dict(conn.execute("SELECT relacion_2012, count(*) FROM territorio.distrito GROUP BY 1").fetchall())
    assert relaciones == {
        "mismo_distrito": 245,
        "nuevo_contenido_en_padre_2012": 15,
        "REVISAR_nuevo_padre_incierto": 1,
        "nuevo_padre_desconocido": 2,
    }
    assert conn.execute("SELECT count(*) FROM territorio.distrito WHERE codigo_provisional").fetchone()[0] == 18


def test_polygon_0404_is_coronel_martinez(cargado, conn):
    nombre = conn.execute("SELECT nombre FROM territorio.distrito_cartografico WHERE codigo_2012 = '0404'").fetchone()[
        0
    ]
    assert "MARTINEZ" in nombre.upper() and "BLANCO" not in nombre.upper()


def test_all_geometries_valid_and_multipolygon(cargado, conn):
    for table in ("departamento", "distrito_cartografico"):
        invalid, not_multi, srid = conn.execute(
            f"SELECT count(*) FILTER (WHERE NOT ST_IsValid(geom)),"
            f" count(*) FILTER (WHERE GeometryType(geom) <> 'MULTIPOLYGON'),"
            f" max(ST_SRID(geom)) FROM territorio.{table}"
        ).fetchone()
        assert (invalid, not_multi, srid) == (0, 0, 4326), table
    assert conn.execute("SELECT count(*) FROM territorio.localidad WHERE NOT ST_IsValid(geom)").fetchone()[0] == 0


def test_known_point_falls_in_villeta(cargado, conn):
    hit = conn.execute(
        """SELECT codigo_2012 FROM territorio.distrito_cartografico
           WHERE ST_Contains(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326))""",
        (-57.56, -25.50),
    ).fetchall()
    assert hit == [("1116",)]
    dpto = conn.execute(
        """SELECT codigo FROM territorio.departamento
           WHERE ST_Contains(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326))""",
        (-57.56, -25.50),
    ).fetchall()
    assert dpto == [("11",)]


def test_sources_documented(cargado, conn):
    capas = dict(conn.execute("SELECT capa, licencia FROM territorio.fuente").fetchall())
    for capa in (
        "distritos",
        "departamentos",
        "censo2022",
        "escuelas_mec",
        "salud_mspbs",
        "salud_mic",
        "geonames",
        "sintetico",
    ):
        assert capa in capas
    assert capas["escuelas_mec"] == "CC BY 4.0"
    assert "sintétic" in conn.execute("SELECT notas FROM territorio.fuente WHERE capa = 'sintetico'").fetchone()[0]


def test_load_twice_is_idempotent(cargado, db_url):
    from geoportal.territory import load_territory

    with psycopg.connect(db_url) as conn:
        before = _snapshot(conn)
        counts = load_territory(conn)
        after = _snapshot(conn)
    assert counts == cargado
    assert after == before


def test_reload_keeps_rows_that_reference_the_territory(cargado, db_url):
    """Households point at territorio.distrito: a reload must not need to delete them."""
    from geoportal.territory import load_territory

    with psycopg.connect(db_url) as conn:
        conn.execute(
            """INSERT INTO nominal.hogar (hogar_id, codigo_distrito, codigo_2012, localidad, zona,
                   fecha_relevamiento, origen, lote_id, lon, lat, h3_8)
               VALUES ('t-1', '1116', '1116', 'Centro', 'urbana', '2025-01-01', 'sintetico', 0, -57.56, -25.50, 0)"""
        )
        load_territory(conn)  # nested: runs as a savepoint of this transaction
        assert conn.execute("SELECT count(*) FROM nominal.hogar WHERE hogar_id = 't-1'").fetchone()[0] == 1
        conn.rollback()


# ------------------------------------------------------------------------ puntos
@pytest.fixture(scope="module")
def puntos() -> pd.DataFrame:
    from geoportal.puntos import build_points

    return build_points(1)


@pytest.fixture(scope="module")
def distritos() -> gpd.GeoDataFrame:
    return gpd.read_file(DATA_DIR / "distritos.geojson")


def test_points_columns_and_basic_values(puntos):
    assert list(puntos.columns) == [
        "punto_id", "tipo", "nombre", "institucion", "zona", "capacidad", "lat", "lon", "origen", "codigo_distrito",
    ]  # fmt: skip
    assert puntos["punto_id"].is_unique
    assert set(puntos["zona"]) == {"urbana", "rural"}
    assert (puntos["capacidad"] > 0).all()
    assert puntos["nombre"].str.strip().ne("").all()
    assert puntos["codigo_distrito"].str.fullmatch(r"\d{4}").all()


def test_point_types_match_the_catalog(puntos):
    from geoportal.catalog import default_catalog

    tipos = default_catalog().tipos_punto
    assert set(puntos["tipo"]) == set(tipos)
    inst = puntos.groupby("tipo")["institucion"].unique()
    for tipo, values in inst.items():
        if tipo in (
            "hospital",
            "usf",
            "escuela",
            "registro_civil",
            "identificaciones",
            "ips",
            "snpp",
        ):
            assert list(values) == [tipos[tipo].institucion], tipo


def test_origin_labels(puntos):
    origen = puntos["origen"]
    assert (origen.eq("sintetico") | origen.str.fullmatch(r"real:[a-z0-9-]+")).all()
    assert set(origen) == {
        "sintetico",
        "real:mec-2014",
        "real:mspbs-2016",
        "real:mic-mapa-productivo",
    }
    # Only the layers that have no real source are wholly synthetic.
    synth_types = set(puntos.loc[origen == "sintetico", "tipo"])
    assert synth_types == {"usf", "registro_civil", "identificaciones", "snpp"}
    assert set(puntos.loc[puntos["tipo"].isin(["escuela", "hospital", "ips"]), "origen"]) != {"sintetico"}
    assert puntos.loc[origen == "sintetico", "nombre"].str.contains("sintétic").all()


def test_every_real_school_appears_once(puntos, distritos):
    mec = pd.read_csv(DATA_DIR / "escuelas_mec.csv", dtype=str, usecols=["codigo", "lat", "lon"])
    assert len(mec) == 8313
    escuelas = puntos[puntos["tipo"] == "escuela"]
    assert (escuelas["origen"] == "real:mec-2014").all()
    ids = escuelas["punto_id"].str.removeprefix("mec:")
    assert ids.is_unique
    assert set(ids) == set(mec["codigo"]) - {ESCUELA_FUERA_DEL_PAIS}
    # The one left out is truly outside every district polygon.
    bad = mec[mec["codigo"] == ESCUELA_FUERA_DEL_PAIS].iloc[0]
    assert not distritos.contains(shapely.Point(float(bad["lon"]), float(bad["lat"]))).any()


def test_real_health_points(puntos):
    salud = pd.read_csv(DATA_DIR / "salud.csv", dtype=str)
    mic = pd.read_csv(DATA_DIR / "salud_mic.csv", dtype=str)
    hosp = puntos[puntos["tipo"] == "hospital"]
    hospitals_2016 = salud.loc[salud["tipo"].str.contains("HOSPITAL"), "id"]
    assert set("mspbs:" + hospitals_2016.str.zfill(3)) <= set(hosp["punto_id"])
    ips = puntos[puntos["tipo"] == "ips"]
    ips_mic = mic[(mic["institucion"] == "IPS") & mic["lat"].notna()]
    assert len(ips) == len(ips_mic) == 138
    assert (ips["origen"] == "real:mic-mapa-productivo").all()
    mic_hosp = hosp[hosp["origen"] == "real:mic-mapa-productivo"]
    assert 0 < len(mic_hosp) < 69  # duplicates of salud.csv are dropped


def test_every_point_lies_inside_its_declared_polygon(puntos, distritos):
    geom = distritos.set_index("codigo").geometry
    assert set(puntos["codigo_distrito"]) <= set(geom.index)
    polys = geom.loc[puntos["codigo_distrito"]].to_numpy()
    inside = shapely.contains_xy(polys, puntos["lon"].to_numpy(), puntos["lat"].to_numpy())
    assert inside.all(), puntos.loc[~inside, "punto_id"].tolist()[:10]


def test_synthetic_network_is_plausible(puntos, distritos):
    usf = puntos[puntos["tipo"] == "usf"]
    assert 850 <= len(usf) <= 950
    per_district = usf.groupby("codigo_distrito").size()
    assert set(per_district.index) == set(distritos["codigo"])  # at least one in every polygon
    assert per_district["0000"] > per_district["1116"]  # Asunción has more than Villeta
    rc = puntos[puntos["tipo"] == "registro_civil"]
    assert 250 <= len(rc) <= 320
    for codigo in PILOTOS:
        assert codigo in set(rc["codigo_distrito"])
    # Every district seat has an Identificaciones office within reach, so about
    # one per district; SNPP: two per department plus seats farther than 24 km from one.
    assert 200 <= (puntos["tipo"] == "identificaciones").sum() <= 300
    snpp = puntos[puntos["tipo"] == "snpp"]
    dptos = distritos.set_index("codigo")["DPTO"]
    assert set(dptos.loc[snpp["codigo_distrito"]]) == set(dptos)  # every department has one
    assert 30 <= len(snpp) <= 220


def test_deterministic_for_a_seed(puntos):
    from geoportal.puntos import build_points

    pd.testing.assert_frame_equal(build_points(1), puntos)


def test_other_seed_moves_synthetic_points_only(puntos):
    from geoportal.puntos import build_points

    otro = build_points(2)
    real = puntos["origen"] != "sintetico"
    real_otro = otro["origen"] != "sintetico"
    pd.testing.assert_frame_equal(puntos[real].reset_index(drop=True), otro[real_otro].reset_index(drop=True))
    a = puntos[~real].set_index("punto_id")
    b = otro[~real_otro].set_index("punto_id").reindex(a.index)
    moved = (a["lat"] != b["lat"]) | (a["lon"] != b["lon"])
    assert moved.mean() > 0.9


def test_write_points_round_trip(tmp_path, puntos):
    from geoportal.puntos import write_points

    path = tmp_path / "puntos.csv"
    n = write_points(path, semilla=1)
    assert n == len(puntos)
    raw = path.read_bytes()
    assert raw.decode("utf-8") and not raw.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(path, dtype={"punto_id": str, "codigo_distrito": str})
    assert len(back) == n
    assert back["codigo_distrito"].str.len().eq(4).all()
    np.testing.assert_array_equal(back["lat"].to_numpy(), puntos["lat"].to_numpy())
    np.testing.assert_array_equal(back["lon"].to_numpy(), puntos["lon"].to_numpy())
