"""Targets (metas) per territory and Logro: an editable CSV a Mesa can change.

Columns: ``ambito`` (``PY``, a 2-digit department or a 4-digit district code),
``logro`` (1-10), ``meta_pct`` (0-100), ``anio``, ``nota``. The most specific target
applies: district over department over country. A bad file fails naming the file, the
row and the column.
"""

from __future__ import annotations

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
        metas = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise MetasError(f"{path}: el archivo de metas no existe") from None
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


def targets(metas: pd.DataFrame, logros: list[int], nivel: pd.Series, codigo: pd.Series) -> dict[int, np.ndarray]:
    """Each Logro's target for each territorial row (distrito/departamento/pais); NaN for H3 cells."""
    nivel = nivel.to_numpy(dtype=object)
    codigo = codigo.astype(str).to_numpy(dtype=object)
    country, department, district = (nivel == "pais"), (nivel == "departamento"), (nivel == "distrito")
    dpto = np.where(department, codigo, pd.Series(codigo, dtype=object).str[:2].to_numpy(dtype=object))
    territorial = country | department | district
    out = {}
    for logro in logros:
        by_scope = metas[metas["logro"] == logro].set_index("ambito")["meta_pct"]
        national = float(by_scope.get("PY", np.nan))
        scopes = pd.Index(by_scope.index)
        values = np.r_[by_scope.to_numpy(dtype=float), np.nan]  # position -1: no target of that scope
        goal = np.full(len(nivel), national)
        of_department = values[scopes.get_indexer(dpto)]
        goal = np.where(~country & ~np.isnan(of_department), of_department, goal)
        of_district = values[scopes.get_indexer(codigo)]
        goal = np.where(district & ~np.isnan(of_district), of_district, goal)
        out[logro] = np.where(territorial, goal, np.nan)
    return out
