"""Synthetic FIPS: households (``hogares.csv``) and persons (``personas.csv``) for testing.

This module owns the generator of **synthetic** Fichas de Información de Protección Social
(FIPS). Nothing it writes describes a real household or person: every row carries
``origen = sintetico``. Only the district totals and the places come from real data
(``geoportal/datos``, see ``FUENTES.md``); everything else is the documented model below.
The files follow ``docs/FORMATOS.md`` exactly (UTF-8, no quoting needed: no value holds a
comma or a quote) and are loaded with ``geoportal ingestar``.

Public API: :func:`generate`. Same ``semilla``, ``ambito``, ``puntos`` and ``hoy`` give
byte-identical files. Districts are processed in batches of about 400 000 persons (census
order); batch ``k`` draws from ``Generator(PCG64(semilla).jumped(k))``, so the output does
not depend on how many batches run at once (two compute threads and one writer thread;
numpy, shapely, scipy and Arrow release the GIL). Everything is vectorized over persons and
households (Python loops only over districts, polygons, seeds' districts and catalog
services): the whole country (6.1 M persons) takes about 10-15 s and 0.5 GB.

Modelling assumptions (all synthetic unless said otherwise)
-----------------------------------------------------------
Population (real totals, modelled detail)
    * Persons per 2022 census district = ``pob_total`` of ``censo2022_distritos.csv``
      exactly; men and women = ``pob_hombres`` / ``pob_mujeres`` exactly; the 0-4, 5-14 and
      15+ groups by sex equal the census ``pob_*`` columns exactly (0-4 = total - 5+,
      5-14 = 5+ - 15+), all as completed years at the reference date ``hoy``.
    * Single years inside those bands follow a declining pyramid: weight
      ``exp(-lambda*(edad-15)) * S(edad)`` for 15-100 years, with a Gompertz survival
      ``S`` (hazard ``6e-5*exp(0.088*edad)``, x1.3 men, x0.7 women), and a milder
      ``exp(-lambda_c*edad)`` inside 0-4 and 5-14. ``lambda`` is solved per district so the
      interpolated median age is ``edad_mediana + 0.5`` (the census gives completed
      years); the generated medians match the census within a year. Ages are capped at 100.
    * ``hoy`` defaults to 2026-01-01 (fixed, so runs are reproducible); the birth date is a
      uniform day consistent with the age at ``hoy``. Babies are born on or before their
      household's survey date.
    * The FIPS describes a person at the interview, so pregnancy and service
      applicability use the completed years at the household's ``fecha_relevamiento``
      (the coverage engine's default), which can be one less than at ``hoy``.
    * Pregnancy: women 15-44, prevalence by age 3.5 % (15-19), 6 % (20-24), 5.5 % (25-29),
      4 % (30-34), 2.2 % (35-39), 0.7 % (40-44), x1.4 for indigenous women (about 3.9 %
      overall). Disability: 1.5 % (0-4) rising to 32 % (75+), about 7 % overall.
    * Indigenous status is a household attribute of rural households. Department shares
      of persons (Boquerón 40 %, Presidente Hayes 30 %, Alto Paraguay 20 %, Canindeyú 7 %,
      Amambay 5 %, Concepción, San Pedro, Caaguazú 2 %, Alto Paraná 1.5 %, Guairá,
      Caazapá 1 %, Itapúa 0.5 %, the rest 0.2 %) approximate the 2022 census indigenous
      total (about 140 000, 2.3 %); they are not district figures.

Households
    * Urban share per district from the population density of its 2012 polygon (logistic
      in log10 persons/km²; 100 % in Asunción; 30 % where there is no polygon): about 60 %
      of persons nationally, close to the census.
    * Number of households = population / mean size, mean size
      ``3.0 + 0.5*(1 - urban share) + 1.8*indigenous share``: about 1.9 M households of 3.2
      persons nationally (3.0 urban, 3.6 rural). Sizes: 1 + a Gamma(7)-Poisson number of
      extra members (weights x1.25 rural, x1.5 indigenous), drawn as one multinomial per
      district so the total is exact; about 15 % live alone, under 1 % have 10+.
    * Each household first gets its zone, indigenous status and settlement seed, and is
      numbered by district and seed (as a listing by locality would be). Then one head,
      aged 19+ at ``hoy`` (so 18+ at the interview), is drawn among the district's adults
      (weighted sampling without replacement; weights rising with age to 30, men x1.7:
      about 59 % male heads). The other members fill the remaining places of the same
      district by matching noisy age keys: children go to households whose head is about
      27 years older, partners to heads of similar age, some elderly to younger heads. So
      every person belongs to exactly one household of its own district and every
      household has someone 18+.

Locations
    * District 2022 -> 2012 polygon via ``crosswalk_2022_2012.csv``; without ``codigo_2012``
      the department polygon. New districts share their parent's polygon: the seeds of a
      shared polygon are split by nearest district seat (a Voronoi split), so each new
      district clusters around its own seat.
    * Settlement seeds: the district seat (census ``lat/lon_cabecera``, or the crosswalk's
      geocoded seat for new districts; when it falls outside the polygon, a GeoNames place
      with the district's name, else the urban school or place nearest to it), the real
      MEC schools and GeoNames places inside the polygon. Urban households go to the seat
      (1 km scale), urban schools (weight falling with distance to the seat, 15 km) and
      places (0.5 km scale); rural households to rural schools (2 km scale); indigenous
      households favour schools of indigenous communities ("COM INDIG...", 0.8 km scale).
    * Offsets: uniform direction, exponential distance capped at 4 scales; points outside
      the polygon are redrawn with shrinking distance, finally placed on the seed. Every
      household lies strictly inside its polygon after rounding to 6 decimals (~0.1 m).
    * ``localidad`` = the seed's name (school ``barrio_localidad`` in title case, GeoNames
      name, or the district name for the seat); ``zona`` = the household's drawn zone.
    * ``fecha_relevamiento``: uniform over the 330 days before ``hoy``.

Service statuses (``servicios``)
    * Only codes of ``Catalogo.codigos_fips(unidad)`` whose ``aplica`` rule holds for the
      person (households: for their head) are drawn, so every listed code applies.
    * Place-based services: probability ``p_far + (p_near - p_far) / (1 + (d/R)^2)``, with
      ``d`` the great-circle distance (:mod:`geoportal.geodesia`) from the household to the
      nearest point of the service's ``punto_tipo`` in ``puntos`` and ``R`` the catalog
      radius for the household's zone; times a rural factor (< 1) and an indigenous factor.
      No point of that type: ``p_far``. Other services use urban / rural probabilities
      (pensions, Tekoporã, water, electricity, sanitation, housing, roads), with indigenous
      and Chaco factors; age modifiers: late birth registration at age 0, fewer cédulas
      under 10, less pre-school at 4. Codes not listed in the tables below get generic
      defaults, so an edited catalog still works. Levels aim at published orders of
      magnitude (birth registration ~90 %, cédula ~80 %, vaccines 70-85 % near a USF and
      ~45 % far away, basic school ~95 %, pension 65+ ~50 %, Tekoporã ~9 % of households),
      not at official figures.
    * Statuses in one household are correlated: with probability 0.5 (persons) / 0.6
      (households) a draw uses the household's deprivation uniform instead of a fresh
      one (a mixture of uniforms is uniform, so the marginals stay exact); pro-poor
      programmes (Tekoporã, Abrazo, disability pension) use it reversed.

Names
    Drawn with Zipf-like weights from short lists of common Paraguayan Spanish and Guaraní
    names (with ñ, accents, ĩ and g̃); 55 % have two given names; most members carry the
    head's first surname. They are synthetic and match no real person on purpose.
"""

from __future__ import annotations

import unicodedata
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import shapely

from geoportal import geodesia
from geoportal.catalog import Catalogo, default_catalog
from geoportal.settings import DATA_DIR

PILOTOS: tuple[str, ...] = ("1116", "1602", "0607", "0218")
FECHA_REFERENCIA = date(2026, 1, 1)
EDAD_MAXIMA = 100

COLUMNAS_HOGARES = (
    "hogar_id",
    "codigo_distrito",
    "localidad",
    "zona",
    "fecha_relevamiento",
    "lat",
    "lon",
    "servicios",
    "origen",
)
COLUMNAS_PERSONAS = (
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
)

Progreso = Callable[[str, float], None]

# ---------------------------------------------------------------------------- parameters
_INDIGENA_DPTO = {
    "16": 0.40,
    "15": 0.30,
    "17": 0.20,
    "14": 0.07,
    "13": 0.05,
    "01": 0.02,
    "02": 0.02,
    "05": 0.02,
    "10": 0.015,
    "04": 0.01,
    "06": 0.01,
    "07": 0.005,
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
    "CEDULA": (0.96, 0.80, 0.95, 0.75),
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
# Share of a status draw taken from the household's deprivation uniform (correlation).
_MEZCLA_HOGAR = 0.6
_MEZCLA_PERSONA = 0.5


def _tabla_edad(tramos) -> np.ndarray:
    t = np.zeros(EDAD_MAXIMA + 1)
    for a0, a1, rate in tramos:
        t[a0 : a1 + 1] = rate
    return t


# Pregnancy prevalence (women) and disability prevalence by single year of age.
_TASA_EMBARAZO = _tabla_edad(
    (
        (15, 19, 0.035),
        (20, 24, 0.06),
        (25, 29, 0.055),
        (30, 34, 0.04),
        (35, 39, 0.022),
        (40, 44, 0.007),
    )
)
_TASA_DISCAPACIDAD = _tabla_edad(
    (
        (0, 4, 0.015),
        (5, 14, 0.035),
        (15, 29, 0.04),
        (30, 44, 0.05),
        (45, 59, 0.09),
        (60, 74, 0.17),
        (75, EDAD_MAXIMA, 0.32),
    )
)

# Synthetic names (Zipf-like weights by list position).
_NOMBRES_F = (
    "María",
    "Ana",
    "Rosa",
    "Juana",
    "Carmen",
    "Graciela",
    "Liz",
    "Fátima",
    "Sofía",
    "Camila",
    "Araceli",
    "Mirian",
    "Gladys",
    "Ramona",
    "Lourdes",
    "Nélida",
    "Zunilda",
    "Celeste",
    "Belén",
    "Mónica",
    "Verónica",
    "Noelia",
    "Jazmín",
    "Valeria",
    "Leticia",
    "Perla",
    "Dahiana",
    "Estela",
    "Natalia",
    "Lucía",
    "Antonia",
    "Mercedes",
    "Concepción",
    "Asunción",
    "Ñandutí",
    "Yvoty",
    "Arasy",
    "Jasy",
    "Mainumby",
    "Ñasaindy",
    "Arami",
    "Aguĩ",
)
_NOMBRES_M = (
    "José",
    "Juan",
    "Carlos",
    "Luis",
    "Miguel",
    "Jorge",
    "Ramón",
    "Víctor",
    "Pedro",
    "Hugo",
    "Derlis",
    "Óscar",
    "Francisco",
    "Fernando",
    "Rubén",
    "Néstor",
    "Ángel",
    "Sebastián",
    "Matías",
    "Diego",
    "Édgar",
    "Rodrigo",
    "Julio",
    "Aníbal",
    "Gustavo",
    "Marcelo",
    "Nicolás",
    "Andrés",
    "Martín",
    "Iván",
    "Tomás",
    "Cristian",
    "Blas",
    "Celestino",
    "Arandu",
    "Kuarahy",
    "Tupã",
    "Ñamandu",
    "Yrupẽ",
    "Mbaracayú",
)
_APELLIDOS = (
    "González",
    "Benítez",
    "Martínez",
    "López",
    "Giménez",
    "Vera",
    "Duarte",
    "Ramírez",
    "Villalba",
    "Fernández",
    "Rodríguez",
    "Acosta",
    "Gómez",
    "Báez",
    "Ortiz",
    "Cáceres",
    "Rojas",
    "Núñez",
    "Ayala",
    "Franco",
    "Ríos",
    "Cabrera",
    "Sánchez",
    "Aquino",
    "Peña",
    "Cañete",
    "Acuña",
    "Ibáñez",
    "Ybañez",
    "Muñoz",
    "Britez",
    "Insfrán",
    "Galeano",
    "Ocampos",
    "Caballero",
    "Yegros",
    "Zárate",
    "Paredes",
    "Mendoza",
    "Espínola",
    "Servín",
    "Riquelme",
    "Escobar",
    "Ojeda",
    "Toledo",
    "Arévalo",
    "Cardozo",
    "Ñamandú",
    "Mbaracayú",
    "Yg̃atimi",
    "Aguĩ",
)


# ---------------------------------------------------------------------------- inputs
_MINUSCULAS = {"de", "del", "la", "las", "los", "y", "e", "el", "en"}


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    return " ".join("".join(ch if ch.isalnum() else " " for ch in text.lower()).split())


def _titulo(text: str) -> str:
    """MEC upper-case locality names -> title case, without commas or quotes (CSV-safe)."""
    words = str(text).replace(",", " -").replace('"', "").split()
    out = [
        lw if i and lw in _MINUSCULAS else lw[:1].upper() + lw[1:]
        for i, lw in enumerate(w.lower() for w in words)
    ]
    return " ".join(out) or "Sin nombre"


def _limpio(text: str) -> str:
    return " ".join(str(text).replace(",", " -").replace('"', "").split()) or "Sin nombre"


def _area_km2(geom) -> float:
    lat0 = shapely.get_coordinates(shapely.centroid(geom))[0, 1]
    return float(shapely.area(geom)) * (111.32**2) * float(np.cos(np.radians(lat0)))


def _inside(geom, lon, lat) -> np.ndarray:
    return shapely.contains_xy(geom, np.asarray(lon, float), np.asarray(lat, float))


@dataclass(frozen=True)
class _Insumos:
    """Real inputs and settlement seeds of all 263 districts, built once per process."""

    censo: pd.DataFrame  # census + crosswalk + poly key, seat, urban/indigenous shares
    poligonos: dict[str, object]  # "0101" (2012 district) or "D:01" (department) -> geometry
    semillas: pd.DataFrame  # codigo, lon, lat, nombre, w_u, w_r, w_i, esc_u, esc_r, esc_i


@lru_cache(maxsize=1)
def _insumos() -> _Insumos:
    import geopandas as gpd

    censo = pd.read_csv(DATA_DIR / "censo2022_distritos.csv", dtype={"codigo": str, "dpto": str})
    cw = pd.read_csv(
        DATA_DIR / "crosswalk_2022_2012.csv", dtype={"codigo_2022": str, "codigo_2012": str}
    ).rename(columns={"lat_cabecera": "lat_geocod", "lon_cabecera": "lon_geocod"})
    censo = censo.merge(
        cw[["codigo_2022", "codigo_2012", "relacion", "lat_geocod", "lon_geocod"]],
        left_on="codigo",
        right_on="codigo_2022",
        how="left",
        validate="one_to_one",
    )
    has_2012 = censo["codigo_2012"].fillna("").astype(str).str.len() == 4
    censo["poly"] = np.where(
        has_2012, censo["codigo_2012"].fillna("").astype(str), "D:" + censo["dpto"]
    )

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
    c_name = np.array(
        [_titulo(x) for x in barrio] + [_limpio(x) for x in geo["name"]], dtype=object
    )
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
        named = [
            j for j in pool if c_kind[j] == 2 and _norm(c_name[j]) == _norm(row.distrito_nombre)
        ]
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
    # its seat than the seat of any other district sharing the polygon.
    poly_arr = censo["poly"].to_numpy()
    parts = []
    for i, row in enumerate(censo.itertuples(index=False)):
        geom, pool = poligonos[row.poly], pools[row.poly]
        rivals = np.flatnonzero(poly_arr == row.poly)
        if row.poly.startswith("D:"):
            rivals = np.union1d(rivals, np.flatnonzero(_inside(geom, seat[:, 0], seat[:, 1])))
        keep = np.ones(len(pool), dtype=bool)
        if len(rivals) > 1 and len(pool):
            _, near = geodesia.nearest_km(
                c_lon[pool], c_lat[pool], seat[rivals, 0], seat[rivals, 1]
            )
            keep = rivals[near] == i
            if keep.sum() < 3:
                dist = geodesia.haversine_km(seat[i, 0], seat[i, 1], c_lon[pool], c_lat[pool])
                keep[np.argsort(dist, kind="stable")[:10]] = True
        mine = pool[keep]
        lon = np.r_[seat[i, 0], c_lon[mine]]
        lat = np.r_[seat[i, 1], c_lat[mine]]
        kind = np.r_[0, c_kind[mine]]
        urb = np.r_[False, c_urb[mine]]
        ind = np.r_[False, c_ind[mine]]
        dseat = geodesia.haversine_km(seat[i, 0], seat[i, 1], lon, lat)
        w_u = np.where(urb, np.exp(-dseat / 15.0), 0.0) + np.where(kind == 2, 3.0, 0.0)
        w_u[0] = 3.0 + 0.1 * w_u[1:].sum()
        w_r = np.where((kind == 1) & ~urb, 1.0, 0.0)
        if w_r.sum() == 0:  # no rural school: rural households spread over every seed
            w_r = np.where(kind == 1, 0.5, 1.0)
        parts.append(
            pd.DataFrame(
                {
                    "codigo": row.codigo,
                    "lon": lon,
                    "lat": lat,
                    "nombre": np.r_[
                        np.array([_limpio(row.distrito_nombre)], dtype=object), c_name[mine]
                    ],
                    "w_u": w_u,
                    "w_r": w_r,
                    "w_i": w_r * (1.0 + 20.0 * ind),
                    "esc_u": np.where(kind == 0, 1.0, 0.5),
                    "esc_r": 2.0,
                    "esc_i": 0.8,
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
    return _Insumos(censo=censo, poligonos=poligonos, semillas=semillas)


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


# ---------------------------------------------------------------------------- helpers
def _grouped_choice(
    rng: np.random.Generator, item_group: np.ndarray, weights: np.ndarray, draw_group: np.ndarray
) -> np.ndarray:
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
    return np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))


def _edad_pesos(lam: np.ndarray, mujer: bool) -> np.ndarray:
    """(D, 86) weights of ages 15..100 given each district's decline rate ``lam``."""
    a = np.arange(15, EDAD_MAXIMA + 1, dtype=float)
    hazard0, g = 6e-5 * (0.7 if mujer else 1.3), 0.088
    surv = np.exp(-(hazard0 / g) * (np.exp(g * a) - np.exp(g * 15.0)))
    return np.exp(-lam[:, None] * (a - 15.0)[None, :]) * surv[None, :]


def _resolver_lambda(n014, n15_h, n15_m, mediana) -> np.ndarray:
    """Bisection (vectorized over districts) so the interpolated median is ``mediana + 0.5``."""
    total = n014 + n15_h + n15_m
    m = np.clip(mediana.astype(int), 15, EDAD_MAXIMA)
    ages = np.arange(15, EDAD_MAXIMA + 1)
    below = (ages[None, :] < m[:, None]) + 0.5 * (ages[None, :] == m[:, None])

    def excess(lam):
        wh, wm = _edad_pesos(lam, False), _edad_pesos(lam, True)
        under_h = (wh * below).sum(1) / wh.sum(1)
        under_m = (wm * below).sum(1) / wm.sum(1)
        return (n014 + n15_h * under_h + n15_m * under_m) / total - 0.5

    lo, hi = np.full(len(total), -0.08), np.full(len(total), 0.25)
    for _ in range(50):
        mid = (lo + hi) / 2
        young = excess(mid) > 0  # too young: lower lambda
        hi, lo = np.where(young, mid, hi), np.where(young, lo, mid)
    return (lo + hi) / 2


def _menos_anios(hoy: date, years: int) -> date:
    try:
        return hoy.replace(year=hoy.year - years)
    except ValueError:  # 29 February
        return hoy.replace(year=hoy.year - years, day=28)


_URNA = 10_000


def _urna(n: int) -> np.ndarray:
    """Indices 0..n-1 repeated by Zipf-like weights 1/(k+3), quantized to 1/10 000.

    Drawing ``urna[rng.integers(0, len(urna), size)]`` is a fast categorical draw.
    """
    w = 1.0 / (np.arange(n) + 3.0)
    counts = np.maximum(1, np.floor(w / w.sum() * _URNA)).astype(np.int64)
    return np.repeat(np.arange(n), counts)


def _draw(rng: np.random.Generator, urna: np.ndarray, size: int) -> np.ndarray:
    return urna[rng.integers(0, len(urna), size)]


def _id_bytes(
    prefijo: np.ndarray, numero: np.ndarray, digitos: int, sep: bytes = b""
) -> np.ndarray:
    """Fixed-width ASCII ids ``prefijo[i] + sep + zero-padded numero[i]`` as an (n, w) uint8 array."""
    pre = np.asarray(prefijo, dtype=np.uint8)
    width = pre.shape[1] + len(sep) + digitos
    out = np.empty((len(numero), width), dtype=np.uint8)
    out[:, : pre.shape[1]] = pre
    if sep:
        out[:, pre.shape[1] : pre.shape[1] + len(sep)] = np.frombuffer(sep, np.uint8)
    num = np.asarray(numero, dtype=np.int64)
    if len(num) and (num.max() >= 10**digitos or num.min() < 0):
        raise ValueError("numeración fuera de rango para los identificadores")
    for k in range(digitos):
        out[:, width - 1 - k] = 48 + (num // 10**k) % 10
    return out


def _id_array(ids: np.ndarray) -> pa.Array:
    """(n, w) ASCII bytes -> Arrow string array, sharing the bytes (no copy, no cast)."""
    n, width = ids.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    return pa.Array.from_buffers(
        pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(ids))]
    )


def _dict_column(indices: np.ndarray, labels: Sequence[str]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(
        pa.array(np.asarray(indices, dtype=np.int32), pa.int32()),
        pa.array(list(labels), pa.string()),
    )


def _bits_column(bits: np.ndarray, codes: Sequence[str]) -> pa.DictionaryArray:
    """Bit sets of service codes -> ``;``-joined labels (only the combinations present)."""
    present, index = np.unique(bits, return_inverse=True)
    labels = [";".join(c for j, c in enumerate(codes) if int(b) >> j & 1) for b in present]
    return _dict_column(index, labels)


def _edad_en(nacimiento: np.ndarray, fecha: np.ndarray) -> np.ndarray:
    """Completed years at ``fecha`` of persons born on ``nacimiento`` (days since 1970)."""
    born = np.asarray(nacimiento).astype("datetime64[D]")
    at = np.asarray(fecha).astype("datetime64[D]")

    def parts(d):
        month = d.astype("datetime64[M]")
        year = month.astype("datetime64[Y]")
        return (
            year.astype(np.int64),
            (month - year).astype(np.int64) * 32 + (d - month).astype(np.int64),
        )

    by, bmd = parts(born)
    ay, amd = parts(at)
    return (ay - by - (bmd > amd)).astype(np.int16)


def _date_column(days: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int32), pa.int32()).view(pa.date32())


# ---------------------------------------------------------------------------- stages
@dataclass
class _Personas:
    d: np.ndarray  # district position in the selection (int32)
    sexo: np.ndarray  # 0 = M, 1 = F (int8)
    edad: np.ndarray  # completed years at ``hoy`` (int16)


@dataclass
class _Hogares:
    d: np.ndarray  # district position (int32), sorted
    urbana: np.ndarray  # bool
    indigena: np.ndarray  # bool
    tamano: np.ndarray  # members (int32)
    inicio: np.ndarray  # position of the head in the person arrays (int64)
    semilla: np.ndarray  # settlement seed (row of the batch's seed table)


def _poblacion(sel: pd.DataFrame, rng: np.random.Generator) -> _Personas:
    """Persons by district, sex and single year, matching the census bands exactly."""
    D, A = len(sel), EDAD_MAXIMA + 1

    def col(c: str) -> np.ndarray:
        return sel[c].to_numpy(np.int64)

    tot = {0: col("pob_hombres"), 1: col("pob_mujeres")}
    n5 = {0: col("pob_5ymas_hombres"), 1: col("pob_5ymas_mujeres")}
    n15 = {0: col("pob_15ymas_hombres"), 1: col("pob_15ymas_mujeres")}
    n014 = tot[0] - n15[0] + tot[1] - n15[1]
    lam = _resolver_lambda(n014, n15[0], n15[1], sel["edad_mediana"].to_numpy(float))
    lam_c = np.clip(lam, -0.01, 0.03)
    counts = np.zeros((D, 2, A), dtype=np.int64)
    for s in (0, 1):
        bands = (
            (np.arange(0, 5), tot[s] - n5[s], np.exp(-lam_c[:, None] * np.arange(5)[None, :])),
            (np.arange(5, 15), n5[s] - n15[s], np.exp(-lam_c[:, None] * np.arange(10)[None, :])),
            (np.arange(15, A), n15[s], _edad_pesos(lam, mujer=s == 1)),
        )
        for ages, n, w in bands:
            if (n < 0).any():
                raise ValueError("censo inconsistente: un grupo de edad es negativo")
            counts[:, s, ages] = rng.multinomial(n, w / w.sum(1, keepdims=True))
    flat = counts.reshape(-1)
    grid_d, grid_s, grid_a = np.meshgrid(np.arange(D), np.arange(2), np.arange(A), indexing="ij")
    return _Personas(
        d=np.repeat(grid_d.reshape(-1).astype(np.int32), flat),
        sexo=np.repeat(grid_s.reshape(-1).astype(np.int8), flat),
        edad=np.repeat(grid_a.reshape(-1).astype(np.int16), flat),
    )


@dataclass
class _SemillasLote:
    """Seeds of a batch of districts, sorted by district position ``d``."""

    d: np.ndarray
    tabla: pd.DataFrame


def _semillas_lote(sel: pd.DataFrame, ins: _Insumos) -> _SemillasLote:
    sem = ins.semillas[ins.semillas["codigo"].isin(sel["codigo"])]
    pos = pd.Series(np.arange(len(sel)), index=sel["codigo"].to_numpy())
    s_d = pos.reindex(sem["codigo"].to_numpy()).to_numpy(np.int64)
    order = np.argsort(s_d, kind="stable")
    return _SemillasLote(d=s_d[order], tabla=sem.iloc[order].reset_index(drop=True))


def _formar_hogares(
    sel: pd.DataFrame, per: _Personas, sem: _SemillasLote, rng: np.random.Generator
) -> tuple[_Personas, _Hogares]:
    """Group persons into households; return persons reordered by household, head first.

    Households get their zone, indigenous status and settlement seed first and are then
    numbered by district and seed, as a listing by locality would be.
    """
    D, N = len(sel), len(per.d)
    pob = sel["pob_total"].to_numpy(np.int64)
    urb_share = sel["urbana"].to_numpy(float)
    ind_share = sel["indigena"].to_numpy(float)
    mean_size = 3.0 + 0.5 * (1.0 - urb_share) + 1.8 * ind_share
    # Heads are 19+ at ``hoy`` so they are 18+ at the survey date too.
    adult = per.edad >= 19
    adults = np.bincount(per.d[adult], minlength=D)
    H_d = np.clip(np.rint(pob / mean_size).astype(np.int64), 1, adults)
    H = int(H_d.sum())
    h_d = np.repeat(np.arange(D, dtype=np.int32), H_d)
    h_start_d = np.r_[0, np.cumsum(H_d)]
    urbana = rng.random(H) < urb_share[h_d]
    # 0.8: indigenous households are larger, so a household share of 0.8 x the target
    # gives about the target share of persons.
    p_ind_rural = np.minimum(0.95, 0.8 * ind_share / np.maximum(1.0 - urb_share, 1e-6))
    indigena = ~urbana & (rng.random(H) < p_ind_rural[h_d])
    seed = np.empty(H, dtype=np.int64)
    for mask, wcol in ((urbana, "w_u"), (~urbana & ~indigena, "w_r"), (indigena, "w_i")):
        idx = np.flatnonzero(mask)
        seed[idx] = _grouped_choice(rng, sem.d, sem.tabla[wcol].to_numpy(float), h_d[idx])
    by_seed = np.argsort(seed, kind="stable")  # seeds are sorted by district too
    urbana, indigena, seed = urbana[by_seed], indigena[by_seed], seed[by_seed]
    del by_seed

    # sizes: 1 + Gamma-Poisson extra members, exact per district (multinomial)
    w = rng.gamma(7.0, 1.0, H) * np.where(urbana, 1.0, 1.25) * np.where(indigena, 1.5, 1.0)
    extra = np.empty(H, dtype=np.int64)
    for d in range(D):
        sl = slice(h_start_d[d], h_start_d[d + 1])
        extra[sl] = rng.multinomial(pob[d] - H_d[d], w[sl] / w[sl].sum())
    tamano = (1 + extra).astype(np.int32)
    del w, extra

    # heads: weighted sampling without replacement (Efraimidis-Spirakis) among adults
    adult_idx = np.flatnonzero(adult)
    w_age = np.interp(
        np.arange(EDAD_MAXIMA + 1),
        [19, 20, 25, 30, 65, 80, 100],
        [0.2, 0.3, 0.75, 1.0, 1.0, 0.9, 0.8],
    )
    w_head = w_age[per.edad[adult_idx]] * np.where(per.sexo[adult_idx] == 0, 1.7, 1.0)
    key = per.d[adult_idx] + (1.0 - rng.random(len(adult_idx)) ** (1.0 / w_head)) * 0.999
    ranked = adult_idx[np.argsort(key)]
    del key, w_head
    rank = _group_rank(per.d[ranked])
    heads = ranked[rank < H_d[per.d[ranked]]]  # by district, H_d each: head of household k
    del ranked, rank, adult_idx
    is_head = np.zeros(N, dtype=bool)
    is_head[heads] = True

    # other members fill the remaining places of their district by noisy age keys
    slots = np.repeat(np.arange(H, dtype=np.int32), tamano - 1)  # sorted by household
    head_age = per.edad[heads].astype(np.float64)
    slot_key = head_age[slots] + rng.normal(0.0, 7.0, len(slots))
    members = np.flatnonzero(~is_head)
    age_m = per.edad[members].astype(np.float64)
    u = rng.random(len(members))
    shift = np.select(
        [age_m < 18, age_m < 30, age_m < 65],
        [27.0, np.where(u < 0.6, 27.0, 0.0), np.where(u < 0.15, 27.0, 0.0)],
        np.where(u < 0.4, -27.0, 0.0),
    )
    mem_key = age_m + shift + rng.normal(0.0, 7.0, len(members))
    del age_m, u, shift

    def norm(k):
        return np.clip((k + 60.0) / 260.0, 0.0, 0.999999)

    o_slots = np.argsort(h_d[slots] + norm(slot_key))
    o_mem = np.argsort(per.d[members] + norm(mem_key))
    slot_person = np.empty(len(slots), dtype=np.int64)
    slot_person[o_slots] = members[o_mem]
    del o_slots, o_mem, slot_key, mem_key, members
    if not (per.d[slot_person] == h_d[slots]).all():
        raise AssertionError("miembro asignado a un hogar de otro distrito")
    del slots

    inicio = np.r_[0, np.cumsum(tamano[:-1], dtype=np.int64)]
    first = np.zeros(N, dtype=bool)
    first[inicio] = True
    order = np.empty(N, dtype=np.int64)
    order[inicio] = heads
    order[~first] = slot_person
    del slot_person, heads
    per = _Personas(d=per.d[order], sexo=per.sexo[order], edad=per.edad[order])
    return per, _Hogares(
        d=h_d, urbana=urbana, indigena=indigena, tamano=tamano, inicio=inicio, semilla=seed
    )


def _ubicar(
    sel: pd.DataFrame, ins: _Insumos, hog: _Hogares, sem: _SemillasLote, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Household coordinates around their seed, always inside the district polygon."""
    tabla = sem.tabla
    s_lon, s_lat = tabla["lon"].to_numpy(float), tabla["lat"].to_numpy(float)
    H = len(hog.d)
    seed = hog.semilla
    scale = np.where(
        hog.urbana,
        tabla["esc_u"].to_numpy(float)[seed],
        np.where(
            hog.indigena, tabla["esc_i"].to_numpy(float)[seed], tabla["esc_r"].to_numpy(float)[seed]
        ),
    )
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
            dlon, dlat = geodesia.offset_deg(
                r * np.sin(theta), r * np.cos(theta), s_lat[seed[todo]]
            )
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
            raise RuntimeError(
                f"no se pudo ubicar hogares dentro del distrito {sel['codigo'].iat[d]}"
            )
        t = todo[hog.d[todo] == d]
        lon_out[t], lat_out[t] = rp[0], rp[1]
    return lon_out, lat_out


def _prob_hogar(serv, dist_km, hog: _Hogares, chaco: np.ndarray) -> np.ndarray:
    """Marginal coverage probability of ``serv`` for each household (before age factors)."""
    rural = ~hog.urbana
    if serv.punto_tipo:
        near, far, f_rur, f_ind = _CON_PUNTO.get(serv.codigo, _CON_PUNTO_DEFECTO)
        R = np.where(rural, serv.radio_km.rural, serv.radio_km.urbana)
        p = far + (near - far) / (1.0 + (dist_km / R) ** 2)
        p = p * np.where(rural, f_rur, 1.0)
    else:
        pu, pr, f_ind, _ = _SIN_PUNTO.get(serv.codigo, _SIN_PUNTO_DEFECTO)
        p = np.where(rural, pr, pu)
    p = p * np.where(hog.indigena, f_ind, 1.0)
    if serv.codigo in ("AGUA", "ENT_CAMINO"):
        p = p * np.where(chaco & rural, 0.7, 1.0)
    elif serv.codigo == "VIVIENDA":
        p = p * np.where(hog.tamano >= 6, 0.7, 1.0)
    return p


def _factor_edad(codigo: str) -> np.ndarray:
    f = np.ones(EDAD_MAXIMA + 1)
    if codigo == "INSCRIPCION_NAC":
        f[0] = 0.78  # late registration of babies
    elif codigo == "CEDULA":
        f[:10], f[10:18] = 0.55, 0.85
    elif codigo == "EDUC_INICIAL":
        f[4] = 0.75
    return f


def _pro_pobre(codigo: str, punto_tipo) -> bool:
    return (not punto_tipo) and _SIN_PUNTO.get(codigo, _SIN_PUNTO_DEFECTO)[3]


def _cubiertos(
    rng: np.random.Generator, p: np.ndarray, v_hogar: np.ndarray, mezcla: float, pro_pobre: bool
) -> np.ndarray:
    """Covered draws with marginal probability ``p``, correlated within households.

    The uniform compared with ``p`` is the household's deprivation uniform ``v_hogar``
    (reversed for pro-poor programmes) with probability ``mezcla``, else a fresh one; a
    mixture of uniforms is uniform, so the marginal stays exactly ``p``.
    """
    v = 1.0 - v_hogar if pro_pobre else v_hogar
    u = rng.random(len(p))
    # Below ``mezcla`` take the household's uniform; above it, rescale u to a fresh uniform.
    return np.where(u < mezcla, v, (u - mezcla) / (1.0 - mezcla)) < p


# ---------------------------------------------------------------------------- generator
@dataclass(frozen=True)
class _Contexto:
    """What every batch of districts shares: catalog services, points, names, dates."""

    hoy: date
    serv_p: tuple
    serv_h: tuple
    puntos: dict[str, geodesia.NearestIndex]  # point type -> index of its points
    labels_nombres: list[str]
    labels_apellidos: list[str]


_LOTE_PERSONAS = 400_000  # districts are processed in batches of about this many persons


def _lote(sel: pd.DataFrame, ins: _Insumos, ctx: _Contexto, rng: np.random.Generator):
    """Households and persons of a batch of whole districts, as two Arrow tables."""
    D = len(sel)
    sem = _semillas_lote(sel, ins)
    per = _poblacion(sel, rng)
    per, hog = _formar_hogares(sel, per, sem, rng)
    N, H = len(per.d), len(hog.d)
    hh = np.repeat(np.arange(H, dtype=np.int32), hog.tamano)
    lon, lat = _ubicar(sel, ins, hog, sem, rng)

    # ------------------------------------------------------------ dates and attributes
    hoy = ctx.hoy
    epoch = date(1970, 1, 1)
    survey = ((hoy - epoch).days - rng.integers(1, 331, H)).astype(np.int32)
    upper = np.array([(_menos_anios(hoy, a) - epoch).days for a in range(EDAD_MAXIMA + 1)])
    lower = np.array([(_menos_anios(hoy, a + 1) - epoch).days + 1 for a in range(EDAD_MAXIMA + 1)])
    span = (upper - lower + 1)[per.edad]
    babies = np.flatnonzero(per.edad == 0)  # born on or before the survey date
    span[babies] = np.minimum(upper[0], survey[hh[babies]]) - lower[0] + 1
    nacimiento = (lower[per.edad] + (rng.random(N) * span).astype(np.int64)).astype(np.int32)
    # The FIPS answers describe the person at the interview: pregnancy and services use
    # the completed years at the household's survey date (as the coverage engine does).
    edad = _edad_en(nacimiento, survey[hh])

    mujer = per.sexo == 1
    indigena = hog.indigena[hh]
    embarazada = rng.random(N) < _TASA_EMBARAZO[edad] * mujer * np.where(indigena, 1.4, 1.0)
    discapacidad = rng.random(N) < _TASA_DISCAPACIDAD[per.edad]

    # ------------------------------------------------------------ service statuses
    chaco = np.isin(sel["dpto"].to_numpy(str), _CHACO)[hog.d]
    privacion = rng.random(H)  # household deprivation uniform (higher = more deprived)
    xyz = geodesia.unit_vectors(lon, lat)
    seed_xyz = geodesia.unit_vectors(
        sem.tabla["lon"].to_numpy(float), sem.tabla["lat"].to_numpy(float)
    )
    dist_cache: dict[str, np.ndarray] = {}

    def distancia(tipo: str, need: np.ndarray) -> np.ndarray:
        """km from households to the nearest point of ``tipo``; inf if none or not ``need``."""
        if tipo not in dist_cache:
            dist_cache[tipo] = np.full(H, np.inf)
        out = dist_cache[tipo]
        index = ctx.puntos.get(tipo)
        todo = np.flatnonzero(need & np.isinf(out))
        if index is not None and len(index) and len(todo):
            out[todo] = index.query_clustered(xyz[todo], seed_xyz, hog.semilla[todo])[0]
        return out

    marco = pd.DataFrame(
        {
            "edad": edad,
            "sexo": pd.Categorical.from_codes(per.sexo, ["M", "F"]),
            "embarazada": embarazada,
            "discapacidad": discapacidad,
            "indigena": indigena,
        },
        copy=False,
    )
    aplica = [np.flatnonzero(serv.aplica.applies(marco)) for serv in ctx.serv_p]
    del marco
    # Households that need each point type (the distance query is the costly part).
    necesita: dict[str, np.ndarray] = {}
    for serv, rows in zip(ctx.serv_p, aplica):
        if serv.punto_tipo and len(rows):
            need = necesita.setdefault(serv.punto_tipo, np.zeros(H, dtype=bool))
            need[hh[rows]] = True
    bits_p = np.zeros(N, dtype=np.int64)
    for j, (serv, rows) in enumerate(zip(ctx.serv_p, aplica)):
        if not len(rows):
            continue
        h = hh[rows]
        dist = distancia(serv.punto_tipo, necesita[serv.punto_tipo]) if serv.punto_tipo else None
        p = _prob_hogar(serv, dist, hog, chaco)[h] * _factor_edad(serv.codigo)[edad[rows]]
        covered = _cubiertos(
            rng, p, privacion[h], _MEZCLA_PERSONA, _pro_pobre(serv.codigo, serv.punto_tipo)
        )
        bits_p[rows[covered]] |= np.int64(1) << j
    del aplica, necesita

    head = hog.inicio
    marco_h = pd.DataFrame(
        {
            "edad": edad[head],
            "sexo": pd.Categorical.from_codes(per.sexo[head], ["M", "F"]),
            "embarazada": embarazada[head],
            "discapacidad": discapacidad[head],
            "indigena": hog.indigena,
        },
        copy=False,
    )
    bits_h = np.zeros(H, dtype=np.int64)
    for j, serv in enumerate(ctx.serv_h):
        applies = serv.aplica.applies(marco_h)
        rows = np.flatnonzero(applies)
        if not len(rows):
            continue
        dist = distancia(serv.punto_tipo, applies) if serv.punto_tipo else None
        p = _prob_hogar(serv, dist, hog, chaco)[rows]
        covered = _cubiertos(
            rng, p, privacion[rows], _MEZCLA_HOGAR, _pro_pobre(serv.codigo, serv.punto_tipo)
        )
        bits_h[rows[covered]] |= np.int64(1) << j
    dist_cache.clear()

    # ------------------------------------------------------------ names
    nf, nm, ns = len(_NOMBRES_F), len(_NOMBRES_M), len(_APELLIDOS)
    nombre_idx = np.empty(N, dtype=np.int64)
    for idx, n_names, offset in (
        (np.flatnonzero(mujer), nf, 0),
        (np.flatnonzero(~mujer), nm, nf * (nf + 1)),
    ):
        urna = _urna(n_names)
        a = _draw(rng, urna, len(idx))
        b = _draw(rng, urna, len(idx))
        b = np.where(b == a, (b + 1) % n_names, b)
        b = np.where(rng.random(len(idx)) < 0.55, b, -1)  # 55 % have a second given name
        nombre_idx[idx] = offset + a * (n_names + 1) + (b + 1)
    urna_s = _urna(ns)
    s_hog = _draw(rng, urna_s, H)
    s1 = _draw(rng, urna_s, N)
    keep = rng.random(N) < 0.75  # most members carry the head's first surname
    keep[head] = True
    s1 = np.where(keep, s_hog[hh], s1)
    s2 = _draw(rng, urna_s, N)
    s2 = np.where(s2 == s1, (s2 + 1) % ns, s2)

    # ------------------------------------------------------------ tables
    codigos = sel["codigo"].to_numpy(str)
    pref_d = np.frombuffer("".join("H" + c for c in codigos).encode("ascii"), np.uint8).reshape(
        D, 5
    )
    serial = np.arange(H) - np.searchsorted(hog.d, np.arange(D))[hog.d] + 1
    hid = _id_bytes(pref_d[hog.d], serial, 6)
    pid = _id_bytes(hid[hh], np.arange(N) - hog.inicio[hh] + 1, 2, b"-")
    hogar_id = _id_array(hid)
    hogares = pa.table(
        {
            "hogar_id": hogar_id,
            "codigo_distrito": _dict_column(hog.d, codigos),
            "localidad": _dict_column(hog.semilla, sem.tabla["nombre"].tolist()),
            "zona": _dict_column(hog.urbana, ["rural", "urbana"]),
            "fecha_relevamiento": _date_column(survey),
            "lat": pa.array(lat),
            "lon": pa.array(lon),
            "servicios": _bits_column(bits_h, [s.codigo for s in ctx.serv_h]),
            "origen": _dict_column(np.zeros(H, np.int8), ["sintetico"]),
        }
    )
    personas = pa.table(
        {
            "persona_id": _id_array(pid),
            "hogar_id": hogar_id.take(pa.array(hh)),
            "nombres": _dict_column(nombre_idx, ctx.labels_nombres),
            "apellidos": _dict_column(s1 * ns + s2, ctx.labels_apellidos),
            "sexo": _dict_column(per.sexo, ["M", "F"]),
            "fecha_nacimiento": _date_column(nacimiento),
            "embarazada": _dict_column(embarazada, ["no", "si"]),
            "discapacidad": _dict_column(discapacidad, ["no", "si"]),
            "indigena": _dict_column(indigena, ["no", "si"]),
            "servicios": _bits_column(bits_p, [s.codigo for s in ctx.serv_p]),
            "origen": _dict_column(np.zeros(N, np.int8), ["sintetico"]),
        }
    )
    return hogares, personas


def _lotes(pob: np.ndarray, limite: int) -> list[np.ndarray]:
    """Consecutive groups of districts with about ``limite`` persons each (at least one)."""
    groups, current, acc = [], [], 0
    for i, n in enumerate(pob):
        if current and acc + n > limite:
            groups.append(np.array(current))
            current, acc = [], 0
        current.append(i)
        acc += int(n)
    if current:
        groups.append(np.array(current))
    return groups


def generate(
    ambito: str | list[str],
    semilla: int,
    salida: Path,
    puntos: pd.DataFrame | None,
    hoy: date | None = None,
    progreso: Progreso | None = None,
) -> dict:
    """Write ``salida/hogares.csv`` and ``salida/personas.csv`` (synthetic FIPS); return counts.

    ``ambito``: ``"pilotos"`` (1116, 1602, 0607, 0218), ``"pais"`` (263 districts) or a list
    (or comma-separated string) of 2022 census district codes. ``puntos``: delivery points
    with columns ``punto_id, tipo, zona, capacidad, lat, lon``. ``hoy``: reference date of
    the ages (default 2026-01-01). ``progreso(etapa, fraccion)`` is called as batches end.
    """
    hoy = hoy or FECHA_REFERENCIA
    salida = Path(salida)
    catalogo: Catalogo = default_catalog()
    ins = _insumos()
    sel = _seleccion(ambito, ins.censo)
    if progreso is not None:
        progreso("datos", 0.02)

    pts = puntos if puntos is not None else pd.DataFrame({"tipo": [], "lat": [], "lon": []})
    por_tipo = {
        str(t): geodesia.NearestIndex(g["lon"].to_numpy(float), g["lat"].to_numpy(float))
        for t, g in pts.groupby("tipo", sort=True)
    }
    fips_p, fips_h = catalogo.codigos_fips("persona"), catalogo.codigos_fips("hogar")
    if max(len(fips_p), len(fips_h)) > 62:
        raise ValueError("el catálogo tiene más de 62 servicios FIPS por unidad")
    nf, nm = _NOMBRES_F, _NOMBRES_M
    ctx = _Contexto(
        hoy=hoy,
        serv_p=tuple(s for s in catalogo.servicios if s.codigo in fips_p),
        serv_h=tuple(s for s in catalogo.servicios if s.codigo in fips_h),
        puntos=por_tipo,
        labels_nombres=[a if b < 0 else f"{a} {nf[b]}" for a in nf for b in range(-1, len(nf))]
        + [a if b < 0 else f"{a} {nm[b]}" for a in nm for b in range(-1, len(nm))],
        labels_apellidos=[f"{a} {b}" for a in _APELLIDOS for b in _APELLIDOS],
    )

    salida.mkdir(parents=True, exist_ok=True)
    ruta_h, ruta_p = salida / "hogares.csv", salida / "personas.csv"
    opts = pa_csv.WriteOptions(quoting_style="none", quoting_header="none", batch_size=1 << 16)
    pob = sel["pob_total"].to_numpy(np.int64)
    total, done, n_h = int(pob.sum()), 0, 0
    lotes = _lotes(pob, _LOTE_PERSONAS)

    def calcular(k: int) -> tuple[pa.Table, pa.Table]:
        # Batch k draws from its own stream: PCG64(semilla) jumped k times, so the result
        # does not depend on how many batches run at once.
        rng = np.random.Generator(np.random.PCG64(semilla).jumped(k))
        return _lote(sel.iloc[lotes[k]].reset_index(drop=True), ins, ctx, rng)

    # Batches are computed by two threads (numpy, shapely, scipy and Arrow release the
    # GIL) and written in order by a third; at most three batches are held in memory.
    writers: dict[str, pa_csv.CSVWriter] = {}
    n_calc = 2 if len(lotes) > 1 else 1
    with (
        ThreadPoolExecutor(max_workers=n_calc) as calc,
        ThreadPoolExecutor(max_workers=1) as escritor,
    ):
        futures = deque(calc.submit(calcular, k) for k in range(min(n_calc, len(lotes))))
        siguiente, pending = len(futures), None
        try:
            while futures:
                hogares, personas = futures.popleft().result()
                if siguiente < len(lotes):
                    futures.append(calc.submit(calcular, siguiente))
                    siguiente += 1
                if not writers:
                    writers["h"] = pa_csv.CSVWriter(ruta_h, hogares.schema, write_options=opts)
                    writers["p"] = pa_csv.CSVWriter(ruta_p, personas.schema, write_options=opts)
                if pending is not None:
                    pending.result()
                pending = escritor.submit(_write, writers, hogares, personas)
                n_h += hogares.num_rows
                done += personas.num_rows
                if progreso is not None:
                    progreso("hogares y personas", 0.02 + 0.96 * done / total)
            if pending is not None:
                pending.result()
        finally:
            for f in futures:
                f.cancel()
            for w in writers.values():
                w.close()
    if progreso is not None:
        progreso("listo", 1.0)
    return {
        "ambito": ambito if isinstance(ambito, str) else list(ambito),
        "semilla": int(semilla),
        "fecha_referencia": hoy.isoformat(),
        "distritos": len(sel),
        "hogares": n_h,
        "personas": done,
        "hogares_csv": str(ruta_h),
        "personas_csv": str(ruta_p),
    }


def _write(writers: dict, hogares: pa.Table, personas: pa.Table) -> None:
    # Dictionary columns are written as their values (Arrow decodes them per batch).
    writers["h"].write_table(hogares)
    writers["p"].write_table(personas)
