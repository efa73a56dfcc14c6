"""Service delivery points for the whole country: the ``puntos`` file (docs/FORMATOS.md).

This module owns how the national layer of delivery points is assembled from the real
files in ``geoportal/datos`` plus a labelled synthetic complement. One row per point,
columns ``punto_id, tipo, nombre, institucion, zona, capacidad, lat, lon, origen,
codigo_distrito`` (the 4-digit code of the 2012 district polygon that contains it).

Real points (``origen = real:<fuente>``), identical for every seed:

* ``escuela``: every MEC 2014 school site (``escuelas_mec.csv``) that lies inside a
  district polygon. One site (1601022, ESCUELA BÁSICA N° 4078 SAN PABLO) is left out: its
  coordinate, converted from a broken MEC UTM value, falls in Argentina, about 41 km
  from Paraguay. Zone is MEC's URBANA/RURAL.
* ``hospital``: ``salud.csv`` (MSPBS 2016) rows whose type contains HOSPITAL or is
  CENTRO DE SALUD (the catalog's type is "hospital / centro de salud con parto"; the MIC
  viewer lists those same centres as MSPBS hospitals), plus the MSPBS hospitals of
  ``salud_mic.csv`` that are not already in ``salud.csv``. A MIC row is taken as the same
  facility when the nearest ``salud.csv`` facility is closer than 1.5 km, or closer than
  10 km and its name contains the MIC name (54 of the 69 MIC rows with coordinates).
  CENTRO NACIONAL DEL QUEMADO (a burns centre) fits no catalog type and is left out.
* ``ips``: the IPS rows of ``salud_mic.csv`` (own, CONVENIO and TERCERIZADO).

MODELLED, NOT IN THE DATA: no source gives capacities. They are modelled here, from a
hash of the real code so they do not depend on the seed: schools 150-600 pupils (urban)
or 30-200 (rural), times 1 + 0.5 per extra institution sharing the site; hospitals by
type (births per year); IPS units by provider (insured people). Synthetic capacities
are drawn from the seeded generator. The zone of non-school points is modelled too:
``urbana`` within 3 km of a district seat, or when the nearest MEC school (within 1 km)
is urban, which keeps whole metropolitan districts urban; otherwise ``rural``.

Synthetic points (``origen = sintetico``; no layer with coordinates exists for them):

* ``usf``: the real files hold no USF, so a network of ``USF_TOTAL`` units is built: one
  at about 150 m from every 2022 district seat, the rest allocated per district polygon
  proportional to the 2022 census population (mapped to polygons with the crosswalk),
  placed at a few hundred metres from randomly chosen real schools / GeoNames places /
  the seat of that polygon.
* ``registro_civil``: one per 2022 district with a polygon link, near its seat, plus one
  more per full 100,000 inhabitants near urban schools. Nueva Asunción gets none: its
  only seat coordinate is a wrong geocode near the city of Asunción (FUENTES.md), and the
  two districts without a polygon link (San José del Rosario, María Antonia) neither.
* ``identificaciones``: near the seat of each department capital and of each district
  over 50,000 inhabitants.
* ``snpp``: two per department, at the capital and the most populous other district.
* **Every district seat is served**: the seat of each 2022 district (the one the
  synthetic households cluster around, :mod:`geoportal.synthetic.lugares`) that has no
  USF, Registro Civil or Identificaciones office within 0.6 x the smallest urban
  catchment radius of the catalog services of that type (SNPP: of the rural radius) gets
  one at ~150 m from the seat (named "... sede <distrito> 1").

Names (schools, health facilities, districts) are repaired with
:func:`geoportal.nombres.reparar_texto` ("Ð" read as "Ñ").

District seats: the census seat (MIC viewer) when it lies inside the district polygon;
about 50 do not (some by tens of km), so then the urban MEC school closest to the mean of
the polygon's urban schools, else the largest GeoNames place, else a point inside the
polygon. Every point is checked to lie strictly inside its ``codigo_distrito`` polygon.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from scipy.spatial import cKDTree

from geoportal.nombres import reparar_texto
from geoportal.settings import DATA_DIR
from geoportal.territory import read_census

COLUMNS = [
    "punto_id",
    "tipo",
    "nombre",
    "institucion",
    "zona",
    "capacidad",
    "lat",
    "lon",
    "origen",
    "codigo_distrito",
]
ORIGEN_MEC = "real:mec-2014"
ORIGEN_MSPBS = "real:mspbs-2016"
ORIGEN_MIC = "real:mic-mapa-productivo"
SINTETICO = "sintetico"

USF_TOTAL = 900
URBAN_SEAT_M = 3000.0
URBAN_SCHOOL_M = 1000.0
# Department capitals: DGEEC district 01 of each department, except Presidente Hayes
# (Villa Hayes, 1504) and Boquerón (Filadelfia, 1604); Asunción is its own.
CAPITALES = {
    "00": "0000", "01": "0101", "02": "0201", "03": "0301", "04": "0401", "05": "0501",
    "06": "0601", "07": "0701", "08": "0801", "09": "0901", "10": "1001", "11": "1101",
    "12": "1201", "13": "1301", "14": "1401", "15": "1504", "16": "1604", "17": "1701",
}  # fmt: skip
_EXCLUDED_SCHOOLS = ("1601022",)
_UNCERTAIN = "REVISAR_nuevo_padre_incierto"  # Nueva Asunción: wrong seat geocode

_TO_METRES = Transformer.from_crs(4326, 32721, always_xy=True)


# ------------------------------------------------------------------------ inputs
@dataclass(frozen=True)
class _Inputs:
    polys: pd.DataFrame  # codigo, nombre (census name), dpto, geometry (prepared shapely)
    censo: pd.DataFrame  # read_census() plus seat_lon/seat_lat/polygon
    schools: pd.DataFrame
    salud: pd.DataFrame
    mic: pd.DataFrame
    places: pd.DataFrame
    seats: pd.DataFrame  # per polygon: codigo, lon, lat, fuente


def _unit_hash(keys: np.ndarray, salt: int) -> np.ndarray:
    """Deterministic uniform [0, 1) per integer key (splitmix64), independent of the seed."""
    z = keys.astype(np.uint64) + np.uint64((salt * 0x9E3779B97F4A7C15) % 2**64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53)


def _locate(polys: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Index of the polygon strictly containing each point, -1 when none."""
    tree = shapely.STRtree(polys)
    pts, hit = tree.query(shapely.points(lon, lat), predicate="within")
    out = np.full(len(lon), -1, dtype=np.int64)
    out[pts] = hit  # coverage polygons do not overlap, so one hit per point at most
    return out


def _metres(lon, lat) -> np.ndarray:
    x, y = _TO_METRES.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return np.column_stack([x, y])


def _norm(text: pd.Series) -> pd.Series:
    def fold(s: str) -> str:
        return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))

    return (
        text.astype(str)
        .str.upper()
        .map(fold)
        .str.replace(r"[^A-Z0-9 ]", " ", regex=True)
        .str.split()
        .str.join(" ")
    )


@lru_cache(maxsize=2)
def _inputs(data_dir: Path = DATA_DIR) -> _Inputs:
    gdf = gpd.read_file(data_dir / "distritos.geojson")
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    shapely.prepare(geoms)
    censo = read_census(data_dir)
    same = censo[censo["relacion"] == "mismo_distrito"].set_index("codigo_2012")
    codigo = gdf["codigo"].astype(str).str.zfill(4)
    polys = pd.DataFrame(
        {
            "codigo": codigo,
            "nombre": codigo.map(same["distrito_nombre"]).fillna(gdf["DIST_DESC"].astype(str)),
            "dpto": gdf["DPTO"].astype(str).str.zfill(2),
            "geometry": geoms,
        }
    )
    poly_index = pd.Series(np.arange(len(polys)), index=polys["codigo"])

    schools = pd.read_csv(
        data_dir / "escuelas_mec.csv",
        dtype={"codigo": str, "nombre": str, "nombre_rue2026": str, "zona": str},
        usecols=["codigo", "nombre", "nombre_rue2026", "n_instituciones", "zona", "lat", "lon"],
    )
    schools = schools[~schools["codigo"].isin(_EXCLUDED_SCHOOLS)].reset_index(drop=True)
    schools["poly"] = _locate(geoms, schools["lon"].to_numpy(), schools["lat"].to_numpy())
    if (schools["poly"] < 0).any():
        bad = schools.loc[schools["poly"] < 0, "codigo"].tolist()
        raise ValueError(f"escuelas fuera de todo distrito: {bad}")

    salud = pd.read_csv(data_dir / "salud.csv", dtype={"nombre": str, "tipo": str})
    mic = pd.read_csv(
        data_dir / "salud_mic.csv", dtype={"nombre": str, "institucion": str, "prestador": str}
    )
    mic = mic.dropna(subset=["lat", "lon"]).reset_index(drop=True)
    places = pd.read_csv(data_dir / "localidades_geonames.csv")
    places["poly"] = _locate(geoms, places["lon"].to_numpy(), places["lat"].to_numpy())
    places = places[places["poly"] >= 0].reset_index(drop=True)

    seats = _polygon_seats(polys, same, schools, places, poly_index)
    censo = _district_seats(censo, data_dir, polys, seats, poly_index)
    return _Inputs(polys, censo, schools, salud, mic, places, seats)


def _polygon_seats(polys, same, schools, places, poly_index) -> pd.DataFrame:
    geoms = polys["geometry"].to_numpy()
    n = len(polys)
    lon = np.array(same["lon_cabecera"].reindex(polys["codigo"]), dtype=float)  # writable copy
    lat = np.array(same["lat_cabecera"].reindex(polys["codigo"]), dtype=float)
    has = ~np.isnan(lon)
    ok = np.zeros(n, dtype=bool)
    ok[has] = shapely.contains_xy(geoms[has], lon[has], lat[has])
    fuente = np.where(ok, "censo", "").astype(object)

    # Fallback 1: medoid of the urban schools (the urban area is the seat's town).
    urban = schools[schools["zona"].str.upper() == "URBANA"]
    mean = urban.groupby("poly")[["lon", "lat"]].transform("mean")
    d2 = (urban["lon"] - mean["lon"]) ** 2 + (urban["lat"] - mean["lat"]) ** 2
    medoid = urban.loc[d2.groupby(urban["poly"]).idxmin()].set_index("poly")
    take = ~ok & np.isin(np.arange(n), medoid.index)
    idx = np.flatnonzero(take)
    lon[idx] = medoid.loc[idx, "lon"].to_numpy()
    lat[idx] = medoid.loc[idx, "lat"].to_numpy()
    fuente[idx] = "escuela_urbana"
    ok |= take

    # Fallback 2: the largest GeoNames place; 3: a point surely inside the polygon.
    largest = (
        places.sort_values("poblacion_geonames", ascending=False)
        .drop_duplicates("poly")
        .set_index("poly")
    )
    take = ~ok & np.isin(np.arange(n), largest.index)
    idx = np.flatnonzero(take)
    lon[idx] = largest.loc[idx, "lon"].to_numpy()
    lat[idx] = largest.loc[idx, "lat"].to_numpy()
    fuente[idx] = "geonames"
    ok |= take
    idx = np.flatnonzero(~ok)
    rep = shapely.point_on_surface(geoms[idx])
    lon[idx], lat[idx] = shapely.get_x(rep), shapely.get_y(rep)
    fuente[idx] = "poligono"
    return pd.DataFrame({"codigo": polys["codigo"], "lon": lon, "lat": lat, "fuente": fuente})


def _district_seats(censo, data_dir, polys, seats, poly_index) -> pd.DataFrame:
    """Seat and polygon of each 2022 district that has a polygon link."""
    cross = pd.read_csv(data_dir / "crosswalk_2022_2012.csv", dtype={"codigo_2022": str})
    cross = cross.set_index("codigo_2022")[["lat_cabecera", "lon_cabecera"]].reindex(
        censo["codigo"]
    )
    censo = censo.copy()
    linked = censo["codigo_2012"].notna().to_numpy()
    censo["poly"] = -1
    censo.loc[linked, "poly"] = poly_index.reindex(censo.loc[linked, "codigo_2012"]).to_numpy()
    geoms = polys["geometry"].to_numpy()
    pidx = censo["poly"].to_numpy()
    # Own polygon: its validated seat. New district: the geocoded seat the crosswalk used
    # (inside the parent by construction), else the census seat if inside the parent.
    own = (censo["relacion"] == "mismo_distrito").to_numpy()
    lon = np.full(len(censo), np.nan)
    lat = np.full(len(censo), np.nan)
    lon[own] = seats["lon"].to_numpy()[pidx[own]]
    lat[own] = seats["lat"].to_numpy()[pidx[own]]
    for cand_lon, cand_lat in (
        (cross["lon_cabecera"].to_numpy(float), cross["lat_cabecera"].to_numpy(float)),
        (censo["lon_cabecera"].to_numpy(float), censo["lat_cabecera"].to_numpy(float)),
    ):
        todo = np.isnan(lon) & linked & ~np.isnan(cand_lon)
        inside = np.zeros(len(censo), dtype=bool)
        inside[todo] = shapely.contains_xy(geoms[pidx[todo]], cand_lon[todo], cand_lat[todo])
        lon[inside], lat[inside] = cand_lon[inside], cand_lat[inside]
    todo = np.isnan(lon) & linked
    lon[todo] = seats["lon"].to_numpy()[pidx[todo]]
    lat[todo] = seats["lat"].to_numpy()[pidx[todo]]
    censo["seat_lon"], censo["seat_lat"] = lon, lat
    return censo


# ------------------------------------------------------------------------ real points
def _real_schools(inp: _Inputs) -> pd.DataFrame:
    s = inp.schools
    urbana = s["zona"].str.upper().eq("URBANA").to_numpy()
    u = _unit_hash(s["codigo"].astype(np.int64).to_numpy(), salt=1)
    base = np.where(urbana, 150 + u * 450, 30 + u * 170)
    capacidad = np.rint(base * (1 + 0.5 * (s["n_instituciones"].to_numpy() - 1))).astype(int)
    nombre = s["nombre_rue2026"].where(
        s["nombre_rue2026"].fillna("").str.strip() != "", s["nombre"]
    ).map(reparar_texto)
    return pd.DataFrame(
        {
            "punto_id": "mec:" + s["codigo"],
            "tipo": "escuela",
            "nombre": nombre,
            "institucion": "MEC",
            "zona": np.where(urbana, "urbana", "rural"),
            "capacidad": capacidad,
            "lat": s["lat"].to_numpy(),
            "lon": s["lon"].to_numpy(),
            "origen": ORIGEN_MEC,
        }
    )


# births per year by MSPBS facility type (low, high)
_PARTOS = {
    "HOSPITAL MATERNO INFANTIL": (2000, 5000),
    "HOSPITAL REGIONAL": (1500, 3500),
    "HOSPITAL GENERAL": (1500, 3000),
    "HOSPITAL ESPECIALIZADO": (300, 2000),
    "HOSPITAL DISTRITAL": (300, 1200),
    "CENTRO DE SALUD": (100, 400),
}


def _real_health(inp: _Inputs) -> pd.DataFrame:
    salud = inp.salud[
        inp.salud["tipo"].str.contains("HOSPITAL") | (inp.salud["tipo"] == "CENTRO DE SALUD")
    ]
    lo_hi = np.array([_PARTOS.get(t, (300, 1200)) for t in salud["tipo"]], dtype=float)
    u = _unit_hash(salud["id"].to_numpy(np.int64), salt=2)
    mspbs = pd.DataFrame(
        {
            "punto_id": "mspbs:" + salud["id"].astype(str).str.zfill(3),
            "tipo": "hospital",
            "nombre": salud["nombre"].map(reparar_texto),
            "institucion": "MSPBS",
            "capacidad": np.rint(lo_hi[:, 0] + u * (lo_hi[:, 1] - lo_hi[:, 0])).astype(int),
            "lat": salud["lat"].to_numpy(),
            "lon": salud["lon"].to_numpy(),
            "origen": ORIGEN_MSPBS,
        }
    )

    mic = inp.mic
    hosp = mic[mic["institucion"] == "MSPBS"]
    # Drop MIC hospitals that salud.csv already has (same place, or same name nearby).
    tree = cKDTree(_metres(inp.salud["lon"], inp.salud["lat"]))
    dist, near = tree.query(_metres(hosp["lon"], hosp["lat"]))
    near_name = _norm(inp.salud["nombre"]).to_numpy()[near]
    own_name = _norm(hosp["nombre"]).to_numpy()
    same_name = np.array([a in b for a, b in zip(own_name, near_name)], dtype=bool)
    hosp = hosp[~((dist < 1500) | ((dist < 10_000) & same_name))]
    u = _unit_hash(hosp["establecimiento_id"].to_numpy(np.int64), salt=3)
    already = hosp["nombre"].str.upper().str.match(r"^(HOSPITAL|H[DRM]?[-. ])")
    mic_hosp = pd.DataFrame(
        {
            "punto_id": "mic:" + hosp["establecimiento_id"].astype(str).str.zfill(3),
            "tipo": "hospital",
            "nombre": hosp["nombre"].where(already, "HOSPITAL " + hosp["nombre"]).map(reparar_texto),
            "institucion": "MSPBS",
            "capacidad": np.rint(300 + u * 1200).astype(int),
            "lat": hosp["lat"].to_numpy(),
            "lon": hosp["lon"].to_numpy(),
            "origen": ORIGEN_MIC,
        }
    )

    ips = mic[mic["institucion"] == "IPS"]
    u = _unit_hash(ips["establecimiento_id"].to_numpy(np.int64), salt=4)
    own = (ips["prestador"] == "IPS").to_numpy()
    insured = np.where(own, 5000 + u * 35000, 1000 + u * 7000)
    has_ips = ips["nombre"].str.upper().str.contains(r"\bIPS\b")
    ips_df = pd.DataFrame(
        {
            "punto_id": "mic:" + ips["establecimiento_id"].astype(str).str.zfill(3),
            "tipo": "ips",
            "nombre": ips["nombre"].where(has_ips, "IPS " + ips["nombre"]).map(reparar_texto),
            "institucion": "IPS",
            "capacidad": np.rint(insured / 10).astype(int) * 10,
            "lat": ips["lat"].to_numpy(),
            "lon": ips["lon"].to_numpy(),
            "origen": ORIGEN_MIC,
        }
    )
    return pd.concat([mspbs, mic_hosp, ips_df], ignore_index=True)


# ------------------------------------------------------------------------ synthetic points
def _place(rng, inp: _Inputs, poly: np.ndarray, lon: np.ndarray, lat: np.ndarray, sigma_m: float):
    """Jitter anchors (inside their polygon) by ~sigma_m metres; keep every result inside.

    Anchors that cannot be moved inside the polygon after a few tries stay where they are.
    """
    geoms = inp.polys["geometry"].to_numpy()[poly]
    anchors_in = shapely.contains_xy(geoms, lon, lat)
    if not anchors_in.all():
        raise AssertionError("ancla sintética fuera de su distrito")
    out_lon, out_lat = lon.copy(), lat.copy()
    todo = np.ones(len(lon), dtype=bool)
    for _ in range(12):
        if not todo.any():
            break
        k = np.flatnonzero(todo)
        dy = rng.normal(0.0, sigma_m, len(k)) / 110_574.0
        dx = rng.normal(0.0, sigma_m, len(k)) / (111_320.0 * np.cos(np.radians(lat[k])))
        cand_lon = np.round(lon[k] + dx, 6)
        cand_lat = np.round(lat[k] + dy, 6)
        good = shapely.contains_xy(geoms[k], cand_lon, cand_lat)
        out_lon[k[good]], out_lat[k[good]] = cand_lon[good], cand_lat[good]
        todo[k[good]] = False
    return out_lon, out_lat


def _pick_anchors(rng, cand_poly, cand_lon, cand_lat, need: np.ndarray):
    """For polygon i pick need[i] anchors among its candidates, repeating only when short."""
    cand_poly = np.asarray(cand_poly)
    counts = np.bincount(cand_poly, minlength=len(need))
    copies = np.ceil(need / np.maximum(counts, 1)).astype(int)
    reps = copies[cand_poly]
    rep_idx = np.repeat(np.arange(len(cand_poly)), reps)
    copy_no = np.arange(len(rep_idx)) - np.repeat(np.cumsum(reps) - reps, reps)
    key = copy_no + rng.random(len(rep_idx))
    df = pd.DataFrame({"poly": cand_poly[rep_idx], "key": key, "cand": rep_idx})
    df = df.sort_values(["poly", "key"], kind="stable")
    df["rank"] = df.groupby("poly").cumcount()
    df = df[df["rank"].to_numpy() < need[df["poly"].to_numpy()]]
    c = df["cand"].to_numpy()
    return (
        df["poly"].to_numpy(),
        df["rank"].to_numpy() + 1,
        np.asarray(cand_lon)[c],
        np.asarray(cand_lat)[c],
    )


def _largest_remainder(weights: np.ndarray, total: int) -> np.ndarray:
    share = weights / weights.sum() * total
    base = np.floor(share).astype(int)
    rest = total - base.sum()
    order = np.lexsort((np.arange(len(share)), -(share - base)))  # ties by position
    base[order[:rest]] += 1
    return base


def _synthetic(inp: _Inputs, rng: np.random.Generator) -> pd.DataFrame:
    polys, censo, seats = inp.polys, inp.censo, inp.seats
    n_poly = len(polys)
    linked = censo[censo["poly"] >= 0]
    seated = linked[linked["relacion"] != _UNCERTAIN]
    pop_poly = np.bincount(linked["poly"], weights=linked["pob_total"], minlength=n_poly)
    frames = []

    # USF: one at every district seat, the rest by population (random places).
    s_poly, s_lon, s_lat, _ = _seats_2022(inp)
    u_lon, u_lat = _place(rng, inp, s_poly, s_lon, s_lat, sigma_m=150.0)
    need = _largest_remainder(pop_poly, USF_TOTAL - len(s_poly))
    schools, places = inp.schools, inp.places
    cand_poly = np.concatenate([schools["poly"], places["poly"], np.arange(n_poly)])
    cand_lon = np.concatenate([schools["lon"], places["lon"], seats["lon"]])
    cand_lat = np.concatenate([schools["lat"], places["lat"], seats["lat"]])
    poly, _, lon, lat = _pick_anchors(rng, cand_poly, cand_lon, cand_lat, need)
    lon, lat = _place(rng, inp, poly, lon, lat, sigma_m=300.0)
    all_poly = np.concatenate([s_poly, poly])
    frames.append(
        _frame(
            "usf",
            "MSPBS",
            "USF (sintética)",
            all_poly,
            pd.Series(all_poly).groupby(all_poly).cumcount().to_numpy() + 1,
            np.concatenate([u_lon, lon]),
            np.concatenate([u_lat, lat]),
            capacidad=rng.integers(70, 121, len(all_poly)) * 10,
            inp=inp,
        )
    )

    # Registro Civil: one per 2022 district with a seat, extras in big districts.
    rc_poly = seated["poly"].to_numpy()
    rc_lon, rc_lat = _place(
        rng, inp, rc_poly, seated["seat_lon"].to_numpy(), seated["seat_lat"].to_numpy(), 150.0
    )
    extra = (seated["pob_total"].to_numpy() // 100_000).astype(int)
    ex_need = np.bincount(rc_poly, weights=extra, minlength=n_poly).astype(int)
    urban = schools[schools["zona"].str.upper() == "URBANA"]
    # Urban schools, and the seat so that a polygon without urban schools still gets one.
    u_poly = np.concatenate([urban["poly"], np.arange(n_poly)])
    u_lon = np.concatenate([urban["lon"], seats["lon"]])
    u_lat = np.concatenate([urban["lat"], seats["lat"]])
    e_poly, _, e_lon, e_lat = _pick_anchors(rng, u_poly, u_lon, u_lat, ex_need)
    e_lon, e_lat = _place(rng, inp, e_poly, e_lon, e_lat, 300.0)
    all_poly = np.concatenate([rc_poly, e_poly])
    offices = np.bincount(all_poly, minlength=n_poly)
    cap = pop_poly[all_poly] * 0.03 / offices[all_poly] * rng.uniform(0.8, 1.2, len(all_poly))
    names = np.concatenate(
        [seated["distrito_nombre"].to_numpy(), polys["nombre"].to_numpy()[e_poly]]
    )
    numero = pd.Series(names).groupby(names).cumcount().to_numpy() + 1
    frames.append(
        _frame(
            "registro_civil",
            "REGISTRO_CIVIL",
            "Registro Civil (sintético)",
            all_poly,
            numero,
            np.concatenate([rc_lon, e_lon]),
            np.concatenate([rc_lat, e_lat]),
            capacidad=np.maximum(np.rint(cap / 10) * 10, 100),
            inp=inp,
            names=names,
        )
    )

    # Identificaciones: department capitals and districts over 50,000 inhabitants.
    idf = seated[seated["codigo"].isin(CAPITALES.values()) | (seated["pob_total"] > 50_000)]
    i_poly = idf["poly"].to_numpy()
    i_lon, i_lat = _place(
        rng, inp, i_poly, idf["seat_lon"].to_numpy(), idf["seat_lat"].to_numpy(), 150.0
    )
    cap = idf["pob_total"].to_numpy() * 0.05 * rng.uniform(0.8, 1.2, len(idf))
    frames.append(
        _frame(
            "identificaciones",
            "IDENTIFICACIONES",
            "Identificaciones (sintética)",
            i_poly,
            np.ones(len(idf), int),
            i_lon,
            i_lat,
            capacidad=np.maximum(np.rint(cap / 10) * 10, 500),
            inp=inp,
            names=idf["distrito_nombre"].to_numpy(),
        )
    )

    # SNPP: capital and most populous other district of each department; Asunción (one
    # district) gets its second centre near an urban school.
    by_pop = seated.sort_values(["pob_total", "codigo"], ascending=[False, True])
    capital = by_pop[by_pop["codigo"].isin(CAPITALES.values())]
    other = by_pop[~by_pop["codigo"].isin(CAPITALES.values())].drop_duplicates("dpto")
    sn = pd.concat([capital, other]).sort_values("codigo")
    s_poly = sn["poly"].to_numpy()
    s_lon, s_lat = _place(
        rng, inp, s_poly, sn["seat_lon"].to_numpy(), sn["seat_lat"].to_numpy(), 300.0
    )
    lone = capital[~capital["dpto"].isin(other["dpto"])]
    l_need = np.bincount(lone["poly"], minlength=n_poly)
    l_poly, _, l_lon, l_lat = _pick_anchors(rng, u_poly, u_lon, u_lat, l_need)
    l_lon, l_lat = _place(rng, inp, l_poly, l_lon, l_lat, 300.0)
    names = np.concatenate([sn["distrito_nombre"].to_numpy(), polys["nombre"].to_numpy()[l_poly]])
    s_all = np.concatenate([s_poly, l_poly])
    frames.append(
        _frame(
            "snpp",
            "MTESS",
            "Centro SNPP (sintético)",
            s_all,
            pd.Series(names).groupby(names).cumcount().to_numpy() + 1,
            np.concatenate([s_lon, l_lon]),
            np.concatenate([s_lat, l_lat]),
            capacidad=rng.integers(30, 151, len(s_all)) * 10,
            inp=inp,
            names=names,
        )
    )
    frames.append(_seat_service(inp, rng, pd.concat(frames, ignore_index=True)))
    return pd.concat(frames, ignore_index=True)


# Types whose office every district seat must have within reach, and the reach: the
# smallest urban catchment radius of the catalog services delivered there (snpp: the
# rural one, a training centre serves a region). A seat without one gets one.
_SEAT_TYPES = {
    "usf": ("MSPBS", "USF (sintética)", "urbana"),
    "registro_civil": ("REGISTRO_CIVIL", "Registro Civil (sintético)", "urbana"),
    "identificaciones": ("IDENTIFICACIONES", "Identificaciones (sintética)", "urbana"),
    "snpp": ("MTESS", "Centro SNPP (sintético)", "rural"),
}


def _seat_radius_km(tipo: str, zona: str) -> float:
    from geoportal.catalog import default_catalog

    radios = [
        getattr(s.radio_km, zona) for s in default_catalog().servicios if s.punto_tipo == tipo
    ]
    return float(min(radios)) if radios else 5.0


def _seats_2022(inp: _Inputs):
    """Seat of every 2022 district as the synthetic households use it: polygon, lon, lat, name."""
    from geoportal.synthetic.lugares import _insumos

    censo = _insumos().censo
    s_lon = censo["seat_lon"].to_numpy(float)
    s_lat = censo["seat_lat"].to_numpy(float)
    s_poly = _locate(inp.polys["geometry"].to_numpy(), s_lon, s_lat)
    ok = s_poly >= 0
    names = np.array([reparar_texto(n) for n in censo["distrito_nombre"].to_numpy()[ok]])
    return s_poly[ok], s_lon[ok], s_lat[ok], names


def _seat_service(inp: _Inputs, rng: np.random.Generator, synth: pd.DataFrame) -> pd.DataFrame:
    """Offices added at the district seats (the ones the synthetic households cluster
    around, :mod:`geoportal.synthetic.lugares`) that have none of a type within reach."""
    s_poly, s_lon, s_lat, names = _seats_2022(inp)
    xy = _metres(s_lon, s_lat)
    frames = []
    for tipo, (institucion, prefix, zona) in _SEAT_TYPES.items():
        have = synth[synth["tipo"] == tipo]
        reach_m = 0.6 * _seat_radius_km(tipo, zona) * 1000.0
        dist = (
            cKDTree(_metres(have["lon"], have["lat"])).query(xy)[0]
            if len(have)
            else np.full(len(xy), np.inf)
        )
        need = np.flatnonzero(dist > reach_m)
        if not len(need):
            continue
        lon, lat = _place(rng, inp, s_poly[need], s_lon[need], s_lat[need], 150.0)
        frames.append(
            _frame(
                tipo,
                institucion,
                prefix + " sede",
                s_poly[need],
                np.ones(len(need), int),
                lon,
                lat,
                capacidad=rng.integers(30, 121, len(need)) * 10,
                inp=inp,
                names=names[need],
            )
        )
    out = pd.concat(frames, ignore_index=True) if frames else synth.iloc[:0]
    # ids continue after the existing ones of each type
    out = out.copy()
    for tipo, idx in out.groupby("tipo").groups.items():
        first = int((synth["tipo"] == tipo).sum())
        out.loc[idx, "punto_id"] = [f"{tipo}:sint:{first + k:06d}" for k in range(1, len(idx) + 1)]
    return out


def _frame(
    tipo, institucion, prefix, poly, numero, lon, lat, capacidad, inp, names=None
) -> pd.DataFrame:
    names = inp.polys["nombre"].to_numpy()[poly] if names is None else names
    names = [reparar_texto(n) for n in names]
    df = pd.DataFrame(
        {
            "tipo": tipo,
            "nombre": [f"{prefix} {n} {k}" for n, k in zip(names, numero)],
            "institucion": institucion,
            "capacidad": np.asarray(capacidad).astype(int),
            "lat": np.round(lat, 6),
            "lon": np.round(lon, 6),
            "origen": SINTETICO,
            "_poly": poly,
        }
    )
    df.insert(0, "punto_id", [f"{tipo}:sint:{i:06d}" for i in range(1, len(df) + 1)])
    return df


# ------------------------------------------------------------------------ assembly
def _zones(inp: _Inputs, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    xy = _metres(lon, lat)
    seats = inp.censo[(inp.censo["poly"] >= 0) & (inp.censo["relacion"] != _UNCERTAIN)]
    d_seat, _ = cKDTree(_metres(seats["seat_lon"], seats["seat_lat"])).query(xy)
    s = inp.schools
    d_school, i_school = cKDTree(_metres(s["lon"], s["lat"])).query(xy)
    urban_school = s["zona"].str.upper().eq("URBANA").to_numpy()[i_school] & (
        d_school < URBAN_SCHOOL_M
    )
    return np.where((d_seat < URBAN_SEAT_M) | urban_school, "urbana", "rural")


_TIPO_ORDER = ["escuela", "usf", "hospital", "ips", "registro_civil", "identificaciones", "snpp"]


def build_points(semilla: int = 1) -> pd.DataFrame:
    """All delivery points of the country; real rows never depend on ``semilla``."""
    inp = _inputs()
    rng = np.random.default_rng(semilla)
    schools = _real_schools(inp)
    health = _real_health(inp)
    health["zona"] = _zones(inp, health["lon"].to_numpy(), health["lat"].to_numpy())
    synth = _synthetic(inp, rng)
    synth["zona"] = _zones(inp, synth["lon"].to_numpy(), synth["lat"].to_numpy())

    df = pd.concat([schools, health, synth], ignore_index=True)
    geoms = inp.polys["geometry"].to_numpy()
    poly = _locate(geoms, df["lon"].to_numpy(), df["lat"].to_numpy())
    if (poly < 0).any():
        raise AssertionError(
            f"puntos fuera de todo distrito: {df.loc[poly < 0, 'punto_id'].tolist()}"
        )
    wanted = df["_poly"].to_numpy(dtype=float)
    moved = ~np.isnan(wanted) & (wanted != poly)
    # Simplified neighbours can overlap by a hair: a point inside its own polygon keeps it.
    idx = np.flatnonzero(moved)
    own = shapely.contains_xy(geoms[wanted[idx].astype(int)], df["lon"].to_numpy()[idx], df["lat"].to_numpy()[idx])
    poly[idx[own]] = wanted[idx[own]].astype(int)
    moved[idx[own]] = False
    if moved.any():
        raise AssertionError(
            f"puntos sintéticos fuera de su distrito: {df.loc[moved, 'punto_id'].tolist()}"
        )
    df["codigo_distrito"] = inp.polys["codigo"].to_numpy()[poly]
    if not df["punto_id"].is_unique:
        raise AssertionError("punto_id repetido")
    df["tipo"] = pd.Categorical(df["tipo"], categories=_TIPO_ORDER, ordered=True)
    df = df.sort_values(["tipo", "punto_id"], kind="stable").reset_index(drop=True)
    df["tipo"] = df["tipo"].astype(str)
    df["capacidad"] = df["capacidad"].astype(int)
    return df[COLUMNS]


def write_points(path: str | Path, semilla: int = 1) -> int:
    """Write the points file (UTF-8 CSV, format ``puntos``); return the number of rows."""
    df = build_points(semilla)
    df.to_csv(path, index=False, encoding="utf-8")
    return len(df)


def district_seats() -> pd.DataFrame:
    """Validated seat of each 2012 polygon: codigo, lon, lat, fuente (how it was chosen)."""
    return _inputs().seats.copy()
