"""Settings of the core package, one pydantic-settings class, env prefix ``GEOPORTAL_``."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = PACKAGE_DIR / "datos"
SQL_DIR = PACKAGE_DIR / "sql"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GEOPORTAL_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="PostGIS existente. Si falta, se usa el clúster embebido del proyecto.",
    )
    public_database_url: str | None = Field(
        default=None,
        description="Conexión del rol público (sin acceso al esquema nominal). "
        "Si falta, se deriva de database_url con el rol geoportal_publico.",
    )
    public_password: str | None = None
    home: Path = Field(default_factory=lambda: Path.cwd() / ".geoportal")
    pg_port: int = 54329
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    catalogo: Path = PACKAGE_DIR / "catalogo" / "servicios.yaml"
    metas: Path = PACKAGE_DIR / "catalogo" / "metas.csv"
    # Disclosure control (see geoportal/disclosure.py).
    umbral_hogares: int = 10
    base_redondeo: int = 5
    # Public releases (see geoportal/publicacion.py, publish): a district update is published
    # once at least this many hours passed since the last release and at least this many
    # records changed; `geoportal publicar --forzar` publishes now.
    publicacion_cadencia_horas: float = 168.0
    publicacion_min_cambios: int = 50
    # Ingest: how far (m) a household may lie outside its declared district.
    tolerancia_distrito_m: float = 2000.0
    # Secret that makes record keys unguessable; stored in the state folder when absent.
    clave_secreta: str | None = None
    # Ages in the Mesa's nominal lists and in the recompute after a contrarreferencia refer
    # to this date when set, else to each household's survey date (as `geoportal calcular`).
    fecha_corte: date | None = None


@lru_cache
def get_settings() -> Settings:
    return Settings()
