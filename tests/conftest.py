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

from tests.servidor_local import serve

_STATE: dict = {}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _public_role_on(external: str) -> None:
    """On an external server the public role is shared with every other database on it:
    the tests must never change its password. Use the password this checkout stored
    (``geoportal db up`` / ``db rotar-clave``) unless GEOPORTAL_PUBLIC_PASSWORD is given;
    a role that the session itself enables is put back as it was at the end."""
    from geoportal.cluster import PUBLIC_ROLE, read_secrets

    url = make_url(external)
    key = f"{PUBLIC_ROLE}@{url.host or 'localhost'}:{url.port or 5432}"
    home = Path(os.environ.get("GEOPORTAL_HOME") or Path.cwd() / ".geoportal")
    stored = read_secrets(home / "secretos.json").get(key)
    if stored and not os.environ.get("GEOPORTAL_PUBLIC_PASSWORD"):
        os.environ["GEOPORTAL_PUBLIC_PASSWORD"] = stored
    with psycopg.connect(external, autocommit=True) as conn:
        row = conn.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (PUBLIC_ROLE,)).fetchone()
    if (
        row
        and row[0]
        and not (os.environ.get("GEOPORTAL_PUBLIC_PASSWORD") or os.environ.get("GEOPORTAL_PUBLIC_DATABASE_URL"))
    ):
        pytest.exit(
            f"El rol {PUBLIC_ROLE} ya existe en el servidor de GEOPORTAL_DATABASE_URL con una clave que "
            "las pruebas no conocen: defina GEOPORTAL_PUBLIC_PASSWORD (las pruebas nunca la cambian).",
            2,
        )
    _STATE["public_role_before"] = None if row is None else ("login" if row[0] else "nologin")


def _restore_public_role(external: str) -> None:
    from geoportal.cluster import PUBLIC_ROLE

    before = _STATE.get("public_role_before", "login")
    try:
        with psycopg.connect(external, autocommit=True) as conn:
            if before is None:
                conn.execute(f"DROP ROLE IF EXISTS {PUBLIC_ROLE}")
            elif before == "nologin":
                conn.execute(f"ALTER ROLE {PUBLIC_ROLE} NOLOGIN PASSWORD NULL")
    except psycopg.Error as exc:  # e.g. another database on the server now depends on the role
        print(f"Aviso: no se pudo devolver el rol {PUBLIC_ROLE} a su estado anterior: {exc}")


def pytest_configure(config):
    external = os.environ.get("GEOPORTAL_DATABASE_URL")
    if external:
        _public_role_on(external)
    home = Path(tempfile.mkdtemp(prefix="geoportal-test-"))
    os.chmod(home, 0o755)
    os.environ["GEOPORTAL_HOME"] = str(home)
    # A fixed record-key secret makes the disclosure-control results, and so the attack
    # tests, the same on every run (a deployment generates its own secret).
    os.environ.setdefault("GEOPORTAL_CLAVE_SECRETA", "clave-fija-de-las-pruebas")
    _STATE["home"] = home
    if external:
        name = f"geoportal_test_{secrets.token_hex(4)}"
        with psycopg.connect(external, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        _STATE["external"] = (external, name)
        os.environ["GEOPORTAL_DATABASE_URL"] = (
            make_url(external).set(database=name).render_as_string(hide_password=False)
        )
    else:
        os.environ["GEOPORTAL_PG_PORT"] = str(_free_port())


# What each folder's tests need, most demanding last; the folder gives the markers.
CARPETAS = {
    "sin_base": (),
    "base_datos": ("base_datos",),
    "http": ("base_datos", "http"),
    "navegador": ("base_datos", "http", "navegador"),
}


def pytest_collection_modifyitems(config, items):
    """Mark each test with what its folder needs (``tests/sin_base``, ``base_datos``,
    ``http``, ``navegador``): ``make test-rapido`` runs ``tests/sin_base`` alone, in
    seconds. A test under ``sin_base`` that reaches the database is a collection error, so
    the fast subset stays fast; a test file outside the four folders is one too."""
    for item in items:
        folder = Path(str(item.fspath)).parent.name
        if folder not in CARPETAS:
            raise pytest.UsageError(f"{item.nodeid}: las pruebas van en tests/{{{','.join(CARPETAS)}}}/")
        if folder == "sin_base" and "db_url" in getattr(item, "fixturenames", ()):
            raise pytest.UsageError(f"{item.nodeid} usa la base de datos: muévala a tests/base_datos/")
        for marker in CARPETAS[folder]:
            item.add_marker(getattr(pytest.mark, marker))


def pytest_unconfigure(config):
    from geoportal.db import embedded_cluster
    from geoportal.settings import get_settings

    if "home" not in _STATE:  # the session stopped before starting (pytest.exit)
        return
    if "external" in _STATE:
        external, name = _STATE["external"]
        with psycopg.connect(external, autocommit=True) as conn:
            for (database,) in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", (f"{name}%",)
            ).fetchall():
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        _restore_public_role(external)
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


@pytest.fixture(scope="session")
def make_database(db_url):
    """Factory of fresh, migrated databases with the real territory, on the test server.

    The first call builds one template (migrations + territory, seconds); every database
    is a copy of it (``CREATE DATABASE ... TEMPLATE``, a file copy), not a new build.
    """
    from geoportal import migrate
    from geoportal.territory import load_territory

    base = make_url(db_url)
    template = f"{base.database}_plantilla"
    built = []

    def make(suffix: str) -> str:
        with psycopg.connect(db_url, autocommit=True) as admin:
            if not built:
                admin.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
                admin.execute(f'CREATE DATABASE "{template}"')
                url = base.set(database=template).render_as_string(hide_password=False)
                migrate.upgrade(url=url)
                with psycopg.connect(url) as connection:
                    load_territory(connection)
                built.append(template)
            name = f"{base.database}_{suffix}"
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return base.set(database=name).render_as_string(hide_password=False)

    return make


@pytest.fixture(scope="session")
def pilotos(make_database, tmp_path_factory):
    """Real territory and points, synthetic FIPS for the four pilot districts, computed.

    Returns a dict with the database URL and the folder of the generated input files,
    which independent recomputations in the tests read directly.
    """

    from geoportal.ingest import ingest_file
    from geoportal.pipeline import compute_all
    from geoportal.puntos import write_points
    from geoportal.synthetic import generate

    url = make_database("pilotos")
    folder = tmp_path_factory.mktemp("pilotos")
    write_points(folder / "puntos.csv", semilla=3)
    with psycopg.connect(url) as connection:
        ingest_file(folder / "puntos.csv", "puntos", connection)
        import pandas as pd

        points = pd.read_csv(folder / "puntos.csv", dtype={"codigo_distrito": str})
        generate("pilotos", 7, folder, puntos=points, hoy=FECHA_CORTE)
        ingest_file(folder / "hogares.csv", "hogares", connection, today=FECHA_CORTE)
        ingest_file(folder / "personas.csv", "personas", connection, today=FECHA_CORTE)
        compute_all(connection, fecha_corte=FECHA_CORTE)
    return {"url": url, "folder": folder}


from datetime import date as _date

FECHA_CORTE = _date(2026, 1, 1)


POINT_COLUMNS = ["punto_id", "tipo", "nombre", "zona", "capacidad", "lat", "lon", "origen"]
HOUSEHOLD_COLUMNS = [
    "hogar_id",
    "codigo_distrito",
    "localidad",
    "zona",
    "fecha_relevamiento",
    "lat",
    "lon",
    "servicios",
    "origen",
]
PERSON_COLUMNS = [
    "persona_id",
    "hogar_id",
    "nombres",
    "apellidos",
    "sexo",
    "fecha_nacimiento",
    "embarazada",
    "discapacidad",
    "indigena",
    "servicios",
    "origen",
]


def load_hand_fixture(url: str, folder, points: list, households: list, persons: list, cut) -> None:
    """Write hand-made rows as the three ingest files, load them (no quarantine allowed) and compute."""
    import pandas as pd

    from geoportal.ingest import ingest_file
    from geoportal.pipeline import compute_all

    for kind, rows, columns in (
        ("puntos", points, POINT_COLUMNS),
        ("hogares", households, HOUSEHOLD_COLUMNS),
        ("personas", persons, PERSON_COLUMNS),
    ):
        pd.DataFrame(rows, columns=columns).to_csv(folder / f"{kind}.csv", index=False)
    with psycopg.connect(url) as conn:
        for kind in ("puntos", "hogares", "personas"):
            report = ingest_file(folder / f"{kind}.csv", kind, conn, today=cut)
            assert report.cuarentena == 0, report.motivos
        compute_all(conn, fecha_corte=cut)


@pytest.fixture(scope="module")
def api_server(pilotos):
    """uvicorn (real, loopback) serving the public API against the computed pilot database."""
    yield from serve(pilotos["url"])
