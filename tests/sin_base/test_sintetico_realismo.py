"""Realism of the synthetic FIPS: each test measures one property.

The generator runs on the real delivery-point network (geoportal.puntos) for the four
pilots plus Filadelfia (urban indigenous communities), Boquerón (Chaco) and Ybytymí
(1216; a MEC locality spelled with "Ð"). Expectations are recomputed here from the real
data files with plain pandas / numpy (brute-force haversine), never with the
generator's helpers. No database is needed.
"""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from geoportal.puntos import build_points
from geoportal.settings import DATA_DIR, PACKAGE_DIR
from geoportal.synthetic import generate
from geoportal.synthetic.relevamiento import cuotas
from tests.sin_base.test_sintetico import completed_years, haversine
from tests.sin_base.test_sintetico import nearest_bruteforce as nearest

pytestmark = pytest.mark.lento  # generates whole departments

PILOTOS = ["1116", "1602", "0607", "0218"]
AMBITO = PILOTOS + ["1604", "1606", "1216"]
CHACO = ["1602", "1604", "1606"]


def _leer(folder):
    h = pd.read_csv(folder / "hogares.csv", dtype=str, keep_default_na=False)
    p = pd.read_csv(folder / "personas.csv", dtype=str, keep_default_na=False)
    h["lat"], h["lon"] = h["lat"].astype(float), h["lon"].astype(float)
    p = p.merge(h[["hogar_id", "codigo_distrito", "localidad", "zona", "fecha_relevamiento"]])
    born = pd.to_datetime(p["fecha_nacimiento"], format="%Y-%m-%d")
    p["edad"] = completed_years(born, pd.to_datetime(p["fecha_relevamiento"], format="%Y-%m-%d"))
    p["born_after_interview"] = born > pd.to_datetime(p["fecha_relevamiento"])
    return h, p


@pytest.fixture(scope="module")
def puntos():
    return build_points(3)


@pytest.fixture(scope="module")
def censo():
    return pd.read_csv(DATA_DIR / "censo2022_distritos.csv", dtype={"codigo": str}).set_index("codigo")


@pytest.fixture(scope="module")
def completo(tmp_path_factory, puntos):
    folder = tmp_path_factory.mktemp("completo")
    generate(AMBITO, 9, folder, puntos, cobertura=1.0)
    return _leer(folder)


@pytest.fixture(scope="module")
def parcial(tmp_path_factory, puntos):
    folder = tmp_path_factory.mktemp("parcial")
    counts = generate(AMBITO, 9, folder, puntos, cobertura=None)  # the shipped model
    return (*_leer(folder), counts)


@pytest.fixture(scope="module")
def escuelas():
    return pd.read_csv(DATA_DIR / "escuelas_mec.csv", dtype=str).dropna(subset=["lat", "lon"])


# ------------------------------------------------------------------------ births and pregnancy
def test_age_zero_at_the_interview_is_one_census_birth_cohort(completo, censo):
    _, p = completo
    assert not p["born_after_interview"].any()
    age0 = (p["edad"] == 0).groupby(p["codigo_distrito"]).sum()
    cohort = (censo["pob_total"] - censo["pob_5ymas_total"]).loc[age0.index] / 5.0
    big = cohort >= 300  # multinomial noise aside
    ratio = age0[big] / cohort[big]
    assert ratio.between(0.85, 1.2).all(), ratio.to_dict()
    assert 0.9 < age0.sum() / cohort.sum() < 1.15


def test_pregnant_women_follow_a_fertility_schedule(completo):
    _, p = completo
    preg = p[p["embarazada"] == "si"]
    ratio = len(preg) / (p["edad"] == 0).sum()
    assert 0.5 < ratio < 0.9, ratio
    # Peak in the twenties, adolescents a real share, few after 40 (UN WPP shape).
    share = preg["edad"].value_counts(normalize=True)
    s = {
        k: share[share.index.to_series().between(a, b)].sum()
        for k, (a, b) in {
            "15-19": (15, 19),
            "20-29": (20, 29),
            "35-49": (35, 49),
            "40-49": (40, 49),
        }.items()
    }
    assert s["20-29"] > 0.4 and s["20-29"] > s["35-49"]
    assert 0.08 < s["15-19"] < 0.3 and s["40-49"] < 0.08


# ------------------------------------------------------------------------ settlement
def test_chaco_has_remote_rural_households_and_the_east_is_nucleated(completo, escuelas):
    h, _ = completo
    d = nearest(h["lon"], h["lat"], escuelas["lon"].astype(float), escuelas["lat"].astype(float))
    rural = (h["zona"] == "rural").to_numpy()
    chaco = h["codigo_distrito"].isin(CHACO).to_numpy()
    assert (d[rural & chaco] > 10).mean() > 0.03
    assert (d[rural & chaco] > 30).sum() > 0  # far from any school, as estancias are
    east = h["codigo_distrito"].isin(["0607", "0218"]).to_numpy()
    assert np.median(d[rural & east]) < 3.0


def test_urban_households_are_in_urban_places(completo, escuelas, censo):
    h, _ = completo
    urb_esc = escuelas[escuelas["zona"].str.upper() == "URBANA"]
    geo = pd.read_csv(DATA_DIR / "localidades_geonames.csv")
    cw = pd.read_csv(DATA_DIR / "crosswalk_2022_2012.csv", dtype={"codigo_2022": str})
    places_lon = np.r_[
        urb_esc["lon"].astype(float),
        geo["lon"],
        censo["lon_cabecera"].dropna(),
        cw["lon_cabecera"].dropna(),
    ]
    places_lat = np.r_[
        urb_esc["lat"].astype(float),
        geo["lat"],
        censo["lat_cabecera"].dropna(),
        cw["lat_cabecera"].dropna(),
    ]
    u = h[h["zona"] == "urbana"]
    d = nearest(u["lon"], u["lat"], places_lon, places_lat)
    assert (d <= 5.0).mean() > 0.995, np.sort(d)[-10:]
    # Mariscal Estigarribia: its town, not the Bolivian border.
    me = u[u["codigo_distrito"] == "1602"]
    seat = censo.loc["1602"]
    assert (haversine(me["lon"], me["lat"], seat["lon_cabecera"], seat["lat_cabecera"]) < 15).mean() > 0.9


# ------------------------------------------------------------------------ indigenous status
def test_indigenous_status_follows_the_locality(completo):
    _, p = completo
    com = p["localidad"].str.startswith("Com Indig")
    ind = p["indigena"] == "si"
    assert com.sum() > 1000 and ind[com].mean() > 0.85
    # Urban indigenous communities (Filadelfia) are indigenous too.
    urban_com = com & (p["zona"] == "urbana")
    assert urban_com.sum() > 50 and ind[urban_com].mean() > 0.8
    # Outside communities in the eastern pilots, few indigenous people.
    east = p["codigo_distrito"].isin(["1116", "0607", "0218"])
    assert ind[east & ~com].mean() < 0.03


# ------------------------------------------------------------------------ district levels
def test_water_coverage_varies_between_districts(completo):
    h, _ = completo
    agua = h["servicios"].str.split(";").apply(lambda c: "AGUA" in c)
    for zona in ("urbana", "rural"):
        sel = h["zona"] == zona
        g = agua[sel].groupby(h.loc[sel, "codigo_distrito"]).agg(["mean", "size"])
        g = g[g["size"] >= 300]
        assert len(g) >= 4
        binomial = (g["mean"] * (1 - g["mean"]) / g["size"]).mean()
        assert g["mean"].var() > 4 * binomial, (zona, g.to_dict())


# ------------------------------------------------------------------------ names
_PLACEHOLDER = re.compile(r"(?:a|por)\s+confirmar|sin\s+(?:nombre|dato)", re.IGNORECASE)


def test_place_names_are_repaired_and_never_a_placeholder(completo, escuelas):
    h, _ = completo
    assert not h["localidad"].str.contains("Ð|ð").any()
    assert not h["localidad"].str.contains(_PLACEHOLDER).any()
    # Ybytymí's MEC locality spelled with "Ð" appears with "Ñ".
    polygon = gpd.read_file(DATA_DIR / "distritos.geojson").set_index("codigo").loc["1216", "geometry"]
    e = escuelas[escuelas["barrio_localidad"].fillna("").str.contains("Ð")]
    inside = gpd.GeoSeries(gpd.points_from_xy(e["lon"].astype(float), e["lat"].astype(float))).within(polygon)
    expected = {n.replace("Ð", "Ñ").casefold() for n in e.loc[inside.to_numpy(), "barrio_localidad"]}
    assert expected
    got = set(h.loc[h["codigo_distrito"] == "1216", "localidad"].str.casefold())
    assert expected <= got, (expected, got)


def test_point_names_have_no_eth(puntos):
    assert not puntos["nombre"].str.contains("Ð|ð").any()


# ------------------------------------------------------------------------ network at the seats
def test_every_district_seat_has_its_offices_within_reach(puntos, censo):
    cw = pd.read_csv(DATA_DIR / "crosswalk_2022_2012.csv", dtype={"codigo_2022": str, "codigo_2012": str}).set_index(
        "codigo_2022"
    )
    poly = gpd.read_file(DATA_DIR / "distritos.geojson").set_index("codigo")["geometry"]
    own = cw[cw["relacion"] == "mismo_distrito"]
    seats = censo.loc[own.index, ["lon_cabecera", "lat_cabecera"]].dropna()
    inside = [
        poly[own.loc[c, "codigo_2012"]].contains(gpd.points_from_xy([x], [y])[0]) for c, x, y in seats.itertuples()
    ]
    seats = seats[inside]  # census seats inside their polygon: the ones the generator uses
    assert len(seats) > 180
    for tipo, km in (("usf", 3), ("registro_civil", 5), ("identificaciones", 10), ("snpp", 40)):
        pts = puntos[puntos["tipo"] == tipo]
        d = nearest(seats["lon_cabecera"], seats["lat_cabecera"], pts["lon"], pts["lat"])
        assert (d <= km).all(), (tipo, seats.index[d > km].tolist())
    me = censo.loc["1602"]
    for tipo in ("usf", "registro_civil", "identificaciones"):
        pts = puntos[puntos["tipo"] == tipo]
        assert nearest([me["lon_cabecera"]], [me["lat_cabecera"]], pts["lon"], pts["lat"])[0] < 3


# ------------------------------------------------------------------------ survey coverage
def _regla(codigo: str, tabla: pd.DataFrame) -> pd.Series:
    for key in (codigo, codigo[:2], "*"):
        if key in tabla.index:
            return tabla.loc[key]
    raise AssertionError(codigo)


def test_partial_survey_is_a_clustered_sample_of_the_full_population(completo, parcial):
    hc, pc = completo
    hp, pp, counts = parcial
    tabla = pd.read_csv(
        PACKAGE_DIR / "catalogo" / "cobertura_relevamiento.csv", comment="#", dtype={"ambito": str}
    ).set_index("ambito")
    # The surveyed households are households of the full population, unchanged.
    full = hc.set_index("hogar_id")
    assert hp["hogar_id"].isin(full.index).all()
    same = full.loc[hp["hogar_id"], ["localidad", "lat", "lon", "codigo_distrito"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(same, hp[["localidad", "lat", "lon", "codigo_distrito"]])
    assert len(hp) < 0.6 * len(hc)
    n_full = hc.groupby("codigo_distrito").size()
    n_part = hp.groupby("codigo_distrito").size().reindex(n_full.index, fill_value=0)
    for codigo, n in n_full.items():
        r = _regla(codigo, tabla)
        share = n_part[codigo] / n
        lo = 0.0 if r["prob_sin_relevar"] > 0 else r["minimo"]
        assert lo - 1 / n <= share <= r["maximo"] + 1 / n, (codigo, share)
    assert abs(n_part["1116"] / n_full["1116"] - 0.25) < 0.005  # Villeta, as the real FIPS
    for codigo in PILOTOS:
        assert n_part[codigo] / n_full[codigo] >= 0.25 - 0.005
    # Field work goes by localidad: at most one localidad per district is partly surveyed.
    tot = hc.groupby(["codigo_distrito", "localidad"]).size()
    got = hp.groupby(["codigo_distrito", "localidad"]).size().reindex(tot.index, fill_value=0)
    partly = ((got > 0) & (got < tot)).groupby(level=0).sum()
    assert (partly <= 1).all(), partly.to_dict()
    # Persons: whole households; the census stays the denominator (counts report it).
    assert set(pp["hogar_id"]) == set(hp["hogar_id"])
    assert counts["personas"] == len(pp) and counts["personas_censo"] == len(pc)


def test_coverage_one_writes_the_whole_census(completo, censo):
    _, p = completo
    got = p.groupby("codigo_distrito").size()
    assert (got == censo.loc[got.index, "pob_total"]).all()


def test_coverage_file_errors_are_clear(tmp_path):
    bad = tmp_path / "cobertura.csv"
    bad.write_text("ambito,minimo,maximo,prob_sin_relevar\n*,0.5,0.2,0\n", encoding="utf-8")
    with pytest.raises(ValueError, match="minimo es mayor que maximo"):
        cuotas(["1116"], 1, bad)
    bad.write_text("ambito,minimo,maximo\n*,0.1,0.2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="faltan columnas: prob_sin_relevar"):
        cuotas(["1116"], 1, bad)
    with pytest.raises(ValueError, match="entre 0 y 1"):
        cuotas(["1116"], 1, 1.5)
    with pytest.raises(ValueError, match="No existe el archivo"):
        cuotas(["1116"], 1, tmp_path / "no-existe.csv")


def test_partial_survey_is_reproducible_for_a_seed(tmp_path, puntos):
    for name in ("a", "b"):
        generate(["1116", "1216"], 4, tmp_path / name, puntos, cobertura=None)
    for f in ("hogares.csv", "personas.csv"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()


def test_cli_offers_the_coverage_options_and_refuses_an_unknown_demo_scope():
    import os
    import subprocess
    import sys

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "geoportal.cli", *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "COLUMNS": "200", "TERM": "dumb"},
        )

    help_text = run("sintetico", "--help").stdout
    assert "--cobertura-relevamiento" in help_text and "--cobertura-archivo" in help_text
    assert "--ambito" in run("demo", "--help").stdout
    bad = run("demo", "--ambito", "luna")
    assert bad.returncode != 0
    assert "--ambito debe ser pais o pilotos" in bad.stdout + bad.stderr
    assert "Traceback" not in bad.stdout + bad.stderr
