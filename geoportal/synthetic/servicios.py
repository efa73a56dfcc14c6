"""Service statuses (``servicios``) of persons and households."""

from __future__ import annotations

import zlib

import numpy as np
from scipy.special import ndtri

from geoportal.synthetic.parametros import EDAD_MAXIMA, uniforme_hash
from geoportal.synthetic.registros import Hogares

# Place-based services: (p_near, p_far, rural factor, indigenous factor).
_CON_PUNTO = {
    "CPN": (0.88, 0.50, 0.92, 0.80),
    "PARTO_INST": (0.98, 0.80, 0.95, 0.70),
    "INSCRIPCION_NAC": (0.97, 0.82, 0.96, 0.80),
    "VACUNAS": (0.85, 0.45, 0.92, 0.80),
    "CONTROL_CRECIMIENTO": (0.75, 0.35, 0.90, 0.80),
    "EDUC_INICIAL": (0.72, 0.35, 0.85, 0.70),
    "ESCOLAR_BASICA": (0.97, 0.80, 0.97, 0.85),
    "ESCOLAR_MEDIA": (0.82, 0.50, 0.85, 0.60),
    "CEDULA": (0.96, 0.80, 0.95, 0.75),
    "USF_ADSCRIPCION": (0.72, 0.25, 0.95, 0.85),
    "FORMACION_LABORAL": (0.12, 0.03, 0.70, 0.50),
    "SEGURO_SOCIAL": (0.38, 0.08, 0.55, 0.30),
}
_CON_PUNTO_DEFECTO = (0.70, 0.30, 0.90, 0.80)
# Other services: (p urban, p rural, indigenous factor, pro-poor).
_SIN_PUNTO = {
    "ABRAZO": (0.015, 0.006, 1.0, True),
    "PENSION_AM": (0.45, 0.60, 0.80, False),
    "PENSION_DISCAPACIDAD": (0.12, 0.10, 0.80, True),
    "AGUA": (0.93, 0.72, 0.55, False),
    "ELECTRICIDAD": (0.995, 0.955, 0.75, False),
    "SANEAMIENTO": (0.82, 0.50, 0.50, False),
    "VIVIENDA": (0.72, 0.50, 0.40, False),
    "TEKOPORA": (0.04, 0.18, 2.50, True),
    "ENT_CAMINO": (0.88, 0.32, 0.70, False),
}
_SIN_PUNTO_DEFECTO = (0.50, 0.40, 0.80, False)
# Share of a status draw taken from the household's deprivation uniform (correlation).
_MEZCLA_HOGAR = 0.6
_MEZCLA_PERSONA = 0.5


# District level (MODELLED; no open district indicator of these services was found in the
# data bundle): every district has its own level of each service, a random effect on the
# logit scale added to the urban / rural rate: a development component shared by all
# the district's services (sd ``_SD_DISTRITO``; reversed for pro-poor programmes, which
# reach more households where the others reach fewer) plus one per service (sd
# ``_SD_SERVICIO``). Drawn from a hash of (semilla, district, service), independent of
# the batches. With sd 0.57 in all, a 90 % rate ranges about 80-96 % across districts.
_SD_DISTRITO = 0.45
_SD_SERVICIO = 0.35


def efectos_distrito(semilla: int, codigos: list[str]) -> dict[str, np.ndarray]:
    """Logit shift per service code (looked up lazily) and district position."""
    claves = np.array([int(c) for c in codigos], dtype=np.int64)
    comun = _SD_DISTRITO * ndtri(np.clip(uniforme_hash(semilla, claves, 11), 1e-9, 1 - 1e-9))

    class _Efectos(dict):
        def __missing__(self, codigo: str) -> np.ndarray:
            sal = 1_000 + zlib.crc32(codigo.encode())
            u = np.clip(uniforme_hash(semilla, claves, sal), 1e-9, 1 - 1e-9)
            signo = -1.0 if _SIN_PUNTO.get(codigo, _SIN_PUNTO_DEFECTO)[3] else 1.0
            self[codigo] = signo * comun + _SD_SERVICIO * ndtri(u)
            return self[codigo]

    return _Efectos()


def _prob_hogar(serv, dist_km, hog: Hogares, chaco: np.ndarray, efectos=None) -> np.ndarray:
    """Marginal coverage probability of ``serv`` for each household (before age factors)."""
    rural = ~hog.urbana
    if serv.punto_tipo:
        near, far, f_rur, f_ind = _CON_PUNTO.get(serv.codigo, _CON_PUNTO_DEFECTO)
        R = np.where(rural, serv.radio_km.rural, serv.radio_km.urbana)
        p = far + (near - far) / (1.0 + (dist_km / R) ** 2)
        p = p * np.where(rural, f_rur, 1.0)
    else:
        pu, pr, f_ind, _ = _SIN_PUNTO.get(serv.codigo, _SIN_PUNTO_DEFECTO)
        p = np.where(rural, pr, pu)
    p = p * np.where(hog.indigena, f_ind, 1.0)
    if serv.codigo in ("AGUA", "ENT_CAMINO"):
        p = p * np.where(chaco & rural, 0.7, 1.0)
    elif serv.codigo == "VIVIENDA":
        p = p * np.where(hog.tamano >= 6, 0.7, 1.0)
    if efectos is not None:  # logit(p) + effect, as odds x exp(effect)
        e = np.exp(efectos[serv.codigo])[hog.d]
        p = p * e / (1.0 - p + p * e)
    return p


def _factor_edad(codigo: str) -> np.ndarray:
    f = np.ones(EDAD_MAXIMA + 1)
    if codigo == "INSCRIPCION_NAC":
        f[0] = 0.78  # late registration of babies
    elif codigo == "CEDULA":
        f[:10], f[10:18] = 0.55, 0.85
    elif codigo == "EDUC_INICIAL":
        f[4] = 0.75
    return f


def _pro_pobre(codigo: str, punto_tipo) -> bool:
    return (not punto_tipo) and _SIN_PUNTO.get(codigo, _SIN_PUNTO_DEFECTO)[3]


def _cubiertos(
    rng: np.random.Generator, p: np.ndarray, v_hogar: np.ndarray, mezcla: float, pro_pobre: bool
) -> np.ndarray:
    """Covered draws with marginal probability ``p``, correlated within households.

    The uniform compared with ``p`` is the household's deprivation uniform ``v_hogar``
    (reversed for pro-poor programmes) with probability ``mezcla``, else a fresh one; a
    mixture of uniforms is uniform, so the marginal stays exactly ``p``.
    """
    v = 1.0 - v_hogar if pro_pobre else v_hogar
    u = rng.random(len(p))
    # Below ``mezcla`` take the household's uniform; above it, rescale u to a fresh uniform.
    return np.where(u < mezcla, v, (u - mezcla) / (1.0 - mezcla)) < p
