"""The progress callback every long computation accepts (ingest, synthetic generator,
national computation): ``progreso(etapa, fraccion)`` with the stage's Spanish name and the
fraction done, 0 to 1. The CLI draws it as a rich progress bar."""

from __future__ import annotations

from collections.abc import Callable

Progreso = Callable[[str, float], None]
