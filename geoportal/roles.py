"""The API's database roles for institutional access, and how it connects with them.

- ``geoportal_nominal``: nominal data under Row-Level Security (policies in
  ``sql/0007_roles.sql``); the API sets the session's districts and institution per
  transaction, and with nothing set it sees no rows.
- ``geoportal_acceso``: users, sessions and login attempts; no nominal data.

Their passwords are kept like the public role's: ``GEOPORTAL_<ROL>_PASSWORD`` if set,
else generated once into ``<home>/secretos.json`` (0600). ``ensure_logins`` gives a role
its password only the first time (while it cannot log in), so running the migrations
again never rotates a password a running API, or another checkout on the server, uses.
"""

from __future__ import annotations

import os
import secrets

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from geoportal.cluster import PUBLIC_ROLE, read_secrets, write_secrets
from geoportal.db import database_url, public_secret_key, secrets_file
from geoportal.settings import Settings, get_settings

NOMINAL_ROLE = "geoportal_nominal"
ACCESS_ROLE = "geoportal_acceso"
API_ROLES = (NOMINAL_ROLE, ACCESS_ROLE)


def role_password(role: str, settings: Settings | None = None) -> str:
    """``GEOPORTAL_<ROL>_PASSWORD``, else the one stored for this server (generated once)."""
    settings = settings or get_settings()
    from_env = os.environ.get(f"GEOPORTAL_{role.removeprefix('geoportal_').upper()}_PASSWORD")
    if from_env:
        return from_env
    # one entry per server, as the public role's (``geoportal.db.public_secret_key``)
    key = role + public_secret_key(settings).removeprefix(PUBLIC_ROLE)
    path = secrets_file(settings)
    values = read_secrets(path)
    if key not in values:
        values[key] = secrets.token_urlsafe(18)
        write_secrets(path, values)
    return values[key]


def role_url(role: str, settings: Settings | None = None, start: bool = True) -> str:
    """libpq URL of ``role`` on the configured database (``GEOPORTAL_<ROL>_DATABASE_URL`` wins).
    The API asks with ``start=False``: a web request never starts the embedded cluster."""
    settings = settings or get_settings()
    explicit = os.environ.get(f"GEOPORTAL_{role.removeprefix('geoportal_').upper()}_DATABASE_URL")
    if explicit:
        return explicit
    url = make_url(database_url(settings, start=start)).set(username=role, password=role_password(role, settings))
    return url.render_as_string(hide_password=False)


def ensure_logins(admin: psycopg.Connection, url: str, settings: Settings | None = None) -> None:
    """Give the API roles their first password. Roles belong to the whole server: a role
    that can already log in keeps its password (another database or checkout on the same
    server may be using it), as the public role does."""
    settings = settings or get_settings()
    for role in API_ROLES:
        row = admin.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        if row is None or row[0]:
            continue
        password = role_password(role, settings)
        admin.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
