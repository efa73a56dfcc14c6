"""Shared constants of the synthetic FIPS: scope, reference date, file columns, regions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import numpy as np

PILOTOS: tuple[str, ...] = ("1116", "1602", "0607", "0218")
FECHA_REFERENCIA = date(2026, 1, 1)
EDAD_MAXIMA = 100

COLUMNAS_HOGARES = (
    "hogar_id",
    "codigo_distrito",
    "localidad",
    "zona",
    "fecha_relevamiento",
    "lat",
    "lon",
    "servicios",
    "origen",
)
COLUMNAS_PERSONAS = (
    "persona_id",
    "hogar_id",
    "nombres",
    "apellidos",
    "sexo",
    "fecha_nacimiento",
    "embarazada",
    "discapacidad",
    "indigena",
    "servicios",
    "origen",
)

Progreso = Callable[[str, float], None]

# ---------------------------------------------------------------------------- parameters
_INDIGENA_DPTO = {
    "16": 0.40,
    "15": 0.30,
    "17": 0.20,
    "14": 0.07,
    "13": 0.05,
    "01": 0.02,
    "02": 0.02,
    "05": 0.02,
    "10": 0.015,
    "04": 0.01,
    "06": 0.01,
    "07": 0.005,
}
_INDIGENA_RESTO = 0.002
_CHACO = ("15", "16", "17")


def _tabla_edad(tramos) -> np.ndarray:
    t = np.zeros(EDAD_MAXIMA + 1)
    for a0, a1, rate in tramos:
        t[a0 : a1 + 1] = rate
    return t
