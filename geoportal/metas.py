"""Targets (metas) per territory and Logro: an editable CSV a Mesa can change.

Columns: ``ambito`` (``PY``, a 2-digit department or a 4-digit district code),
``logro`` (1-10), ``meta_pct`` (0-100), ``anio``, ``nota``. The most specific target
applies: district over department over country. A bad file fails naming the file, the
row and the column.
"""

from __future__ import annotations

import re
from pathlib import Path

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


def target_for(metas: pd.DataFrame, logro: int, nivel: pd.Series, codigo: pd.Series) -> pd.Series:
    """Target of each territorial row (distrito/departamento/pais); NaN for H3 cells."""
    by_scope = metas[metas["logro"] == logro].set_index("ambito")["meta_pct"]
    national = by_scope.get("PY", float("nan"))
    dpto = codigo.where(nivel == "departamento", codigo.str[:2])
    goal = pd.Series(national, index=nivel.index, dtype=float)
    goal = goal.where(nivel == "pais", dpto.map(by_scope).fillna(national))
    district = nivel == "distrito"
    goal[district] = codigo[district].map(by_scope).fillna(goal[district])
    return goal.where(nivel.isin(["distrito", "departamento", "pais"]))
