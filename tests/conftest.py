"""Test fixtures: a real PostgreSQL + PostGIS for the whole session.

Without GEOPORTAL_DATABASE_URL a throwaway embedded cluster is started in a temporary
folder on a free port; with it, a fresh database is created on that server and dropped
at the end. Either way the environment is set before any settings are read, so CLI
subprocesses inherit the same database.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import tempfile
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

_STATE: dict = {}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pytest_configure(config):
    home = Path(tempfile.mkdtemp(prefix="geoportal-test-"))
    os.chmod(home, 0o755)
    os.environ["GEOPORTAL_HOME"] = str(home)
    _STATE["home"] = home
    external = os.environ.get("GEOPORTAL_DATABASE_URL")
    if external:
        name = f"geoportal_test_{secrets.token_hex(4)}"
        with psycopg.connect(external, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        _STATE["external"] = (external, name)
        os.environ["GEOPORTAL_DATABASE_URL"] = make_url(external).set(database=name).render_as_string(
            hide_password=False
        )
    else:
        os.environ["GEOPORTAL_PG_PORT"] = str(_free_port())


def pytest_unconfigure(config):
    from geoportal.db import embedded_cluster
    from geoportal.settings import get_settings

    if "external" in _STATE:
        external, name = _STATE["external"]
        with psycopg.connect(external, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        get_settings.cache_clear()
        embedded_cluster().destroy()
    shutil.rmtree(_STATE["home"], ignore_errors=True)


@pytest.fixture(scope="session")
def db_url() -> str:
    """Admin URL of a migrated, empty test database."""
    from geoportal import migrate
    from geoportal.db import database_url

    migrate.upgrade()
    return database_url()


@pytest.fixture
def conn(db_url):
    with psycopg.connect(db_url) as connection:
        yield connection


@pytest.fixture(scope="session")
def territorio(db_url) -> str:
    """The real territory loaded once into the test database."""
    from geoportal.territory import load_territory

    with psycopg.connect(db_url) as connection:
        load_territory(connection)
    return db_url
