"""The tile service: a connection pool on the public role, the current data_version and a
server-side tile cache.

* The current version is read from ``publico.version`` at most once per
  ``VERSION_TTL`` seconds (one cheap indexed query); when it changes, the in-memory cache
  and the disk cache of older versions are dropped, and the layer state (published
  measures, source columns, legends) is reloaded once.
* The cache is keyed by (version, layer, z, x, y) and holds gzip-compressed tiles: an
  LRU in memory bounded in bytes (``GEOPORTAL_TESELAS_CACHE_MB``, default 256) and, if
  ``GEOPORTAL_TESELAS_DIR`` is set, a folder ``<dir>/<version>/<capa>/<z>/<x>/<y>.mvt.gz``.
* With the database down, the last known version is kept and cached tiles are still
  served; anything else answers 503 until the database is back (the pool reconnects).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import shutil
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import morecantile
import psycopg
from fastapi import HTTPException
from psycopg_pool import AsyncConnectionPool

from capas.catalogo import Capa, CapaError, read_dictionary, resolve_layer
from tiles.consultas import stored_zoom, tile_sql, tolerance

VERSION_TTL = 1.0
TMS = morecantile.tms.get("WebMercatorQuad")
SIN_BASE = "La base de datos no está disponible en este momento; intente de nuevo en unos segundos."


@dataclass
class Tile:
    gz: bytes  # gzip-compressed MVT; b"" for an empty tile
    etag: str


@dataclass
class Estado:
    """What the service knows about the current publication."""

    version: str
    prepared: bool
    medidas: dict[str, list[dict]] = field(default_factory=dict)  # capa → publico.medida rows
    errores: dict[str, str] = field(default_factory=dict)  # capa → why it cannot be served
    columnas: dict[str, set[str]] = field(default_factory=dict)  # fuente → columns
    leyendas: list[dict] | None = None


async def _warm_connection(conn) -> None:
    """Load PostGIS and the tile tables' catalog entries into a new backend: its first tile
    would otherwise pay for them (tens of milliseconds)."""
    await conn.execute(
        "SELECT ST_AsMVT(t.*, 'x') FROM (SELECT ST_AsMVTGeom(g.geom, ST_MakeEnvelope(0, 0, 1, 1, 3857))"
        " AS geom, s.codigo FROM publico.tesela_geom g JOIN publico.cobertura s USING (nivel, codigo)"
        " WHERE false) t"
    )


class LRU:
    """A byte-bounded LRU of tiles."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.bytes = 0
        self.items: OrderedDict[tuple, Tile] = OrderedDict()

    def get(self, key: tuple) -> Tile | None:
        tile = self.items.get(key)
        if tile is not None:
            self.items.move_to_end(key)
        return tile

    def put(self, key: tuple, tile: Tile) -> None:
        size = len(tile.gz) + 200
        if size > self.max_bytes:
            return
        old = self.items.pop(key, None)
        if old is not None:
            self.bytes -= len(old.gz) + 200
        self.items[key] = tile
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, dropped = self.items.popitem(last=False)
            self.bytes -= len(dropped.gz) + 200

    def clear(self) -> None:
        self.items.clear()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self.items)


def etag_of(raw: bytes) -> str:
    return '"' + hashlib.blake2b(raw, digest_size=12).hexdigest() + '"'


def in_matrix(capa: Capa, z: int, x: int, y: int) -> bool:
    if not (capa.minzoom <= z <= capa.maxzoom):
        return False
    matrix = TMS.matrix(z)
    return 0 <= x < matrix.matrixWidth and 0 <= y < matrix.matrixHeight


class Teselas:
    """The tile service: current publication, tile cache and its own connection pool.

    Its settings come from whoever builds it (the web's ``api.base.ajustes``: cache size,
    disk folder, connections); the pool's URL from the application's lifespan
    (:meth:`usar_url`), which also closes it (:meth:`close`).
    """

    def __init__(
        self,
        capas: dict[str, Capa],
        url: str | None = None,
        cache_mb: float = 256.0,
        disk: Path | None = None,
        conexiones: int = 8,
    ):
        self.capas = capas
        self._url = url
        self.conexiones = conexiones
        self.pool: AsyncConnectionPool | None = None
        self.cache = LRU(int(cache_mb * 2**20))
        self.disk = Path(disk) if disk else None
        self.estado: Estado | None = None
        self._checked = float("-inf")
        self._lock = asyncio.Lock()
        self._pool_lock = asyncio.Lock()
        self.consultas = 0  # tiles rendered by PostGIS (cache misses), for tests and benchmarks

    # ------------------------------------------------------------------ connections
    def usar_url(self, url: str | None) -> None:
        """The public role's URL (None: unknown, every tile request is a 503)."""
        self._url = url

    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("sin URL de la base de datos")
        return self._url

    async def _pool(self) -> AsyncConnectionPool:
        if self.pool is None:
            async with self._pool_lock:
                if self.pool is None:
                    size = self.conexiones
                    pool = AsyncConnectionPool(
                        self.url(),
                        min_size=size,
                        max_size=size,
                        timeout=5,
                        open=False,
                        kwargs={"autocommit": True, "connect_timeout": 5},
                        configure=_warm_connection,
                    )
                    await pool.open(wait=False)
                    self.pool = pool
        return self.pool

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    # ------------------------------------------------------------------ version
    async def current(self) -> Estado:
        """The current publication, checked at most once per VERSION_TTL seconds."""
        if self.estado is not None and time.monotonic() - self._checked < VERSION_TTL:
            return self.estado
        async with self._lock:
            if self.estado is not None and time.monotonic() - self._checked < VERSION_TTL:
                return self.estado
            try:
                pool = await self._pool()
                async with pool.connection() as conn:
                    row = await (
                        await conn.execute(
                            "SELECT (SELECT data_version FROM publico.version WHERE vigente),"
                            " (SELECT data_version FROM publico.tesela_estado)"
                        )
                    ).fetchone()
            except (psycopg.Error, OSError, TimeoutError, Exception) as error:
                if self.estado is not None:  # database down: keep serving what we know
                    self._checked = time.monotonic()
                    return self.estado
                raise HTTPException(503, detail=SIN_BASE) from error
            version, prepared_for = row
            if version is None:
                raise HTTPException(503, detail="Todavía no hay cifras publicadas (ejecute `geoportal calcular`).")
            if (
                self.estado is None
                or self.estado.version != version
                or self.estado.prepared != (prepared_for == version)
            ):
                estado = await asyncio.to_thread(self._load_state, version, prepared_for == version)
                if self.estado is None or self.estado.version != version:
                    self.cache.clear()
                    self._drop_disk(version)
                self.estado = estado
            self._checked = time.monotonic()
            return self.estado

    def _load_state(self, version: str, prepared: bool) -> Estado:
        estado = Estado(version=version, prepared=prepared)
        with psycopg.connect(self.url(), connect_timeout=5, autocommit=True) as conn:
            dictionary = read_dictionary(conn)
            for fuente in {c.fuente for c in self.capas.values()}:
                schema, table = fuente.split(".")
                estado.columnas[fuente] = {
                    r[0]
                    for r in conn.execute(
                        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
                        (schema, table),
                    ).fetchall()
                }
            for capa in self.capas.values():
                try:
                    estado.medidas[capa.id] = resolve_layer(conn, capa, dictionary)
                except CapaError as error:
                    estado.errores[capa.id] = str(error)
        return estado

    def _drop_disk(self, version: str) -> None:
        if self.disk is None or not self.disk.exists():
            return
        for child in self.disk.iterdir():
            if child.is_dir() and child.name != version:
                shutil.rmtree(child, ignore_errors=True)

    def fresh_state(self) -> Estado | None:
        """The current state if it was checked within VERSION_TTL seconds, else None."""
        if self.estado is not None and time.monotonic() - self._checked < VERSION_TTL:
            return self.estado
        return None

    # ------------------------------------------------------------------ tiles
    async def tile(self, capa: Capa, z: int, x: int, y: int) -> tuple[Estado, Tile]:
        estado = await self.current()
        key = (estado.version, capa.id, z, x, y)
        tile = self.cache.get(key)
        if tile is not None:
            return estado, tile
        path = self.disk / estado.version / capa.id / str(z) / str(x) / f"{y}.mvt.gz" if self.disk else None
        if path is not None and path.exists():
            gz = path.read_bytes()
            tile = Tile(gz, etag_of(gzip.decompress(gz)) if gz else "")
        else:
            raw = await self._render(estado, capa, z, x, y)
            tile = Tile(gzip.compress(raw, compresslevel=6, mtime=0) if raw else b"", etag_of(raw) if raw else "")
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                tmp.write_bytes(tile.gz)
                tmp.replace(path)
        self.cache.put(key, tile)
        return estado, tile

    async def _render(self, estado: Estado, capa: Capa, z: int, x: int, y: int) -> bytes:
        nivel = capa.nivel_en(z)
        if nivel is None:
            return b""
        if capa.id in estado.errores:
            raise HTTPException(503, detail=f"La capa {capa.id} no se puede servir con la publicación vigente.")
        measures = [m["columna"] for m in estado.medidas.get(capa.id, [])]
        reservable = "reservado" in estado.columnas.get(capa.fuente, set())
        query = tile_sql(capa, nivel, measures, reservable, estado.prepared)
        xmin, ymin, xmax, ymax = TMS.xy_bounds(morecantile.Tile(x, y, z))
        west, south, east, north = TMS.bounds(morecantile.Tile(x, y, z))
        pad = (east - west) * BUFFER_FRACTION
        params = {
            "fuente": capa.fuente,
            "nivel": nivel,
            "z_stored": stored_zoom(nivel, z),
            "xmin": xmin,
            "ymin": ymin,
            "xmax": xmax,
            "ymax": ymax,
            "margin": (xmax - xmin) * BUFFER_FRACTION,
            "tolerance": tolerance(z),
            "west": west - pad,
            "south": max(south - pad, -90),
            "east": east + pad,
            "north": min(north + pad, 90),
        }
        try:
            pool = await self._pool()
            async with pool.connection() as conn:
                row = await (await conn.execute(query, params)).fetchone()
        except HTTPException:
            raise
        except Exception as error:
            raise HTTPException(503, detail=SIN_BASE) from error
        self.consultas += 1
        return bytes(row[0]) if row and row[0] else b""


BUFFER_FRACTION = 64 / 4096
