"""The map layer catalog: YAML files in this folder, validated by ``capas.catalogo``,
with their legends and colour ramps (``capas.clases``).

What is published on the map is configuration, not code. The step that runs after each
publication (legends and tile geometries of the new data_version) belongs to the map
service: ``tiles.publicacion.preparar_publicacion``.
"""

from __future__ import annotations

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
    "resolve_measures",
    "validate_against_db",
]
