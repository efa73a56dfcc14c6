"""Database connections: which PostGIS, which role, and the schema's life cycle.

``GEOPORTAL_DATABASE_URL`` points everything at an existing PostGIS; without it the
embedded cluster (``geoportal.cluster``) is started on demand.

The public role ``geoportal_publico`` is one role per *server* (PostgreSQL roles are
cluster-wide), shared by every geoportal database on it. Its password comes from, in
order: ``GEOPORTAL_PUBLIC_DATABASE_URL``, ``GEOPORTAL_PUBLIC_PASSWORD``, or the state
folder's ``secretos.json`` (key ``geoportal_publico`` for the embedded cluster, even
when named by a URL, ``geoportal_publico@host:puerto`` for another server), where ``geoportal db up`` stores it
when it gives the role its first password and ``geoportal db rotar-clave`` when it rotates it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from geoportal.cluster import PUBLIC_ROLE, Cluster, read_secrets, write_secrets
from geoportal.settings import Settings, get_settings


def embedded_cluster(settings: Settings | None = None) -> Cluster:
    settings = settings or get_settings()
    return Cluster(settings.home, settings.pg_port, port_fixed="pg_port" in settings.model_fields_set)


def database_url(settings: Settings | None = None, start: bool = True) -> str:
    """Admin URL (libpq form). Starts the embedded cluster when no URL is configured."""
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    cluster = embedded_cluster(settings)
    if start:
        cluster.start()
    return cluster.url()


def secrets_file(settings: Settings | None = None) -> Path:
    return Path((settings or get_settings()).home).resolve() / "secretos.json"


def public_secret_key(settings: Settings | None = None) -> str:
    """Key of the public role's password in ``secretos.json``: one per server."""
    settings = settings or get_settings()
    if not settings.database_url:
        return PUBLIC_ROLE
    url = make_url(settings.database_url)
    host, port = url.host or "localhost", url.port or 5432
    if host in ("127.0.0.1", "localhost") and port == embedded_cluster(settings).port:
        return PUBLIC_ROLE  # a URL that names this checkout's own embedded cluster
    return f"{PUBLIC_ROLE}@{host}:{port}"


def public_password(settings: Settings | None = None) -> str | None:
    """The public role's password as this checkout knows it (None: not known here)."""
    settings = settings or get_settings()
    if settings.public_password:
        return settings.public_password
    if not settings.database_url:
        return embedded_cluster(settings).secrets()[PUBLIC_ROLE]
    return read_secrets(secrets_file(settings)).get(public_secret_key(settings))


def store_public_password(password: str, settings: Settings | None = None) -> Path:
    """Keep the public role's password in the state folder; returns the file."""
    settings = settings or get_settings()
    path = secrets_file(settings)
    write_secrets(path, {**read_secrets(path), public_secret_key(settings): password})
    return path


def public_database_url(settings: Settings | None = None, start: bool = True) -> str:
    """URL of the role that reads only public schemas (the public API uses it, with
    ``start=False``: a web request never starts the embedded cluster)."""
    settings = settings or get_settings()
    if settings.public_database_url:
        return settings.public_database_url
    url = make_url(database_url(settings, start=start))
    url = url.set(username=PUBLIC_ROLE, password=public_password(settings))
    return url.render_as_string(hide_password=False)


def sqlalchemy_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


@contextmanager
def connect(settings: Settings | None = None, **kwargs) -> Iterator[psycopg.Connection]:
    """A psycopg connection as the admin role; commits on success, rolls back on error."""
    with psycopg.connect(database_url(settings), **kwargs) as conn:
        yield conn
