"""Supply side (oferta): distance to the nearest delivery point and capacity-aware access.

- **Nearest point**: great-circle distance (``geoportal.geodesia``: 3-D k-d tree on unit
  vectors, exact chord-to-arc conversion; never degrees) from each unit to the nearest
  point of each type.
- **Within reach**: that distance is inside the service's catchment (``radio_km`` of the
  catalog, urban or rural by the unit's zone).
- **Two-step floating catchment area** (2SFCA, Luo & Wang 2003), per point type, so an
  overloaded point counts for less: step 1, each point's ratio ``R_j = capacity_j /
  demand within its catchment``; step 2, each unit's index ``A_i = Σ R_j`` over the points
  within its catchment. Demand is counted at H3 resolution-8 cells (about 0.7 km²), by
  the unit of the type's capacity (households for USF, persons otherwise). An index of
  1 means one unit of capacity per unit of demand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from geoportal.aggregate import h3_cells
from geoportal.catalog import Catalogo
from geoportal.geodesia import EARTH_RADIUS_KM, chord_to_km, nearest_index, unit_vectors


def km_to_chord(km: float) -> float:
    return 2.0 * np.sin(km / EARTH_RADIUS_KM / 2.0)


def type_radius(catalog: Catalogo, tipo: str) -> tuple[float, float]:
    """Catchment of a point type for 2SFCA: the widest (urban, rural) radius of its services."""
    radii = [s.radio_km for s in catalog.servicios if s.punto_tipo == tipo and s.radio_km]
    if not radii:
        return (5.0, 20.0)
    return (max(r.urbana for r in radii), max(r.rural for r in radii))


@dataclass
class Access:
    """Per unit and point type: nearest distance (km) and 2SFCA index."""

    distancia_km: dict[str, np.ndarray]
    indice_2sfca: dict[str, np.ndarray]
    ratio: dict[str, pd.Series]  # per point type: punto_id -> R_j
    # The demand locations behind the ratios (urbana, lon, lat and a demand column per point
    # type; those with some demand), stored by a national computation for the what-if's new
    # points (calculo.demanda_lugar).
    demanda: pd.DataFrame | None = None

    def within_reach(self, catalog: Catalogo, code: str, urban: np.ndarray) -> np.ndarray:
        s = catalog.servicio(code)
        if not s.punto_tipo:
            # No place delivers it: the catalog says what its gap is (referral = "in reach").
            return np.full(len(urban), s.brecha_sin_punto == "derivacion")
        return self.distancia_km[s.punto_tipo] <= s.radius_km(urban)


def nearest_by_type(lon, lat, puntos: pd.DataFrame, tipos) -> dict[str, np.ndarray]:
    """Distance (km) from each unit to the nearest point of each type (inf: none of it)."""
    xyz = unit_vectors(lon, lat)
    out = {}
    for tipo in tipos:
        sub = puntos[puntos["tipo"] == tipo]
        out[tipo] = nearest_index(sub["lon"].to_numpy(float), sub["lat"].to_numpy(float)).query_km(xyz)[0]
    return out


def two_step_fca(
    demand_lon: np.ndarray,
    demand_lat: np.ndarray,
    demand: np.ndarray,
    demand_urban: np.ndarray,
    supply_lon: np.ndarray,
    supply_lat: np.ndarray,
    capacity: np.ndarray,
    radius: tuple[float, float],
    ratio: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """2SFCA index at each demand location and each point's ratio R_j.

    A pair links when within the demand location's radius (urban or rural). Pass
    ``ratio`` to reuse step 1 from an earlier national run (incremental updates).
    """
    if len(supply_lon) == 0 or len(demand_lon) == 0:
        return np.zeros(len(demand_lon)), np.zeros(len(supply_lon))
    demand_tree = cKDTree(unit_vectors(demand_lon, demand_lat))
    supply_tree = nearest_index(supply_lon, supply_lat).tree
    pairs = demand_tree.sparse_distance_matrix(supply_tree, km_to_chord(max(radius)), output_type="ndarray")
    i, j = pairs["i"].astype(np.int64), pairs["j"].astype(np.int64)
    d = chord_to_km(pairs["v"])
    keep = d <= np.where(demand_urban[i], radius[0], radius[1])
    i, j = i[keep], j[keep]
    if ratio is None:
        served = np.bincount(j, weights=demand[i], minlength=len(supply_lon))
        ratio = np.divide(capacity, served, out=np.zeros(len(capacity)), where=served > 0)
    return np.bincount(i, weights=ratio[j], minlength=len(demand_lon)), ratio


def demand_cells(
    lon: np.ndarray, lat: np.ndarray, urban: np.ndarray, cells: np.ndarray | None = None
) -> tuple[np.ndarray, pd.DataFrame]:
    """Group units into (H3 res-8 cell, zone) demand locations; returns (group of unit, locations).

    ``cells``: the units' res-8 cells as integers, when the caller already has them.
    """
    if cells is None:
        cells = h3_cells(lon, lat)
    group, codes = pd.factorize(np.asarray(cells, dtype=np.int64) * 2 + np.asarray(urban, dtype=np.int64))
    n = len(codes)
    count = np.bincount(group, minlength=n)
    locations = pd.DataFrame(
        {
            "lon": np.bincount(group, weights=lon, minlength=n) / count,
            "lat": np.bincount(group, weights=lat, minlength=n) / count,
            "urbana": np.bincount(group, weights=urban, minlength=n) > 0,
        }
    )
    return group, locations


def accessibility(
    catalog: Catalogo,
    lon: np.ndarray,
    lat: np.ndarray,
    urban: np.ndarray,
    demand_by_type: dict[str, np.ndarray],
    puntos: pd.DataFrame,
    ratios: dict[str, pd.Series] | None = None,
    cells: np.ndarray | None = None,
    distances: dict[str, np.ndarray] | None = None,
) -> Access:
    """Nearest distance and 2SFCA index per unit for every point type of the catalog.

    With ``ratios`` (from a national run) step 1 is not recomputed: a district-only
    update then still sees the demand its neighbours put on shared points.
    ``distances``: ``nearest_by_type`` of the same units and points, when already computed.
    """
    tipos = list(catalog.tipos_punto)
    if distances is None:
        distances = nearest_by_type(lon, lat, puntos, tipos)
    group, locations = demand_cells(lon, lat, urban, cells)
    indices, out_ratios, demands = {}, {}, {}
    for tipo in tipos:
        sub = puntos[puntos["tipo"] == tipo]
        demand = demands[tipo] = np.bincount(group, weights=demand_by_type[tipo], minlength=len(locations))
        known = None
        if ratios is not None and tipo in ratios:
            known = ratios[tipo].reindex(sub["punto_id"]).fillna(0.0).to_numpy()
        index, ratio = two_step_fca(
            locations["lon"].to_numpy(),
            locations["lat"].to_numpy(),
            demand,
            locations["urbana"].to_numpy(),
            sub["lon"].to_numpy(float),
            sub["lat"].to_numpy(float),
            sub["capacidad"].to_numpy(float),
            type_radius(catalog, tipo),
            ratio=known,
        )
        indices[tipo] = index[group]
        out_ratios[tipo] = pd.Series(ratio, index=sub["punto_id"].to_numpy())
    stored = locations[["urbana", "lon", "lat"]].assign(**demands)
    stored = stored[stored[tipos].gt(0).any(axis=1)].reset_index(drop=True) if tipos else stored
    return Access(distances, indices, out_ratios, stored)
