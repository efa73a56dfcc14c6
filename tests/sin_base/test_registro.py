"""The access log names no household, person or referral: which routes are redacted is
decided by an explicit marker on the route (``api.base.registro.RutaInstitucional``),
never by the module a handler happens to live in. No database needed."""

from __future__ import annotations

import logging

import pytest
from fastapi import APIRouter, Depends, FastAPI

from api.app import create_app
from api.base.registro import ACCESS_LOGGER, AccessLogFilter, Redactor, _routes

# The login routes and every institutional prefix, as a user would type them.
INSTITUCIONALES = (
    "/ingresar",
    "/salir",
    "/cuenta",
    "/api/sesion",
    "/api/nominal",
    "/api/derivaciones",
    "/api/cifras",
    "/api/alertas",
    "/api/perdida",
    "/api/auditoria",
    "/mesa",
    "/institucion",
)


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return create_app()


def _logged(app: FastAPI, target: str) -> str:
    record = logging.LogRecord(
        ACCESS_LOGGER,
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", target, "1.1", 200),
        None,
    )
    AccessLogFilter(app.state.registro).filter(record)
    return record.args[2]


def _institutional_routers():
    """Every router defined in a module of the institutional wing, found by walking the package."""
    import importlib
    import pkgutil

    from fastapi import APIRouter

    import api.institucional as wing

    modules = [importlib.import_module(f"{wing.__name__}.{m.name}") for m in pkgutil.iter_modules(wing.__path__)]
    return [v for m in modules for v in vars(m).values() if isinstance(v, APIRouter)]


def test_every_route_of_the_institutional_wing_and_the_login_routes_are_redacted(app):
    redacted = {(r.path, frozenset(r.methods or ())) for r in app.state.registro.routes}
    wing = [(r.path, frozenset(r.methods or ())) for router in _institutional_routers() for r in router.routes]
    assert wing and set(wing) <= redacted
    every = [r for r in _routes(app) if getattr(r, "path_regex", None) is not None]
    under_prefix = {(r.path, frozenset(r.methods or ())) for r in every if r.path.startswith(INSTITUCIONALES)}
    assert under_prefix <= redacted
    paths = {p for p, _ in redacted}
    assert {"/ingresar", "/salir", "/cuenta", "/api/sesion", "/api/sesion/estado"} <= paths


@pytest.mark.parametrize(
    "asked, logged",
    [
        ("/api/nominal/hogares/H1116000001", "/api/nominal/hogares/{hogar_id}"),
        ("/api/derivaciones/17/contrarreferencia", "/api/derivaciones/{derivacion_id}/contrarreferencia"),
        ("/api/nominal/brechas?servicio=CPN&unidad_id=P1116000001-01", "/api/nominal/brechas?servicio=CPN"),
        ("/ingresar?siguiente=/mesa", "/ingresar"),
        ("/mesa?mensaje=Derivaci%C3%B3n+de+Juana+P%C3%A9rez", "/mesa"),
        ("/api/cifras/distrito/1116", "/api/cifras/distrito/1116"),
        ("/api/nominal/H1116000001/otra", "/api/nominal/{id}/{id}"),
    ],
)
def test_institutional_paths_are_logged_by_their_route_template(app, asked, logged):
    assert _logged(app, asked) == logged


@pytest.mark.parametrize(
    "path",
    [
        "/api/servicios/identificaciones:sint:000001",
        "/tiles/logros/7/42/73.mvt?v=x",
        "/descargas/cobertura.csv?nivel=distrito",
        "/ogc/collections/cobertura_distrito/items",
    ],
)
def test_public_paths_are_logged_as_asked(app, path):
    assert _logged(app, path) == path


def test_a_route_that_reads_a_session_is_redacted_even_if_its_router_forgot_the_marker():
    from api.institucional.acceso import optional_session

    router = APIRouter()  # no route_class: the marker forgotten

    @router.get("/nuevo/{persona_id}")
    def nuevo(persona_id: str, sesion=Depends(optional_session)):
        return {}

    @router.get("/abierto/{punto_id}")
    def abierto(punto_id: str):
        return {}

    app = FastAPI()
    app.include_router(router)
    redactor = Redactor(_routes(app))
    assert redactor.target("/nuevo/P1116000001-01") == "/nuevo/{persona_id}"
    assert redactor.target("/abierto/usf:1") == "/abierto/usf:1"
