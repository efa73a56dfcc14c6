"""Paths the tests use, wherever a test file sits under ``tests/``: the checkout's root,
the folder for screenshots and page timings (``GEOPORTAL_ARTEFACTOS`` overrides it;
ignored by git), and Debian's Chromium with the flags every browser test launches it with."""

from __future__ import annotations

import os
from pathlib import Path

RAIZ = Path(__file__).resolve().parents[1]
ARTEFACTOS = Path(os.environ.get("GEOPORTAL_ARTEFACTOS") or RAIZ / "tests" / "artefactos")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
