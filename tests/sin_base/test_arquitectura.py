"""The import graph keeps its shape: the contracts of ``pyproject.toml`` ([tool.importlinter]),
checked by import-linter on every test run. No database needed.

- the web (``api``) above the tiles, the tiles above the layer catalog (``capas``), the
  catalog above the engine (``geoportal``): nothing imports upwards;
- inside ``api``: the application and the router aggregator above the two wings, the
  wings above the shared base; the public wing never imports the institutional one;
- no import cycles among the modules of any package.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.rutas import RAIZ

ROOT = RAIZ


def test_the_import_contracts_of_pyproject_hold():
    tool = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(tool) if tool.exists() else "lint-imports", "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_ruff_finds_nothing_to_lint_or_format():
    """``ruff check`` and ``ruff format --check`` clean ([tool.ruff] of pyproject.toml)."""
    tool = Path(sys.executable).with_name("ruff")
    ruff = str(tool) if tool.exists() else "ruff"
    for args in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
        result = subprocess.run([ruff, *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0, " ".join(args) + "\n" + result.stdout[-4000:] + result.stderr[-2000:]
