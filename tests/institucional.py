"""Helpers of the institutional-access tests: a private copy of the computed pilot
database, a real uvicorn on it, users created through ``geoportal.usuarios``, and an
HTTP client that logs in through the real login form."""

from __future__ import annotations

import re
import time

import httpx
import psycopg
from sqlalchemy.engine import make_url

from tests.servidor_local import Server, free_port  # noqa: F401  (re-exported for the tests)

CLAVE = "clave-de-prueba-larga"


def clone_database(url: str, suffix: str) -> str:
    """A copy of a computed database (CREATE DATABASE ... TEMPLATE), so tests may change it."""
    base = make_url(url)
    name = f"{base.database}_{suffix}"
    admin_url = base.set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for _ in range(50):
            try:
                admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{base.database}"')
                break
            except psycopg.errors.ObjectInUse:  # a pooled connection of another test is closing
                time.sleep(0.2)
        else:
            raise RuntimeError(f"No se pudo copiar la base {base.database}: está en uso.")
    return base.set(database=name).render_as_string(hide_password=False)


def make_users(url: str) -> dict[str, str]:
    """One user per role and territory the tests need; returns name -> role."""
    from geoportal.usuarios import create_user

    users = {
        "gabinete1": ("gabinete", {}),
        "depto11": ("mesa_departamental", {"departamento": "11"}),
        "mesa1116": ("mesa_distrital", {"distrito": "1116"}),
        "mesa0607": ("mesa_distrital", {"distrito": "0607"}),
        "usf1116": ("institucion", {"institucion": "MSPBS", "distritos": ["1116"]}),
        "mec1116": ("institucion", {"institucion": "MEC", "distritos": ["1116"]}),
        "usf0607": ("institucion", {"institucion": "MSPBS", "distritos": ["0607"]}),
        "admin1": ("admin", {}),
    }
    with psycopg.connect(url) as conn:
        for name, (rol, scope) in users.items():
            create_user(conn, name, CLAVE, rol, nombre_completo=f"Persona {name}", **scope)
    return {name: rol for name, (rol, _) in users.items()}


def login_form(client: httpx.Client) -> str:
    page = client.get("/ingresar")
    assert page.status_code == 200
    return re.search(r"name='csrf' value='([^']+)'", page.text).group(1)


def login(base: str, name: str, password: str = CLAVE) -> httpx.Client:
    """A client with a live session; ``client.headers['X-CSRF-Token']`` carries its token."""
    client = httpx.Client(base_url=base, timeout=60)
    token = login_form(client)
    answer = client.post("/ingresar", data={"usuario": name, "clave": password, "csrf": token})
    assert answer.status_code == 303, answer.text
    client.headers["X-CSRF-Token"] = client.get("/api/sesion").json()["csrf"]
    return client


def wait_for_figures(client: httpx.Client, seconds: float = 180.0) -> None:
    """Wait until the session's districts are no longer "actualizando" (the background
    recompute after a contrarreferencia, ``GET /api/derivaciones/estado-calculo``)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if client.get("/api/derivaciones/estado-calculo").json()["actualizando"] is False:
            return
        time.sleep(0.2)
    raise AssertionError("las cifras del distrito no terminaron de actualizarse")
