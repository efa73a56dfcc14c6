"""Settings of the web side, one pydantic-settings class, env prefix ``GEOPORTAL_``, read
once per process (``ajustes()``). The engine's settings (database, disclosure control,
``fecha_corte``…) are ``geoportal.settings``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class AjustesWeb(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GEOPORTAL_", extra="ignore")

    # public API: its pool of public-role connections, and query limits
    api_pool_max: int = 8
    api_pool_timeout_s: float = 4.0
    api_statement_timeout_ms: int = 60_000
    api_limite_max: int = 10_000
    api_relevamiento_bajo_pct: float = 50.0
    # institutional connections, one pool per role: login/session, nominal (RLS-scoped
    # transactions), admin (planner and plan effect, each a rolled-back what-if)
    acceso_pool_max: int = 4
    nominal_pool_max: int = 6
    admin_pool_max: int = 2
    # vector tiles: memory cache (MB), optional disk cache, connections of their pool
    teselas_cache_mb: float = 256.0
    teselas_dir: Path | None = None
    teselas_conexiones: int = 8
    # a folder of HTML templates searched before the packaged ones (api/base/templates)
    plantillas: Path | None = None
    # institutional sessions and login
    sesion_minutos: int = 480
    sesion_inactividad_minutos: int = 30
    cookie_segura: bool | None = None  # None: Secure when the request arrived over HTTPS
    # lockout (api.institucional.ingreso): after intentos_max failures of one name (or
    # intentos_ip_max of one address) each further try waits bloqueo_base_segundos, doubled
    # per further failure, at most bloqueo_minutos; attempts while waiting do not count
    intentos_max: int = 5
    intentos_ip_max: int = 30
    bloqueo_base_segundos: int = 30
    bloqueo_minutos: int = 15
    # logins verified at once (argon2 costs ~64 MiB and a core each): the rest wait their turn
    ingresos_simultaneos: int = 2
    # request bodies (api.base.guardia): any route, and a route that takes a file
    cuerpo_max_kb: int = 64
    archivo_max_mb: int = 8


@lru_cache
def ajustes() -> AjustesWeb:
    return AjustesWeb()
