"""The map service's post-publication step: ``preparar_publicacion(conn)``.

It runs right after each public release (``geoportal.operaciones`` calls it as its
``al_publicar`` hook, from the CLI and from the API alike): it checks every layer of the
catalog against ``publico.medida``, stores the legend breaks of the new data_version
(``publico.leyenda``, ``capas.clases``) and the tile geometries simplified per zoom
(``publico.tesela_geom``, ``tiles.consultas``). Idempotent; the tile service works
before it runs too (simplifying on the fly and computing legends in memory), only slower.
"""

from __future__ import annotations

import time

from capas.catalogo import Capa, default_capas
from capas.clases import store_breaks
from tiles.consultas import store_geometries


def preparar_publicacion(conn, capas: dict[str, Capa] | None = None) -> dict:
    """Legends and tile geometries of the current data_version (admin connection; commits)."""
    capas = capas or default_capas()
    start = time.perf_counter()
    leyendas = store_breaks(conn, capas)
    geometrias = store_geometries(conn, capas)
    return {
        "data_version": geometrias["data_version"],
        "leyendas": leyendas,
        "geometrias": geometrias["geometrias"],
        "nuevas": geometrias["nuevas"],
        "segundos": round(time.perf_counter() - start, 2),
    }
