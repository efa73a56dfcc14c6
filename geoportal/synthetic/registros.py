"""The synthetic generator's record types, shared by its modules: persons and households
as column arrays (one entry per unit, in district order), a batch's settlement seeds, and
the real inputs of all 263 districts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Personas:
    d: np.ndarray  # district position in the selection (int32)
    sexo: np.ndarray  # 0 = M, 1 = F (int8)
    edad: np.ndarray  # completed years at the household's interview date (int16)


@dataclass
class Hogares:
    d: np.ndarray  # district position (int32), sorted
    urbana: np.ndarray  # bool
    indigena: np.ndarray  # bool
    tamano: np.ndarray  # members (int32)
    inicio: np.ndarray  # position of the head in the person arrays (int64)
    semilla: np.ndarray  # settlement seed (row of the batch's seed table)


@dataclass(frozen=True)
class Insumos:
    """Real inputs and settlement seeds of all 263 districts, built once per process."""

    censo: pd.DataFrame  # census + crosswalk + poly key, seat, urban/indigenous shares
    poligonos: dict[str, object]  # "0101" (2012 district) or "D:01" (department) -> geometry
    semillas: pd.DataFrame  # codigo, lon, lat, nombre, w_u, w_r, w_i, esc_u, esc_r, esc_i


@dataclass
class SemillasLote:
    """Seeds of a batch of districts, sorted by district position ``d``."""

    d: np.ndarray
    tabla: pd.DataFrame
