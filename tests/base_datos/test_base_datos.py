"""The database: embedded PostGIS, schemas and the roles that guard nominal data."""

import os
import subprocess
import sys

import psycopg
import pytest
from sqlalchemy.engine import make_url


def test_postgis_is_installed(conn):
    version = conn.execute("SELECT postgis_lib_version()").fetchone()[0]
    assert version.startswith("3.")


def test_schemas_exist(conn):
    rows = conn.execute(
        "SELECT nspname FROM pg_namespace WHERE nspname IN ('territorio','oferta','nominal','publico')"
    ).fetchall()
    assert {r[0] for r in rows} == {"territorio", "oferta", "nominal", "publico"}


def test_public_role_cannot_read_nominal_schema(db_url):
    from geoportal.db import public_database_url

    with psycopg.connect(public_database_url()) as public:
        assert public.execute("SELECT current_user").fetchone()[0] == "geoportal_publico"
        public.execute("SELECT count(*) FROM territorio.distrito")
        for table in ("hogar", "persona", "derivacion", "auditoria", "cuarentena"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                public.execute(f"SELECT count(*) FROM nominal.{table}")
            public.rollback()


def test_public_role_cannot_write_public_tables(db_url):
    from geoportal.db import public_database_url

    with psycopg.connect(public_database_url()) as public, pytest.raises(psycopg.errors.InsufficientPrivilege):
        public.execute("DELETE FROM territorio.distrito")


# ------------------------------------------------------------------ the shared public role


def _geoportal(*args, url, home, **env):
    full = {**os.environ, "GEOPORTAL_DATABASE_URL": url, "GEOPORTAL_HOME": str(home), "COLUMNS": "300", **env}
    for name in ("GEOPORTAL_PUBLIC_PASSWORD", "GEOPORTAL_PUBLIC_DATABASE_URL"):
        if name not in env:
            full.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "geoportal.cli", *args],
        capture_output=True,
        text=True,
        env=full,
        timeout=300,
        check=False,
    )


def _logs_in(url: str, password: str) -> bool:
    public = make_url(url).set(username="geoportal_publico", password=password).render_as_string(hide_password=False)
    try:
        with psycopg.connect(public, connect_timeout=10):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture
def second_checkout(db_url, tmp_path):
    """Another database on the test server, as a second checkout would create it, with its
    own (empty) state folder; the role's password is put back afterwards."""
    from geoportal.db import public_password

    name = f"{make_url(db_url).database}_otra_copia"
    with psycopg.connect(db_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    current = public_password()
    yield make_url(db_url).set(database=name).render_as_string(hide_password=False), tmp_path / "estado", current
    with psycopg.connect(db_url, autocommit=True) as admin:
        admin.execute(psycopg.sql.SQL("ALTER ROLE geoportal_publico PASSWORD {}").format(psycopg.sql.Literal(current)))
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_db_up_on_a_shared_server_never_changes_the_public_role_password(second_checkout):
    url, home, current = second_checkout
    result = _geoportal("db", "up", url=url, home=home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _logs_in(url, current)  # every other database's public API keeps working
    said = " ".join(result.stdout.split())
    assert "ya existe en este servidor" in said and "no se la cambió" in said
    assert "GEOPORTAL_PUBLIC_PASSWORD" in said and "geoportal db rotar-clave" in said
    # Told the password, the second checkout can use the role; again nothing changes.
    told = _geoportal("db", "up", url=url, home=home, GEOPORTAL_PUBLIC_PASSWORD=current)
    assert told.returncode == 0 and "Aviso" not in told.stdout, told.stdout
    assert _logs_in(url, current)


def test_rotating_is_refused_when_the_password_is_set_from_outside(second_checkout):
    url, home, current = second_checkout
    result = _geoportal("db", "rotar-clave", "--si", url=url, home=home, GEOPORTAL_PUBLIC_PASSWORD=current)
    assert result.returncode == 1 and "GEOPORTAL_PUBLIC_PASSWORD" in result.stdout
    assert _logs_in(url, current)
