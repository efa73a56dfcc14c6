"""Lockout that cannot be turned into a denial of service (issue 21, item 10), against a real
uvicorn: tries made while a name waits are not failures; the wait doubles per failure and
ends (the right password then gets in); an office behind one address keeps working; the
admin's `geoportal usuarios desbloquear` and `geoportal usuarios clave` (the password never
on the command line).

The server waits 2 s after the 5th failure (GEOPORTAL_BLOQUEO_BASE_SEGUNDOS=2), at most
60 s; each test uses its own address (X-Forwarded-For, trusted from loopback).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import psycopg
import pytest

from tests.institucional import CLAVE, clone_database, login_form
from tests.servidor_local import Server

MAL = "no-es-la-clave"


@pytest.fixture(scope="module")
def bloqueo(pilotos):
    url = clone_database(pilotos["url"], "bloqueo")
    server = Server(
        url,
        env={
            "GEOPORTAL_BLOQUEO_BASE_SEGUNDOS": "2",
            "GEOPORTAL_BLOQUEO_MINUTOS": "1",
            "GEOPORTAL_INTENTOS_IP_MAX": "8",
        },
    )
    yield {"url": url, "base": server.base}
    server.stop()


def _user(url: str, name: str) -> None:
    from geoportal.usuarios import create_user

    with psycopg.connect(url) as conn:
        create_user(conn, name, CLAVE, "gabinete")


_clients: dict[tuple[str, str], tuple[httpx.Client, str]] = {}


def _try(base: str, ip: str, name: str, password: str) -> httpx.Response:
    """A login from ``ip`` (one client per address: a refusal in JSON keeps the form's token,
    so tries follow each other quickly). Success is 200."""
    if (base, ip) not in _clients:
        client = httpx.Client(base_url=base, timeout=60, headers={"X-Forwarded-For": ip, "Accept": "application/json"})
        _clients[base, ip] = (client, login_form(client))
    client, token = _clients[base, ip]
    answer = client.post("/ingresar", data={"usuario": name, "clave": password, "csrf": token})
    if answer.status_code == 200:  # logged in: the form's cookie is spent
        del _clients[base, ip]
    return answer


def _kinds(url: str, name: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return dict(
            conn.execute(
                "SELECT tipo || CASE WHEN exito THEN '+' ELSE '' END, count(*)"
                " FROM acceso.intento_ingreso WHERE nombre = %s GROUP BY 1",
                (name,),
            ).fetchall()
        )


def test_the_wait_rule_by_hand():
    from api.institucional.ingreso import espera

    assert espera(4, 0.0, 5, 30, 900) == 0  # below the threshold
    assert espera(5, 0.0, 5, 30, 900) == 30  # 30 s after the 5th failure
    assert espera(6, 10.0, 5, 30, 900) == 50  # 60 s after the 6th, 10 s gone
    assert espera(7, 0.0, 5, 30, 900) == 120
    assert espera(30, 0.0, 5, 30, 900) == 900  # never more than the cap
    assert espera(9, 1000.0, 5, 30, 900) == 0  # the wait is over


def test_tries_while_waiting_do_not_count_and_the_right_password_gets_in_after_the_wait(bloqueo):
    _user(bloqueo["url"], "espera.uno")
    ip = "203.0.113.11"
    for _ in range(5):
        assert _try(bloqueo["base"], ip, "espera.uno", MAL).status_code == 401
    refused = _try(bloqueo["base"], ip, "espera.uno", CLAVE)
    assert refused.status_code == 429 and "Demasiados intentos" in refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= 2
    # An attacker keeps trying during the wait: refused unchecked, never counted.
    for _ in range(10):
        assert _try(bloqueo["base"], ip, "espera.uno", MAL).status_code == 429
    time.sleep(2.2)
    assert _try(bloqueo["base"], ip, "espera.uno", CLAVE).status_code == 200
    assert _kinds(bloqueo["url"], "espera.uno") == {"intento": 5, "bloqueado": 11, "intento+": 1}


def test_the_wait_doubles_with_each_failure_after_the_threshold(bloqueo):
    _user(bloqueo["url"], "espera.dos")
    ip = "203.0.113.12"
    for _ in range(5):
        assert _try(bloqueo["base"], ip, "espera.dos", MAL).status_code == 401
    for expected in (2, 4, 8):
        waiting = _try(bloqueo["base"], ip, "espera.dos", MAL)
        assert waiting.status_code == 429
        assert expected - 1 <= int(waiting.headers["Retry-After"]) <= expected, waiting.headers["Retry-After"]
        time.sleep(expected + 0.2)
        assert _try(bloqueo["base"], ip, "espera.dos", MAL).status_code == 401  # a checked failure again
    waiting = _try(bloqueo["base"], ip, "espera.dos", CLAVE)
    assert waiting.status_code == 429 and 15 <= int(waiting.headers["Retry-After"]) <= 16


def test_an_office_behind_one_address_keeps_working_while_an_attacker_there_waits(bloqueo):
    """8 failures from the office's address (GEOPORTAL_INTENTOS_IP_MAX) hold back names that
    never got in from there, not the colleague who did."""
    _user(bloqueo["url"], "oficina.ana")
    _user(bloqueo["url"], "oficina.nueva")
    office = "203.0.113.13"
    assert _try(bloqueo["base"], office, "oficina.ana", CLAVE).status_code == 200
    for i in range(8):
        assert _try(bloqueo["base"], office, f"adivinado{i}", MAL).status_code == 401
    assert _try(bloqueo["base"], office, "oficina.nueva", CLAVE).status_code == 429
    assert _try(bloqueo["base"], office, "oficina.ana", CLAVE).status_code == 200


def _cli(args: list[str], url: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "GEOPORTAL_DATABASE_URL": url, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "geoportal.cli", "usuarios", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_desbloquear_ends_a_long_wait_at_once(bloqueo):
    _user(bloqueo["url"], "espera.larga")
    with psycopg.connect(bloqueo["url"]) as conn:  # 12 failures just now: the wait is at its cap (60 s)
        conn.execute(
            "INSERT INTO acceso.intento_ingreso (nombre, ip, exito) SELECT 'espera.larga', '203.0.113.14',"
            " false FROM generate_series(1, 12)"
        )
    refused = _try(bloqueo["base"], "203.0.113.15", "espera.larga", CLAVE)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 55
    done = _cli(["desbloquear", "espera.larga"], bloqueo["url"])
    assert done.returncode == 0 and "desbloqueado (12 intentos fallidos dejan de contar)" in done.stdout, done.stdout
    assert _try(bloqueo["base"], "203.0.113.15", "espera.larga", CLAVE).status_code == 200
    unknown = _cli(["desbloquear", "nadie.asi"], bloqueo["url"])
    assert unknown.returncode == 1 and "No existe el usuario" in unknown.stdout


def test_clave_changes_a_password_from_stdin_or_a_file_never_from_the_command_line(bloqueo, tmp_path):
    _user(bloqueo["url"], "cambia.clave")
    ip = "203.0.113.16"
    for _ in range(5):
        _try(bloqueo["base"], ip, "cambia.clave", MAL)
    nueva = "otra-clave-bastante-larga"
    done = _cli(["clave", "cambia.clave"], bloqueo["url"], stdin=nueva + "\n")
    assert done.returncode == 0 and "Contraseña de cambia.clave cambiada" in done.stdout, done.stdout + done.stderr
    assert _try(bloqueo["base"], ip, "cambia.clave", CLAVE).status_code == 401  # the old one is gone
    assert _try(bloqueo["base"], ip, "cambia.clave", nueva).status_code == 200  # and the lockout ended with it
    archivo = tmp_path / "clave.txt"
    archivo.write_text("desde-un-archivo-privado\n", encoding="utf-8")
    assert _cli(["clave", "cambia.clave", "--clave-archivo", str(archivo)], bloqueo["url"]).returncode == 0
    assert _try(bloqueo["base"], ip, "cambia.clave", "desde-un-archivo-privado").status_code == 200
    short = _cli(["clave", "cambia.clave"], bloqueo["url"], stdin="corta\n")
    assert short.returncode == 1 and "al menos 12 caracteres" in short.stdout
    on_argv = _cli(["clave", "cambia.clave", "--clave", "en-la-linea-de-comandos"], bloqueo["url"])
    assert on_argv.returncode == 2  # no such option: a password never goes on the command line
    assert _try(bloqueo["base"], ip, "cambia.clave", "desde-un-archivo-privado").status_code == 200
