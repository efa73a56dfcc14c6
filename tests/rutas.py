"""Folders the tests read or write, wherever a test file sits under ``tests/``: the
checkout's root and the folder for screenshots and page timings (``GEOPORTAL_ARTEFACTOS``
overrides it; ignored by git)."""

from __future__ import annotations

import os
from pathlib import Path

RAIZ = Path(__file__).resolve().parents[1]
ARTEFACTOS = Path(os.environ.get("GEOPORTAL_ARTEFACTOS") or RAIZ / "tests" / "artefactos")
