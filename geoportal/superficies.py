"""Accessibility surfaces: national rasters of distance and travel time to each point type.

For every delivery-point type of the catalog (USF, escuela, registro civil, ...) two
Cloud-Optimized GeoTIFFs, built only from public inputs (the delivery points of
``publico.punto_entrega``, the main roads of ``datos/rutas_principales_paraguay_ne10m.geojson``
and the department polygons of ``datos/departamentos.geojson``); a surface never encodes
households:

* ``<tipo>_distancia.tif``: **geodesic distance (km) to the nearest point** from each cell
  centre, with the engine's own geodesy (``geoportal.geodesia``: great circle on the mean
  sphere, 3-D k-d tree), so a cell's value is the distance the engine gives a household
  standing at the cell centre.
* ``<tipo>_tiempo.tif``: **estimated travel time (minutes)** to the nearest point over the
  main roads, walking off-road (friction model below), by cumulative cost with
  scikit-image's ``MCP_Geometric`` (8-neighbour moves; a move costs the mean of the two
  cells' crossing times times the step length, so diagonals cost √2).

Grid
----
EPSG:32721 (WGS 84 / UTM 21S, Paraguay's central zone; scale error under 0.1 % over the
country except the far west of the Chaco, about 0.4 %: only the travel time uses cell
lengths, distances are geodesic from each centre), cells of ``CELDA_M`` metres aligned to
multiples of the cell size. Cells outside the union of the departments are nodata (-1).
500 m was chosen over 250 m by the benchmark (``bench/superficies.py``): the roads layer is
generalised for 1:10 million (positional errors of a few km), so 250 m cells would add
four times the cells and time for no real precision.

Friction model (speeds in km/h, on flat ground, no slope correction)
--------------------------------------------------------------------
Reference: AccessMod 5 user manual, "Travelling modes and speeds" (WHO / UNIGE), whose
examples are 100 km/h motorway or highway, 80 dual-lane roads, 20 tracks; walking 5 km/h
on bare soil or built-up land, 4 on low and 3 on medium-density vegetation. Natural Earth
classes are coarser than those, so:

=================================  ======  ==============================================
Natural Earth class                km/h    why
=================================  ======  ==============================================
Major Highway                      100     AccessMod "motorway or highway"
Road (scalerank 3-4, main routes)  80     AccessMod "dual-lane roads" (national routes)
Unknown (scalerank 6-7)            50     secondary routes, often unpaved in the Chaco
off-road (every other cell)          4     AccessMod walking, low-density vegetation
=================================  ======  ==============================================

Limits (said in the legend and the README): the roads layer lacks most of eastern
Paraguay's routes (PY08, PY10, PY11, PY13, PY14 ...), and the model has no local roads,
rivers, bridges or ferries: travel times are an upper bound far from the main routes.

Files: ``<home>/superficies/<data_version>/<tipo>_<distancia|tiempo>.tif``; deterministic
(fixed creation options, no timestamps: the same inputs give byte-identical files). A
version's folder is removed when ``publico.version`` no longer lists it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from geoportal.geodesia import NearestIndex, unit_vectors

CRS = "EPSG:32721"
CELDA_M = 500.0
NODATA = -1.0
DATOS = Path(__file__).resolve().parent / "datos"
RUTAS = DATOS / "rutas_principales_paraguay_ne10m.geojson"
TERRITORIO = DATOS / "departamentos.geojson"
MEDIDAS = ("distancia", "tiempo")
UNIDAD = {"distancia": "km", "tiempo": "min"}
VELOCIDAD_A_PIE = 4.0
VELOCIDADES = {"Major Highway": 100.0, "Road": 80.0, "Unknown": 50.0}  # Natural Earth tipo_ne -> km/h
COG_PERFIL = {
    "driver": "GTiff",
    "interleave": "pixel",
    "tiled": True,
    "blockxsize": 512,
    "blockysize": 512,
    "compress": "DEFLATE",
    "predictor": 3,
    "zlevel": 6,
}


@dataclass(frozen=True)
class Rejilla:
    """A north-up grid in ``crs``: the origin is the upper-left corner of the upper-left cell."""

    x0: float
    y0: float
    ancho: int
    alto: int
    celda: float
    crs: str = CRS

    @property
    def transform(self):
        from affine import Affine

        return Affine(self.celda, 0.0, self.x0, 0.0, -self.celda, self.y0)

    def centros(self, filas: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.x0 + (cols + 0.5) * self.celda, self.y0 - (filas + 0.5) * self.celda

    def celda_de(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.floor((self.y0 - y) / self.celda).astype(np.int64),
            np.floor((x - self.x0) / self.celda).astype(np.int64),
        )


def _territorio(path: Path = TERRITORIO):
    import geopandas as gpd

    return gpd.read_file(path).to_crs(CRS).union_all()


def rejilla_nacional(celda: float = CELDA_M, territorio=None) -> tuple[Rejilla, np.ndarray]:
    """The national grid (bounds snapped to multiples of the cell) and its mask (True inside)."""
    from rasterio.features import rasterize

    territorio = territorio if territorio is not None else _territorio()
    minx, miny, maxx, maxy = territorio.bounds
    x0, y0 = np.floor(minx / celda) * celda, np.ceil(maxy / celda) * celda
    ancho = int(np.ceil((maxx - x0) / celda))
    alto = int(np.ceil((y0 - miny) / celda))
    rejilla = Rejilla(float(x0), float(y0), ancho, alto, float(celda))
    mask = rasterize(
        [(territorio, 1)], out_shape=(alto, ancho), transform=rejilla.transform, fill=0, dtype="uint8"
    ).astype(bool)
    return rejilla, mask


def a_lonlat(rejilla: Rejilla, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from pyproj import Transformer

    t = Transformer.from_crs(rejilla.crs, "EPSG:4326", always_xy=True)
    return t.transform(x, y)


def distancia_km(rejilla: Rejilla, mask: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Geodesic km from each cell centre inside ``mask`` to the nearest point; NODATA outside."""
    out = np.full(mask.shape, NODATA, dtype=np.float32)
    if len(lon) == 0:
        return out
    filas, cols = np.nonzero(mask)
    index = NearestIndex(lon, lat)
    step = 2_000_000  # bounded memory: the unit vectors of 2 M centres are 48 MB
    for i in range(0, len(filas), step):
        x, y = rejilla.centros(filas[i : i + step], cols[i : i + step])
        clon, clat = a_lonlat(rejilla, x, y)
        km, _ = index.query_km(unit_vectors(clon, clat))
        out[filas[i : i + step], cols[i : i + step]] = km
    return out


def velocidades(rejilla: Rejilla, mask: np.ndarray, rutas_path: Path = RUTAS) -> np.ndarray:
    """km/h of each cell: the fastest road crossing it, else walking; 0 outside ``mask``."""
    import geopandas as gpd
    from rasterio.features import rasterize

    rutas = gpd.read_file(rutas_path).to_crs(rejilla.crs)
    rutas["kmh"] = rutas["tipo_ne"].map(VELOCIDADES).fillna(VELOCIDAD_A_PIE)
    rutas = rutas.sort_values(["kmh", "id"], kind="stable")  # the fastest is burnt last and wins
    kmh = np.full(mask.shape, VELOCIDAD_A_PIE, dtype=np.float64)
    if len(rutas):
        burnt = rasterize(
            list(zip(rutas.geometry, rutas["kmh"])),
            out_shape=mask.shape,
            transform=rejilla.transform,
            fill=0.0,
            all_touched=True,
            dtype="float64",
        )
        kmh = np.maximum(kmh, burnt)
    kmh[~mask] = 0.0
    return kmh


def tiempo_minutos(kmh: np.ndarray, celda_m: float, filas: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Minutes from each cell to the nearest start cell over a speed grid (km/h; 0 = barrier).

    A cell's cost is the minutes to cross it (``celda_m`` at its speed); ``MCP_Geometric``
    charges a move the mean of the two cells' costs times the step length in cells.
    Unreachable cells and barriers are NODATA.
    """
    from skimage.graph import MCP_Geometric

    with np.errstate(divide="ignore"):
        costo = np.where(kmh > 0, (celda_m / 1000.0) / kmh * 60.0, np.inf)
    starts = [(int(f), int(c)) for f, c in zip(filas, cols) if kmh[f, c] > 0]
    out = np.full(kmh.shape, NODATA, dtype=np.float32)
    if not starts:
        return out
    acumulado, _ = MCP_Geometric(costo, fully_connected=True).find_costs(starts)
    ok = np.isfinite(acumulado) & (kmh > 0)
    out[ok] = acumulado[ok]
    return out


def celdas_de_puntos(rejilla: Rejilla, mask: np.ndarray, lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Grid cells holding the points (points off the grid or outside the mask are left out)."""
    from pyproj import Transformer

    if len(lon) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    x, y = Transformer.from_crs("EPSG:4326", rejilla.crs, always_xy=True).transform(
        np.asarray(lon, float), np.asarray(lat, float)
    )
    f, c = rejilla.celda_de(np.asarray(x), np.asarray(y))
    dentro = (f >= 0) & (f < rejilla.alto) & (c >= 0) & (c < rejilla.ancho)
    f, c = f[dentro], c[dentro]
    keep = mask[f, c]
    return f[keep], c[keep]


# ----------------------------------------------------------------------------- COG files
def escribir_cog(path: Path, valores: np.ndarray, rejilla: Rejilla, etiquetas: dict[str, str]) -> None:
    """A Cloud-Optimized GeoTIFF with overviews, byte-identical for the same input."""
    import rasterio
    from rasterio.io import MemoryFile
    from rio_cogeo.cogeo import cog_translate

    path.parent.mkdir(parents=True, exist_ok=True)
    perfil = {
        "driver": "GTiff",
        "dtype": "float32",
        "count": 1,
        "width": rejilla.ancho,
        "height": rejilla.alto,
        "crs": rejilla.crs,
        "transform": rejilla.transform,
        "nodata": NODATA,
    }
    fd, tmp = tempfile.mkstemp(suffix=".tif", dir=path.parent)
    os.close(fd)
    try:
        with rasterio.Env(GDAL_NUM_THREADS="1"), MemoryFile() as mem:
            with mem.open(**perfil) as dst:
                dst.write(valores.astype(np.float32), 1)
                dst.update_tags(**etiquetas)
            with mem.open() as src:
                cog_translate(
                    src,
                    tmp,
                    dict(COG_PERFIL),
                    overview_resampling="average",
                    overview_level=5,
                    quiet=True,
                    in_memory=True,
                    use_cog_driver=False,
                    additional_cog_metadata=None,
                    config={"GDAL_NUM_THREADS": "1"},
                )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def carpeta(home: Path) -> Path:
    return Path(home) / "superficies"


def ruta(home: Path, data_version: str, tipo: str, medida: str) -> Path:
    return carpeta(home) / data_version / f"{tipo}_{medida}.tif"


def _huella(puntos: pd.DataFrame, rejilla: Rejilla) -> str:
    h = hashlib.sha256()
    h.update(
        json.dumps(
            [
                rejilla.x0,
                rejilla.y0,
                rejilla.ancho,
                rejilla.alto,
                rejilla.celda,
                rejilla.crs,
                VELOCIDAD_A_PIE,
                VELOCIDADES,
                COG_PERFIL,
                1,
            ],
            sort_keys=True,
        ).encode()
    )
    for path in (RUTAS, TERRITORIO):
        h.update(path.read_bytes())
    h.update(puntos[["lon", "lat"]].to_numpy(np.float64).tobytes())
    return h.hexdigest()


def leer_puntos(conn) -> pd.DataFrame:
    """Delivery points from the public view (the admin and the public role can both read it)."""
    rows = conn.execute(
        "SELECT tipo, ST_X(geom), ST_Y(geom) FROM publico.punto_entrega ORDER BY tipo, codigo"
    ).fetchall()
    return pd.DataFrame(rows, columns=["tipo", "lon", "lat"])


def version_vigente(conn) -> str | None:
    row = conn.execute("SELECT data_version FROM publico.version WHERE vigente").fetchone()
    return row[0] if row else None


def construir(
    home: Path, data_version: str, puntos: pd.DataFrame, tipos, *, celda: float = CELDA_M, progreso=None
) -> dict:
    """Both surfaces of each type in ``tipos`` for ``data_version``; returns what it wrote.

    A type whose points are unchanged since an earlier version reuses that version's files
    (hard links): the inputs' fingerprint is kept beside them (``huellas.json``).
    """
    rejilla, mask = rejilla_nacional(celda)
    destino = carpeta(home) / data_version
    destino.mkdir(parents=True, exist_ok=True)
    indice = destino / "huellas.json"
    huellas = json.loads(indice.read_text()) if indice.exists() else {}
    previas = _huellas_previas(home, data_version)
    kmh = None
    hechos = {}
    for n, tipo in enumerate(sorted(tipos)):
        sub = puntos[puntos["tipo"] == tipo]
        huella = _huella(sub, rejilla)
        for medida in MEDIDAS:
            path = ruta(home, data_version, tipo, medida)
            if path.exists() and huellas.get(path.name) == huella:
                hechos[path.name] = "vigente"
                continue
            previa = previas.get((path.name, huella))
            if previa is not None and previa.exists():
                path.unlink(missing_ok=True)
                os.link(previa, path)
                hechos[path.name] = "reutilizada"
            else:
                lon, lat = sub["lon"].to_numpy(float), sub["lat"].to_numpy(float)
                if medida == "distancia":
                    valores = distancia_km(rejilla, mask, lon, lat)
                else:
                    kmh = velocidades(rejilla, mask) if kmh is None else kmh
                    valores = tiempo_minutos(kmh, celda, *celdas_de_puntos(rejilla, mask, lon, lat))
                escribir_cog(
                    path,
                    valores,
                    rejilla,
                    {
                        "data_version": data_version,
                        "tipo_punto": tipo,
                        "medida": medida,
                        "unidad": UNIDAD[medida],
                        "puntos": str(len(sub)),
                        "celda_m": f"{celda:g}",
                        "crs": rejilla.crs,
                    },
                )
                hechos[path.name] = "construida"
            huellas[path.name] = huella
            indice.write_text(json.dumps(huellas, sort_keys=True, indent=1))
        if progreso:
            progreso(tipo, (n + 1) / len(tipos))
    return hechos


def _huellas_previas(home: Path, data_version: str) -> dict[tuple[str, str], Path]:
    out = {}
    base = carpeta(home)
    if not base.exists():
        return out
    for indice in sorted(base.glob("*/huellas.json")):
        if indice.parent.name == data_version:
            continue
        try:
            for name, huella in json.loads(indice.read_text()).items():
                out[(name, huella)] = indice.parent / name
        except (OSError, ValueError):
            continue
    return out


def limpiar(home: Path, publicadas: set[str]) -> list[str]:
    """Remove the folders of versions that no published version refers to; returns them."""
    base = carpeta(home)
    quitadas = []
    if base.exists():
        for d in sorted(p for p in base.iterdir() if p.is_dir()):
            if d.name not in publicadas:
                shutil.rmtree(d, ignore_errors=True)
                quitadas.append(d.name)
    return quitadas


def tras_publicar(conn, home: Path, tipos, tipo: str | None = None, progreso=None) -> dict:
    """The post-release step: surfaces of the current published version; old ones removed."""
    version = version_vigente(conn)
    if version is None:
        return {"data_version": None, "superficies": {}}
    puntos = leer_puntos(conn)
    elegidos = [t for t in tipos if tipo is None or t == tipo]
    hechos = construir(home, version, puntos, elegidos, progreso=progreso)
    publicadas = {r[0] for r in conn.execute("SELECT data_version FROM publico.version").fetchall()}
    return {"data_version": version, "superficies": hechos, "quitadas": limpiar(home, publicadas | {version})}


# ----------------------------------------------------------------------------- lazy build
class Preparacion:
    """One background build per version at a time (the web builds lazily, never on a request)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._hilos: dict[str, threading.Thread] = {}
        self.errores: dict[str, str] = {}

    def en_curso(self, data_version: str) -> bool:
        with self._lock:
            hilo = self._hilos.get(data_version)
            return hilo is not None and hilo.is_alive()

    def pedir(self, data_version: str, trabajo) -> bool:
        """Start ``trabajo()`` in a daemon thread unless one runs for this version."""
        with self._lock:
            hilo = self._hilos.get(data_version)
            if hilo is not None and hilo.is_alive():
                return False

            def correr():
                try:
                    trabajo()
                    self.errores.pop(data_version, None)
                except Exception as exc:  # noqa: BLE001 -- kept for the status answer, retried on the next request
                    self.errores[data_version] = type(exc).__name__

            hilo = threading.Thread(target=correr, name=f"superficies-{data_version[:8]}", daemon=True)
            self._hilos[data_version] = hilo
            hilo.start()
            return True
