"""The generator: batches of districts, computed in two threads and written in order."""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from geoportal import geodesia
from geoportal.catalog import Catalogo, default_catalog
from geoportal.progreso import Progreso
from geoportal.synthetic.demografia import (
    _TASA_DISCAPACIDAD,
    _poblacion,
    fechas_nacimiento,
    prob_embarazo,
    tabla_nacimientos,
)
from geoportal.synthetic.escritura import (
    _bits_column,
    _date_column,
    _dict_column,
    _id_array,
    _id_bytes,
    _write,
)
from geoportal.synthetic.hogares import _formar_hogares, submuestra
from geoportal.synthetic.lugares import _seleccion, _semillas_lote, _ubicar, insumos
from geoportal.synthetic.nombres_personas import _APELLIDOS, _NOMBRES_F, _NOMBRES_M, _draw, _urna
from geoportal.synthetic.parametros import _CHACO, FECHA_REFERENCIA
from geoportal.synthetic.registros import Insumos
from geoportal.synthetic.relevamiento import Cobertura, cuotas, relevados
from geoportal.synthetic.servicios import (
    _MEZCLA_HOGAR,
    _MEZCLA_PERSONA,
    _cubiertos,
    _factor_edad,
    _pro_pobre,
    _prob_hogar,
    efectos_distrito,
)


# ---------------------------------------------------------------------------- generator
@dataclass(frozen=True)
class _Contexto:
    """What every batch of districts shares: catalog services, points, names, dates."""

    hoy: date
    semilla: int
    nacimientos: tuple[np.ndarray, np.ndarray]  # birth-day bounds by interview day and age
    serv_p: tuple
    serv_h: tuple
    puntos: dict[str, geodesia.NearestIndex]  # point type -> index of its points
    labels_nombres: list[str]
    labels_apellidos: list[str]


_DIAS_RELEVAMIENTO = 330  # interviews fall in the 330 days before ``hoy``
_LOTE_PERSONAS = 400_000  # districts are processed in batches of about this many persons


def _lote(sel: pd.DataFrame, ins: Insumos, ctx: _Contexto, rng: np.random.Generator):
    """Households and persons of a batch of whole districts, as two Arrow tables."""
    D = len(sel)
    sem = _semillas_lote(sel, ins)
    # The full population of the batch, calibrated to the census (ages are completed years
    # at each household's interview date) ...
    per = _poblacion(sel, rng)
    per, hog = _formar_hogares(sel, per, sem, rng)
    H = len(hog.d)
    lon, lat = _ubicar(sel, ins, hog, sem, rng)
    serial = np.arange(H) - np.searchsorted(hog.d, np.arange(D))[hog.d] + 1  # full listing
    hh = np.repeat(np.arange(H, dtype=np.int32), hog.tamano)
    p_embarazo = prob_embarazo(per.d, per.edad, per.sexo == 1, hog.indigena[hh], D)
    # ... of which only the surveyed households are written (survey coverage model).
    keep = relevados(
        rng,
        sel["cobertura"].to_numpy(float),
        hog.d,
        hog.semilla,
        pd.MultiIndex.from_arrays([sem.d, sem.tabla["nombre"]]).factorize()[0],
        lon,
        lat,
        sem.tabla["lon"].to_numpy(float),
        sem.tabla["lat"].to_numpy(float),
    )
    if not keep.all():
        p_embarazo = p_embarazo[keep[hh]]
        per, hog = submuestra(per, hog, keep)
        lon, lat, serial = lon[keep], lat[keep], serial[keep]
        H = len(hog.d)
        hh = np.repeat(np.arange(H, dtype=np.int32), hog.tamano)
    N = len(per.d)

    # ------------------------------------------------------------ dates and attributes
    epoch = date(1970, 1, 1)
    antes = rng.integers(1, _DIAS_RELEVAMIENTO + 1, H)  # interview: days before ``hoy``
    survey = ((ctx.hoy - epoch).days - antes).astype(np.int32)
    # Births consistent with the interview: the drawn age is the completed years at the
    # household's interview date, and nobody is born after it.
    nacimiento = fechas_nacimiento(rng, per.edad, antes[hh], ctx.nacimientos)
    edad = per.edad

    mujer = per.sexo == 1
    indigena = hog.indigena[hh]
    embarazada = rng.random(N) < p_embarazo
    discapacidad = rng.random(N) < _TASA_DISCAPACIDAD[edad]
    efectos = efectos_distrito(ctx.semilla, sel["codigo"].tolist())

    # ------------------------------------------------------------ service statuses
    chaco = np.isin(sel["dpto"].to_numpy(str), _CHACO)[hog.d]
    privacion = rng.random(H)  # household deprivation uniform (higher = more deprived)
    xyz = geodesia.unit_vectors(lon, lat)
    seed_xyz = geodesia.unit_vectors(sem.tabla["lon"].to_numpy(float), sem.tabla["lat"].to_numpy(float))
    dist_cache: dict[str, np.ndarray] = {}

    def distancia(tipo: str, need: np.ndarray) -> np.ndarray:
        """km from households to the nearest point of ``tipo``; inf if none or not ``need``."""
        if tipo not in dist_cache:
            dist_cache[tipo] = np.full(H, np.inf)
        out = dist_cache[tipo]
        index = ctx.puntos.get(tipo)
        todo = np.flatnonzero(need & np.isinf(out))
        if index is not None and len(index) and len(todo):
            out[todo] = index.query_clustered(xyz[todo], seed_xyz, hog.semilla[todo])[0]
        return out

    marco = pd.DataFrame(
        {
            "edad": edad,
            "sexo": pd.Categorical.from_codes(per.sexo, ["M", "F"]),
            "embarazada": embarazada,
            "discapacidad": discapacidad,
            "indigena": indigena,
        },
        copy=False,
    )
    aplica = [np.flatnonzero(serv.aplica.applies(marco)) for serv in ctx.serv_p]
    del marco
    # Households that need each point type (the distance query is the costly part).
    necesita: dict[str, np.ndarray] = {}
    for serv, rows in zip(ctx.serv_p, aplica):
        if serv.punto_tipo and len(rows):
            need = necesita.setdefault(serv.punto_tipo, np.zeros(H, dtype=bool))
            need[hh[rows]] = True
    bits_p = np.zeros(N, dtype=np.int64)
    for j, (serv, rows) in enumerate(zip(ctx.serv_p, aplica)):
        if not len(rows):
            continue
        h = hh[rows]
        dist = distancia(serv.punto_tipo, necesita[serv.punto_tipo]) if serv.punto_tipo else None
        p = _prob_hogar(serv, dist, hog, chaco, efectos)[h] * _factor_edad(serv.codigo)[edad[rows]]
        covered = _cubiertos(rng, p, privacion[h], _MEZCLA_PERSONA, _pro_pobre(serv.codigo, serv.punto_tipo))
        bits_p[rows[covered]] |= np.int64(1) << j
    del aplica, necesita

    head = hog.inicio
    marco_h = pd.DataFrame(
        {
            "edad": edad[head],
            "sexo": pd.Categorical.from_codes(per.sexo[head], ["M", "F"]),
            "embarazada": embarazada[head],
            "discapacidad": discapacidad[head],
            "indigena": hog.indigena,
        },
        copy=False,
    )
    bits_h = np.zeros(H, dtype=np.int64)
    for j, serv in enumerate(ctx.serv_h):
        applies = serv.aplica.applies(marco_h)
        rows = np.flatnonzero(applies)
        if not len(rows):
            continue
        dist = distancia(serv.punto_tipo, applies) if serv.punto_tipo else None
        p = _prob_hogar(serv, dist, hog, chaco, efectos)[rows]
        covered = _cubiertos(rng, p, privacion[rows], _MEZCLA_HOGAR, _pro_pobre(serv.codigo, serv.punto_tipo))
        bits_h[rows[covered]] |= np.int64(1) << j
    dist_cache.clear()

    # ------------------------------------------------------------ names
    nf, nm, ns = len(_NOMBRES_F), len(_NOMBRES_M), len(_APELLIDOS)
    nombre_idx = np.empty(N, dtype=np.int64)
    for idx, n_names, offset in (
        (np.flatnonzero(mujer), nf, 0),
        (np.flatnonzero(~mujer), nm, nf * (nf + 1)),
    ):
        urna = _urna(n_names)
        a = _draw(rng, urna, len(idx))
        b = _draw(rng, urna, len(idx))
        b = np.where(b == a, (b + 1) % n_names, b)
        b = np.where(rng.random(len(idx)) < 0.55, b, -1)  # 55 % have a second given name
        nombre_idx[idx] = offset + a * (n_names + 1) + (b + 1)
    urna_s = _urna(ns)
    s_hog = _draw(rng, urna_s, H)
    s1 = _draw(rng, urna_s, N)
    keep = rng.random(N) < 0.75  # most members carry the head's first surname
    keep[head] = True
    s1 = np.where(keep, s_hog[hh], s1)
    s2 = _draw(rng, urna_s, N)
    s2 = np.where(s2 == s1, (s2 + 1) % ns, s2)

    # ------------------------------------------------------------ tables
    codigos = sel["codigo"].to_numpy(str)
    pref_d = np.frombuffer("".join("H" + c for c in codigos).encode("ascii"), np.uint8).reshape(D, 5)
    hid = _id_bytes(pref_d[hog.d], serial, 6)
    pid = _id_bytes(hid[hh], np.arange(N) - hog.inicio[hh] + 1, 2, b"-")
    hogar_id = _id_array(hid)
    hogares = pa.table(
        {
            "hogar_id": hogar_id,
            "codigo_distrito": _dict_column(hog.d, codigos),
            "localidad": _dict_column(hog.semilla, sem.tabla["nombre"].tolist()),
            "zona": _dict_column(hog.urbana, ["rural", "urbana"]),
            "fecha_relevamiento": _date_column(survey),
            "lat": pa.array(lat),
            "lon": pa.array(lon),
            "servicios": _bits_column(bits_h, [s.codigo for s in ctx.serv_h]),
            "origen": _dict_column(np.zeros(H, np.int8), ["sintetico"]),
            "referencia": _dict_column(_referencia(serial, hog.d), _REFERENCIAS),
        }
    )
    personas = pa.table(
        {
            "persona_id": _id_array(pid),
            "hogar_id": hogar_id.take(pa.array(hh)),
            "nombres": _dict_column(nombre_idx, ctx.labels_nombres),
            "apellidos": _dict_column(s1 * ns + s2, ctx.labels_apellidos),
            "sexo": _dict_column(per.sexo, ["M", "F"]),
            "fecha_nacimiento": _date_column(nacimiento),
            "embarazada": _dict_column(embarazada, ["no", "si"]),
            "discapacidad": _dict_column(discapacidad, ["no", "si"]),
            "indigena": _dict_column(indigena, ["no", "si"]),
            "servicios": _bits_column(bits_p, [s.codigo for s in ctx.serv_p]),
            "origen": _dict_column(np.zeros(N, np.int8), ["sintetico"]),
        }
    )
    return hogares, personas


# The FIPS address / reference text of a dwelling, synthetic and labelled so: a house number
# and a landmark, as a field listing writes them where streets have no names (no comma:
# the generator writes its CSV unquoted).
_HITOS = (
    "frente a la capilla",
    "al lado del almacén",
    "cerca de la escuela",
    "detrás de la cancha",
    "esquina del puesto de salud",
    "a media cuadra de la ruta",
    "pasando el arroyo",
    "junto al tanque de agua",
)
_CASAS = 300
_REFERENCIAS = [f"Ref. sintética: casa n.º {n} {h}" for n in range(1, _CASAS + 1) for h in _HITOS]


def _referencia(serial: np.ndarray, distrito: np.ndarray) -> np.ndarray:
    """Index into ``_REFERENCIAS`` of each household, a fixed function of its listing number
    and district (no draw from the generator's stream, so every other column is unchanged)."""
    n = (serial.astype(np.int64) * 7919 + distrito.astype(np.int64) * 104729) % _CASAS
    h = (serial.astype(np.int64) * 31 + distrito.astype(np.int64)) % len(_HITOS)
    return n * len(_HITOS) + h


def _lotes(pob: np.ndarray, limite: int) -> list[np.ndarray]:
    """Consecutive groups of districts with about ``limite`` persons each (at least one)."""
    groups, current, acc = [], [], 0
    for i, n in enumerate(pob):
        if current and acc + n > limite:
            groups.append(np.array(current))
            current, acc = [], 0
        current.append(i)
        acc += int(n)
    if current:
        groups.append(np.array(current))
    return groups


def generate(
    ambito: str | list[str],
    semilla: int,
    salida: Path,
    puntos: pd.DataFrame | None,
    hoy: date | None = None,
    progreso: Progreso | None = None,
    cobertura: Cobertura = 1.0,
) -> dict:
    """Write ``salida/hogares.csv`` and ``salida/personas.csv`` (synthetic FIPS); return counts.

    ``ambito``: ``"pilotos"`` (1116, 1602, 0607, 0218), ``"pais"`` (263 districts) or a list
    (or comma-separated string) of 2022 census district codes. ``puntos``: delivery points
    with columns ``punto_id, tipo, zona, capacidad, lat, lon``. ``hoy``: reference date of
    the survey period: interviews fall in the 330 days before it (default 2026-01-01).
    ``cobertura``: surveyed share, a number for every district (default 1.0: the whole
    census), or a coverage file path, or ``None`` for the shipped model
    (:mod:`geoportal.synthetic.relevamiento`). ``progreso(etapa, fraccion)`` is called as
    batches end.
    """
    hoy = hoy or FECHA_REFERENCIA
    salida = Path(salida)
    catalogo: Catalogo = default_catalog()
    ins = insumos()
    sel = _seleccion(ambito, ins.censo).copy()
    sel["cobertura"] = cuotas(sel["codigo"].tolist(), int(semilla), cobertura)
    if progreso is not None:
        progreso("datos", 0.02)

    pts = puntos if puntos is not None else pd.DataFrame({"tipo": [], "lat": [], "lon": []})
    por_tipo = {
        str(t): geodesia.NearestIndex(g["lon"].to_numpy(float), g["lat"].to_numpy(float))
        for t, g in pts.groupby("tipo", sort=True)
    }
    fips_p, fips_h = catalogo.codigos_fips("persona"), catalogo.codigos_fips("hogar")
    if max(len(fips_p), len(fips_h)) > 62:
        raise ValueError("el catálogo tiene más de 62 servicios FIPS por unidad")
    nf, nm = _NOMBRES_F, _NOMBRES_M
    ctx = _Contexto(
        hoy=hoy,
        semilla=int(semilla),
        nacimientos=tabla_nacimientos(hoy, _DIAS_RELEVAMIENTO),
        serv_p=tuple(s for s in catalogo.servicios if s.codigo in fips_p),
        serv_h=tuple(s for s in catalogo.servicios if s.codigo in fips_h),
        puntos=por_tipo,
        labels_nombres=[a if b < 0 else f"{a} {nf[b]}" for a in nf for b in range(-1, len(nf))]
        + [a if b < 0 else f"{a} {nm[b]}" for a in nm for b in range(-1, len(nm))],
        labels_apellidos=[f"{a} {b}" for a in _APELLIDOS for b in _APELLIDOS],
    )

    salida.mkdir(parents=True, exist_ok=True)
    ruta_h, ruta_p = salida / "hogares.csv", salida / "personas.csv"
    opts = pa_csv.WriteOptions(quoting_style="none", quoting_header="none", batch_size=1 << 16)
    pob = sel["pob_total"].to_numpy(np.int64)
    total, done, n_h, censados, hechos = int(pob.sum()), 0, 0, 0, 0
    lotes = _lotes(pob, _LOTE_PERSONAS)

    def calcular(k: int) -> tuple[pa.Table, pa.Table]:
        # Batch k draws from its own stream: PCG64(semilla) jumped k times, so the result
        # does not depend on how many batches run at once.
        rng = np.random.Generator(np.random.PCG64(semilla).jumped(k))
        return _lote(sel.iloc[lotes[k]].reset_index(drop=True), ins, ctx, rng)

    # Batches are computed by two threads (numpy, shapely, scipy and Arrow release the
    # GIL) and written in order by a third; at most three batches are held in memory.
    writers: dict[str, pa_csv.CSVWriter] = {}
    n_calc = 2 if len(lotes) > 1 else 1
    with (
        ThreadPoolExecutor(max_workers=n_calc) as calc,
        ThreadPoolExecutor(max_workers=1) as escritor,
    ):
        futures = deque(calc.submit(calcular, k) for k in range(min(n_calc, len(lotes))))
        siguiente, pending = len(futures), None
        try:
            while futures:
                hogares, personas = futures.popleft().result()
                if siguiente < len(lotes):
                    futures.append(calc.submit(calcular, siguiente))
                    siguiente += 1
                if not writers:
                    writers["h"] = pa_csv.CSVWriter(ruta_h, hogares.schema, write_options=opts)
                    writers["p"] = pa_csv.CSVWriter(ruta_p, personas.schema, write_options=opts)
                if pending is not None:
                    pending.result()
                pending = escritor.submit(_write, writers, hogares, personas)
                n_h += hogares.num_rows
                done += personas.num_rows
                censados += int(pob[lotes[hechos]].sum())
                hechos += 1
                if progreso is not None:
                    progreso("hogares y personas", 0.02 + 0.96 * censados / total)
            if pending is not None:
                pending.result()
        finally:
            for f in futures:
                f.cancel()
            for w in writers.values():
                w.close()
    if progreso is not None:
        progreso("listo", 1.0)
    return {
        "ambito": ambito if isinstance(ambito, str) else list(ambito),
        "semilla": int(semilla),
        "fecha_referencia": hoy.isoformat(),
        "distritos": len(sel),
        "hogares": n_h,
        "personas": done,
        "personas_censo": total,
        "cobertura_pct": round(100.0 * done / max(total, 1), 1),
        "hogares_csv": str(ruta_h),
        "personas_csv": str(ruta_p),
    }
