"""Shared pieces of the delivery-point network: columns, origins, the inputs' container,
small geometry helpers and the output frame."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from scipy.spatial import cKDTree

from geoportal.nombres import reparar_texto

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

    return text.astype(str).str.upper().map(fold).str.replace(r"[^A-Z0-9 ]", " ", regex=True).str.split().str.join(" ")


def _frame(tipo, institucion, prefix, poly, numero, lon, lat, capacidad, inp, names=None) -> pd.DataFrame:
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
    urban_school = s["zona"].str.upper().eq("URBANA").to_numpy()[i_school] & (d_school < URBAN_SCHOOL_M)
    return np.where((d_seat < URBAN_SEAT_M) | urban_school, "urbana", "rural")
