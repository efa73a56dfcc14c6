"""Targets (metas) per territory and Logro: an editable CSV a Mesa can change.

Columns: ``ambito`` (``PY``, a 2-digit department or a 4-digit district code),
``logro`` (1-10), ``meta_pct`` (0-100), ``anio``, ``nota``. The most specific target
applies: district over department over country. A bad file fails naming the file, the
row and the column.
"""

from __future__ import annotations

import functools
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

REQUIRED = ["ambito", "logro", "meta_pct"]


class MetasError(ValueError):
    """The targets file is invalid (Spanish message with file, row and column)."""


def load_targets(path: Path) -> pd.DataFrame:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MetasError(f"{path}: el archivo de metas no existe") from None
    return _parsed(path, data).copy()


@functools.lru_cache(maxsize=4)
def _parsed(path: Path, data: bytes) -> pd.DataFrame:
    """The targets of a file's contents (read again by every district update; parsed once)."""
    metas = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    missing = [c for c in REQUIRED if c not in metas.columns]
    if missing:
        raise MetasError(f"{path.name}: faltan columnas {', '.join(missing)}")
    for i, row in metas.iterrows():
        where = f"{path.name}, fila {i + 2}"
        if not re.fullmatch(r"PY|\d{2}|\d{4}", row["ambito"].strip()):
            raise MetasError(
                f"{where}, columna 'ambito': '{row['ambito']}' no es PY, un departamento (2 dígitos) ni un distrito (4)"
            )
        if not row["logro"].strip().isdigit() or not 1 <= int(row["logro"]) <= 10:
            raise MetasError(f"{where}, columna 'logro': debe ser un entero de 1 a 10")
        try:
            value = float(row["meta_pct"])
        except ValueError:
            raise MetasError(f"{where}, columna 'meta_pct': '{row['meta_pct']}' no es un número") from None
        if not 0 <= value <= 100:
            raise MetasError(f"{where}, columna 'meta_pct': debe estar entre 0 y 100")
    metas["ambito"] = metas["ambito"].str.strip()
    metas["logro"] = metas["logro"].astype(int)
    metas["meta_pct"] = metas["meta_pct"].astype(float)
    duplicated = metas.duplicated(["ambito", "logro"], keep=False)
    if duplicated.any():
        first = metas[duplicated].iloc[0]
        raise MetasError(f"{path.name}: meta repetida para ámbito {first['ambito']} y Logro {first['logro']}")
    return metas


def targets(metas: pd.DataFrame, logros: list[int], nivel, codigo) -> dict[int, np.ndarray]:
    """Each Logro's target for each territorial row (distrito/departamento/pais); NaN for H3 cells."""
    nivel = np.asarray(nivel, dtype=object)
    codigo = np.asarray(codigo, dtype=object).astype(str).astype(object)
    country, department, district = (nivel == "pais"), (nivel == "departamento"), (nivel == "distrito")
    dpto = np.where(department, codigo, pd.Series(codigo, dtype=object).str[:2].to_numpy(dtype=object))
    territorial = country | department | district
    table = metas.pivot(index="ambito", columns="logro", values="meta_pct")  # scope x Logro
    values = np.full((len(table.index) + 1, len(table.columns) + 1), np.nan)  # last row, column: no target
    values[:-1, :-1] = table.to_numpy(dtype=float)
    national, of_department, of_district = (table.index.get_indexer(s) for s in (["PY"], dpto, codigo))
    out = {}
    for logro in logros:
        j = table.columns.get_indexer([logro])[0]
        goal = np.full(len(nivel), values[national[0], j])
        goal = np.where(~country & ~np.isnan(values[of_department, j]), values[of_department, j], goal)
        goal = np.where(district & ~np.isnan(values[of_district, j]), values[of_district, j], goal)
        out[logro] = np.where(territorial, goal, np.nan)
    return out
