"""Server-rendered HTML pages, from Jinja2 templates with autoescape (``api/base/templates``):
the login, the account, the Mesa's list, the institution's referrals and the OGC API's
HTML. A designer can change a page without touching the code that checks roles: a folder
named by ``GEOPORTAL_PLANTILLAS`` is searched first, so a template copied there and edited
replaces the packaged one.

The handlers compute plain data (the same functions as the JSON routes) and hand it to a
template; every value is escaped by Jinja2, never by hand.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.base.ajustes import ajustes
from geoportal.usuarios import Rol, nombre_rol

CARPETA = Path(__file__).resolve().parent / "templates"
# The role's own page in the bar (besides the map and the account).
# The bar of each role: its own pages, then the plans (an institution sees the actions
# assigned to it).
ENLACES = {
    Rol.MESA_DISTRITAL: [("/mesa", "Lista nominal"), ("/mesa/derivaciones", "Derivaciones"), ("/planes", "Planes")],
    Rol.MESA_DEPARTAMENTAL: [("/gabinete/comparar", "Comparar territorios"), ("/planes", "Planes")],
    Rol.GABINETE: [("/gabinete", "Alertas"), ("/gabinete/comparar", "Comparar territorios"), ("/planes", "Planes")],
    Rol.INSTITUCION: [("/institucion", "Derivaciones recibidas"), ("/planes", "Planes")],
    Rol.ADMIN: [("/api/auditoria?formato=csv", "Auditoría (CSV)")],
}


@lru_cache
def entorno() -> Environment:
    propia = ajustes().plantillas
    carpetas = [str(propia)] if propia else []
    env = Environment(
        loader=FileSystemLoader([*carpetas, str(CARPETA)]), autoescape=select_autoescape(["html"]), auto_reload=False
    )
    env.filters["plural"] = plural
    env.filters["nombre_rol"] = nombre_rol
    return env


def plural(n: int, singular: str, varios: str) -> str:
    """The noun that goes with ``n``: 1 derivación, 2 derivaciones (the singular for one)."""
    return singular if n == 1 else varios


def render(nombre: str, **contexto) -> str:
    return entorno().get_template(nombre).render(**contexto)


def pagina(nombre: str, titulo: str, sesion=None, **contexto) -> str:
    """A whole institutional page: bar (map, the role's pages, account, log out), title, body."""
    enlaces = [("/", "Mapa")]
    if sesion is not None:
        enlaces += ENLACES.get(sesion.rol, [])
        enlaces.append(("/cuenta", "Mi cuenta"))
    return render(nombre, titulo=titulo, sesion=sesion, enlaces=enlaces, **contexto)


def km(valor) -> str:
    return "" if valor is None else f"{valor:.1f}".replace(".", ",")
