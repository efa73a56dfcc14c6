"""A second embedded cluster on the same machine: another checkout holds the default port,
and a new server has no public role yet."""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import sys

import psycopg
import pytest
from sqlalchemy.engine import make_url

from geoportal.cluster import Cluster


@contextlib.contextmanager
def port_held_by_another_program():
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


@pytest.fixture(scope="module")
def second_cluster(tmp_path_factory):
    """This checkout's cluster, started while another program holds its port."""
    home = tmp_path_factory.mktemp("segunda-copia") / "estado"
    notice = io.StringIO()
    with port_held_by_another_program() as taken, contextlib.redirect_stderr(notice):
        cluster = Cluster(home, taken, port_fixed=False)
        cluster.start()
    yield cluster, taken, " ".join(notice.getvalue().split())
    cluster.destroy()


def test_a_new_cluster_moves_off_a_taken_port_and_remembers_it(second_cluster):
    cluster, taken, notice = second_cluster
    assert cluster.port != taken
    assert (cluster.home / "puerto_pg").read_text().strip() == str(cluster.port)
    assert f"el puerto {taken} de 127.0.0.1 está ocupado" in notice
    assert f"usará el puerto {cluster.port}" in notice and "GEOPORTAL_PG_PORT" in notice
    with psycopg.connect(cluster.url()) as conn:
        assert conn.execute("SHOW port").fetchone()[0] == str(cluster.port)
    # The next command of this checkout finds the same cluster at the remembered port.
    again = Cluster(cluster.home, taken, port_fixed=False)
    assert again.port == cluster.port and again.running_port() == cluster.port


def test_a_taken_port_given_in_geoportal_pg_port_stops_with_a_way_out(tmp_path):
    env = {**os.environ, "GEOPORTAL_HOME": str(tmp_path / "estado"), "COLUMNS": "300"}
    env.pop("GEOPORTAL_DATABASE_URL", None)
    with port_held_by_another_program() as taken:
        result = subprocess.run(
            [sys.executable, "-m", "geoportal.cli", "db", "up"],
            capture_output=True,
            text=True,
            env={**env, "GEOPORTAL_PG_PORT": str(taken)},
            timeout=300,
            check=False,
        )
    assert result.returncode == 1, result.stdout + result.stderr
    said = " ".join(result.stdout.split())
    assert f"El puerto {taken} de 127.0.0.1 ya está en uso por otro programa" in said
    assert "GEOPORTAL_PG_PORT=" in said and "puerto_pg" in said
    assert "Traceback" not in result.stdout + result.stderr
    assert not Cluster(tmp_path / "estado", taken).initialized()  # nothing half-created


def test_the_first_database_on_a_new_server_gives_the_public_role_a_password_once(second_cluster, tmp_path):
    from geoportal import migrate
    from geoportal.settings import Settings

    cluster, _, _ = second_cluster
    url = cluster.url()
    # Another checkout pointing at this server: no password of its own for the role yet.
    settings = Settings(database_url=url, home=tmp_path, public_password=None, public_database_url=None)
    role = migrate.upgrade(settings, url=url)
    key = f"geoportal_publico@127.0.0.1:{cluster.port}"
    password = json.loads((tmp_path / "secretos.json").read_text())[key]
    assert (role.estado, role.guardada_en, role.clave_conocida) == ("habilitado", tmp_path / "secretos.json", True)
    public = make_url(url).set(username="geoportal_publico", password=password).render_as_string(hide_password=False)
    with psycopg.connect(public) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "geoportal_publico"
    # Migrating again (or another database on the server) leaves the password alone.
    again = migrate.upgrade(settings, url=url)
    assert (again.estado, again.clave_conocida) == ("existente", True)
    with psycopg.connect(public):
        pass


def test_rotating_the_public_password_stores_it_and_says_where(second_cluster, tmp_path):
    # On this private server: rotating on a shared one would cut the other databases' API.
    cluster, _, _ = second_cluster
    url = cluster.url()
    env = {**os.environ, "GEOPORTAL_DATABASE_URL": url, "COLUMNS": "300"}
    for name in ("GEOPORTAL_PUBLIC_PASSWORD", "GEOPORTAL_PUBLIC_DATABASE_URL"):
        env.pop(name, None)

    def geoportal(*args, home):
        return subprocess.run(
            [sys.executable, "-m", "geoportal.cli", *args],
            capture_output=True,
            text=True,
            env={**env, "GEOPORTAL_HOME": str(home)},
            timeout=300,
            check=False,
        )

    def logs_in(password):
        public = make_url(url).set(username="geoportal_publico", password=password)
        try:
            with psycopg.connect(public.render_as_string(hide_password=False), connect_timeout=10):
                return True
        except psycopg.OperationalError:
            return False

    from geoportal import migrate
    from geoportal.settings import Settings

    migrate.upgrade(
        Settings(database_url=url, home=tmp_path / "una", public_password=None, public_database_url=None), url=url
    )
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("ALTER ROLE geoportal_publico LOGIN PASSWORD 'clave-anterior'")
    result = geoportal("db", "rotar-clave", "--si", home=tmp_path / "otra")
    assert result.returncode == 0, result.stdout + result.stderr
    secrets_file = tmp_path / "otra" / "secretos.json"
    assert f"La nueva está en {secrets_file}" in result.stdout
    assert oct(secrets_file.stat().st_mode & 0o777) == "0o600"
    stored = json.loads(secrets_file.read_text())[f"geoportal_publico@127.0.0.1:{cluster.port}"]
    assert logs_in(stored) and not logs_in("clave-anterior")
    # This checkout now knows the password: db up is quiet and does not rotate it again.
    again = geoportal("db", "up", home=tmp_path / "otra")
    assert again.returncode == 0 and "Aviso" not in again.stdout, again.stdout
    assert logs_in(stored)


def test_a_folder_left_by_an_earlier_copy_at_the_same_path_is_set_aside_not_reused(tmp_path):
    """A clone under /root is deleted and cloned again at the same path: its data folder in
    /var/lib/geoportal stays behind with the old passwords (a new secretos.json). The new
    copy keeps it aside (nothing deleted) and starts a cluster it can open: by the owner
    mark, and (outside the copy, as root) for folders made before the mark, by the refused
    password. Run as another user, the folder is inside the copy and the mark alone is tried."""
    import shutil

    home = tmp_path / "clon" / ".geoportal"
    home.mkdir(parents=True)
    os.chmod(tmp_path / "clon", 0o700)  # like /root: the postgres user cannot enter
    first = Cluster(home, 54329, port_fixed=False)
    outside = not first.data_dir.is_relative_to(home)
    assert outside == (os.geteuid() == 0)
    try:
        for mark in (True, False) if outside else (True,):
            first.start()
            with psycopg.connect(first.url("postgres")) as conn:
                conn.execute("CREATE TABLE IF NOT EXISTS huella_anterior (x int)")
            first.stop()
            if not mark:
                first.owner_file.unlink()
            first.secrets_file.unlink()  # the clone is deleted and cloned again: new passwords
            notice = io.StringIO()
            again = Cluster(home, 54329, port_fixed=False)
            with contextlib.redirect_stderr(notice):
                again.start()
            assert again.data_dir == first.data_dir and "copia anterior" in notice.getvalue()
            with psycopg.connect(again.url("postgres")) as conn:  # this copy's passwords open it
                assert conn.execute("SELECT to_regclass('huella_anterior')").fetchone()[0] is None
            kept = sorted(p.name for p in again.data_dir.parent.iterdir() if p.name.startswith("pg.anterior-"))
            assert kept, "the old folder is kept aside"
            first = again
    finally:
        for old in first.data_dir.parent.glob("pg.anterior-*"):
            shutil.rmtree(old, ignore_errors=True)
        first.destroy()
    if outside:
        assert not first.data_dir.parent.exists()  # nothing left behind in /var/lib/geoportal
