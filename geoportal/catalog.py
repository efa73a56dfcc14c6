"""The service catalog: life-cycle categories, services and delivery-point types, as data.

The catalog is a YAML file (default ``geoportal/catalogo/servicios.yaml``) validated by
the pydantic models below. A bad file raises :class:`CatalogError` naming the file, the
entry and the field, e.g.::

    servicios.yaml, servicio 'CPN' (n.º 1), campo 'paquete': debe ser nucleo, ampliado o diferenciado

Applicability rules are evaluated over whole pandas frames (``applies``), never row by row.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Paquete = Literal["nucleo", "ampliado", "diferenciado"]
Unidad = Literal["persona", "hogar", "entorno"]
Zona = Literal["urbana", "rural"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Regla(_Strict):
    """Applicability rule; every given condition must hold."""

    edad_min: int | None = Field(default=None, ge=0, le=130)
    edad_max: int | None = Field(default=None, ge=0, le=130)
    sexo: Literal["F", "M"] | None = None
    embarazada: bool | None = None
    discapacidad: bool | None = None
    indigena: bool | None = None

    @model_validator(mode="after")
    def _ages_ordered(self) -> Regla:
        if self.edad_min is not None and self.edad_max is not None and self.edad_min > self.edad_max:
            raise ValueError("edad_min es mayor que edad_max")
        return self

    def applies(self, personas: pd.DataFrame) -> np.ndarray:
        """Boolean mask over a frame with columns edad, sexo, embarazada, discapacidad, indigena."""
        mask = np.ones(len(personas), dtype=bool)
        if self.edad_min is not None:
            mask &= personas["edad"].to_numpy() >= self.edad_min
        if self.edad_max is not None:
            mask &= personas["edad"].to_numpy() <= self.edad_max
        if self.sexo is not None:
            mask &= personas["sexo"].to_numpy() == self.sexo
        for flag in ("embarazada", "discapacidad", "indigena"):
            wanted = getattr(self, flag)
            if wanted is not None:
                mask &= personas[flag].to_numpy(dtype=bool) == wanted
        return mask


class Radio(_Strict):
    urbana: float = Field(gt=0, le=500)
    rural: float = Field(gt=0, le=500)


class Categoria(_Strict):
    codigo: str
    nombre: str
    logro: int = Field(ge=1, le=10)
    universo: Unidad
    regla: Regla = Regla()


class TipoPunto(_Strict):
    nombre: str
    institucion: str
    capacidad_unidad: str
    # What the capacity serves, for the 2SFCA demand: persons to whom one of the type's
    # services applies, or households.
    demanda: Literal["personas", "hogares"] = "personas"
    # Planning assumptions (geoportal.planificador), optional: the cost of opening one point
    # of the type (guaraníes) and the capacity of a new one (in capacidad_unidad).
    costo: float | None = Field(default=None, gt=0)
    capacidad: int | None = Field(default=None, gt=0)


class Servicio(_Strict):
    codigo: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    nombre: str
    institucion: str
    paquete: Paquete
    unidad: Unidad
    categorias: tuple[str, ...] = Field(min_length=1)
    aplica: Regla = Regla()
    punto_tipo: str | None = None
    radio_km: Radio | None = None
    capacidad_unidad: str | None = None
    origen_estatus: Literal["fips", "oferta"] = "fips"
    # What a missing service is when no delivery point applies (no punto_tipo): an
    # infrastructure investment (no water network to connect to) or a referral case
    # (enrol the household in the programme). With a punto_tipo the distance decides.
    brecha_sin_punto: Literal["inversion", "derivacion"] | None = None

    def radius_km(self, urban: np.ndarray) -> np.ndarray:
        """Catchment of each unit by its zone (urban or rural radius of the catalog)."""
        return np.where(urban, self.radio_km.urbana, self.radio_km.rural)

    @model_validator(mode="after")
    def _place_needs_radius(self) -> Servicio:
        if self.punto_tipo and self.radio_km is None:
            raise ValueError("un servicio con punto_tipo necesita radio_km {urbana, rural}")
        if self.origen_estatus == "oferta" and not self.punto_tipo:
            raise ValueError("origen_estatus 'oferta' necesita punto_tipo")
        if not self.punto_tipo and self.brecha_sin_punto is None:
            raise ValueError("un servicio sin punto_tipo necesita brecha_sin_punto (inversion o derivacion)")
        if self.punto_tipo and self.brecha_sin_punto is not None:
            raise ValueError("brecha_sin_punto solo vale para servicios sin punto_tipo (con punto decide la distancia)")
        return self


class Catalogo(_Strict):
    categorias: tuple[Categoria, ...]
    instituciones: dict[str, str]
    tipos_punto: dict[str, TipoPunto]
    servicios: tuple[Servicio, ...]

    @model_validator(mode="after")
    def _references(self) -> Catalogo:
        categorias = {c.codigo for c in self.categorias}
        logros = sorted(c.logro for c in self.categorias)
        if logros != list(range(1, 11)):
            raise ValueError(f"las categorías deben cubrir los Logros 1 a 10 una vez cada uno (hay {logros})")
        seen: set[str] = set()
        for i, s in enumerate(self.servicios):
            where = f"servicio '{s.codigo}' (n.º {i + 1})"
            if s.codigo in seen:
                raise ValueError(f"{where}: código repetido")
            seen.add(s.codigo)
            if s.institucion not in self.instituciones:
                raise ValueError(f"{where}, campo 'institucion': '{s.institucion}' no está en instituciones")
            unknown = set(s.categorias) - categorias
            if unknown:
                raise ValueError(f"{where}, campo 'categorias': desconocidas {sorted(unknown)}")
            if s.punto_tipo and s.punto_tipo not in self.tipos_punto:
                raise ValueError(f"{where}, campo 'punto_tipo': '{s.punto_tipo}' no está en tipos_punto")
        for t, tipo in self.tipos_punto.items():
            if tipo.institucion not in self.instituciones:
                raise ValueError(f"tipo de punto '{t}', campo 'institucion': '{tipo.institucion}' desconocida")
        return self

    # -- lookups -----------------------------------------------------------------------
    def servicio(self, codigo: str) -> Servicio:
        return self._by_code()[codigo]

    def _by_code(self) -> dict[str, Servicio]:
        return {s.codigo: s for s in self.servicios}

    def servicios_de(self, unidad: Unidad, paquete: Paquete | None = None) -> list[Servicio]:
        return [s for s in self.servicios if s.unidad == unidad and (paquete is None or s.paquete == paquete)]

    def codigos_fips(self, unidad: Literal["persona", "hogar"]) -> frozenset[str]:
        """Codes a FIPS row of this unit may list in its ``servicios`` column.

        Households also answer for their surroundings (entorno services whose status
        comes from the FIPS, such as an all-weather road).
        """
        units = {"persona": {"persona"}, "hogar": {"hogar", "entorno"}}[unidad]
        return frozenset(s.codigo for s in self.servicios if s.unidad in units and s.origen_estatus == "fips")

    def categoria(self, codigo: str) -> Categoria:
        return next(c for c in self.categorias if c.codigo == codigo)

    def nucleo_de(self, categoria: str) -> list[Servicio]:
        return [s for s in self.servicios if s.paquete == "nucleo" and categoria in s.categorias]


class CatalogError(ValueError):
    """A catalog file is invalid; the message names file, entry and field in Spanish."""


def _describe(path: Path, raw: dict, loc: tuple) -> str:
    parts = [path.name]
    if len(loc) >= 2 and loc[0] in ("servicios", "categorias") and isinstance(loc[1], int):
        entries = raw.get(loc[0]) or []
        code = (
            entries[loc[1]].get("codigo", "?") if loc[1] < len(entries) and isinstance(entries[loc[1]], dict) else "?"
        )
        kind = "servicio" if loc[0] == "servicios" else "categoría"
        parts.append(f"{kind} '{code}' (n.º {loc[1] + 1})")
        loc = loc[2:]
    elif len(loc) >= 2 and loc[0] == "tipos_punto":
        parts.append(f"tipo de punto '{loc[1]}'")
        loc = loc[2:]
    if loc:
        parts.append("campo '" + ".".join(str(x) for x in loc) + "'")
    return ", ".join(parts)


_MESSAGES = {
    "literal_error": "valor no permitido ({expected})",
    "missing": "falta este campo obligatorio",
    "extra_forbidden": "campo desconocido",
    "string_pattern_mismatch": "formato inválido (se espera {pattern})",
}


def load_catalog(path: Path | str | None = None) -> Catalogo:
    """Read and validate a catalog file; raise CatalogError with a precise Spanish message."""
    from geoportal.settings import get_settings

    path = Path(path or get_settings().catalogo)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"{path}: el archivo no existe") from None
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path.name}: YAML inválido: {exc}") from None
    if not isinstance(raw, dict):
        raise CatalogError(f"{path.name}: se esperaba un mapa con categorias, instituciones, tipos_punto y servicios")
    try:
        return Catalogo.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        template = _MESSAGES.get(err["type"])
        message = template.format(**err.get("ctx", {})) if template else err["msg"].removeprefix("Value error, ")
        if not err["loc"]:
            raise CatalogError(f"{path.name}: {message}") from None
        message = message.replace(" or ", " o ")
        raise CatalogError(f"{_describe(path, raw, tuple(err['loc']))}: {message}") from None


@lru_cache
def default_catalog() -> Catalogo:
    return load_catalog()
