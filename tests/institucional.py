"""Helpers of the institutional-access tests: a private copy of the computed pilot
database, a real uvicorn on it, users created through ``geoportal.usuarios``, and an
HTTP client that logs in through the real login form."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time

import httpx
import psycopg
from sqlalchemy.engine import make_url

CLAVE = "clave-de-prueba-larga"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


class Server:
    """uvicorn on loopback against ``url``; its output is kept for the log checks."""

    def __init__(self, url: str, env: dict | None = None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="uvicorn-", suffix=".log", delete=False)
        full_env = {**os.environ, "GEOPORTAL_DATABASE_URL": url, **(env or {})}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(self.port)], env=full_env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/salud", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(self.output())

    def output(self) -> str:
        with open(self.log.name, encoding="utf-8", errors="replace") as fh:
            return fh.read()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


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
