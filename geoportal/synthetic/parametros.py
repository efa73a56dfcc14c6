"""Shared constants of the synthetic FIPS: scope, reference date, file columns, regions."""

from __future__ import annotations

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
    "referencia",
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


def uniforme_hash(semilla: int, claves: np.ndarray, sal: int) -> np.ndarray:
    """Uniform [0, 1) per (semilla, integer key, sal) (splitmix64).

    Used for per-district draws, so they do not depend on how districts are batched.
    """
    z = np.asarray(claves, dtype=np.uint64) * np.uint64(1_000_003)
    z = z + np.uint64((semilla * 0x9E3779B97F4A7C15 + sal * 0xD1B54A32D192ED03) % 2**64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53)
