"""The database: embedded PostGIS, schemas and the roles that guard nominal data."""

import psycopg
import pytest


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

    with psycopg.connect(public_database_url()) as public:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            public.execute("DELETE FROM territorio.distrito")
