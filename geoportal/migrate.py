"""Schema migrations (alembic) and the roles that go with them."""

from __future__ import annotations

from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from psycopg import sql

from geoportal.cluster import PUBLIC_ROLE
from geoportal.db import database_url, public_password, sqlalchemy_url
from geoportal.settings import SQL_DIR, Settings, get_settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def sql_file(name: str) -> str:
    return (SQL_DIR / name).read_text(encoding="utf-8")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return config


def upgrade(settings: Settings | None = None, url: str | None = None) -> None:
    """Bring the schema to the newest revision and let the public role log in."""
    settings = settings or get_settings()
    url = url or database_url(settings)
    command.upgrade(alembic_config(url), "head")
    with psycopg.connect(url, autocommit=True) as conn:
        can_create_roles = conn.execute(
            "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user"
        ).fetchone()[0]
        if can_create_roles:
            conn.execute(
                sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(PUBLIC_ROLE), sql.Literal(public_password(settings))
                )
            )
            from geoportal.roles import ensure_logins

            ensure_logins(conn, url, settings)


def downgrade_all(settings: Settings | None = None) -> None:
    command.downgrade(alembic_config(database_url(settings)), "base")
