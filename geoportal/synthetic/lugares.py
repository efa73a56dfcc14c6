"""Real inputs of the generator and the settlement model: seeds, seats, household places."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
import shapely

from geoportal import geodesia
from geoportal.nombres import clave, nombre_de_lugar
from geoportal.settings import DATA_DIR
from geoportal.synthetic.parametros import _CHACO, _INDIGENA_DPTO, _INDIGENA_RESTO, PILOTOS
from geoportal.synthetic.registros import Hogares, Insumos, SemillasLote

_MINUSCULAS = {"de", "del", "la", "las", "los", "y", "e", "el", "en"}


def _titulo(text: str) -> str:
    """MEC upper-case locality names -> title case, without commas or quotes (CSV-safe)."""
    words = str(text).replace(",", " -").replace('"', "").split()
    out = [lw if i and lw in _MINUSCULAS else lw[:1].upper() + lw[1:] for i, lw in enumerate(w.lower() for w in words)]
    return " ".join(out) or "Sin nombre"


def _limpio(text: str) -> str:
    return " ".join(str(text).replace(",", " -").replace('"', "").split()) or "Sin nombre"


# Share of the (non-community) rural households living dispersed, away from any school or
# named place: estancias, ranchos and small parajes (MODELLED; the census publishes no
# district figure). The Chaco is mostly dispersed settlement.
_DISPERSO = 0.12
_DISPERSO_CHACO = 0.35
_KM2_POR_PARAJE = 60.0


def _parajes(geom, codigo: str, seat: np.ndarray, rivals: np.ndarray, i: int, n_rivals: int):
    """Dispersed rural seeds: points uniform over the district's part of its polygon.

    One per ``_KM2_POR_PARAJE`` km² (4 to 150), drawn with a generator seeded by the
    district code, so the settlement geography is the same for every ``semilla``.
    """
    area = _area_km2(geom) / max(n_rivals, 1)
    k = int(np.clip(round(area / _KM2_POR_PARAJE), 4, 150))
    rng = np.random.default_rng(int(codigo) + 7_919)
    x0, y0, x1, y1 = shapely.bounds(geom)
    out_lon, out_lat = [], []
    for _ in range(40):
        lon = rng.uniform(x0, x1, 8 * k)
        lat = rng.uniform(y0, y1, 8 * k)
        ok = _inside(geom, lon, lat)
        if len(rivals) > 1 and ok.any():
            _, near = geodesia.nearest_km(lon[ok], lat[ok], seat[rivals, 0], seat[rivals, 1])
            ok[np.flatnonzero(ok)[rivals[near] != i]] = False
        out_lon.append(lon[ok])
        out_lat.append(lat[ok])
        if sum(len(x) for x in out_lon) >= k:
            break
    return np.concatenate(out_lon)[:k], np.concatenate(out_lat)[:k]


def _area_km2(geom) -> float:
    lat0 = shapely.get_coordinates(shapely.centroid(geom))[0, 1]
    return float(shapely.area(geom)) * (111.32**2) * float(np.cos(np.radians(lat0)))


def _inside(geom, lon, lat) -> np.ndarray:
    return shapely.contains_xy(geom, np.asarray(lon, float), np.asarray(lat, float))


@lru_cache(maxsize=1)
def insumos() -> Insumos:
    import geopandas as gpd

    censo = pd.read_csv(DATA_DIR / "censo2022_distritos.csv", dtype={"codigo": str, "dpto": str})
    cw = pd.read_csv(DATA_DIR / "crosswalk_2022_2012.csv", dtype={"codigo_2022": str, "codigo_2012": str}).rename(
        columns={"lat_cabecera": "lat_geocod", "lon_cabecera": "lon_geocod"}
    )
    censo = censo.merge(
        cw[["codigo_2022", "codigo_2012", "relacion", "lat_geocod", "lon_geocod"]],
        left_on="codigo",
        right_on="codigo_2022",
        how="left",
        validate="one_to_one",
    )
    has_2012 = censo["codigo_2012"].fillna("").astype(str).str.len() == 4
    censo["poly"] = np.where(has_2012, censo["codigo_2012"].fillna("").astype(str), "D:" + censo["dpto"])

    dist = gpd.read_file(DATA_DIR / "distritos.geojson")
    dep = gpd.read_file(DATA_DIR / "departamentos.geojson")
    poligonos: dict[str, object] = dict(zip(dist["codigo"].astype(str), dist.geometry.values))
    poligonos.update(zip("D:" + dep["DPTO"].astype(str), dep.geometry.values))
    for geom in poligonos.values():
        shapely.prepare(geom)
        # Build GEOS's lazy point-in-area index now, so threads only ever read it.
        x, y = shapely.get_coordinates(geom.representative_point())[0]
        shapely.contains_xy(geom, x, y)
    missing = sorted(set(censo["poly"]) - set(poligonos))
    if missing:
        raise ValueError(f"faltan polígonos en los datos: {missing}")

    esc = pd.read_csv(
        DATA_DIR / "escuelas_mec.csv",
        usecols=["barrio_localidad", "zona", "lat", "lon"],
        dtype={"barrio_localidad": str, "zona": str},
    ).dropna(subset=["lat", "lon"])
    barrio = esc["barrio_localidad"].fillna("")
    geo = pd.read_csv(DATA_DIR / "localidades_geonames.csv")
    # Candidate seeds: kind 1 = school, 2 = GeoNames place.
    c_lon = np.concatenate([esc["lon"].to_numpy(float), geo["lon"].to_numpy(float)])
    c_lat = np.concatenate([esc["lat"].to_numpy(float), geo["lat"].to_numpy(float)])
    # Names repaired at load time (geoportal.nombres: "Ð" read as "Ñ"); a placeholder such
    # as "LOCALIDAD A CONFIRMAR" is not a place: its seed borrows a real name below.
    nombres = [nombre_de_lugar(x) for x in barrio] + [nombre_de_lugar(x) for x in geo["name"]]
    c_real = np.array([x is not None for x in nombres])
    c_name = np.array(
        [_titulo(x) if x else "" for x in nombres[: len(esc)]] + [_limpio(x) if x else "" for x in nombres[len(esc) :]],
        dtype=object,
    )
    c_pop = np.r_[np.zeros(len(esc)), geo["poblacion_geonames"].fillna(0).to_numpy(float)]
    c_kind = np.r_[np.ones(len(esc), np.int8), np.full(len(geo), 2, np.int8)]
    c_urb = np.r_[esc["zona"].str.upper().eq("URBANA").to_numpy(), np.zeros(len(geo), bool)]
    c_ind = np.r_[barrio.str.upper().str.contains("INDIG").to_numpy(), np.zeros(len(geo), bool)]
    used = set(censo["poly"])
    pools = {k: np.flatnonzero(_inside(g, c_lon, c_lat)) for k, g in poligonos.items() if k in used}

    # District seats, always inside the district's polygon.
    n = len(censo)
    seat = np.full((n, 2), np.nan)
    for i, row in enumerate(censo.itertuples(index=False)):
        geom, pool = poligonos[row.poly], pools[row.poly]
        cands = [(row.lon_geocod, row.lat_geocod)] if row.relacion != "mismo_distrito" else []
        cands.append((row.lon_cabecera, row.lat_cabecera))
        cands = [(float(a), float(b)) for a, b in cands if pd.notna(a) and pd.notna(b)]
        good = [c for c in cands if _inside(geom, [c[0]], [c[1]])[0]]
        if good:
            seat[i] = good[0]
            continue
        # A GeoNames place named like the district; else the urban school or place
        # nearest the (misplaced) seat; else the school nearest a point of the polygon.
        named = [j for j in pool if c_kind[j] == 2 and clave(c_name[j]) == clave(row.distrito_nombre)]
        urban = pool[c_urb[pool] | (c_kind[pool] == 2)]
        ref = cands[0] if cands else tuple(shapely.get_coordinates(geom.representative_point())[0])
        if named:
            seat[i] = c_lon[named[0]], c_lat[named[0]]
        elif cands and len(urban):
            k = urban[np.argmin(geodesia.haversine_km(ref[0], ref[1], c_lon[urban], c_lat[urban]))]
            seat[i] = c_lon[k], c_lat[k]
        elif len(pool):
            k = pool[np.argmin(geodesia.haversine_km(ref[0], ref[1], c_lon[pool], c_lat[pool]))]
            seat[i] = c_lon[k], c_lat[k]
        else:
            seat[i] = ref
    censo["seat_lon"], censo["seat_lat"] = seat[:, 0], seat[:, 1]

    # Seeds of each district: its seat plus the candidates of its polygon that are nearer
    # its seat than the seat of any other district sharing the polygon, plus dispersed
    # rural seeds (parajes).
    poly_arr = censo["poly"].to_numpy()
    dpto = censo["dpto"].to_numpy(str)
    parts = []
    for i, row in enumerate(censo.itertuples(index=False)):
        geom, pool = poligonos[row.poly], pools[row.poly]
        rivals = np.flatnonzero(poly_arr == row.poly)
        if row.poly.startswith("D:"):
            rivals = np.union1d(rivals, np.flatnonzero(_inside(geom, seat[:, 0], seat[:, 1])))
        keep = np.ones(len(pool), dtype=bool)
        if len(rivals) > 1 and len(pool):
            _, near = geodesia.nearest_km(c_lon[pool], c_lat[pool], seat[rivals, 0], seat[rivals, 1])
            keep = rivals[near] == i
            if keep.sum() < 3:
                dist = geodesia.haversine_km(seat[i, 0], seat[i, 1], c_lon[pool], c_lat[pool])
                keep[np.argsort(dist, kind="stable")[:10]] = True
        mine = pool[keep]
        seat_name = nombre_de_lugar(row.distrito_nombre) or str(row.distrito_nombre)
        p_lon, p_lat = _parajes(geom, row.codigo, seat, rivals, i, len(rivals))
        lon = np.r_[seat[i, 0], c_lon[mine], p_lon]
        lat = np.r_[seat[i, 1], c_lat[mine], p_lat]
        kind = np.r_[0, c_kind[mine], np.full(len(p_lon), 3, np.int8)]
        urb = np.r_[True, c_urb[mine], np.zeros(len(p_lon), bool)]
        com = np.r_[False, c_ind[mine], np.zeros(len(p_lon), bool)]
        real = np.r_[True, c_real[mine], np.zeros(len(p_lon), bool)]
        name = np.r_[np.array([_limpio(seat_name)], dtype=object), c_name[mine], [""] * len(p_lon)]
        # Placeholders and parajes take the name of the nearest real place of the district
        # that is not an indigenous community (the compañía they belong to).
        donor = np.flatnonzero(real & ~com)
        fill = np.flatnonzero(~real)
        if len(fill):
            _, k = geodesia.nearest_km(lon[fill], lat[fill], lon[donor], lat[donor])
            name[fill] = name[donor[k]]
        pop = np.r_[0.0, c_pop[mine], np.zeros(len(p_lon))]
        dseat = geodesia.haversine_km(seat[i, 0], seat[i, 1], lon, lat)
        # Urban households: the seat, urban schools (fewer far from the seat) and GeoNames
        # towns by their population; never a rural school, a paraje or a far hamlet.
        w_u = np.where(urb & (kind == 1), np.exp(-dseat / 15.0), 0.0)
        w_u += np.where(kind == 2, np.minimum(pop, 50_000.0) / 2_000.0 * np.exp(-dseat / 30.0), 0.0)
        w_u[0] = 3.0 + 0.1 * w_u[1:].sum()
        # Rural households: nucleated around rural schools and small places, or dispersed
        # over the parajes (a share ``_DISPERSO`` of the non-community rural weight).
        w_r = np.where(((kind == 1) & ~urb) | ((kind == 2) & (pop < 2_000.0)), 1.0, 0.0)
        if w_r.sum() == 0:  # no rural school: rural households spread over every seed
            w_r = np.where(kind == 1, 0.5, np.where(kind == 3, 0.0, 1.0))
        w_r[com] = 0.0
        if w_r.sum() == 0:  # only community schools: rural households at the other seeds
            w_r = np.where(com, 0.0, 1.0)
        share = _DISPERSO_CHACO if dpto[i] in _CHACO else _DISPERSO
        if len(p_lon):
            w_r[kind == 3] = share / (1.0 - share) * w_r.sum() / len(p_lon)
        parts.append(
            pd.DataFrame(
                {
                    "codigo": row.codigo,
                    "lon": lon,
                    "lat": lat,
                    "nombre": name,
                    "comunidad": com,
                    "urbana": urb,
                    "w_u": np.where(com, 0.0, w_u),
                    "w_r": w_r,
                    "esc_u": np.select([com, kind == 0], [0.8, 1.0], 0.5),
                    "esc_r": np.select([com, kind == 3], [0.8, 1.5], 2.0),
                }
            )
        )
    semillas = pd.concat(parts, ignore_index=True)

    # Urban share from the density of the polygon (all 2022 districts on it together).
    pob_poly = censo.groupby("poly")["pob_total"].transform("sum").to_numpy(float)
    area = np.array([_area_km2(poligonos[k]) for k in poly_arr])
    dens = pob_poly / np.maximum(area, 1e-6)
    urb = 0.12 + 0.86 / (1.0 + np.exp(-2.5 * (np.log10(np.maximum(dens, 1e-3)) - 2.0)))
    urb = np.where(censo["dpto"].to_numpy() == "00", 1.0, urb)
    censo["urbana"] = np.where(np.char.startswith(poly_arr.astype(str), "D:"), 0.3, urb)
    censo["indigena"] = [_INDIGENA_DPTO.get(x, _INDIGENA_RESTO) for x in censo["dpto"]]
    return Insumos(censo=censo, poligonos=poligonos, semillas=semillas)


def _seleccion(ambito: str | Sequence[str], censo: pd.DataFrame) -> pd.DataFrame:
    if isinstance(ambito, str):
        key = ambito.strip().lower()
        if key == "pilotos":
            codes = list(PILOTOS)
        elif key in ("pais", "país"):
            return censo.reset_index(drop=True)
        else:
            codes = [c.strip() for c in ambito.replace(";", ",").split(",") if c.strip()]
    else:
        codes = [str(c).strip() for c in ambito]
    codes = [c.zfill(4) for c in codes]
    unknown = sorted(set(codes) - set(censo["codigo"]))
    if unknown or not codes:
        raise ValueError(
            "ámbito inválido: use 'pilotos', 'pais' o una lista de códigos de distrito del censo 2022"
            + (f" (desconocidos: {', '.join(unknown)})" if unknown else "")
        )
    return censo[censo["codigo"].isin(codes)].reset_index(drop=True)  # census order


def _semillas_lote(sel: pd.DataFrame, ins: Insumos) -> SemillasLote:
    sem = ins.semillas[ins.semillas["codigo"].isin(sel["codigo"])]
    pos = pd.Series(np.arange(len(sel)), index=sel["codigo"].to_numpy())
    s_d = pos.reindex(sem["codigo"].to_numpy()).to_numpy(np.int64)
    order = np.argsort(s_d, kind="stable")
    return SemillasLote(d=s_d[order], tabla=sem.iloc[order].reset_index(drop=True))


def _ubicar(
    sel: pd.DataFrame, ins: Insumos, hog: Hogares, sem: SemillasLote, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Household coordinates around their seed, always inside the district polygon."""
    tabla = sem.tabla
    s_lon, s_lat = tabla["lon"].to_numpy(float), tabla["lat"].to_numpy(float)
    H = len(hog.d)
    seed = hog.semilla
    scale = np.where(hog.urbana, tabla["esc_u"].to_numpy(float)[seed], tabla["esc_r"].to_numpy(float)[seed])
    lon_out, lat_out = np.empty(H), np.empty(H)
    polys = [ins.poligonos[k] for k in sel["poly"]]
    todo = np.arange(H)
    tries = 14
    for attempt in range(tries):
        if len(todo) == 0:
            break
        if attempt < tries - 1:
            r = np.minimum(rng.exponential(1.0, len(todo)), 4.0) * scale[todo] * (0.7**attempt)
            theta = rng.uniform(0.0, 2.0 * np.pi, len(todo))
            dlon, dlat = geodesia.offset_deg(r * np.sin(theta), r * np.cos(theta), s_lat[seed[todo]])
        else:  # last resort: the seed itself
            dlon = dlat = np.zeros(len(todo))
        lon = np.round(s_lon[seed[todo]] + dlon, 6)
        lat = np.round(s_lat[seed[todo]] + dlat, 6)
        ok = np.zeros(len(todo), dtype=bool)
        bounds = np.searchsorted(hog.d[todo], np.arange(len(sel) + 1))
        for d in np.flatnonzero(np.diff(bounds)):
            sl = slice(bounds[d], bounds[d + 1])
            ok[sl] = _inside(polys[d], lon[sl], lat[sl])
        lon_out[todo[ok]], lat_out[todo[ok]] = lon[ok], lat[ok]
        todo = todo[~ok]
    for d in np.unique(hog.d[todo]):  # seed on the border after rounding
        rp = np.round(shapely.get_coordinates(polys[d].representative_point())[0], 6)
        if not _inside(polys[d], [rp[0]], [rp[1]])[0]:
            raise RuntimeError(f"no se pudo ubicar hogares dentro del distrito {sel['codigo'].iat[d]}")
        t = todo[hog.d[todo] == d]
        lon_out[t], lat_out[t] = rp[0], rp[1]
    return lon_out, lat_out
