"""Database connections: which PostGIS, which role, and the schema's life cycle.

``GEOPORTAL_DATABASE_URL`` points everything at an existing PostGIS; without it the
embedded cluster (``geoportal.cluster``) is started on demand.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from typing import Iterator

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from geoportal.cluster import PUBLIC_ROLE, Cluster
from geoportal.settings import Settings, get_settings


def embedded_cluster(settings: Settings | None = None) -> Cluster:
    settings = settings or get_settings()
    return Cluster(settings.home, settings.pg_port)


def database_url(settings: Settings | None = None, start: bool = True) -> str:
    """Admin URL (libpq form). Starts the embedded cluster when no URL is configured."""
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    cluster = embedded_cluster(settings)
    if start:
        cluster.start()
    return cluster.url()


def public_password(settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    if settings.public_password:
        return settings.public_password
    return embedded_cluster(settings).secrets()[PUBLIC_ROLE]


def public_database_url(settings: Settings | None = None) -> str:
    """URL of the role that reads only public schemas (the public API uses it)."""
    settings = settings or get_settings()
    if settings.public_database_url:
        return settings.public_database_url
    url = make_url(database_url(settings))
    url = url.set(username=PUBLIC_ROLE, password=public_password(settings))
    return url.render_as_string(hide_password=False)


def sqlalchemy_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


@lru_cache(maxsize=8)
def _engine(url: str) -> sa.Engine:
    return sa.create_engine(sqlalchemy_url(url), pool_pre_ping=True)


def engine(settings: Settings | None = None) -> sa.Engine:
    return _engine(database_url(settings))


@contextmanager
def connect(settings: Settings | None = None, **kwargs) -> Iterator[psycopg.Connection]:
    """A psycopg connection as the admin role; commits on success, rolls back on error."""
    with psycopg.connect(database_url(settings), **kwargs) as conn:
        yield conn
