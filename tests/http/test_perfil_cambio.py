"""The territory profile's change since the previous public release.

Its own module: it copies the pilot database (CREATE DATABASE ... TEMPLATE), which needs no
other open connection to it, so no API server of another module may be running.
"""

from __future__ import annotations

import httpx
import psycopg
import pytest


def _row(url: str, nivel: str, codigo: str) -> dict:
    with psycopg.connect(url) as conn:
        cur = conn.execute("SELECT * FROM publico.cobertura WHERE nivel = %s AND codigo = %s", (nivel, codigo))
        return dict(zip([d.name for d in cur.description], cur.fetchone()))


def test_profile_gives_each_logros_change_since_the_previous_release(pilotos):
    """On a private copy: one release, then a second one (another cut-off date changes the
    figures); the profile's change is the difference of the two published shares."""
    from datetime import date

    from geoportal.pipeline import compute_all
    from tests.institucional import clone_database
    from tests.servidor_local import Server

    url = clone_database(pilotos["url"], "cambio")
    first = _row(url, "distrito", "1116")
    server = Server(url)
    try:
        change = httpx.get(f"{server.base}/api/territorios/1116").json()["cambio_desde_version_anterior"]
        if change["disponible"] is False:  # the pilot copy may already hold an earlier release
            assert change["motivo"]
        with psycopg.connect(url) as conn:
            compute_all(conn, fecha_corte=date(2027, 7, 1))
        second = _row(url, "distrito", "1116")
        assert second["data_version"] != first["data_version"]
        change = httpx.get(f"{server.base}/api/territorios/1116").json()["cambio_desde_version_anterior"]
    finally:
        server.stop()
    assert change["disponible"] is True and change["version_anterior"] == first["data_version"]
    expected = {
        n: (
            None
            if first[f"l{n}_pct"] is None or second[f"l{n}_pct"] is None
            else round(second[f"l{n}_pct"] - first[f"l{n}_pct"], 1)
        )
        for n in range(1, 11)
    }
    got = {item["logro"]: item["diferencia"] for item in change["logros"]}
    assert got == pytest.approx(expected, abs=0.051)
    assert any(v not in (None, 0) for v in got.values())  # a year and a half later, ages move people
