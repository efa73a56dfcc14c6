"""The rows of a bulk contrarreferencias file, checked before any referral is looked up.

An institution uploads ``derivacion_id, resultado, fecha`` and optionally ``punto_id,
nota`` (``POST /api/derivaciones/contrarreferencias``, docs/FORMATOS.md). Every row read
is counted: it is applied, unchanged, or quarantined with one reason code of ``MOTIVOS``
(the first it fails). This module holds the checks that need no database (text, numbers,
outcome, date) and the rule that refuses a file of mostly invalid rows; the checks
against the referrals the institution may see run in the API, inside its RLS-scoped
transaction (``api.institucional.contrarreferencias``).

Example::

    reading = read_rows(path)
    rows, checked = check_rows(reading.frame, date.today())
    refused = refusal(invalid=(~checked.ok).sum() + len(reading.malformed), read=reading.rows)
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from geoportal.ingest import validate as v

COLUMNS = ("derivacion_id", "resultado", "fecha")
OPTIONAL = ("punto_id", "nota")
RESULTADOS = ("entregada", "no_entregada", "no_localizada")
LIMITES = {"derivacion_id": 18, "resultado": 40, "fecha": 40, "punto_id": 64, "nota": 500}
MOTIVOS = {
    "fila_mal_formada": v.MOTIVOS["fila_mal_formada"],
    "caracteres_invalidos": v.MOTIVOS["caracteres_invalidos"],
    "texto_demasiado_largo": v.MOTIVOS["texto_demasiado_largo"],
    "derivacion_id_invalido": "derivacion_id no es un número entero",
    "resultado_invalido": "resultado no válido (entregada, no_entregada, no_localizada)",
    "fecha_invalida": "fecha no válida o futura (AAAA-MM-DD)",
    "derivacion_inexistente": "derivación inexistente o no dirigida a su institución",
    "fecha_anterior_a_la_derivacion": "fecha anterior a la derivación",
    "punto_invalido": "el punto de entrega no existe o no presta el servicio derivado",
    "repetida_con_otro_resultado": "derivación repetida en el archivo con otro resultado",
    "ya_tiene_contrarreferencia": "la derivación ya tiene su contrarreferencia (con otro resultado)",
}
# A file refused as a whole rather than quarantined row by row: more than REFUSE_SHARE of
# its rows invalid, once it has more than REFUSE_MIN invalid rows. A handful of bad rows
# in a short file is ordinary (quarantined, the rest applied); thousands of them mean the
# wrong file or the wrong columns, and 150,000 quarantine rows help nobody.
REFUSE_MIN = 100
REFUSE_SHARE = 0.5


def refusal(invalid: int, read: int) -> str | None:
    """The Spanish reason to refuse a whole file, or None to load it row by row."""
    if invalid > REFUSE_MIN and invalid > REFUSE_SHARE * read:
        return (
            f"El archivo no se cargó: {invalid:,} de sus {read:,} filas no son válidas (más de la mitad). "
            "Revise que sea el archivo de contrarreferencias y sus columnas "
            "(derivacion_id, resultado, fecha)."
        ).replace(",", ".")
    return None


def check_rows(frame: pd.DataFrame, today: date) -> tuple[pd.DataFrame, v.Checked]:
    """Typed rows (``derivacion_id`` int, ``resultado``, ``fecha`` date, ``punto_id``,
    ``nota``) and the reason of each row that fails a check needing no database."""
    for column in OPTIONAL:
        if column not in frame:
            frame = frame.assign(**{column: ""})
    checked = v.Checked.empty(len(frame))
    v.check_characters(frame[list(COLUMNS + OPTIONAL)], checked)
    _check_lengths(frame, checked)
    ids = frame["derivacion_id"].astype(str)
    numeric = ids.str.fullmatch(r"\d{1,18}").to_numpy(dtype=bool)
    checked.flag(~numeric, "derivacion_id_invalido", MOTIVOS["derivacion_id_invalido"])
    resultado = frame["resultado"].astype(str).str.lower()
    checked.flag(~resultado.isin(RESULTADOS).to_numpy(dtype=bool), "resultado_invalido", MOTIVOS["resultado_invalido"])
    when = pd.to_datetime(
        frame["fecha"].where(frame["fecha"].str.fullmatch(r"\d{4}-\d{2}-\d{2}"), None),
        format="%Y-%m-%d",
        errors="coerce",
    )
    bad_date = when.isna().to_numpy() | (when > pd.Timestamp(today)).to_numpy()
    checked.flag(bad_date, "fecha_invalida", MOTIVOS["fecha_invalida"])
    rows = pd.DataFrame(
        {
            "derivacion_id": np.where(numeric, pd.to_numeric(ids.where(numeric, "0")), 0).astype(np.int64),
            "resultado": resultado,
            "fecha": [d.date() if not pd.isna(d) else None for d in when],
            "punto_id": frame["punto_id"].astype(str),
            "nota": frame["nota"].astype(str),
        }
    )
    return rows, checked


def _check_lengths(frame: pd.DataFrame, checked: v.Checked) -> None:
    for column, limit in LIMITES.items():
        length = frame[column].astype(str).str.len().to_numpy()
        long = length > limit
        detail = np.full(len(frame), "", dtype=object)
        detail[long] = [
            f"'{column}' tiene {n:,} caracteres; el máximo es {limit}".replace(",", ".") for n in length[long]
        ]
        checked.flag(long, "texto_demasiado_largo", detail)
