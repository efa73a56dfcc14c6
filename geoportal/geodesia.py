"""Small geodesy helpers shared by the synthetic generator and the coverage engine.

This module owns how the geoportal measures distances between points given in WGS84
longitude/latitude degrees. Everything is vectorized (numpy arrays in, numpy arrays out).

Modelling assumptions
---------------------
* Distances are **great-circle distances on a sphere** of mean Earth radius
  ``R = 6371.0088 km`` (IUGG mean radius R1). Against the true geodesic on the WGS84
  ellipsoid this errs by at most about 0.5 % anywhere on Earth; at Paraguay's latitudes
  (19°S to 28°S) north-south distances come out 0.35-0.45 % long and east-west ones about
  0.2 % short, i.e. under 50 m on a 10 km service radius: far below the uncertainty of the
  household and delivery-point coordinates themselves.
* Distances are **never** measured in degrees: at 25°S one degree of longitude is about
  101 km but one degree of latitude is about 111 km, so a Euclidean distance in degrees
  would distort east-west distances by about 10 % and a radius in degrees would be an
  ellipse on the ground.
* Nearest-neighbour search runs in 3-D: each point becomes a unit vector on the sphere and
  a :class:`scipy.spatial.cKDTree` finds the nearest destination by straight-line (chord)
  length ``c``, which is a strictly increasing function of the arc, so the nearest by chord
  is the nearest by great circle. The chord is then converted exactly to the arc,
  ``arc = 2·asin(c/2)``, and scaled by ``R``.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np
from scipy.spatial import cKDTree

EARTH_RADIUS_KM = 6371.0088


def unit_vectors(lon, lat) -> np.ndarray:
    """Points (degrees) as an ``(n, 3)`` array of unit vectors on the sphere (x, y, z)."""
    lon_r = np.radians(np.asarray(lon, dtype=np.float64).ravel())
    lat_r = np.radians(np.asarray(lat, dtype=np.float64).ravel())
    cos_lat = np.cos(lat_r)
    return np.column_stack((cos_lat * np.cos(lon_r), cos_lat * np.sin(lon_r), np.sin(lat_r)))


def chord_to_km(chord) -> np.ndarray:
    """Straight-line distance between unit vectors -> great-circle distance in km."""
    chord = np.asarray(chord, dtype=np.float64)
    return 2.0 * np.arcsin(np.clip(chord / 2.0, 0.0, 1.0)) * EARTH_RADIUS_KM


def nearest_km(src_lon, src_lat, dst_lon, dst_lat, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Great-circle distance (km) from each source to its ``k`` nearest destinations.

    Returns ``(dist_km, idx)``: shape ``(n,)`` when ``k == 1``, ``(n, k)`` otherwise; ``idx``
    indexes the destination arrays. With no destinations (or fewer than ``k``) the missing
    neighbours have distance ``inf`` and index ``-1``.
    """
    return nearest_km_xyz(unit_vectors(src_lon, src_lat), dst_lon, dst_lat, k=k)


def nearest_km_xyz(src_xyz: np.ndarray, dst_lon, dst_lat, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """As :func:`nearest_km`, with the sources already as :func:`unit_vectors`.

    Lets a caller convert millions of sources once and query several destination sets.
    """
    return NearestIndex(dst_lon, dst_lat).query_km(src_xyz, k)


def haversine_km(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Great-circle distance (km) between paired points, by the haversine formula."""
    lon1, lat1, lon2, lat2 = (np.radians(np.asarray(a, dtype=np.float64)) for a in (lon1, lat1, lon2, lat2))
    h = np.sin((lat2 - lat1) / 2.0) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def offset_deg(east_km, north_km, lat) -> tuple[np.ndarray, np.ndarray]:
    """Small east/north offsets in km at latitude ``lat`` -> (d_lon, d_lat) in degrees.

    Local equirectangular approximation, good to well under 0.1 % for offsets of a few km;
    meant for jittering points, not for measuring distances.
    """
    km_per_deg = EARTH_RADIUS_KM * np.pi / 180.0
    d_lat = np.asarray(north_km, dtype=np.float64) / km_per_deg
    d_lon = np.asarray(east_km, dtype=np.float64) / (km_per_deg * np.cos(np.radians(lat)))
    return d_lon, d_lat


PARALLEL_MIN = 50_000


def _workers(sources: int) -> int:
    """Threads for a k-d tree query: all cores for large queries only (starting them costs
    ~5 ms each call, more than a district's query takes)."""
    return -1 if sources > PARALLEL_MIN else 1


class NearestIndex:
    """Reusable nearest-destination index (cKDTree over unit vectors); queries are thread-safe.

    :meth:`query_clustered` answers exactly, and much faster, for sources that cluster
    around known anchors (households around their settlement): with ``c1``, ``c2`` the
    chords from an anchor to its first and second nearest destinations and ``r`` the chord
    from a source to its anchor, if ``r <= (c2 - c1) / 2`` the triangle inequality
    (``|s-q| >= c2 - r >= c1 + r >= |s-p1|`` for every other destination ``q``) proves the
    anchor's nearest destination ``p1`` is also the source's; only the other sources go
    through the tree.
    """

    def __init__(self, dst_lon, dst_lat):
        self.xyz = unit_vectors(dst_lon, dst_lat)
        self.tree = cKDTree(self.xyz) if len(self.xyz) else None

    def __len__(self) -> int:
        return len(self.xyz)

    def query_km(self, src_xyz: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(km, idx) to the ``k`` nearest destinations of each source unit vector, as
        :func:`nearest_km` returns them (inf, -1 for the missing ones)."""
        src = np.asarray(src_xyz, dtype=np.float64).reshape(-1, 3)
        n = len(src)
        shape = (n,) if k == 1 else (n, k)
        if self.tree is None or n == 0:
            return np.full(shape, np.inf), np.full(shape, -1, dtype=np.int64)
        chord, idx = self.tree.query(src, k=k, workers=_workers(n))
        idx = np.asarray(idx, dtype=np.int64)
        missing = idx >= len(self)
        dist = chord_to_km(np.where(missing, 0.0, chord))
        dist[missing] = np.inf
        idx[missing] = -1
        return dist.reshape(shape), idx.reshape(shape)

    def query_clustered(
        self, src_xyz: np.ndarray, anchor_xyz: np.ndarray, anchor_of: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`query_km` (``k = 1``); ``anchor_of[i]`` is the row of ``anchor_xyz`` near source i."""
        src = np.asarray(src_xyz, dtype=np.float64).reshape(-1, 3)
        if self.tree is None or len(src) == 0 or len(self) < 2:
            return self.query_km(src)
        c, i = self.tree.query(
            np.asarray(anchor_xyz, dtype=np.float64).reshape(-1, 3), k=2, workers=_workers(len(anchor_xyz))
        )
        margin = (c[:, 1] - c[:, 0]) / 2.0
        nearest = i[:, 0].astype(np.int64)
        anchor_of = np.asarray(anchor_of, dtype=np.int64)
        diff = src - anchor_xyz[anchor_of]
        to_anchor = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        idx = nearest[anchor_of]
        diff = src - self.xyz[idx]
        chord = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        rest = np.flatnonzero(to_anchor > margin[anchor_of])
        if len(rest):
            chord_r, idx_r = self.tree.query(src[rest], k=1, workers=_workers(len(rest)))
            chord[rest], idx[rest] = chord_r, idx_r
        return chord_to_km(chord), idx


_INDEXES: OrderedDict[bytes, NearestIndex] = OrderedDict()
_INDEXES_KEPT = 8
_INDEXES_LOCK = threading.Lock()


def nearest_index(dst_lon, dst_lat) -> NearestIndex:
    """The :class:`NearestIndex` of these destinations, built once per content: a district
    update reads the country's delivery points again each time, and their trees would be
    rebuilt for a few thousand households. Keyed by a digest of the coordinates' bytes (the
    same points in the same order), the last ``_INDEXES_KEPT`` sets kept; thread-safe.
    For destination sets that come back (the delivery points of each type), not for
    one-off ones (``NearestIndex``)."""
    lon = np.ascontiguousarray(dst_lon, dtype=np.float64).ravel()
    lat = np.ascontiguousarray(dst_lat, dtype=np.float64).ravel()
    digest = hashlib.blake2b(lon.tobytes(), digest_size=16)
    digest.update(lat.tobytes())
    key = len(lon).to_bytes(8, "little") + digest.digest()
    with _INDEXES_LOCK:
        index = _INDEXES.get(key)
        if index is not None:
            _INDEXES.move_to_end(key)
            return index
    index = NearestIndex(lon, lat)
    with _INDEXES_LOCK:
        _INDEXES[key] = index
        while len(_INDEXES) > _INDEXES_KEPT:
            _INDEXES.popitem(last=False)
    return index
