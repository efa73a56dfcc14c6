"""Schema migrations (alembic) and the roles that go with them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from psycopg import sql
from sqlalchemy.engine import make_url

from geoportal.cluster import PUBLIC_ROLE
from geoportal.db import database_url, public_password, sqlalchemy_url, store_public_password
from geoportal.settings import SQL_DIR, Settings, get_settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def sql_file(name: str) -> str:
    return (SQL_DIR / name).read_text(encoding="utf-8")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return config


@dataclass
class PublicRole:
    """What ``upgrade`` did with the public role, for the command line to report."""

    estado: str  # "habilitado" (first password given), "existente" (left as it was), "sin_permiso"
    clave_conocida: bool  # this checkout can log in as the role
    guardada_en: Path | None = None


def upgrade(settings: Settings | None = None, url: str | None = None) -> PublicRole:
    """Bring the schema to the newest revision and let the public role log in.

    The role belongs to the whole server: the migration creates it NOLOGIN if absent, and
    it gets a password here only then (the first database on the server). An existing
    login role keeps its password: changing it would break the public API of every other
    database on that server. ``rotate_public_password`` changes it on request.
    """
    settings = settings or get_settings()
    url = url or database_url(settings)
    command.upgrade(alembic_config(url), "head")
    with psycopg.connect(url, autocommit=True) as conn:
        can_login, can_create_roles = conn.execute(
            "SELECT r.rolcanlogin, (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user)"
            " FROM pg_roles r WHERE r.rolname = %s",
            (PUBLIC_ROLE,),
        ).fetchone()
        if can_create_roles:  # the API's institutional roles: first password only
            from geoportal.roles import ensure_logins

            ensure_logins(conn, url, settings)
        if can_login:
            return PublicRole("existente", _can_log_in(url, public_password(settings)))
        if not can_create_roles:
            return PublicRole("sin_permiso", False)
        password, stored = public_password(settings), None
        if password is None:
            password = secrets.token_urlsafe(18)
            stored = store_public_password(password, settings)
        _set_password(conn, password)
    return PublicRole("habilitado", True, stored)


def rotate_public_password(settings: Settings | None = None) -> Path:
    """Give the public role a new password, store it in the state folder, return the file."""
    settings = settings or get_settings()
    password = secrets.token_urlsafe(18)
    with psycopg.connect(database_url(settings), autocommit=True) as conn:
        _set_password(conn, password)
    return store_public_password(password, settings)


def _set_password(conn: psycopg.Connection, password: str) -> None:
    conn.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(PUBLIC_ROLE), sql.Literal(password)))


def _can_log_in(url: str, password: str | None) -> bool:
    if password is None:
        return False
    public = make_url(url).set(username=PUBLIC_ROLE, password=password).render_as_string(hide_password=False)
    try:
        with psycopg.connect(public, connect_timeout=10):
            return True
    except psycopg.OperationalError:
        return False


def downgrade_all(settings: Settings | None = None) -> None:
    command.downgrade(alembic_config(database_url(settings)), "base")
