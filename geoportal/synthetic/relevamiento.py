"""Survey coverage of the synthetic FIPS: which households of the full population are surveyed.

The real FIPS does not reach everyone (Villeta: about a quarter of its households; Mesas
de Protección Social in 42 districts). The generator builds the **full** synthetic
population of each district, calibrated to the census, and then writes only the
surveyed part:

* **Share per district** from ``geoportal/catalogo/cobertura_relevamiento.csv`` (documented
  in its header, editable, or another file with the same columns): the most specific row
  wins (district code, then department code, then ``*``); the share is uniform between
  ``minimo`` and ``maximo``, and zero with probability ``prob_sin_relevar``. The draws are
  a hash of (``semilla``, district code), so they do not depend on the batches. A number
  instead of a file gives every district that share (``1.0`` = the whole census).
* **Clustered like field work**: inside a district, whole localidades (settlement seeds)
  are surveyed in random order until the share is reached; in the last one a contiguous
  sector (by bearing around the locality point) is surveyed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from geoportal.settings import PACKAGE_DIR
from geoportal.synthetic.parametros import uniforme_hash

ARCHIVO_COBERTURA = PACKAGE_DIR / "catalogo" / "cobertura_relevamiento.csv"
_COLUMNAS = ("ambito", "minimo", "maximo", "prob_sin_relevar")

Cobertura = float | str | Path | None


def leer_cobertura(ruta: str | Path | None = None) -> pd.DataFrame:
    """The coverage table, validated; clear Spanish errors name the file and the row."""
    ruta = Path(ruta or ARCHIVO_COBERTURA)
    if not ruta.is_file():
        raise ValueError(f"No existe el archivo de cobertura del relevamiento: {ruta}.")
    try:
        tabla = pd.read_csv(ruta, comment="#", dtype={"ambito": str}, skipinitialspace=True)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{ruta}: no se pudo leer como CSV UTF-8 ({exc}).") from None
    faltan = [c for c in _COLUMNAS if c not in tabla.columns]
    if faltan:
        raise ValueError(f"{ruta}: faltan columnas: {', '.join(faltan)}.")
    tabla["ambito"] = tabla["ambito"].fillna("").astype(str).str.strip()
    for i, fila in enumerate(tabla.itertuples(index=False), start=1):
        where = f"{ruta}, fila {i} ({fila.ambito or 'vacía'})"
        if fila.ambito != "*" and not (fila.ambito.isdigit() and len(fila.ambito) in (2, 4)):
            raise ValueError(f"{where}: ambito debe ser *, un departamento (2 dígitos) o un distrito (4).")
        valores = [fila.minimo, fila.maximo, fila.prob_sin_relevar]
        if any(pd.isna(v) or not 0.0 <= float(v) <= 1.0 for v in valores):
            raise ValueError(f"{where}: minimo, maximo y prob_sin_relevar deben estar entre 0 y 1.")
        if float(fila.minimo) > float(fila.maximo):
            raise ValueError(f"{where}: minimo es mayor que maximo.")
    if tabla["ambito"].duplicated().any():
        dup = tabla.loc[tabla["ambito"].duplicated(), "ambito"].iloc[0]
        raise ValueError(f"{ruta}: el ambito {dup} aparece más de una vez.")
    return tabla


def cuotas(codigos: Sequence[str], semilla: int, cobertura: Cobertura = None) -> np.ndarray:
    """Surveyed share (0 to 1) of each district's households.

    ``cobertura``: a number (the same share everywhere; 1.0 = full census), a path to a
    coverage file, or ``None`` for the shipped file.
    """
    codigos = [str(c) for c in codigos]
    if isinstance(cobertura, (int, float)) and not isinstance(cobertura, bool):
        if not 0.0 <= float(cobertura) <= 1.0:
            raise ValueError("La cobertura del relevamiento debe estar entre 0 y 1.")
        return np.full(len(codigos), float(cobertura))
    tabla = leer_cobertura(cobertura).set_index("ambito")
    filas = []
    for c in codigos:
        key = c if c in tabla.index else c[:2] if c[:2] in tabla.index else "*"
        if key not in tabla.index:
            raise ValueError("El archivo de cobertura no tiene fila para el distrito " + c + " ni fila *.")
        filas.append(tabla.loc[key])
    minimo = np.array([float(f["minimo"]) for f in filas])
    maximo = np.array([float(f["maximo"]) for f in filas])
    sin = np.array([float(f["prob_sin_relevar"]) for f in filas])
    claves = np.array([int(c) for c in codigos], dtype=np.int64)
    share = minimo + uniforme_hash(semilla, claves, 1) * (maximo - minimo)
    return np.where(uniforme_hash(semilla, claves, 2) < sin, 0.0, share)


def relevados(
    rng: np.random.Generator,
    share: np.ndarray,
    h_d: np.ndarray,
    semilla: np.ndarray,
    localidad: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    s_lon: np.ndarray,
    s_lat: np.ndarray,
) -> np.ndarray:
    """Surveyed households (bool): whole localidades in random order, then one sector.

    ``h_d``: district position of each household (sorted); ``semilla``: its seed row;
    ``localidad``: group number of each seed (seeds of one district with one name);
    ``share``: surveyed share per district; ``s_lon``/``s_lat``: seed points.
    """
    H, D = len(h_d), len(share)
    if H == 0 or (share >= 1.0).all():
        return np.ones(H, dtype=bool)
    n_semillas = len(s_lon)
    orden_localidad = rng.random(int(localidad.max()) + 1)  # field-work order of localidades
    orden_semilla = rng.random(n_semillas)  # and of the places of one localidad
    giro = rng.uniform(0.0, 2.0 * np.pi, n_semillas)  # where the sector of the last one starts
    rumbo = np.mod(np.arctan2(lat - s_lat[semilla], lon - s_lon[semilla]) - giro[semilla], 2 * np.pi)
    orden = np.lexsort((rumbo, orden_semilla[semilla], orden_localidad[localidad[semilla]], h_d))
    H_d = np.bincount(h_d, minlength=D)
    inicio = np.r_[0, np.cumsum(H_d)[:-1]]
    rango = np.empty(H, dtype=np.int64)
    rango[orden] = np.arange(H) - inicio[h_d[orden]]
    meta = np.rint(share * H_d).astype(np.int64)
    return rango < meta[h_d]
