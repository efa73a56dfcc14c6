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

from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from geoportal.puntos.comun import COLUMNS, _locate, _zones
from geoportal.puntos.reales import _inputs, _real_health, _real_schools
from geoportal.puntos.sinteticos import _synthetic

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
        raise AssertionError(f"puntos fuera de todo distrito: {df.loc[poly < 0, 'punto_id'].tolist()}")
    wanted = df["_poly"].to_numpy(dtype=float)
    moved = ~np.isnan(wanted) & (wanted != poly)
    # Simplified neighbours can overlap by a hair: a point inside its own polygon keeps it.
    idx = np.flatnonzero(moved)
    own = shapely.contains_xy(geoms[wanted[idx].astype(int)], df["lon"].to_numpy()[idx], df["lat"].to_numpy()[idx])
    poly[idx[own]] = wanted[idx[own]].astype(int)
    moved[idx[own]] = False
    if moved.any():
        raise AssertionError(f"puntos sintéticos fuera de su distrito: {df.loc[moved, 'punto_id'].tolist()}")
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
