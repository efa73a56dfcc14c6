"""A real uvicorn serving the API on loopback, for every test that needs HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """uvicorn on 127.0.0.1 against the database ``url``; its output goes to a log file
    (kept for the log checks, and shown if it does not start)."""

    def __init__(self, url: str, env: dict | None = None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="uvicorn-", suffix=".log", delete=False)
        full_env = {**os.environ, "GEOPORTAL_DATABASE_URL": url, **(env or {})}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "api.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=full_env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120  # a loaded 2-core machine starts slowly
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/salud", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(self.output())

    def output(self) -> str:
        with open(self.log.name, encoding="utf-8", errors="replace") as fh:
            return fh.read()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def serve(url: str):
    """Generator for a module fixture: yields the base URL, stops the server after."""
    server = Server(url)
    yield server.base
    server.stop()
