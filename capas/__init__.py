"""The map layer catalog (YAML files in this folder) and its post-publication step.

``preparar_publicacion(conn)`` runs right after each publication (``geoportal
calcular``): it checks every layer against ``publico.medida``, stores the legend breaks
of the new data_version (``publico.leyenda``) and the tile geometries simplified per
zoom (``publico.tesela_geom``). Idempotent; the tile service works before it runs too
(simplifying on the fly and computing legends in memory), only slower.
"""

from __future__ import annotations

import time

from capas.catalogo import (
    Capa,
    CapaError,
    default_capas,
    load_capas,
    resolve_measures,
    validate_against_db,
)

__all__ = [
    "Capa",
    "CapaError",
    "default_capas",
    "load_capas",
    "preparar_publicacion",
    "resolve_measures",
    "validate_against_db",
]


def preparar_publicacion(conn, capas: dict[str, Capa] | None = None) -> dict:
    """Legends and tile geometries of the current data_version (admin connection; commits)."""
    from capas.clases import store_breaks
    from tiles.consultas import store_geometries

    capas = capas or default_capas()
    start = time.perf_counter()
    leyendas = store_breaks(conn, capas)
    geometrias = store_geometries(conn, capas)
    return {"data_version": geometrias["data_version"], "leyendas": leyendas,
            "geometrias": geometrias["geometrias"], "nuevas": geometrias["nuevas"], "segundos": round(time.perf_counter() - start, 2)}
