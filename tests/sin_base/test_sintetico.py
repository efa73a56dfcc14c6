"""Synthetic FIPS generator (geoportal.synthetic) and geodesy helpers (geoportal.geodesia).

Every expected value is recomputed here independently, with plain pandas / numpy /
geopandas from the real data files; the generator's own helpers are never used to
produce expectations. No database is needed.
"""

from __future__ import annotations

import hashlib
from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from geoportal import geodesia
from geoportal.catalog import default_catalog
from geoportal.settings import DATA_DIR
from geoportal.synthetic import generate

HOY = date(2026, 1, 1)
PILOTOS = ["1116", "1602", "0607", "0218"]
# Two more small districts: María Antonia has no 2012 polygon (department polygon) and
# Boquerón (1606) shares the polygon of the pilot Mariscal Estigarribia (1602).
AMBITO = PILOTOS + ["0918", "1606"]
COLUMNAS_HOGARES = [
    "hogar_id",
    "codigo_distrito",
    "localidad",
    "zona",
    "fecha_relevamiento",
    "lat",
    "lon",
    "servicios",
    "origen",
    "referencia",
]
COLUMNAS_PERSONAS = [
    "persona_id",
    "hogar_id",
    "nombres",
    "apellidos",
    "sexo",
    "fecha_nacimiento",
    "embarazada",
    "discapacidad",
    "indigena",
    "servicios",
    "origen",
]
R_KM = 6371.0088


def haversine(lon1, lat1, lon2, lat2):
    lon1, lat1, lon2, lat2 = map(np.radians, (lon1, lat1, lon2, lat2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * R_KM * np.arcsin(np.sqrt(a))


def nearest_bruteforce(lon, lat, plon, plat, chunk=2000):
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    plon, plat = np.asarray(plon, float), np.asarray(plat, float)
    out = np.empty(len(lon))
    for i in range(0, len(lon), chunk):
        d = haversine(lon[i : i + chunk, None], lat[i : i + chunk, None], plon[None, :], plat[None, :])
        out[i : i + chunk] = d.min(axis=1)
    return out


def completed_years(born: pd.Series, at: pd.Series) -> np.ndarray:
    years = at.dt.year - born.dt.year
    before = (born.dt.month > at.dt.month) | ((born.dt.month == at.dt.month) & (born.dt.day > at.dt.day))
    return (years - before.astype(int)).to_numpy()


@pytest.fixture(scope="module")
def censo():
    return pd.read_csv(DATA_DIR / "censo2022_distritos.csv", dtype={"codigo": str}).set_index("codigo")


@pytest.fixture(scope="module")
def puntos_prueba():
    """Stand-in delivery points: real MEC schools, a sparse 'usf' network, district seats."""
    esc = pd.read_csv(DATA_DIR / "escuelas_mec.csv", dtype={"codigo": str}).dropna(subset=["lat", "lon"])
    rng = np.random.default_rng(11)
    usf = esc.iloc[::40]
    seats = pd.read_csv(DATA_DIR / "censo2022_distritos.csv", dtype={"codigo": str}).dropna(subset=["lat_cabecera"])
    frames = [
        pd.DataFrame(
            {
                "punto_id": "mec:" + esc["codigo"],
                "tipo": "escuela",
                "zona": "rural",
                "capacidad": 300,
                "lat": esc["lat"],
                "lon": esc["lon"],
            }
        ),
        pd.DataFrame(
            {
                "punto_id": [f"usf:{i}" for i in range(len(usf))],
                "tipo": "usf",
                "zona": "rural",
                "capacidad": 500,
                "lat": usf["lat"].to_numpy() + rng.normal(0, 0.003, len(usf)),
                "lon": usf["lon"].to_numpy() + rng.normal(0, 0.003, len(usf)),
            }
        ),
        pd.DataFrame(
            {
                "punto_id": "rc:" + seats["codigo"],
                "tipo": "registro_civil",
                "zona": "urbana",
                "capacidad": 1000,
                "lat": seats["lat_cabecera"],
                "lon": seats["lon_cabecera"],
            }
        ),
    ]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def generado(tmp_path_factory, puntos_prueba):
    folder = tmp_path_factory.mktemp("sintetico")
    stages = []
    counts = generate(
        AMBITO,
        5,
        folder,
        puntos_prueba,
        hoy=HOY,
        progreso=lambda s, f: stages.append(f),
        cobertura=1.0,  # the whole census: the full synthetic population is written
    )
    hogares = pd.read_csv(folder / "hogares.csv", dtype=str, keep_default_na=False, encoding="utf-8")
    personas = pd.read_csv(folder / "personas.csv", dtype=str, keep_default_na=False, encoding="utf-8")
    hogares["lat"] = hogares["lat"].astype(float)
    hogares["lon"] = hogares["lon"].astype(float)
    born = pd.to_datetime(personas["fecha_nacimiento"], format="%Y-%m-%d")
    personas["edad_hoy"] = completed_years(born, pd.Series(pd.Timestamp(HOY), index=personas.index))
    survey = pd.to_datetime(
        personas["hogar_id"].map(hogares.set_index("hogar_id")["fecha_relevamiento"]),
        format="%Y-%m-%d",
    )
    personas["edad"] = completed_years(born, survey)
    personas["distrito"] = personas["hogar_id"].map(hogares.set_index("hogar_id")["codigo_distrito"])
    return {
        "folder": folder,
        "counts": counts,
        "hogares": hogares,
        "personas": personas,
        "stages": stages,
    }


# ------------------------------------------------------------------------------ census
def test_persons_match_the_census_exactly(generado, censo):
    """The full population (coverage 1.0) equals the census by district, sex and age band,
    ages being completed years at each household's interview (the FIPS reference date)."""
    p = generado["personas"]
    assert sorted(p["distrito"].unique()) == sorted(AMBITO)
    g = p.groupby("distrito")
    got = pd.DataFrame(
        {
            "total": g.size(),
            "hombres": g["sexo"].apply(lambda s: (s == "M").sum()),
            "mujeres": g["sexo"].apply(lambda s: (s == "F").sum()),
            "a0_4": g["edad"].apply(lambda a: (a <= 4).sum()),
            "a5mas_h": p[p["sexo"] == "M"].groupby("distrito")["edad"].apply(lambda a: (a >= 5).sum()),
            "a15mas": g["edad"].apply(lambda a: (a >= 15).sum()),
            "a15mas_m": p[p["sexo"] == "F"].groupby("distrito")["edad"].apply(lambda a: (a >= 15).sum()),
        }
    )
    c = censo.loc[got.index]
    assert (got["total"] == c["pob_total"]).all()
    assert (got["hombres"] == c["pob_hombres"]).all()
    assert (got["mujeres"] == c["pob_mujeres"]).all()
    assert (got["a0_4"] == c["pob_total"] - c["pob_5ymas_total"]).all()
    assert (got["a5mas_h"] == c["pob_5ymas_hombres"]).all()
    assert (got["a15mas"] == c["pob_15ymas_total"]).all()
    assert (got["a15mas_m"] == c["pob_15ymas_mujeres"]).all()
    # Median age near the census one; no age outside 0..120.
    assert (g["edad"].median() - c["edad_mediana"]).abs().max() <= 2
    assert p["edad"].between(0, 120).all()
    assert generado["counts"]["personas"] == len(p) == c["pob_total"].sum()
    assert generado["counts"]["hogares"] == len(generado["hogares"])


# ------------------------------------------------------------------------------ format
def test_files_follow_the_documented_format(generado):
    folder = generado["folder"]
    for name, cols in (("hogares.csv", COLUMNAS_HOGARES), ("personas.csv", COLUMNAS_PERSONAS)):
        raw = (folder / name).read_bytes()
        text = raw.decode("utf-8")  # strict UTF-8, no BOM
        assert not text.startswith("\ufeff")
        assert text.splitlines()[0].split(",") == cols
        assert '"' not in text
    h, p = generado["hogares"], generado["personas"]
    assert list(h.columns) == COLUMNAS_HOGARES
    assert set(h["origen"]) == {"sintetico"} and set(p["origen"]) == {"sintetico"}
    assert set(h["zona"]) == {"urbana", "rural"}
    assert h["codigo_distrito"].str.fullmatch(r"\d{4}").all()
    assert (h["localidad"].str.len() > 0).all()
    assert h["hogar_id"].is_unique and p["persona_id"].is_unique
    assert h["hogar_id"].str.fullmatch(r"H\d{4}\d{6}").all()
    assert (h["hogar_id"].str[1:5] == h["codigo_distrito"]).all()
    assert (p["persona_id"].str.split("-").str[0] == p["hogar_id"]).all()
    assert set(p["sexo"]) == {"F", "M"}
    for flag in ("embarazada", "discapacidad", "indigena"):
        assert set(p[flag]) <= {"si", "no"}
    survey = pd.to_datetime(h["fecha_relevamiento"], format="%Y-%m-%d")
    assert (survey < pd.Timestamp(HOY)).all() and (survey > pd.Timestamp(HOY) - pd.Timedelta(days=366)).all()
    # Nobody is born after the interview of their household.
    born = pd.to_datetime(p["fecha_nacimiento"], format="%Y-%m-%d")
    surveyed = pd.to_datetime(p["hogar_id"].map(h.set_index("hogar_id")["fecha_relevamiento"]))
    assert (born <= surveyed).all()
    assert generado["stages"][-1] == 1.0 and generado["stages"] == sorted(generado["stages"])


def test_every_person_in_one_household_of_the_district_with_an_adult(generado):
    h, p = generado["hogares"], generado["personas"]
    assert p["hogar_id"].isin(h["hogar_id"]).all()
    assert h["hogar_id"].isin(p["hogar_id"]).all()
    assert (p["distrito"] == p["hogar_id"].str[1:5]).all()
    oldest = p.groupby("hogar_id")["edad"].max()  # at the interview
    assert (oldest >= 18).all()
    heads = p[p["persona_id"].str.endswith("-01")]
    assert len(heads) == len(h) and (heads["edad"] >= 18).all()
    size = p.groupby("hogar_id").size()
    assert 2.9 < size.mean() < 3.9
    assert (size == 1).mean() > 0.05 and size.max() >= 8
    # Rural and Chaco households are larger on average.
    zona = h.set_index("hogar_id")["zona"]
    assert size[zona[zona == "rural"].index].mean() > size[zona[zona == "urbana"].index].mean()


def test_attributes_are_plausible(generado):
    p = generado["personas"]
    preg = p["embarazada"] == "si"
    assert (p.loc[preg, "sexo"] == "F").all() and p.loc[preg, "edad"].between(15, 49).all()
    women = (p["sexo"] == "F") & p["edad"].between(15, 49)
    assert 0.04 < preg[women].mean() < 0.10
    dis = p["discapacidad"] == "si"
    assert 0.04 < dis.mean() < 0.12
    assert dis[p["edad"] >= 65].mean() > dis[p["edad"] < 15].mean()
    # Indigenous people concentrate in the Chaco pilot (Boquerón).
    ind = (p["indigena"] == "si").groupby(p["distrito"]).mean()
    assert ind["1602"] > 0.15 and ind["1116"] < 0.05
    # All members of a household share the indigenous status.
    assert (p.groupby("hogar_id")["indigena"].nunique() == 1).all()


# ------------------------------------------------------------------------------ places
def test_every_household_lies_inside_its_district_polygon(generado):
    h = generado["hogares"]
    cw = pd.read_csv(
        DATA_DIR / "crosswalk_2022_2012.csv",
        dtype={"codigo_2022": str, "codigo_2012": str, "dpto": str},
    )
    distritos = gpd.read_file(DATA_DIR / "distritos.geojson").set_index("codigo")
    dptos = gpd.read_file(DATA_DIR / "departamentos.geojson").set_index("DPTO")
    cw = cw.set_index("codigo_2022")
    points = gpd.GeoSeries(gpd.points_from_xy(h["lon"], h["lat"]), crs="EPSG:4326")
    for code, idx in h.groupby("codigo_distrito").groups.items():
        parent = cw.loc[code, "codigo_2012"]
        polygon = (
            distritos.loc[parent, "geometry"]
            if isinstance(parent, str) and parent
            else dptos.loc[cw.loc[code, "dpto"], "geometry"]
        )
        inside = points.loc[idx].within(polygon)
        assert inside.all(), f"{code}: {(~inside).sum()} hogares fuera del polígono"
    assert pd.isna(cw.loc["0918", "codigo_2012"])  # the department fallback was exercised


def test_households_cluster_around_settlements_with_urban_near_the_seat(generado, censo):
    h = generado["hogares"]
    esc = pd.read_csv(DATA_DIR / "escuelas_mec.csv").dropna(subset=["lat", "lon"])
    v = h[h["codigo_distrito"] == "1116"]  # Villeta
    # Schools within a degree of the district are enough for the nearest one.
    esc = esc[(esc["lon"] - v["lon"].mean()).abs().lt(1) & (esc["lat"] - v["lat"].mean()).abs().lt(1)]
    d_school = nearest_bruteforce(
        v["lon"].to_numpy(), v["lat"].to_numpy(), esc["lon"].to_numpy(), esc["lat"].to_numpy()
    )
    seat = censo.loc["1116"]
    d_seat = haversine(v["lon"].to_numpy(), v["lat"].to_numpy(), seat["lon_cabecera"], seat["lat_cabecera"])
    assert np.median(d_school) < 3.0
    urban = (v["zona"] == "urbana").to_numpy()
    assert np.median(d_seat[urban]) < np.median(d_seat[~urban])
    assert v["localidad"].nunique() > 10


# ------------------------------------------------------------------------------ services
def _explode(frame: pd.DataFrame) -> pd.DataFrame:
    s = frame.assign(codigo=frame["servicios"].str.split(";")).explode("codigo")
    return s[s["codigo"].fillna("") != ""]


def test_only_applicable_catalog_codes_are_listed(generado):
    catalogo = default_catalog()
    h, p = generado["hogares"], generado["personas"]
    ph, pp = _explode(h), _explode(p)
    assert set(pp["codigo"]) <= set(catalogo.codigos_fips("persona"))
    assert set(ph["codigo"]) <= set(catalogo.codigos_fips("hogar"))
    # Each listed code satisfies its rule, checked field by field (ages at the interview).
    for codigo, rows in pp.groupby("codigo"):
        regla = catalogo.servicio(codigo).aplica
        if regla.edad_min is not None:
            assert (rows["edad"] >= regla.edad_min).all(), codigo
        if regla.edad_max is not None:
            assert (rows["edad"] <= regla.edad_max).all(), codigo
        if regla.sexo is not None:
            assert (rows["sexo"] == regla.sexo).all(), codigo
        for flag in ("embarazada", "discapacidad", "indigena"):
            wanted = getattr(regla, flag)
            if wanted is not None:
                assert (rows[flag] == ("si" if wanted else "no")).all(), codigo
    assert not ((pp["codigo"] == "PENSION_AM") & (pp["edad"] < 65)).any()
    assert not ((pp["codigo"] == "CPN") & (pp["embarazada"] != "si")).any()
    assert not ((pp["codigo"] == "VACUNAS") & (pp["edad"] > 4)).any()
    assert not ((pp["codigo"] == "PARTO_INST") & (pp["edad"] != 0)).any()
    # The entorno services measured from the supply side never come from the FIPS.
    assert not ph["codigo"].isin(["ENT_ESCUELA", "ENT_USF"]).any()


def test_service_levels_are_plausible(generado):
    p, h = generado["personas"], generado["hogares"]

    def has(frame, code):
        return frame["servicios"].str.split(";").apply(lambda c: code in c)

    assert 0.80 < has(p, "INSCRIPCION_NAC").mean() < 0.97
    adults = p[p["edad"] >= 18]
    assert 0.70 < has(adults, "CEDULA").mean() < 0.98
    old = p[p["edad"] >= 65]
    assert 0.35 < has(old, "PENSION_AM").mean() < 0.70
    school = p[p["edad"].between(6, 14)]
    assert has(school, "ESCOLAR_BASICA").mean() > 0.80
    urban = h["zona"] == "urbana"
    for code in ("AGUA", "ELECTRICIDAD", "ENT_CAMINO"):
        assert has(h[urban], code).mean() > has(h[~urban], code).mean(), code
    assert has(h[~urban], "TEKOPORA").mean() > has(h[urban], "TEKOPORA").mean()


def test_place_based_coverage_falls_with_distance(generado, puntos_prueba):
    h, p = generado["hogares"], generado["personas"]
    usf = puntos_prueba[puntos_prueba["tipo"] == "usf"]
    d = pd.Series(
        nearest_bruteforce(h["lon"].to_numpy(), h["lat"].to_numpy(), usf["lon"].to_numpy(), usf["lat"].to_numpy()),
        index=h["hogar_id"],
    )
    dist = p["hogar_id"].map(d)
    adscrito = p["servicios"].str.split(";").apply(lambda c: "USF_ADSCRIPCION" in c)
    near, far = adscrito[dist < 2.0], adscrito[dist > 20.0]
    assert len(near) > 1000 and len(far) > 1000
    assert near.mean() > far.mean() + 0.25
    kids = p["edad"] <= 4
    vac = p["servicios"].str.split(";").apply(lambda c: "VACUNAS" in c)
    assert vac[kids & (dist < 2.0)].mean() > vac[kids & (dist > 20.0)].mean() + 0.15


def test_names_keep_their_characters(generado):
    p = generado["personas"]
    text = " ".join(p["nombres"]) + " " + " ".join(p["apellidos"])
    for ch in ("ñ", "Ñ", "á", "é", "í", "ó", "ú", "ĩ", "g\u0303"):
        assert ch in text, ch
    assert p["apellidos"].str.contains("Núñez").any() and p["apellidos"].str.contains("Peña").any()
    assert (p["nombres"].str.len() > 1).all() and (p["apellidos"].str.split().str.len() == 2).all()


# ------------------------------------------------------------------------------ determinism
def test_same_seed_same_bytes_other_seed_differs(tmp_path, puntos_prueba):
    def digest(folder):
        return [hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in ("hogares.csv", "personas.csv")]

    a = generate("pilotos", 21, tmp_path / "a", puntos_prueba)
    generate("pilotos", 21, tmp_path / "b", puntos_prueba)
    generate("pilotos", 22, tmp_path / "c", puntos_prueba)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a")[0] != digest(tmp_path / "c")[0]
    assert digest(tmp_path / "a")[1] != digest(tmp_path / "c")[1]
    hogares = pd.read_csv(tmp_path / "a" / "hogares.csv", dtype={"codigo_distrito": str})
    assert sorted(hogares["codigo_distrito"].unique()) == sorted(PILOTOS)
    assert a["distritos"] == 4 and a["fecha_referencia"] == "2026-01-01"


def test_unknown_district_is_refused(tmp_path, puntos_prueba):
    with pytest.raises(ValueError, match="ámbito inválido"):
        generate(["9999"], 1, tmp_path, puntos_prueba)


# ------------------------------------------------------------------------------ geodesy
def test_nearest_km_matches_bruteforce_haversine():
    rng = np.random.default_rng(3)
    slon, slat = rng.uniform(-62.6, -54.3, 400), rng.uniform(-27.6, -19.3, 400)
    dlon, dlat = rng.uniform(-62.6, -54.3, 300), rng.uniform(-27.6, -19.3, 300)
    dist, idx = geodesia.nearest_km(slon, slat, dlon, dlat)
    full = haversine(slon[:, None], slat[:, None], dlon[None, :], dlat[None, :])
    expected = full.min(axis=1)
    assert np.all(np.abs(dist - expected) <= 0.001 * expected + 1e-9)
    assert np.allclose(full[np.arange(400), idx], expected, rtol=1e-9)
    assert np.allclose(geodesia.haversine_km(slon, slat, dlon[idx], dlat[idx]), expected, rtol=1e-9)
    # One degree of latitude is about 111.2 km on the mean sphere.
    assert abs(geodesia.haversine_km(-57.0, -25.0, -57.0, -26.0) - 111.195) < 0.01
    # k > 1 and an empty destination set.
    d3, _ = geodesia.nearest_km(slon, slat, dlon, dlat, k=3)
    assert d3.shape == (400, 3) and np.allclose(d3[:, 0], expected) and (np.diff(d3, axis=1) >= 0).all()
    d0, i0 = geodesia.nearest_km(slon, slat, [], [])
    assert np.isinf(d0).all() and (i0 == -1).all()


def test_clustered_query_is_exact():
    rng = np.random.default_rng(4)
    alon, alat = rng.uniform(-58, -55, 50), rng.uniform(-27, -24, 50)
    anchor = rng.integers(0, 50, 3000)
    lon = alon[anchor] + rng.normal(0, 0.03, 3000)
    lat = alat[anchor] + rng.normal(0, 0.03, 3000)
    plon, plat = rng.uniform(-58, -55, 120), rng.uniform(-27, -24, 120)
    index = geodesia.NearestIndex(plon, plat)
    dist, _ = index.query_clustered(geodesia.unit_vectors(lon, lat), geodesia.unit_vectors(alon, alat), anchor)
    expected = nearest_bruteforce(lon, lat, plon, plat)
    assert np.allclose(dist, expected, rtol=1e-9, atol=1e-9)
