"""Synthetic FIPS: households (``hogares.csv``) and persons (``personas.csv``) for testing.

This module owns the generator of **synthetic** Fichas de Información de Protección Social
(FIPS). Nothing it writes describes a real household or person: every row carries
``origen = sintetico``. Only the district totals and the places come from real data
(``geoportal/datos``, see ``FUENTES.md``); everything else is a documented model. The files
follow ``docs/FORMATOS.md`` exactly and are loaded with ``geoportal ingestar``.

Public API: :func:`generate`. Same ``semilla`` and ``ambito`` (and the same ``puntos`` and
``hoy``) give byte-identical files; all randomness comes from one
``numpy.random.Generator(PCG64(semilla))`` consumed in a fixed order. Everything is
vectorized over persons and households (Python loops only over districts, polygons and
catalog services), so the whole country (6.1 M persons) takes seconds.

Modelling assumptions (all synthetic unless said otherwise)
-----------------------------------------------------------
Population (real totals, modelled detail)
    * Persons per 2022 census district = ``pob_total`` of ``censo2022_distritos.csv``
      exactly; men and women = ``pob_hombres`` / ``pob_mujeres`` exactly; the 0-4, 5-14 and
      15+ groups by sex equal the census ``pob_*`` columns exactly (0-4 = total - 5+,
      5-14 = 5+ - 15+).
    * Single years inside those bands follow a declining pyramid: weight
      ``exp(-lambda*(edad-15)) * S(edad)`` for 15-100 years, with a Gompertz survival
      ``S`` (hazard ``6e-5*exp(0.088*edad)``, x1.3 men, x0.7 women), and a milder
      ``exp(-lambda_c*edad)`` inside 0-4 and 5-14. ``lambda`` is solved per district so the
      interpolated median age is ``edad_mediana + 0.5`` (the census gives completed years).
      Ages are capped at 100.
    * Ages are completed years at the reference date ``hoy`` (default 2026-01-01, fixed so
      runs are reproducible); the birth date is a uniform day consistent with that age.
      Babies (age 0) are born on or before their household's survey date.
    * Pregnancy: women 15-44, prevalence by age 3.5 % (15-19), 6 % (20-24), 5.5 % (25-29),
      4 % (30-34), 2.2 % (35-39), 0.7 % (40-44), x1.4 for indigenous women (about 3.5 %
      overall). Disability: 1.5 % (0-4) rising to 32 % (75+), about 6-7 % overall.
    * Indigenous status is a household attribute, rural households only. Department shares
      (Boquerón 40 %, Presidente Hayes 30 %, Alto Paraguay 20 %, Canindeyú 7 %, Amambay
      5 %, Concepción, San Pedro, Caaguazú 2 %, Alto Paraná 1.5 %, Guairá, Caazapá 1 %,
      Itapúa 0.5 %, the rest 0.2 %) approximate the 2022 census indigenous total (about
      140 000, 2.3 %); they are not district figures.

Households
    * Urban share per district from population density of its 2012 polygon (logistic in
      log10 persons/km²; 100 % in Asunción; 30 % where there is no polygon); about 60 %
      nationally, close to the census.
    * Number of households = population / mean size, mean size
      ``3.0 + 0.5*(1 - urban share) + 1.8*indigenous share`` (about 3.2 and 1.9 M households
      nationally). Sizes: 1 + a Gamma(5)-Poisson number of extra members (larger for rural
      x1.25 and indigenous x1.5 households), so about 15 % live alone and a few have 10+.
    * Every household gets one head aged 18+ (drawn among the district's adults, weights
      rising with age to 30, men x1.7). The other members fill the remaining places of the
      same district by matching noisy age keys: children go to households whose head is
      about 27 years older, partners to heads of similar age, some elderly to younger
      heads. So every person belongs to exactly one household of its district and every
      household has someone 18+.

Locations
    * District 2022 -> 2012 polygon via ``crosswalk_2022_2012.csv``; without ``codigo_2012``
      the department polygon. New districts share their parent polygon: the seeds in a
      shared polygon are split by nearest district seat (a Voronoi split), so each new
      district clusters around its own seat.
    * Settlement seeds: the district seat (census ``lat/lon_cabecera``, the crosswalk's
      geocoded seat for new districts; replaced by the nearest urban school or GeoNames
      place when it falls outside the polygon), the real MEC schools and GeoNames places
      inside the polygon. Urban households go to the seat (1 km scale), urban schools
      (weight falling with distance to the seat, 15 km) and places (0.5 km scale); rural
      households to rural schools (2 km scale); indigenous households favour schools of
      indigenous communities ("COM. INDIG..."; 0.8 km scale).
    * Offsets: uniform direction, exponential distance (capped at 4 scales); points outside
      the polygon are redrawn with shrinking distance, finally placed on the seed. Every
      household lies inside its polygon after rounding to 6 decimals (about 0.1 m).
    * ``localidad`` = the seed's name (school ``barrio_localidad``, GeoNames name, or the
      district name for the seat); ``zona`` = the household's drawn zone.
    * ``fecha_relevamiento``: uniform over the 330 days before ``hoy``.

Service statuses (``servicios``)
    * Only codes of ``Catalogo.codigos_fips(unidad)`` whose ``aplica`` rule holds for the
      person (households: their head) are drawn, so listed codes always apply.
    * Place-based services: probability ``p_far + (p_near - p_far) / (1 + (d/R)^2)``, with
      ``d`` the great-circle distance (``geodesia.nearest_km``) from the household to the
      nearest point of the service's ``punto_tipo`` in ``puntos`` and ``R`` the catalog
      radius for the household's zone; times a rural factor (< 1) and an indigenous
      factor. No point of that type -> ``p_far``. Other services use urban / rural
      probabilities (pensions, Tekoporã, water, electricity, roads...), with indigenous and
      Chaco factors and age modifiers (late birth registration at age 0, fewer cédulas
      under 10, less pre-school at 4). Levels aim at published orders of magnitude (birth
      registration ~90 %, cédula ~80 %, vaccines 70-85 % near a USF, pension 65+ ~50 %),
      not at official figures.
    * Statuses of one household are correlated through a latent deprivation score
      (Gaussian copula, rho 0.6 households / 0.5 persons); pro-poor programmes (Tekoporã,
      Abrazo, disability pension) are more likely where deprivation is higher.

Names
    Drawn with Zipf-like weights from short lists of common Paraguayan Spanish and Guaraní
    names (with ñ, accents, ĩ and g̃); 55 % have two given names; most members carry the
    head's first surname. They are synthetic and match no real person on purpose.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import shapely
from scipy.special import ndtr

from geoportal import geodesia
from geoportal.catalog import Catalogo, default_catalog
from geoportal.settings import DATA_DIR

PILOTOS: tuple[str, ...] = ("1116", "1602", "0607", "0218")
FECHA_REFERENCIA = date(2026, 1, 1)
EDAD_MAXIMA = 100

COLUMNAS_HOGARES = (
    "hogar_id", "codigo_distrito", "localidad", "zona", "fecha_relevamiento",
    "lat", "lon", "servicios", "origen",
)
COLUMNAS_PERSONAS = (
    "persona_id", "hogar_id", "nombres", "apellidos", "sexo", "fecha_nacimiento",
    "embarazada", "discapacidad", "indigena", "servicios", "origen",
)

Progreso = Callable[[str, float], None]

# ---------------------------------------------------------------------------- parameters
_INDIGENA_DPTO = {
    "16": 0.40, "15": 0.30, "17": 0.20, "14": 0.07, "13": 0.05, "01": 0.02, "02": 0.02,
    "05": 0.02, "10": 0.015, "04": 0.01, "06": 0.01, "07": 0.005,
}
_INDIGENA_RESTO = 0.002
_CHACO = ("15", "16", "17")

# Place-based services: (p_near, p_far, rural factor, indigenous factor).
_CON_PUNTO = {
    "CPN": (0.88, 0.50, 0.92, 0.80),
    "PARTO_INST": (0.98, 0.80, 0.95, 0.70),
    "INSCRIPCION_NAC": (0.97, 0.82, 0.96, 0.80),
    "VACUNAS": (0.85, 0.45, 0.92, 0.80),
    "CONTROL_CRECIMIENTO": (0.75, 0.35, 0.90, 0.80),
    "EDUC_INICIAL": (0.72, 0.35, 0.85, 0.70),
    "ESCOLAR_BASICA": (0.97, 0.80, 0.97, 0.85),
    "ESCOLAR_MEDIA": (0.82, 0.50, 0.85, 0.60),
    "CEDULA": (0.93, 0.72, 0.95, 0.75),
    "USF_ADSCRIPCION": (0.72, 0.25, 0.95, 0.85),
    "FORMACION_LABORAL": (0.12, 0.03, 0.70, 0.50),
    "SEGURO_SOCIAL": (0.38, 0.08, 0.55, 0.30),
}
_CON_PUNTO_DEFECTO = (0.70, 0.30, 0.90, 0.80)
# Other services: (p urban, p rural, indigenous factor, pro-poor).
_SIN_PUNTO = {
    "ABRAZO": (0.015, 0.006, 1.0, True),
    "PENSION_AM": (0.45, 0.60, 0.80, False),
    "PENSION_DISCAPACIDAD": (0.12, 0.10, 0.80, True),
    "AGUA": (0.93, 0.72, 0.55, False),
    "ELECTRICIDAD": (0.995, 0.955, 0.75, False),
    "SANEAMIENTO": (0.82, 0.50, 0.50, False),
    "VIVIENDA": (0.72, 0.50, 0.40, False),
    "TEKOPORA": (0.04, 0.18, 2.50, True),
    "ENT_CAMINO": (0.88, 0.32, 0.70, False),
}
_SIN_PUNTO_DEFECTO = (0.50, 0.40, 0.80, False)
_RHO_HOGAR = 0.6
_RHO_PERSONA = 0.5

# Synthetic names (Zipf-like weights by list position).
_NOMBRES_F = (
    "María", "Ana", "Rosa", "Juana", "Carmen", "Graciela", "Liz", "Fátima", "Sofía", "Camila",
    "Araceli", "Mirian", "Gladys", "Ramona", "Lourdes", "Nélida", "Zunilda", "Celeste",
    "Belén", "Mónica", "Verónica", "Noelia", "Jazmín", "Valeria", "Leticia", "Perla",
    "Dahiana", "Estela", "Natalia", "Lucía", "Antonia", "Mercedes", "Concepción", "Asunción",
    "Ñandutí", "Yvoty", "Arasy", "Jasy", "Mainumby", "Ñasaindy", "Arami", "Aguĩ",
)
_NOMBRES_M = (
    "José", "Juan", "Carlos", "Luis", "Miguel", "Jorge", "Ramón", "Víctor", "Pedro", "Hugo",
    "Derlis", "Óscar", "Francisco", "Fernando", "Rubén", "Néstor", "Ángel", "Sebastián",
    "Matías", "Diego", "Édgar", "Rodrigo", "Julio", "Aníbal", "Gustavo", "Marcelo",
    "Nicolás", "Andrés", "Martín", "Iván", "Tomás", "Cristian", "Blas", "Celestino",
    "Arandu", "Kuarahy", "Tupã", "Ñamandu", "Yrupẽ", "Mbaracayú",
)
_APELLIDOS = (
    "González", "Benítez", "Martínez", "López", "Giménez", "Vera", "Duarte", "Ramírez",
    "Villalba", "Fernández", "Rodríguez", "Acosta", "Gómez", "Báez", "Ortiz", "Cáceres",
    "Rojas", "Núñez", "Ayala", "Franco", "Ríos", "Cabrera", "Sánchez", "Aquino", "Peña",
    "Cañete", "Acuña", "Ibáñez", "Ybañez", "Muñoz", "Britez", "Insfrán", "Galeano",
    "Ocampos", "Caballero", "Yegros", "Zárate", "Paredes", "Mendoza", "Espínola", "Servín",
    "Riquelme", "Escobar", "Ojeda", "Toledo", "Arévalo", "Cardozo", "Ñamandú", "Mbaracayú",
    "Yg̃atimi", "Aguĩ",
)


# ---------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class _Insumos:
    """Real inputs read once per process: census, crosswalk, polygons, schools, places."""

    censo: pd.DataFrame
    poligonos: dict[str, object]  # poly key ("0101" or "D:01") -> prepared shapely geometry
    area_km2: dict[str, float]
    escuelas: pd.DataFrame  # lon, lat, nombre, urbana, indigena
    lugares: pd.DataFrame  # lon, lat, nombre


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    return " ".join("".join(ch if ch.isalnum() else " " for ch in text.lower()).split())


_MINUSCULAS = {"de", "del", "la", "las", "los", "y", "e", "el", "en"}


def _titulo(text: str) -> str:
    """MEC upper-case locality names -> title case; no comma (kept out of CSV quoting)."""
    words = str(text).replace(",", " -").replace('"', "").split()
    out = []
    for i, w in enumerate(words):
        lw = w.lower()
        out.append(lw if i and lw in _MINUSCULAS else lw[:1].upper() + lw[1:])
    return " ".join(out) or "Sin nombre"


def _area_km2(geom) -> float:
    lat0 = shapely.centroid(geom).y
    return float(shapely.area(geom)) * (111.32**2) * float(np.cos(np.radians(lat0)))


@lru_cache(maxsize=1)
def _insumos() -> _Insumos:
    import geopandas as gpd

    censo = pd.read_csv(
        DATA_DIR / "censo2022_distritos.csv", dtype={"codigo": str, "dpto": str}, encoding="utf-8"
    )
    cw = pd.read_csv(
        DATA_DIR / "crosswalk_2022_2012.csv",
        dtype={"codigo_2022": str, "codigo_2012": str, "dpto": str},
        encoding="utf-8",
    )
    cw = cw.rename(columns={"lat_cabecera": "lat_geocod", "lon_cabecera": "lon_geocod"})
    censo = censo.merge(
        cw[["codigo_2022", "codigo_2012", "relacion", "lat_geocod", "lon_geocod"]],
        left_on="codigo", right_on="codigo_2022", how="left", validate="one_to_one",
    )
    censo["poly"] = np.where(
        censo["codigo_2012"].notna() & (censo["codigo_2012"].astype(str) != ""),
        censo["codigo_2012"].astype(str),
        "D:" + censo["dpto"],
    )

    dist = gpd.read_file(DATA_DIR / "distritos.geojson")
    dep = gpd.read_file(DATA_DIR / "departamentos.geojson")
    poligonos: dict[str, object] = {}
    for key, geom in zip(dist["codigo"].astype(str), dist.geometry.values):
        poligonos[key] = geom
    for key, geom in zip(dep["DPTO"].astype(str), dep.geometry.values):
        poligonos["D:" + key] = geom
    for geom in poligonos.values():
        shapely.prepare(geom)
    area = {k: _area_km2(g) for k, g in poligonos.items()}
    missing = sorted(set(censo["poly"]) - set(poligonos))
    if missing:
        raise ValueError(f"polígonos inexistentes en los datos: {missing}")

    esc = pd.read_csv(
        DATA_DIR / "escuelas_mec.csv",
        usecols=["barrio_localidad", "zona", "lat", "lon"],
        dtype={"barrio_localidad": str, "zona": str},
        encoding="utf-8",
    ).dropna(subset=["lat", "lon"])
    escuelas = pd.DataFrame({
        "lon": esc["lon"].to_numpy(float),
        "lat": esc["lat"].to_numpy(float),
        "nombre": [_titulo(x) for x in esc["barrio_localidad"].fillna("")],
        "urbana": esc["zona"].str.upper().eq("URBANA").to_numpy(),
        "indigena": esc["barrio_localidad"].fillna("").str.upper().str.contains("INDIG").to_numpy(),
    })
    geo = pd.read_csv(DATA_DIR / "localidades_geonames.csv", encoding="utf-8")
    lugares = pd.DataFrame({
        "lon": geo["lon"].to_numpy(float),
        "lat": geo["lat"].to_numpy(float),
        "nombre": [str(x).replace(",", " -") for x in geo["name"]],
    })
    return _Insumos(censo=censo, poligonos=poligonos, area_km2=area, escuelas=escuelas, lugares=lugares)


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
    # Keep census order (deterministic whatever the order given).
    return censo[censo["codigo"].isin(codes)].reset_index(drop=True)


# ---------------------------------------------------------------------------- seeds
@dataclass
class _Semillas:
    """Settlement seeds of the selected districts, sorted by district position ``d``."""

    d: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    nombre: np.ndarray  # object array of locality names
    w_urbana: np.ndarray
    w_rural: np.ndarray
    w_indigena: np.ndarray
    escala_urbana: np.ndarray  # km
    escala_rural: np.ndarray
    escala_indigena: np.ndarray


def _inside(geom, lon, lat) -> np.ndarray:
    return shapely.contains_xy(geom, np.asarray(lon, float), np.asarray(lat, float))


def _semillas(sel: pd.DataFrame, ins: _Insumos) -> tuple[_Semillas, np.ndarray, np.ndarray]:
    """Seeds per selected district; also returns the (checked) seat lon/lat per district."""
    censo = ins.censo
    esc, lug = ins.escuelas, ins.lugares
    # Seats of every census district (needed to split shared polygons).
    all_seat_lon = np.full(len(censo), np.nan)
    all_seat_lat = np.full(len(censo), np.nan)
    pools: dict[str, dict[str, np.ndarray]] = {}

    def pool(key: str) -> dict[str, np.ndarray]:
        if key not in pools:
            geom = ins.poligonos[key]
            ie = np.flatnonzero(_inside(geom, esc["lon"], esc["lat"]))
            il = np.flatnonzero(_inside(geom, lug["lon"], lug["lat"]))
            pools[key] = {"esc": ie, "lug": il}
        return pools[key]

    for i, row in enumerate(censo.itertuples(index=False)):
        geom = ins.poligonos[row.poly]
        candidates = []
        if row.relacion != "mismo_distrito":
            candidates.append((row.lon_geocod, row.lat_geocod))
        candidates.append((row.lon_cabecera, row.lat_cabecera))
        seat = None
        for lon, lat in candidates:
            if pd.notna(lon) and pd.notna(lat) and _inside(geom, [lon], [lat])[0]:
                seat = (float(lon), float(lat))
                break
        if seat is None:
            p = pool(row.poly)
            # A GeoNames place named like the district, else the nearest urban school or
            # place to the (wrong) seat, else any school, else a point of the polygon.
            names = lug["nombre"].to_numpy()[p["lug"]]
            match = [j for j, n in zip(p["lug"], names) if _norm(n) == _norm(row.distrito_nombre)]
            ref = next(((float(lo), float(la)) for lo, la in candidates if pd.notna(lo) and pd.notna(la)), None)
            urb = np.concatenate([p["esc"][esc["urbana"].to_numpy()[p["esc"]]]])
            if match:
                seat = (float(lug["lon"].iat[match[0]]), float(lug["lat"].iat[match[0]]))
            elif ref is not None and (len(urb) or len(p["lug"])):
                cand_lon = np.concatenate([esc["lon"].to_numpy()[urb], lug["lon"].to_numpy()[p["lug"]]])
                cand_lat = np.concatenate([esc["lat"].to_numpy()[urb], lug["lat"].to_numpy()[p["lug"]]])
                k = int(np.argmin(geodesia.haversine_km(ref[0], ref[1], cand_lon, cand_lat)))
                seat = (float(cand_lon[k]), float(cand_lat[k]))
            elif len(p["esc"]):
                rp = shapely.get_coordinates(geom.representative_point())[0]
                e = p["esc"]
                k = int(np.argmin(geodesia.haversine_km(rp[0], rp[1], esc["lon"].to_numpy()[e], esc["lat"].to_numpy()[e])))
                seat = (float(esc["lon"].iat[e[k]]), float(esc["lat"].iat[e[k]]))
            else:
                rp = shapely.get_coordinates(geom.representative_point())[0]
                seat = (float(rp[0]), float(rp[1]))
        all_seat_lon[i], all_seat_lat[i] = seat

    pos = {c: i for i, c in enumerate(censo["codigo"])}
    parts = []
    seat_lon = np.empty(len(sel))
    seat_lat = np.empty(len(sel))
    for d, row in enumerate(sel.itertuples(index=False)):
        i = pos[row.codigo]
        slon, slat = all_seat_lon[i], all_seat_lat[i]
        seat_lon[d], seat_lat[d] = slon, slat
        p = pool(row.poly)
        geom = ins.poligonos[row.poly]
        # Districts competing for this polygon's seeds: those mapped to it, plus (for a
        # department polygon) every district whose seat lies in it.
        same = np.flatnonzero(censo["poly"].to_numpy() == row.poly)
        if row.poly.startswith("D:"):
            same = np.union1d(same, np.flatnonzero(_inside(geom, all_seat_lon, all_seat_lat)))
        p_lon = np.concatenate([esc["lon"].to_numpy()[p["esc"]], lug["lon"].to_numpy()[p["lug"]]])
        p_lat = np.concatenate([esc["lat"].to_numpy()[p["esc"]], lug["lat"].to_numpy()[p["lug"]]])
        keep = np.ones(len(p_lon), dtype=bool)
        if len(same) > 1 and len(p_lon):
            _, nearest = geodesia.nearest_km(p_lon, p_lat, all_seat_lon[same], all_seat_lat[same])
            keep = same[nearest] == i
            if keep.sum() < 3:
                dist = geodesia.haversine_km(slon, slat, p_lon, p_lat)
                keep[np.argsort(dist, kind="stable")[:10]] = True
        ne = len(p["esc"])
        ke, kl = keep[:ne], keep[ne:]
        e_idx, l_idx = p["esc"][ke], p["lug"][kl]
        lon = np.concatenate([[slon], esc["lon"].to_numpy()[e_idx], lug["lon"].to_numpy()[l_idx]])
        lat = np.concatenate([[slat], esc["lat"].to_numpy()[e_idx], lug["lat"].to_numpy()[l_idx]])
        nombre = np.concatenate([
            np.array([str(row.distrito_nombre).replace(",", " -")], dtype=object),
            esc["nombre"].to_numpy(dtype=object)[e_idx],
            lug["nombre"].to_numpy(dtype=object)[l_idx],
        ])
        n_e, n_l = len(e_idx), len(l_idx)
        kind = np.concatenate([[0], np.ones(n_e, int), np.full(n_l, 2)])  # 0 seat 1 school 2 place
        urb_school = np.concatenate([[False], esc["urbana"].to_numpy()[e_idx], np.zeros(n_l, bool)])
        ind_school = np.concatenate([[False], esc["indigena"].to_numpy()[e_idx], np.zeros(n_l, bool)])
        dseat = geodesia.haversine_km(slon, slat, lon, lat)
        w_u = np.where(urb_school, np.exp(-dseat / 15.0), 0.0) + np.where(kind == 2, 3.0, 0.0)
        w_u[0] = 3.0 + 0.1 * w_u[1:].sum()
        w_r = np.where((kind == 1) & ~urb_school, 1.0, 0.0)
        if w_r.sum() == 0:  # no rural school: spread rural households over every seed
            w_r = np.where(kind == 0, 1.0, np.where(kind == 1, 0.5, 1.0))
        w_i = w_r * (1.0 + 20.0 * ind_school)
        esc_u = np.where(kind == 0, 1.0, 0.5)
        parts.append(pd.DataFrame({
            "d": d, "lon": lon, "lat": lat, "nombre": nombre, "w_u": w_u, "w_r": w_r, "w_i": w_i,
            "esc_u": esc_u, "esc_r": 2.0, "esc_i": 0.8,
        }))
    s = pd.concat(parts, ignore_index=True)
    semillas = _Semillas(
        d=s["d"].to_numpy(np.int64), lon=s["lon"].to_numpy(float), lat=s["lat"].to_numpy(float),
        nombre=s["nombre"].to_numpy(dtype=object),
        w_urbana=s["w_u"].to_numpy(float), w_rural=s["w_r"].to_numpy(float),
        w_indigena=s["w_i"].to_numpy(float),
        escala_urbana=s["esc_u"].to_numpy(float), escala_rural=s["esc_r"].to_numpy(float),
        escala_indigena=s["esc_i"].to_numpy(float),
    )
    return semillas, seat_lon, seat_lat


# ---------------------------------------------------------------------------- helpers
def _grouped_choice(rng: np.random.Generator, item_group: np.ndarray, weights: np.ndarray,
                    draw_group: np.ndarray) -> np.ndarray:
    """For each draw, an item of the draw's group with probability ∝ weight.

    ``item_group`` must be sorted; every group drawn from needs a positive total weight.
    """
    cw = np.concatenate([[0.0], np.cumsum(weights, dtype=np.float64)])
    first = np.searchsorted(item_group, draw_group, side="left")
    end = np.searchsorted(item_group, draw_group, side="right")
    lo, hi = cw[first], cw[end]
    u = lo + rng.random(len(draw_group)) * (hi - lo)
    idx = np.searchsorted(cw, u, side="right") - 1
    return np.clip(idx, first, end - 1)


def _group_rank(sorted_groups: np.ndarray) -> np.ndarray:
    """Position of each element inside its run of equal values (input sorted)."""
    n = len(sorted_groups)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    run_start = np.repeat(starts, np.diff(np.r_[starts, n]))
    return np.arange(n) - run_start


def _edad_pesos(lam: np.ndarray, mujer: bool) -> np.ndarray:
    """(D, 86) weights for ages 15..100 given the decline rate per district."""
    a = np.arange(15, EDAD_MAXIMA + 1, dtype=float)
    hazard_a = 6e-5 * (0.7 if mujer else 1.3)
    g = 0.088
    surv = np.exp(-(hazard_a / g) * (np.exp(g * a) - np.exp(g * 15.0)))
    return np.exp(-lam[:, None] * (a - 15.0)[None, :]) * surv[None, :]


def _resolver_lambda(n014: np.ndarray, n15_h: np.ndarray, n15_m: np.ndarray,
                     mediana: np.ndarray) -> np.ndarray:
    """Bisection (vectorized over districts) so the interpolated median is ``mediana + 0.5``."""
    total = n014 + n15_h + n15_m
    m = np.clip(mediana.astype(int), 15, EDAD_MAXIMA)
    ages = np.arange(15, EDAD_MAXIMA + 1)
    below = (ages[None, :] < m[:, None]).astype(float) + 0.5 * (ages[None, :] == m[:, None])

    def excess(lam):
        wh, wm = _edad_pesos(lam, False), _edad_pesos(lam, True)
        ph = wh / wh.sum(1, keepdims=True)
        pm = wm / wm.sum(1, keepdims=True)
        under = n014 + n15_h * (ph * below).sum(1) + n15_m * (pm * below).sum(1)
        return under / total - 0.5

    lo = np.full(len(total), -0.08)
    hi = np.full(len(total), 0.25)
    for _ in range(50):
        mid = (lo + hi) / 2
        pos = excess(mid) > 0  # too young: decrease lambda
        hi = np.where(pos, mid, hi)
        lo = np.where(pos, lo, mid)
    return (lo + hi) / 2


def _fecha_menos_anios(hoy: date, years: int) -> date:
    try:
        return hoy.replace(year=hoy.year - years)
    except ValueError:  # 29 February
        return hoy.replace(year=hoy.year - years, day=28)


def _zipf(n: int) -> np.ndarray:
    w = 1.0 / (np.arange(n) + 3.0)
    return w / w.sum()


# ---------------------------------------------------------------------------- generator
def generate(
    ambito: str | list[str],
    semilla: int,
    salida: Path,
    puntos: pd.DataFrame | None,
    hoy: date | None = None,
    progreso: Progreso | None = None,
) -> dict:
    """Write ``salida/hogares.csv`` and ``salida/personas.csv`` (synthetic FIPS) and return counts.

    ``ambito``: ``"pilotos"`` (1116, 1602, 0607, 0218), ``"pais"`` (263 districts) or a list
    (or comma-separated string) of 2022 census district codes. ``puntos``: delivery points
    with columns ``punto_id, tipo, zona, capacidad, lat, lon``. ``hoy``: reference date of
    the ages (default 2026-01-01). ``progreso(etapa, fraccion)`` is called between stages.
    """
    hoy = hoy or FECHA_REFERENCIA
    salida = Path(salida)
    salida.mkdir(parents=True, exist_ok=True)

    def avance(etapa: str, frac: float) -> None:
        if progreso is not None:
            progreso(etapa, frac)

    rng = np.random.Generator(np.random.PCG64(semilla))
    catalogo = default_catalog()
    ins = _insumos()
    sel = _seleccion(ambito, ins.censo)
    D = len(sel)
    avance("datos", 0.05)

    # ------------------------------------------------------------ persons: sex and age
    pob = sel["pob_total"].to_numpy(np.int64)
    n5 = {"h": sel["pob_5ymas_hombres"].to_numpy(np.int64), "m": sel["pob_5ymas_mujeres"].to_numpy(np.int64)}
    n15 = {"h": sel["pob_15ymas_hombres"].to_numpy(np.int64), "m": sel["pob_15ymas_mujeres"].to_numpy(np.int64)}
    tot = {"h": sel["pob_hombres"].to_numpy(np.int64), "m": sel["pob_mujeres"].to_numpy(np.int64)}
    n014 = (tot["h"] - n15["h"]) + (tot["m"] - n15["m"])
    lam = _resolver_lambda(n014, n15["h"], n15["m"], sel["edad_mediana"].to_numpy(float))
    lam_c = np.clip(lam, -0.01, 0.03)
    A = EDAD_MAXIMA + 1
    counts = np.zeros((D, 2, A), dtype=np.int64)  # sex 0 = M (hombre), 1 = F (mujer)
    for s, key in enumerate(("h", "m")):
        n04 = tot[key] - n5[key]
        n514 = n5[key] - n15[key]
        a04 = np.arange(0, 5)
        a514 = np.arange(5, 15)
        p04 = np.exp(-lam_c[:, None] * a04[None, :])
        p514 = np.exp(-lam_c[:, None] * (a514 - 5)[None, :])
        p15 = _edad_pesos(lam, mujer=(s == 1))
        for ages, n, p in ((a04, n04, p04), (a514, n514, p514), (np.arange(15, A), n15[key], p15)):
            if (n < 0).any():
                raise ValueError("censo inconsistente: grupo de edad negativo")
            counts[:, s, ages] = rng.multinomial(n, p / p.sum(1, keepdims=True))
    flat = counts.reshape(-1)
    cell = np.repeat(np.arange(flat.size, dtype=np.int64), flat)
    p_d = (cell // (2 * A)).astype(np.int32)
    p_sex = ((cell // A) % 2).astype(np.int8)
    p_age = (cell % A).astype(np.int16)
    del cell
    N = len(p_d)
    avance("personas", 0.15)

    # ------------------------------------------------------------ households per district
    dpto = sel["dpto"].to_numpy(str)
    dens = np.array([
        sel_pop / ins.area_km2[k] if ins.area_km2[k] > 0 else 1.0
        for k, sel_pop in zip(sel["poly"], ins.censo.groupby("poly")["pob_total"].sum().reindex(sel["poly"]).to_numpy())
    ])
    urb_share = 0.12 + 0.86 / (1.0 + np.exp(-2.5 * (np.log10(np.maximum(dens, 1e-3)) - 2.0)))
    urb_share = np.where(dpto == "00", 1.0, urb_share)
    urb_share = np.where(sel["poly"].str.startswith("D:").to_numpy(), 0.3, urb_share)
    ind_share = np.array([_INDIGENA_DPTO.get(x, _INDIGENA_RESTO) for x in dpto])
    mean_size = 3.0 + 0.5 * (1.0 - urb_share) + 1.8 * ind_share
    adults = np.bincount(p_d[p_age >= 18], minlength=D)
    H_d = np.clip(np.rint(pob / mean_size).astype(np.int64), 1, adults)
    H = int(H_d.sum())
    h_d = np.repeat(np.arange(D, dtype=np.int32), H_d)
    h_urb = rng.random(H) < urb_share[h_d]
    p_ind_rural = np.minimum(0.95, ind_share / np.maximum(1.0 - urb_share, 1e-6))
    h_ind = ~h_urb & (rng.random(H) < p_ind_rural[h_d])

    # sizes: 1 + Gamma-Poisson extra members, exact district totals
    w_size = rng.gamma(5.0, 1.0, H) * np.where(h_urb, 1.0, 1.25) * np.where(h_ind, 1.5, 1.0)
    extra_d = pob - H_d
    draw_d = np.repeat(np.arange(D, dtype=np.int32), extra_d)
    extra_h = np.bincount(_grouped_choice(rng, h_d, w_size, draw_d), minlength=H)
    del draw_d
    size = 1 + extra_h

    # heads: weighted sampling without replacement (Efraimidis-Spirakis) among adults
    adult_idx = np.flatnonzero(p_age >= 18)
    w_head = np.interp(p_age[adult_idx], [18, 20, 25, 30, 65, 80, 100], [0.1, 0.3, 0.75, 1.0, 1.0, 0.9, 0.8])
    w_head = w_head * np.where(p_sex[adult_idx] == 0, 1.7, 1.0)
    key = p_d[adult_idx] + (1.0 - rng.random(len(adult_idx)) ** (1.0 / w_head)) * 0.999
    order = np.argsort(key, kind="stable")
    ranked = adult_idx[order]
    rank = _group_rank(p_d[ranked])
    heads = ranked[rank < H_d[p_d[ranked]]]  # sorted by district, H_d per district
    del adult_idx, w_head, key, order, ranked, rank
    hh = np.full(N, -1, dtype=np.int64)
    hh[heads] = np.arange(H)
    head_age = p_age[heads].astype(float)

    # other members fill the remaining places by matching noisy age keys
    slots = np.repeat(np.arange(H, dtype=np.int64), size - 1)
    slot_key = head_age[slots] + rng.normal(0.0, 7.0, len(slots))
    members = np.flatnonzero(hh < 0)
    age_m = p_age[members].astype(float)
    u = rng.random(len(members))
    shift = np.where(
        age_m < 18, 27.0,
        np.where(age_m < 30, np.where(u < 0.6, 27.0, 0.0),
                 np.where(age_m < 65, np.where(u < 0.15, 27.0, 0.0), np.where(u < 0.4, -27.0, 0.0))),
    )
    mem_key = age_m + shift + rng.normal(0.0, 7.0, len(members))
    norm = lambda k: np.clip((k + 60.0) / 260.0, 0.0, 0.999999)  # noqa: E731
    o_slots = np.argsort(h_d[slots] + norm(slot_key), kind="stable")
    o_mem = np.argsort(p_d[members] + norm(mem_key), kind="stable")
    hh[members[o_mem]] = slots[o_slots]
    del slots, slot_key, members, age_m, u, shift, mem_key, o_slots, o_mem
    assert (hh >= 0).all() and (h_d[hh] == p_d).all()

    # order persons: by household, head first, then oldest first
    is_head = np.zeros(N, dtype=bool)
    is_head[heads] = True
    sort_key = hh * 256 + np.where(is_head, 0, 1 + (EDAD_MAXIMA + 10 - p_age.astype(np.int64)))
    order = np.argsort(sort_key, kind="stable")
    del sort_key
    p_d, p_sex, p_age, hh, is_head = p_d[order], p_sex[order], p_age[order], hh[order], is_head[order]
    del order, heads
    h_start = np.searchsorted(hh, np.arange(H))
    member_no = (np.arange(N) - h_start[hh] + 1).astype(np.int32)
    head_pos = h_start  # the head is the first member
    avance("hogares", 0.35)

    # ------------------------------------------------------------ locations
    sem, seat_lon, seat_lat = _semillas(sel, ins)
    seed = np.empty(H, dtype=np.int64)
    scale = np.empty(H)
    groups = (
        (h_urb, sem.w_urbana, sem.escala_urbana),
        (~h_urb & ~h_ind, sem.w_rural, sem.escala_rural),
        (h_ind, sem.w_indigena, sem.escala_indigena),
    )
    for mask, w, esc in groups:
        idx = np.flatnonzero(mask)
        seed[idx] = _grouped_choice(rng, sem.d, w, h_d[idx])
        scale[idx] = esc[seed[idx]]
    h_lon = np.empty(H)
    h_lat = np.empty(H)
    todo = np.arange(H)
    polys = [ins.poligonos[k] for k in sel["poly"]]
    for attempt in range(14):
        if len(todo) == 0:
            break
        r = np.minimum(rng.exponential(1.0, len(todo)), 4.0) * scale[todo] * (0.7**attempt)
        theta = rng.uniform(0.0, 2.0 * np.pi, len(todo))
        base_lat = sem.lat[seed[todo]]
        dlon, dlat = geodesia.offset_deg(r * np.sin(theta), r * np.cos(theta), base_lat)
        if attempt == 13:
            dlon, dlat = 0.0, 0.0
        lon = np.round(sem.lon[seed[todo]] + dlon, 6)
        lat = np.round(base_lat + dlat, 6)
        ok = np.zeros(len(todo), dtype=bool)
        td = h_d[todo]
        tb = np.searchsorted(td, np.arange(D + 1))
        for d in np.flatnonzero(np.diff(tb)):
            sl = slice(tb[d], tb[d + 1])
            ok[sl] = _inside(polys[d], lon[sl], lat[sl])
        h_lon[todo[ok]], h_lat[todo[ok]] = lon[ok], lat[ok]
        todo = todo[~ok]
    if len(todo):  # seed on the border after rounding: use a point inside the polygon
        for d in np.unique(h_d[todo]):
            rp = shapely.get_coordinates(polys[d].representative_point())[0]
            sel_t = todo[h_d[todo] == d]
            h_lon[sel_t], h_lat[sel_t] = np.round(rp[0], 6), np.round(rp[1], 6)
            if not _inside(polys[d], [h_lon[sel_t[0]]], [h_lat[sel_t[0]]])[0]:
                raise RuntimeError(f"no se pudo ubicar hogares dentro del distrito {sel['codigo'].iat[d]}")
    localidad_idx = seed
    avance("ubicacion", 0.5)

    # ------------------------------------------------------------ dates and attributes
    survey = np.datetime64(hoy) - rng.integers(1, 331, H).astype("timedelta64[D]")
    ages = np.arange(A)
    upper = np.array([_fecha_menos_anios(hoy, int(a)) for a in ages], dtype="datetime64[D]")
    lower = np.array([_fecha_menos_anios(hoy, int(a) + 1) + timedelta(days=1) for a in ages], dtype="datetime64[D]")
    lo_p = lower[p_age]
    hi_p = np.minimum(upper[p_age], survey[hh])  # babies are born by the survey date
    span = (hi_p - lo_p).astype(np.int64) + 1
    birth = lo_p + (rng.random(N) * span).astype(np.int64).astype("timedelta64[D]")
    del lo_p, hi_p, span

    p_ind = h_ind[hh]
    mujer = p_sex == 1
    preg_rate = np.interp(p_age, [15, 19.99, 20, 24.99, 25, 29.99, 30, 34.99, 35, 39.99, 40, 44],
                          [0.035, 0.035, 0.06, 0.06, 0.055, 0.055, 0.04, 0.04, 0.022, 0.022, 0.007, 0.007])
    preg_rate = np.where(mujer & (p_age >= 15) & (p_age <= 44), preg_rate * np.where(p_ind, 1.4, 1.0), 0.0)
    embarazada = rng.random(N) < preg_rate
    dis_rate = np.interp(p_age, [0, 4, 5, 14, 15, 29, 30, 44, 45, 59, 60, 74, 75, 100],
                         [0.015, 0.015, 0.035, 0.035, 0.04, 0.04, 0.05, 0.05, 0.09, 0.09, 0.17, 0.17, 0.32, 0.32])
    discapacidad = rng.random(N) < dis_rate
    del preg_rate, dis_rate
    avance("atributos", 0.55)

    # ------------------------------------------------------------ service statuses
    rural_h = ~h_urb
    chaco_h = np.isin(dpto, _CHACO)[h_d]
    depriv = rng.standard_normal(H)
    xyz = geodesia.unit_vectors(h_lon, h_lat)
    dist_cache: dict[str, np.ndarray] = {}
    pts = puntos if puntos is not None else pd.DataFrame(columns=["tipo", "lat", "lon"])

    def distancia(tipo: str, need: np.ndarray) -> np.ndarray:
        """km from each household to the nearest point of ``tipo`` (inf if none / not needed)."""
        if tipo not in dist_cache:
            out = np.full(H, np.inf)
            sub = pts[pts["tipo"] == tipo]
            idx = np.flatnonzero(need)
            if len(sub) and len(idx):
                out[idx] = geodesia.nearest_km_xyz(
                    xyz[idx], sub["lon"].to_numpy(float), sub["lat"].to_numpy(float)
                )[0]
            dist_cache[tipo] = out
        return dist_cache[tipo]

    def cubre(serv, h_idx, rho, extra_factor=None):
        """Boolean coverage for rows living in households ``h_idx``."""
        rural = rural_h[h_idx]
        indig = h_ind[h_idx]
        if serv.punto_tipo:
            near, far, f_rur, f_ind = _CON_PUNTO.get(serv.codigo, _CON_PUNTO_DEFECTO)
            need = np.zeros(H, dtype=bool)
            need[h_idx] = True
            d = distancia(serv.punto_tipo, need)[h_idx]
            R = np.where(rural, serv.radio_km.rural, serv.radio_km.urbana)
            p = far + (near - far) / (1.0 + (d / R) ** 2)
            p = p * np.where(rural, f_rur, 1.0) * np.where(indig, f_ind, 1.0)
            pro_poor = False
        else:
            pu, pr, f_ind, pro_poor = _SIN_PUNTO.get(serv.codigo, _SIN_PUNTO_DEFECTO)
            p = np.where(rural, pr, pu) * np.where(indig, f_ind, 1.0)
        if extra_factor is not None:
            p = p * extra_factor
        p = np.clip(p, 0.0, 0.999)
        z = depriv[h_idx]
        v = rho * z + np.sqrt(1.0 - rho**2) * rng.standard_normal(len(h_idx))
        if pro_poor:
            v = -v
        return ndtr(v) < p

    def codificar(codes: list[str], bits: np.ndarray) -> pa.Array:
        present = np.flatnonzero(np.bincount(bits, minlength=1))
        remap = np.full(int(bits.max(initial=0)) + 1, -1, dtype=np.int32)
        remap[present] = np.arange(len(present), dtype=np.int32)
        labels = [";".join(c for j, c in enumerate(codes) if b >> j & 1) for b in present]
        return pa.DictionaryArray.from_arrays(pa.array(remap[bits], pa.int32()), pa.array(labels, pa.string()))

    persona_servicios = [s for s in catalogo.servicios if s.codigo in catalogo.codigos_fips("persona")]
    marco = pd.DataFrame({
        "edad": p_age, "sexo": np.where(mujer, "F", "M"), "embarazada": embarazada,
        "discapacidad": discapacidad, "indigena": p_ind,
    })
    bits_p = np.zeros(N, dtype=np.int64)
    codes_p = []
    for j, serv in enumerate(persona_servicios):
        rows = np.flatnonzero(serv.aplica.applies(marco))
        codes_p.append(serv.codigo)
        if len(rows) == 0:
            continue
        edad = p_age[rows]
        factor = None
        if serv.codigo == "INSCRIPCION_NAC":
            factor = np.where(edad == 0, 0.78, 1.0)
        elif serv.codigo == "CEDULA":
            factor = np.where(edad < 10, 0.6, np.where(edad < 18, 0.88, 1.0))
        elif serv.codigo == "EDUC_INICIAL":
            factor = np.where(edad == 4, 0.75, 1.0)
        ok = cubre(serv, hh[rows], _RHO_PERSONA, factor)
        bits_p[rows[ok]] |= 1 << j
        avance("servicios", 0.55 + 0.25 * (j + 1) / len(persona_servicios))
    del marco

    hogar_servicios = [s for s in catalogo.servicios if s.codigo in catalogo.codigos_fips("hogar")]
    marco_h = pd.DataFrame({
        "edad": p_age[head_pos], "sexo": np.where(mujer[head_pos], "F", "M"),
        "embarazada": embarazada[head_pos], "discapacidad": discapacidad[head_pos], "indigena": h_ind,
    })
    bits_h = np.zeros(H, dtype=np.int64)
    codes_h = []
    for j, serv in enumerate(hogar_servicios):
        rows = np.flatnonzero(serv.aplica.applies(marco_h))
        codes_h.append(serv.codigo)
        if len(rows) == 0:
            continue
        factor = None
        if serv.codigo in ("AGUA", "ENT_CAMINO"):
            factor = np.where(chaco_h[rows] & rural_h[rows], 0.7, 1.0)
        elif serv.codigo == "VIVIENDA":
            factor = np.where(size[rows] >= 6, 0.7, 1.0)
        ok = cubre(serv, rows, _RHO_HOGAR, factor)
        bits_h[rows[ok]] |= 1 << j
    del marco_h, xyz, dist_cache
    avance("servicios", 0.82)

    # ------------------------------------------------------------ names
    nf, nm, ap = (pa.array(x, pa.string()) for x in (_NOMBRES_F, _NOMBRES_M, _APELLIDOS))
    off_m = len(_NOMBRES_F)
    all_names = pa.concat_arrays([nf, nm])
    pf, pm, pa_w = _zipf(len(_NOMBRES_F)), _zipf(len(_NOMBRES_M)), _zipf(len(_APELLIDOS))

    def given() -> np.ndarray:
        f = rng.choice(len(_NOMBRES_F), size=N, p=pf)
        m = rng.choice(len(_NOMBRES_M), size=N, p=pm) + off_m
        return np.where(mujer, f, m)

    g1 = given()
    g2 = given()
    g2 = np.where(g2 == g1, np.where(mujer, (g2 + 1) % off_m, off_m + (g2 - off_m + 1) % len(_NOMBRES_M)), g2)
    two = rng.random(N) < 0.55
    n1 = all_names.take(pa.array(g1))
    n12 = pc.binary_join_element_wise(n1, all_names.take(pa.array(g2)), " ")
    nombres = pc.if_else(pa.array(two), n12, n1)
    del g1, g2, two, n1, n12
    sur_h = rng.choice(len(_APELLIDOS), size=H, p=pa_w)
    s1 = rng.choice(len(_APELLIDOS), size=N, p=pa_w)
    s1 = np.where(is_head | (rng.random(N) < 0.75), sur_h[hh], s1)
    s2 = rng.choice(len(_APELLIDOS), size=N, p=pa_w)
    s2 = np.where(s2 == s1, (s2 + 1) % len(_APELLIDOS), s2)
    apellidos = pc.binary_join_element_wise(ap.take(pa.array(s1)), ap.take(pa.array(s2)), " ")
    del s1, s2, sur_h
    avance("nombres", 0.88)

    # ------------------------------------------------------------ write
    codigos = sel["codigo"].to_numpy(str)
    serial = (np.arange(H) - np.searchsorted(h_d, np.arange(D))[h_d] + 1).astype(np.int64)
    prefix = pa.array(["H" + c for c in codigos], pa.string()).take(pa.array(h_d))
    hogar_id = pc.binary_join_element_wise(
        prefix, pc.utf8_lpad(pc.cast(pa.array(serial), pa.string()), 6, "0"), ""
    )
    si_no = pa.array(["no", "si"], pa.string())
    sexo = pa.array(["M", "F"], pa.string()).take(pa.array(p_sex.astype(np.int8)))
    hogares = pa.table({
        "hogar_id": hogar_id,
        "codigo_distrito": pa.array(codigos, pa.string()).take(pa.array(h_d)),
        "localidad": pa.array(sem.nombre.tolist(), pa.string()).take(pa.array(localidad_idx)),
        "zona": pa.array(["rural", "urbana"], pa.string()).take(pa.array(h_urb.astype(np.int8))),
        "fecha_relevamiento": pa.array(survey, pa.date32()),
        "lat": pa.array(h_lat),
        "lon": pa.array(h_lon),
        "servicios": codificar(codes_h, bits_h).cast(pa.string()),
        "origen": pa.array(np.full(H, "sintetico", dtype=object), pa.string()),
    })
    personas = pa.table({
        "persona_id": pc.binary_join_element_wise(
            hogar_id.take(pa.array(hh)),
            pc.utf8_lpad(pc.cast(pa.array(member_no), pa.string()), 2, "0"),
            "-",
        ),
        "hogar_id": hogar_id.take(pa.array(hh)),
        "nombres": nombres,
        "apellidos": apellidos,
        "sexo": sexo,
        "fecha_nacimiento": pa.array(birth, pa.date32()),
        "embarazada": si_no.take(pa.array(embarazada.astype(np.int8))),
        "discapacidad": si_no.take(pa.array(discapacidad.astype(np.int8))),
        "indigena": si_no.take(pa.array(p_ind.astype(np.int8))),
        "servicios": codificar(codes_p, bits_p).cast(pa.string()),
        "origen": pa.array(np.full(N, "sintetico", dtype=object), pa.string()),
    })
    assert tuple(hogares.column_names) == COLUMNAS_HOGARES
    assert tuple(personas.column_names) == COLUMNAS_PERSONAS
    avance("escritura", 0.9)
    opts = pa_csv.WriteOptions(quoting_style="none", quoting_header="none", batch_size=65536)
    ruta_h, ruta_p = salida / "hogares.csv", salida / "personas.csv"
    pa_csv.write_csv(hogares, ruta_h, opts)
    avance("escritura", 0.93)
    pa_csv.write_csv(personas, ruta_p, opts)
    avance("listo", 1.0)
    return {
        "ambito": ambito if isinstance(ambito, str) else list(ambito),
        "semilla": int(semilla),
        "fecha_referencia": hoy.isoformat(),
        "distritos": D,
        "hogares": H,
        "personas": N,
        "hogares_csv": str(ruta_h),
        "personas_csv": str(ruta_p),
    }
