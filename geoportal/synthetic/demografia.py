"""Persons by district, sex and single year of age; ages and dates."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from geoportal.synthetic.parametros import EDAD_MAXIMA, _tabla_edad
from geoportal.synthetic.registros import Personas

# Age-specific fertility rates of Paraguay (births per woman per year), rounded from the
# UN World Population Prospects 2022 estimates for 2020-2025 (TFR about 2.4; adolescent
# rate about 70 per 1,000). Only the SHAPE is used: the level is set per district so
# that births per year equal the district's age-0 cohort (census-calibrated), and the
# women pregnant at the interview are ``_GESTACION`` x births per year (a pregnancy lasts
# about 0.75 year; about 7 % are not yet declared in the first weeks). So pregnant /
# age 0 is about 0.70. Indigenous women: x1.4 (higher fertility, 2012 indigenous census).
_ASFR = _tabla_edad(
    (
        (15, 19, 0.070),
        (20, 24, 0.135),
        (25, 29, 0.120),
        (30, 34, 0.090),
        (35, 39, 0.052),
        (40, 44, 0.016),
        (45, 49, 0.003),
    )
)
_GESTACION = 0.70
_FACTOR_INDIGENA = 1.4
_TASA_DISCAPACIDAD = _tabla_edad(
    (
        (0, 4, 0.015),
        (5, 14, 0.035),
        (15, 29, 0.04),
        (30, 44, 0.05),
        (45, 59, 0.09),
        (60, 74, 0.17),
        (75, EDAD_MAXIMA, 0.32),
    )
)


def _edad_pesos(lam: np.ndarray, mujer: bool) -> np.ndarray:
    """(D, 86) weights of ages 15..100 given each district's decline rate ``lam``."""
    a = np.arange(15, EDAD_MAXIMA + 1, dtype=float)
    hazard0, g = 6e-5 * (0.7 if mujer else 1.3), 0.088
    surv = np.exp(-(hazard0 / g) * (np.exp(g * a) - np.exp(g * 15.0)))
    return np.exp(-lam[:, None] * (a - 15.0)[None, :]) * surv[None, :]


def _resolver_lambda(n014, n15_h, n15_m, mediana) -> np.ndarray:
    """Bisection (vectorized over districts) so the interpolated median is ``mediana + 0.5``."""
    total = n014 + n15_h + n15_m
    m = np.clip(mediana.astype(int), 15, EDAD_MAXIMA)
    ages = np.arange(15, EDAD_MAXIMA + 1)
    below = (ages[None, :] < m[:, None]) + 0.5 * (ages[None, :] == m[:, None])

    def excess(lam):
        wh, wm = _edad_pesos(lam, False), _edad_pesos(lam, True)
        under_h = (wh * below).sum(1) / wh.sum(1)
        under_m = (wm * below).sum(1) / wm.sum(1)
        return (n014 + n15_h * under_h + n15_m * under_m) / total - 0.5

    lo, hi = np.full(len(total), -0.08), np.full(len(total), 0.25)
    for _ in range(50):
        mid = (lo + hi) / 2
        young = excess(mid) > 0  # too young: lower lambda
        hi, lo = np.where(young, mid, hi), np.where(young, lo, mid)
    return (lo + hi) / 2


def prob_embarazo(d: np.ndarray, edad: np.ndarray, mujer: np.ndarray, indigena: np.ndarray, D: int) -> np.ndarray:
    """Probability of being pregnant at the interview, by the fertility schedule.

    Scaled per district (positions ``d``) so that the expected pregnant women are
    ``_GESTACION`` x the district's persons aged 0 (births of one year).
    """
    w = _ASFR[edad] * mujer * np.where(indigena, _FACTOR_INDIGENA, 1.0)
    nacimientos = np.bincount(d[edad == 0], minlength=D).astype(float)
    k = _GESTACION * nacimientos / np.maximum(np.bincount(d, weights=w, minlength=D), 1e-9)
    return np.minimum(0.6, w * k[d])


def tabla_nacimientos(hoy: date, dias_antes: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last birth day (days since 1970) giving ``edad`` completed years at the
    interview ``hoy - k`` days, as two (dias_antes + 1, EDAD_MAXIMA + 1) tables [k, edad]."""
    epoch = date(1970, 1, 1)
    lower = np.empty((dias_antes + 1, EDAD_MAXIMA + 1), dtype=np.int64)
    upper = np.empty_like(lower)
    for k in range(dias_antes + 1):
        fecha = hoy - timedelta(days=k)
        for a in range(EDAD_MAXIMA + 1):
            upper[k, a] = (_menos_anios(fecha, a) - epoch).days  # birthday on the interview
            lower[k, a] = (_menos_anios(fecha, a + 1) - epoch).days + 1
    return lower, upper


def fechas_nacimiento(
    rng: np.random.Generator, edad: np.ndarray, k: np.ndarray, tablas: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """Birth dates (days since 1970), uniform among those giving ``edad`` completed years at
    each person's interview (``k`` days before ``hoy``): nobody is born after it."""
    lower, upper = tablas[0][k, edad], tablas[1][k, edad]
    return (lower + (rng.random(len(edad)) * (upper - lower + 1)).astype(np.int64)).astype(np.int32)


def _menos_anios(hoy: date, years: int) -> date:
    try:
        return hoy.replace(year=hoy.year - years)
    except ValueError:  # 29 February
        return hoy.replace(year=hoy.year - years, day=28)


def _edad_en(nacimiento: np.ndarray, fecha: np.ndarray) -> np.ndarray:
    """Completed years at ``fecha`` of persons born on ``nacimiento`` (days since 1970)."""
    born = np.asarray(nacimiento).astype("datetime64[D]")
    at = np.asarray(fecha).astype("datetime64[D]")

    def parts(d):
        month = d.astype("datetime64[M]")
        year = month.astype("datetime64[Y]")
        return (
            year.astype(np.int64),
            (month - year).astype(np.int64) * 32 + (d - month).astype(np.int64),
        )

    by, bmd = parts(born)
    ay, amd = parts(at)
    return (ay - by - (bmd > amd)).astype(np.int16)


def _poblacion(sel: pd.DataFrame, rng: np.random.Generator) -> Personas:
    """Persons by district, sex and single year, matching the census bands exactly."""
    D, A = len(sel), EDAD_MAXIMA + 1

    def col(c: str) -> np.ndarray:
        return sel[c].to_numpy(np.int64)

    tot = {0: col("pob_hombres"), 1: col("pob_mujeres")}
    n5 = {0: col("pob_5ymas_hombres"), 1: col("pob_5ymas_mujeres")}
    n15 = {0: col("pob_15ymas_hombres"), 1: col("pob_15ymas_mujeres")}
    n014 = tot[0] - n15[0] + tot[1] - n15[1]
    lam = _resolver_lambda(n014, n15[0], n15[1], sel["edad_mediana"].to_numpy(float))
    lam_c = np.clip(lam, -0.01, 0.03)
    counts = np.zeros((D, 2, A), dtype=np.int64)
    for s in (0, 1):
        bands = (
            (np.arange(0, 5), tot[s] - n5[s], np.exp(-lam_c[:, None] * np.arange(5)[None, :])),
            (np.arange(5, 15), n5[s] - n15[s], np.exp(-lam_c[:, None] * np.arange(10)[None, :])),
            (np.arange(15, A), n15[s], _edad_pesos(lam, mujer=s == 1)),
        )
        for ages, n, w in bands:
            if (n < 0).any():
                raise ValueError("censo inconsistente: un grupo de edad es negativo")
            counts[:, s, ages] = rng.multinomial(n, w / w.sum(1, keepdims=True))
    flat = counts.reshape(-1)
    grid_d, grid_s, grid_a = np.meshgrid(np.arange(D), np.arange(2), np.arange(A), indexing="ij")
    return Personas(
        d=np.repeat(grid_d.reshape(-1).astype(np.int32), flat),
        sexo=np.repeat(grid_s.reshape(-1).astype(np.int8), flat),
        edad=np.repeat(grid_a.reshape(-1).astype(np.int16), flat),
    )
