"""The embedded cluster on a machine where another checkout already holds its port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import psycopg
import pytest

from geoportal.cluster import Cluster


@pytest.fixture
def taken_port():
    """A port held by another program (as another checkout's cluster would hold 54329)."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def test_a_new_cluster_moves_off_a_taken_port_and_remembers_it(taken_port, tmp_path, capfd):
    cluster = Cluster(tmp_path / "estado", taken_port, port_fixed=False)
    try:
        cluster.start()
        assert cluster.port != taken_port
        assert (tmp_path / "estado" / "puerto_pg").read_text().strip() == str(cluster.port)
        notice = " ".join(capfd.readouterr().err.split())
        assert f"el puerto {taken_port} de 127.0.0.1 está ocupado" in notice
        assert f"usará el puerto {cluster.port}" in notice and "GEOPORTAL_PG_PORT" in notice
        with psycopg.connect(cluster.url()) as conn:
            assert conn.execute("SHOW port").fetchone()[0] == str(cluster.port)
        # The next command of this checkout finds the same cluster at the remembered port.
        again = Cluster(tmp_path / "estado", taken_port, port_fixed=False)
        assert again.port == cluster.port and again.running_port() == cluster.port
        again.start()
        assert capfd.readouterr().err == ""
    finally:
        cluster.destroy()


def test_a_taken_port_given_in_geoportal_pg_port_stops_with_a_way_out(taken_port, tmp_path):
    env = {**os.environ, "GEOPORTAL_HOME": str(tmp_path / "estado"), "GEOPORTAL_PG_PORT": str(taken_port),
           "COLUMNS": "300"}
    env.pop("GEOPORTAL_DATABASE_URL", None)
    result = subprocess.run([sys.executable, "-m", "geoportal.cli", "db", "up"], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    said = " ".join(result.stdout.split())
    assert f"El puerto {taken_port} de 127.0.0.1 ya está en uso por otro programa" in said
    assert "GEOPORTAL_PG_PORT=" in said and "puerto_pg" in said
    assert "Traceback" not in result.stdout + result.stderr
    assert not Cluster(tmp_path / "estado", taken_port).initialized()  # nothing half-created
