"""`geoportal servir` (what `make demo` runs) serves as the tile benchmark measures it:
uvloop and httptools, no access log unless asked, and when asked the log is redacted."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from tests.servidor_local import free_port

HOGAR = "H1116000001"


def _serve(url: str, *flags: str, env: dict | None = None):
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="servir-", suffix=".log", delete=False)
    cli = str(Path(sys.executable).with_name("geoportal"))
    process = subprocess.Popen(
        [cli, "servir", "--port", str(port), *flags],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "GEOPORTAL_DATABASE_URL": url, **(env or {})},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/salud", timeout=1).status_code == 200:
                return process, base, log.name
        except httpx.HTTPError:
            time.sleep(0.2)
    process.terminate()
    pytest.fail(Path(log.name).read_text())


def _stop(process) -> None:
    process.terminate()
    process.wait(timeout=15)


def _libraries(pid: int) -> str:
    maps = Path(f"/proc/{pid}/maps").read_text()
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return maps + "".join(Path(f"/proc/{c}/maps").read_text() for c in children)


def test_servir_uses_uvloop_and_httptools_and_writes_no_access_log_by_default(pilotos):
    process, base, log = _serve(pilotos["url"])
    try:
        for _ in range(3):
            httpx.get(f"{base}/capas")
        httpx.get(f"{base}/api/nominal/hogares/{HOGAR}")
        libraries = _libraries(process.pid)
        assert "uvloop" in libraries and "httptools" in libraries
    finally:
        _stop(process)
    text = Path(log).read_text()
    assert "GET /capas" not in text and HOGAR not in text


@pytest.mark.parametrize("how", ["flag", "env"])
def test_access_log_when_asked_is_on_and_redacted(pilotos, how):
    flags, env = (["--registro-accesos"], None) if how == "flag" else ([], {"GEOPORTAL_REGISTRO_ACCESOS": "1"})
    process, base, log = _serve(pilotos["url"], *flags, env=env)
    try:
        httpx.get(f"{base}/capas")
        httpx.get(f"{base}/api/nominal/hogares/{HOGAR}")
        time.sleep(0.5)
    finally:
        _stop(process)
    text = Path(log).read_text()
    assert "GET /capas" in text
    assert "/api/nominal/hogares/{hogar_id}" in text and HOGAR not in text
