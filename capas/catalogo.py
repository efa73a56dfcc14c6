"""The layer catalog: one YAML file per group of map layers, validated by pydantic.

Every ``*.yaml`` in this folder (except ``_comun.yaml``, which holds the defaults every
layer inherits: audience, reserved-area text, attribution, synthetic-data label) has a
list ``capas``. A bad file raises :class:`CapaError` naming file, entry and field::

    brechas.yaml, capa 'brechas' (n.º 1), campo 'niveles.0.zoom': ...

Measures are never hard-coded here: a layer lists column names or a pattern, and
:func:`resolve_measures` matches them against ``publico.medida`` (the dictionary the
pipeline publishes) whenever the database is reachable.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from capas.rampas import RAMPAS

CARPETA = Path(__file__).resolve().parent
NIVELES = ("departamento", "distrito", "h3_5", "h3_6", "h3_7", "h3_8", "punto")
MAX_ZOOM = 22


class _Estricto(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Nivel(_Estricto):
    nivel: Literal["departamento", "distrito", "h3_5", "h3_6", "h3_7", "h3_8", "punto"]
    zoom: tuple[int, int]

    @field_validator("zoom")
    @classmethod
    def _zoom_ordenado(cls, zoom: tuple[int, int]) -> tuple[int, int]:
        if not (0 <= zoom[0] <= zoom[1] <= MAX_ZOOM):
            raise ValueError(f"el rango de zoom debe ser [mínimo, máximo] con 0 ≤ mínimo ≤ máximo ≤ {MAX_ZOOM}")
        return zoom


class Patron(_Estricto):
    """Measures whose column matches ``patron`` (and, optionally, that belong to a service)."""

    patron: str
    con_servicio: bool | None = None

    @field_validator("patron")
    @classmethod
    def _regex_valida(cls, patron: str) -> str:
        try:
            re.compile(patron)
        except re.error as error:
            raise ValueError(f"expresión regular inválida: {error}") from None
        return patron


class Clasificacion(_Estricto):
    """Legend classes. ``fijo``: the given breaks (comparable across areas and versions);
    ``cuantiles`` / ``jenks`` / ``intervalos_iguales``: mapclassify per data_version and
    level; ``categorias``: one colour per value of ``campo``; ``ninguna``: outline only."""

    metodo: Literal["fijo", "cuantiles", "jenks", "intervalos_iguales", "categorias", "ninguna"]
    cortes: list[float] | None = None
    clases: int | None = Field(default=None, ge=2, le=9)
    campo: str | None = None

    @model_validator(mode="after")
    def _coherente(self) -> Clasificacion:
        if self.metodo == "fijo":
            if not self.cortes or len(self.cortes) > 8:
                raise ValueError("con metodo fijo hay que dar entre 1 y 8 cortes")
            if any(b <= a for a, b in zip(self.cortes, self.cortes[1:])):
                raise ValueError("los cortes deben ser crecientes")
        elif self.cortes is not None:
            raise ValueError("solo el metodo fijo lleva cortes")
        if self.metodo in ("cuantiles", "jenks", "intervalos_iguales") and self.clases is None:
            raise ValueError(f"el metodo {self.metodo} necesita 'clases' (2 a 9)")
        if self.metodo == "categorias" and not self.campo:
            raise ValueError("el metodo categorias necesita 'campo'")
        return self


class Capa(_Estricto):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,40}$")
    titulo: str = Field(min_length=3)
    descripcion: str = Field(min_length=10)
    fuente: str = Field(pattern=r"^publico\.[a-z_][a-z0-9_]*$")
    geometria: Literal["poligono", "punto"] = "poligono"
    niveles: list[Nivel] = Field(min_length=1)
    medidas: list[str] | Patron = []
    medida_inicial: str | None = None
    propiedades: list[str] = []
    clasificacion: Clasificacion
    rampa: str
    audiencia: Literal["publico"]
    texto_reservado: str = Field(min_length=10)
    etiqueta_sintetica: str = Field(min_length=10)
    atribucion: list[str] = Field(min_length=1)

    @field_validator("rampa")
    @classmethod
    def _rampa_conocida(cls, rampa: str) -> str:
        if rampa not in RAMPAS:
            raise ValueError(f"rampa desconocida; use una de: {', '.join(sorted(RAMPAS))}")
        return rampa

    @field_validator("propiedades", "medidas")
    @classmethod
    def _nombres_sql(cls, names):
        if isinstance(names, list):
            for name in names:
                if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
                    raise ValueError(f"nombre de columna inválido: {name!r}")
        return names

    @model_validator(mode="after")
    def _coherente(self) -> Capa:
        zooms = sorted(n.zoom for n in self.niveles)
        for (_, a1), (b0, _) in pairwise(zooms):
            if b0 <= a1:
                raise ValueError("los rangos de zoom de los niveles se superponen: cada zoom muestra un solo nivel")
        if len({n.nivel for n in self.niveles}) != len(self.niveles):
            raise ValueError("un nivel aparece dos veces")
        puntos = [n.nivel == "punto" for n in self.niveles]
        if (self.geometria == "punto") != all(puntos) or (any(puntos) and not all(puntos)):
            raise ValueError("el nivel 'punto' va solo, y solo en capas de geometria punto")
        if self.medida_inicial is not None:
            if isinstance(self.medidas, Patron):
                if not re.search(self.medidas.patron, self.medida_inicial):
                    raise ValueError(f"medida_inicial {self.medida_inicial!r} no coincide con el patrón de medidas")
            elif self.medida_inicial not in self.medidas:
                raise ValueError(f"medida_inicial {self.medida_inicial!r} no está entre las medidas")
        elif self.medidas:
            raise ValueError("una capa con medidas necesita medida_inicial")
        if self.clasificacion.metodo in ("fijo", "cuantiles", "jenks", "intervalos_iguales") and not self.medidas:
            raise ValueError(f"la clasificación {self.clasificacion.metodo} necesita medidas")
        return self

    @property
    def minzoom(self) -> int:
        return min(n.zoom[0] for n in self.niveles)

    @property
    def maxzoom(self) -> int:
        return max(n.zoom[1] for n in self.niveles)

    def nivel_en(self, z: int) -> str | None:
        """The geometry level shown at zoom ``z`` (None where the layer shows nothing)."""
        for n in self.niveles:
            if n.zoom[0] <= z <= n.zoom[1]:
                return n.nivel
        return None


class CapaError(ValueError):
    """The layer catalog is invalid; the message names file, entry and field in Spanish."""


_MENSAJES = {
    "literal_error": "valor no permitido ({expected})",
    "missing": "falta este campo obligatorio",
    "extra_forbidden": "campo desconocido",
    "string_pattern_mismatch": "formato inválido (se espera {pattern})",
    "too_short": "demasiado corto",
}


def _mensaje(error: dict) -> str:
    template = _MENSAJES.get(error["type"])
    if template:
        try:
            return template.format(**(error.get("ctx") or {}))
        except (KeyError, IndexError):
            return template
    return error["msg"].removeprefix("Value error, ")


def _cargar_yaml(path: Path):
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise CapaError(f"{path.name}: YAML inválido: {error}") from None


def load_capas(carpeta: Path | str | None = None) -> dict[str, Capa]:
    """Read and validate every layer file; raise CapaError with a precise Spanish message.

    The folder is ``carpeta``, else ``GEOPORTAL_CAPAS``, else this package's folder.
    """
    carpeta = Path(carpeta or os.environ.get("GEOPORTAL_CAPAS") or CARPETA)
    comun_path = carpeta / "_comun.yaml"
    comun = (_cargar_yaml(comun_path) or {}) if comun_path.exists() else {}
    defectos = comun.get("defectos") or {}
    if not isinstance(defectos, dict):
        raise CapaError(f"{comun_path.name}, campo 'defectos': debe ser un mapa de valores")
    capas: dict[str, Capa] = {}
    for path in sorted(carpeta.glob("*.yaml")):
        if path.name.startswith("_"):
            continue
        raw = _cargar_yaml(path)
        if not isinstance(raw, dict) or not isinstance(raw.get("capas"), list) or not raw["capas"]:
            raise CapaError(f"{path.name}, campo 'capas': falta la lista de capas")
        unknown = set(raw) - {"capas"}
        if unknown:
            raise CapaError(f"{path.name}, campo '{min(unknown)}': campo desconocido")
        for i, entry in enumerate(raw["capas"]):
            if isinstance(entry, dict) and entry.get("tipo") == "raster":
                continue  # raster layers: capas.raster
            ident = entry.get("id", "?") if isinstance(entry, dict) else "?"
            where = f"{path.name}, capa '{ident}' (n.º {i + 1})"
            if not isinstance(entry, dict):
                raise CapaError(f"{where}: cada capa debe ser un mapa de campos")
            try:
                capa = Capa.model_validate({**defectos, **entry})
            except ValidationError as error:
                first = error.errors()[0]
                loc = ".".join(str(x) for x in first["loc"])
                field = f", campo '{loc}'" if loc else ""
                raise CapaError(f"{where}{field}: {_mensaje(first)}") from None
            if capa.id in capas:
                raise CapaError(f"{where}, campo 'id': la capa {capa.id!r} ya está definida en otro archivo")
            capas[capa.id] = capa
    if not capas:
        raise CapaError(f"{carpeta}: no hay archivos de capas (*.yaml)")
    return capas


@lru_cache(maxsize=1)
def default_capas() -> dict[str, Capa]:
    return load_capas()


def resolve_measures(capa: Capa, medida: list[dict]) -> list[dict]:
    """The dictionary rows (``publico.medida``) of the layer's measures, in dictionary order.

    ``medida`` is the dictionary as a list of dicts with at least columna and servicio.
    Raises CapaError if an explicitly listed measure or the default one is not published.
    """
    by_name = {m["columna"]: m for m in medida}
    if isinstance(capa.medidas, Patron):
        rx = re.compile(capa.medidas.patron)
        rows = [
            m
            for m in medida
            if rx.search(m["columna"])
            and (capa.medidas.con_servicio is None or (m.get("servicio") is not None) == capa.medidas.con_servicio)
        ]
    else:
        missing = [c for c in capa.medidas if c not in by_name]
        if missing:
            raise CapaError(f"capa '{capa.id}', campo 'medidas': {', '.join(missing)} no figura en publico.medida")
        rows = [by_name[c] for c in capa.medidas]
    if capa.medida_inicial is not None and capa.medida_inicial not in {r["columna"] for r in rows}:
        raise CapaError(f"capa '{capa.id}', campo 'medida_inicial': {capa.medida_inicial} no figura en publico.medida")
    if capa.medidas and not rows:
        raise CapaError(f"capa '{capa.id}', campo 'medidas': ninguna medida de publico.medida coincide")
    return rows


def read_dictionary(conn) -> list[dict]:
    """``publico.medida`` as a list of dicts (works with the public role)."""
    cur = conn.execute(
        "SELECT columna, etiqueta, tipo, unidad, logro, servicio, paquete, descripcion"
        " FROM publico.medida ORDER BY logro NULLS LAST, columna"
    )
    names = [d.name for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def resolve_layer(conn, capa: Capa, dictionary: list[dict]) -> list[dict]:
    """One layer's measures, after checking that its source has every column it needs."""
    schema, table = capa.fuente.split(".")
    columns = {
        r[0]
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            (schema, table),
        ).fetchall()
    }
    if not columns:
        raise CapaError(f"capa '{capa.id}', campo 'fuente': {capa.fuente} no existe o el rol no la puede leer")
    rows = resolve_measures(capa, dictionary)
    wanted = {"codigo", "nombre", "nivel", "geom", *capa.propiedades, *(r["columna"] for r in rows)}
    if capa.clasificacion.campo:
        wanted.add(capa.clasificacion.campo)
    missing = sorted(wanted - columns)
    if missing:
        raise CapaError(
            f"capa '{capa.id}', campo 'fuente': a {capa.fuente} le faltan las columnas {', '.join(missing)}"
        )
    return rows


def validate_against_db(conn, capas: dict[str, Capa] | None = None, strict: bool = True) -> dict[str, list[dict]]:
    """Resolve every layer's measures and check its source columns.

    ``strict``: CapaError at the first bad layer; otherwise bad layers are left out.
    """
    capas = capas or default_capas()
    dictionary = read_dictionary(conn)
    resolved = {}
    for capa in capas.values():
        try:
            resolved[capa.id] = resolve_layer(conn, capa, dictionary)
        except CapaError:
            if strict:
                raise
    return resolved
