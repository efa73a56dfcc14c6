"""Raster layers of the catalog (``tipo: raster`` entries, today ``superficies.yaml``).

The vector catalog (``capas.catalogo``) skips these entries; here they are validated with
their own model: the colour of each class, the class breaks (km or minutes) and the fixed
rescale the raster tiles use, so the viewer's legend and the tiles' colours come from the
same place.
"""

from __future__ import annotations

import os
from bisect import bisect_right
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from capas.catalogo import CARPETA, CapaError


class CapaRaster(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,40}$")
    tipo: Literal["raster"]
    grupo: str = Field(min_length=3)
    titulo: str = Field(min_length=3)
    medida: Literal["distancia", "tiempo"]
    unidad: Literal["km", "min"]
    descripcion: str = Field(min_length=10)
    rescala: tuple[float, float]
    cortes: list[float] = Field(min_length=1, max_length=8)
    colores: list[str] = Field(min_length=2)
    limites: str = Field(min_length=10)
    atribucion: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _coherente(self) -> CapaRaster:
        if len(self.colores) != len(self.cortes) + 1:
            raise ValueError("hace falta un color más que cortes")
        if any(b <= a for a, b in zip(self.cortes, self.cortes[1:])):
            raise ValueError("los cortes deben ser crecientes")
        if not (self.rescala[0] < self.cortes[0] and self.cortes[-1] < self.rescala[1]):
            raise ValueError("los cortes deben quedar dentro de la rescala")
        return self

    def colormap(self) -> dict[int, tuple[int, int, int, int]]:
        """Byte (the value rescaled linearly to 0-255) -> RGBA of its class."""
        lo, hi = self.rescala
        rgba = [tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) + (255,) for c in self.colores]
        return {b: rgba[bisect_right(self.cortes, lo + (hi - lo) * b / 255)] for b in range(256)}

    def leyenda(self) -> list[dict]:
        bordes = [self.rescala[0], *self.cortes, None]
        return [{"desde": a, "hasta": b, "color": c} for a, b, c in zip(bordes, bordes[1:], self.colores)]


def load_rasters(carpeta: Path | str | None = None) -> dict[str, CapaRaster]:
    carpeta = Path(carpeta or os.environ.get("GEOPORTAL_CAPAS") or CARPETA)
    out: dict[str, CapaRaster] = {}
    for path in sorted(carpeta.glob("*.yaml")):
        if path.name.startswith("_"):
            continue
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for i, entry in enumerate(raw.get("capas") or []):
            if not isinstance(entry, dict) or entry.get("tipo") != "raster":
                continue
            try:
                capa = CapaRaster.model_validate(entry)
            except ValidationError as error:
                first = error.errors()[0]
                loc = ".".join(str(x) for x in first["loc"])
                raise CapaError(
                    f"{path.name}, capa '{entry.get('id', '?')}' (n.º {i + 1}), campo '{loc}': "
                    f"{first['msg'].removeprefix('Value error, ')}"
                ) from None
            out[capa.medida] = capa
    return out


@lru_cache(maxsize=1)
def default_rasters() -> dict[str, CapaRaster]:
    """Raster layers by measure (``distancia``, ``tiempo``)."""
    return load_rasters()
