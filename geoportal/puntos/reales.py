"""The real delivery points (MEC schools, MSPBS and MIC health) and the validated seat
of each district, read from the product's copy of the open data (geoportal/datos)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from geoportal.nombres import reparar_texto
from geoportal.puntos.comun import (
    _EXCLUDED_SCHOOLS,
    ORIGEN_MEC,
    ORIGEN_MIC,
    ORIGEN_MSPBS,
    _Inputs,
    _locate,
    _metres,
    _norm,
    _unit_hash,
)
from geoportal.settings import DATA_DIR
from geoportal.territory import read_census


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
    mic = pd.read_csv(data_dir / "salud_mic.csv", dtype={"nombre": str, "institucion": str, "prestador": str})
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
    largest = places.sort_values("poblacion_geonames", ascending=False).drop_duplicates("poly").set_index("poly")
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
    cross = cross.set_index("codigo_2022")[["lat_cabecera", "lon_cabecera"]].reindex(censo["codigo"])
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
    nombre = s["nombre_rue2026"].where(s["nombre_rue2026"].fillna("").str.strip() != "", s["nombre"]).map(reparar_texto)
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
    salud = inp.salud[inp.salud["tipo"].str.contains("HOSPITAL") | (inp.salud["tipo"] == "CENTRO DE SALUD")]
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


def _seats_2022(inp: _Inputs):
    """Seat of every 2022 district as the synthetic households use it: polygon, lon, lat, name."""
    from geoportal.synthetic.lugares import insumos

    censo = insumos().censo
    s_lon = censo["seat_lon"].to_numpy(float)
    s_lat = censo["seat_lat"].to_numpy(float)
    s_poly = _locate(inp.polys["geometry"].to_numpy(), s_lon, s_lat)
    ok = s_poly >= 0
    names = np.array([reparar_texto(n) for n in censo["distrito_nombre"].to_numpy()[ok]])
    return s_poly[ok], s_lon[ok], s_lat[ok], names
