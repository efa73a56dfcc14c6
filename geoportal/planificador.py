"""Investment planner (planificador): where to open the next k delivery points of a type.

A **maximal covering location problem** (MCLP, Church & ReVelle 1974) on the demand the
engine already computes:

- **Demand**: the units (persons and households) of the territory that lack a service the
  point type offers and have **no point of the type within the service's catchment**
  (*sin oferta*: an investment case, exactly the ``{servicio}_sin_oferta`` counts of the
  coverage engine), counted per (unit, service) and grouped into H3 resolution-8 cells
  (about 0.7 km², split by zone) located at the mean of their households. Read from the
  nominal tables inside a read-only transaction; it never leaves this module except as
  counts per proposed site.
- **Candidates**: the centres of the res-8 cells of the territory where surveyed
  households live (``h3``), the real locality points of ``territorio.lugar``
  (``localidades``), or a CSV file with ``lon,lat[,nombre]`` columns.
- A candidate **covers** a demand cell when the great-circle distance is within the
  type's catchment for the cell's zone (the widest urban / rural radius of the type's
  services, as the 2SFCA of ``geoportal.accesibilidad``).
- **Solver**: uncapacitated, ``spopt.locate.MCLP`` (PySAL) solved by PuLP's bundled CBC.
  ``spopt``'s MCLP has no capacity, so with a capacity (``--capacidad`` or the catalog's
  ``capacidad`` of the type) the capacitated MCLP is written here in PuLP (same CBC):
  open ``y_j`` binary, assignment ``x_ij`` in [0, 1] only for pairs in reach,
  ``Σ_j x_ij ≤ 1``, ``x_ij ≤ y_j``, ``Σ_i carga_i x_ij ≤ capacidad · y_j``, ``Σ y_j = k``;
  maximise ``Σ peso_i x_ij``. ``carga`` is in the unit of the type's capacity
  (households with a gap for a USF, persons otherwise: ``tipos_punto.demanda``).
- **Greedy** heuristic beside it (each step the candidate with the largest marginal
  gain; capacitated: each site filled up to its capacity by best weight per load), so the
  optimum's value can be judged; the **gap** is the solver's relative MIP gap against
  the LP relaxation's bound (0 when CBC proves optimality), and the solve time.

Every proposed site can be verified by the what-if engine (``geoportal.whatif.simulate``:
the real coverage computation with the new point, rolled back): units that move from
*sin oferta* to *con oferta*, the Logro change, and the cost per unit when the catalog
gives a ``costo`` for the type (an assumption, see the catalog's header).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import h3.api.basic_int as h3i
import numpy as np
import pandas as pd
import psycopg
from scipy.spatial import cKDTree

from geoportal.accesibilidad import km_to_chord, type_radius
from geoportal.catalog import Catalogo, default_catalog
from geoportal.coverage import Units, household_status, index_in, person_status
from geoportal.geodesia import chord_to_km, nearest_km_xyz, unit_vectors
from geoportal.pipeline import ages_reference
from geoportal.whatif import PuntoNuevo, _solo_lectura, simulate

TIEMPO_MAX_S = 25.0  # CBC's time limit; past it the best solution found and its gap are reported
CANDIDATOS = ("h3", "localidades")


@dataclass
class Problema:
    """Demand cells, candidates and which candidate reaches which cell (index pairs)."""

    demanda: pd.DataFrame  # lon, lat, urbana, peso, carga (and celda, distrito when read from the base)
    candidatos: pd.DataFrame  # lon, lat, zona, nombre
    i: np.ndarray  # demand row of each pair
    j: np.ndarray  # candidate row of each pair

    @property
    def tamano(self) -> tuple[int, int, int]:
        return len(self.demanda), len(self.candidatos), len(self.i)


@dataclass
class Solucion:
    elegidos: list[int]  # candidate rows, by decreasing covered weight
    objetivo: float
    codicioso: float
    codicioso_elegidos: list[int]
    cota: float  # LP relaxation bound
    gap: float  # relative MIP gap at termination
    estado: str
    segundos: float
    cubierto: dict[int, float] = field(default_factory=dict)  # candidate -> weight it covers
    carga: dict[int, float] = field(default_factory=dict)  # candidate -> load assigned to it


def pares(
    dem_lon, dem_lat, dem_urbana, cand_lon, cand_lat, radio: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """(demand, candidate) index pairs within the radius of the demand's zone (great circle)."""
    if len(dem_lon) == 0 or len(cand_lon) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    dt, ct = cKDTree(unit_vectors(dem_lon, dem_lat)), cKDTree(unit_vectors(cand_lon, cand_lat))
    found = dt.sparse_distance_matrix(ct, km_to_chord(max(radio)), output_type="ndarray")
    i, j = found["i"].astype(np.int64), found["j"].astype(np.int64)
    km = chord_to_km(found["v"])
    keep = km <= np.where(np.asarray(dem_urbana, bool)[i], radio[0], radio[1])
    order = np.lexsort((j[keep], i[keep]))
    return i[keep][order], j[keep][order]


# ----------------------------------------------------------------------------- solving
def _greedy(peso, carga, i, j, n_cand: int, k: int, capacidad: float | None) -> tuple[float, list[int]]:
    restante = np.asarray(peso, float).copy()
    cargas = np.asarray(carga, float)
    elegidos, total = [], 0.0
    por_cand = _grupos(j, n_cand)
    for _ in range(min(k, n_cand)):
        mejor, ganancia, toma = -1, 0.0, None
        for c in range(n_cand):
            if c in elegidos or not len(por_cand[c]):
                continue
            celdas = i[por_cand[c]]
            if capacidad is None:
                g, t = restante[celdas].sum(), (celdas, np.ones(len(celdas)))
            else:  # fill up to capacity, best weight per unit of load first (fractional)
                w, ld = restante[celdas], cargas[celdas] * (restante[celdas] / np.maximum(peso[celdas], 1e-12))
                orden = np.argsort(-(w / np.maximum(ld, 1e-12)), kind="stable")
                libre, frac = capacidad, np.zeros(len(celdas))
                for o in orden:
                    if w[o] <= 0 or libre <= 0:
                        continue
                    f = 1.0 if ld[o] <= libre else libre / ld[o]
                    frac[o], libre = f, libre - f * ld[o]
                g, t = float((w * frac).sum()), (celdas, frac)
            if g > ganancia + 1e-9:
                mejor, ganancia, toma = c, g, t
        if mejor < 0:
            break
        elegidos.append(mejor)
        total += ganancia
        restante[toma[0]] -= restante[toma[0]] * toma[1]
    return float(total), elegidos


def _grupos(idx: np.ndarray, n: int) -> list[np.ndarray]:
    """Positions of each value 0..n-1 in ``idx`` (one sort, not n scans)."""
    orden = np.argsort(idx, kind="stable")
    return np.split(orden, np.searchsorted(idx[orden], np.arange(1, n)))


def _lp_cap(peso, carga, i, j, n_cand: int, k: int, capacidad: float | None, relajado: bool):
    import pulp

    prob = pulp.LpProblem("mclp_capacitado", pulp.LpMaximize)
    cat = pulp.LpContinuous if relajado else pulp.LpBinary
    y = [pulp.LpVariable(f"y{c}", 0, 1, cat) for c in range(n_cand)]
    x = [pulp.LpVariable(f"x{n}", 0, 1) for n in range(len(i))]
    prob += pulp.lpSum(float(peso[a]) * x[n] for n, a in enumerate(i))
    for sel in _grupos(i, int(i.max()) + 1 if len(i) else 0):
        if len(sel):
            prob += pulp.lpSum(x[n] for n in sel) <= 1
    if capacidad is None:
        for n, c in enumerate(j):
            prob += x[n] <= y[c]
    else:  # every cell has a load > 0, so the capacity row already closes a shut site's pairs
        for c, sel in enumerate(_grupos(j, n_cand)):
            if len(sel):
                prob += pulp.lpSum(float(carga[i[n]]) * x[n] for n in sel) <= capacidad * y[c]
    prob += pulp.lpSum(y) == min(k, n_cand)
    return prob, y, x


def _cbc():
    import pulp

    return pulp.PULP_CBC_CMD(msg=False, timeLimit=TIEMPO_MAX_S, threads=1)


def _por_sitio(peso, carga, i, j, abiertos: list[int], valores: np.ndarray | None) -> tuple[dict, dict]:
    """Weight and load each open site serves: the assignment when there is one (capacitated),
    else each covered cell to the first open site, sites in decreasing reach."""
    if valores is not None:
        return (
            {c: float((peso[i] * valores)[j == c].sum()) for c in abiertos},
            {c: float((carga[i] * valores)[j == c].sum()) for c in abiertos},
        )
    cubierto, carga_de, hechos = {}, {}, set()
    for c in sorted(abiertos, key=lambda c: (-peso[np.unique(i[j == c])].sum(), c)):
        mios = [a for a in np.unique(i[j == c]) if a not in hechos]
        hechos.update(mios)
        cubierto[c], carga_de[c] = float(peso[mios].sum()), float(carga[mios].sum())
    return cubierto, carga_de


def _highs(peso, carga, i, j, n_cand: int, k: int, capacidad: float | None):
    """The same model solved in this process by HiGHS (scipy.optimize.milp): no subprocess,
    for the web, where a request never spawns a process."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_matrix, csr_matrix, hstack, vstack

    n_dem, n_par = len(peso), len(i)
    y_uno = csr_matrix(np.ones((1, n_cand)))
    if capacidad is None:  # y (candidates, binary), z (demand cells, covered)
        c = np.concatenate([np.zeros(n_cand), -peso])
        cubre = hstack(
            [
                coo_matrix((-np.ones(n_par), (i, j)), shape=(n_dem, n_cand)),
                coo_matrix((np.ones(n_dem), (np.arange(n_dem), np.arange(n_dem))), shape=(n_dem, n_dem)),
            ]
        )
        filas = [LinearConstraint(cubre, -np.inf, 0), LinearConstraint(hstack([y_uno, csr_matrix((1, n_dem))]), k, k)]
        enteros = np.concatenate([np.ones(n_cand), np.zeros(n_dem)])
    else:  # y (candidates), x (pairs, assignment share)
        c = np.concatenate([np.zeros(n_cand), -peso[i]])
        pares_ = np.arange(n_par)
        una = hstack([csr_matrix((n_dem, n_cand)), coo_matrix((np.ones(n_par), (i, pares_)), shape=(n_dem, n_par))])
        cap = hstack(
            [
                coo_matrix(
                    (-capacidad * np.ones(n_cand), (np.arange(n_cand), np.arange(n_cand))), shape=(n_cand, n_cand)
                ),
                coo_matrix((carga[i], (j, pares_)), shape=(n_cand, n_par)),
            ]
        )
        # every cell has a load > 0, so the capacity row already closes a shut site's pairs
        filas = [
            LinearConstraint(vstack([una, cap]), -np.inf, np.concatenate([np.ones(n_dem), np.zeros(n_cand)])),
            LinearConstraint(hstack([y_uno, csr_matrix((1, n_par))]), k, k),
        ]
        enteros = np.concatenate([np.ones(n_cand), np.zeros(n_par)])
    res = milp(
        c,
        constraints=filas,
        integrality=enteros,
        bounds=Bounds(0, 1),
        options={"time_limit": TIEMPO_MAX_S, "mip_rel_gap": 0.0},
    )
    if res.x is None:
        return "Sin solución", [], 0.0, None, float("inf")
    abiertos = [c_ for c_ in range(n_cand) if res.x[c_] > 0.5]
    estado = "Optimal Solution Found" if res.status == 0 else "Solution Found"
    gap = float(getattr(res, "mip_gap", 0.0) or 0.0) if res.status != 0 else 0.0
    return estado, abiertos, float(-res.fun), (res.x[n_cand:] if capacidad is not None else None), gap


def resolver(peso, carga, i, j, n_cand: int, k: int, capacidad: float | None = None, motor: str = "cbc") -> Solucion:
    """The MCLP (spopt) or capacitated MCLP (PuLP) on index pairs, solved by CBC; or the same
    model by HiGHS in this process (``motor="highs"``); with the greedy value and the gap."""
    peso, carga = np.asarray(peso, float), np.asarray(carga, float)
    k = min(k, n_cand)
    if motor == "highs":
        inicio = time.perf_counter()
        estado, abiertos, objetivo, valores, gap = _highs(peso, carga, i, j, n_cand, k, capacidad)
        segundos = time.perf_counter() - inicio
        cota = objetivo / (1 - gap) if gap < 1 else float("inf")
    else:
        import pulp
        from spopt.locate import MCLP  # heavy import (libpysal): outside the timed part

        inicio = time.perf_counter()
        if capacidad is None:
            # spopt wants a dense demand × candidate cost matrix: pairs in reach cost 0, others 2,
            # service radius 1 (the zone-dependent radius is already in the pairs).
            costo = np.full((len(peso), n_cand), 2.0)
            costo[i, j] = 0.0
            modelo = MCLP.from_cost_matrix(costo, peso, service_radius=1.0, p_facilities=k, name="mclp")
            prob, y, x = modelo.problem, modelo.fac_vars, None
        else:
            prob, y, x = _lp_cap(peso, carga, i, j, n_cand, k, capacidad, relajado=False)
        prob.solve(_cbc())
        estado = pulp.LpSolution[prob.sol_status]
        abiertos = [c for c in range(n_cand) if (y[c].value() or 0) > 0.5]
        valores = None if x is None else np.array([v.value() or 0.0 for v in x])
        objetivo = float(pulp.value(prob.objective) or 0.0)
        segundos = time.perf_counter() - inicio
        cota, gap = objetivo, 0.0  # CBC proved optimality (its default relative gap tolerance is 0)
        if prob.sol_status != pulp.LpSolutionOptimal:  # time limit: the gap against the LP relaxation's bound
            for v in prob.variables():
                v.cat = pulp.LpContinuous
            prob.solve(_cbc())
            cota = max(float(pulp.value(prob.objective) or 0.0), objetivo)
            gap = (cota - objetivo) / max(cota, 1e-12)
    cubierto, carga_de = _por_sitio(peso, carga, i, j, abiertos, valores)
    codicioso, cod_elegidos = _greedy(peso, carga, i, j, n_cand, k, capacidad)
    elegidos = sorted(abiertos, key=lambda c: (-cubierto.get(c, 0.0), c))
    return Solucion(elegidos, objetivo, codicioso, cod_elegidos, cota, gap, estado, segundos, cubierto, carga_de)


# ----------------------------------------------------------------------------- the data
def distritos_de(conn: psycopg.Connection, nivel: str, codigo: str) -> list[dict]:
    """2022 districts of a district (4 digits) or a department (2 digits); Spanish error if unknown."""
    codigo = str(codigo).strip()
    if nivel == "distrito":
        codigo = codigo.zfill(4) if codigo.isdigit() else codigo
        rows = conn.execute(
            "SELECT codigo, nombre, codigo_2012, dpto FROM territorio.distrito WHERE codigo = %s", (codigo,)
        ).fetchall()
    elif nivel == "departamento":
        codigo = codigo.zfill(2) if codigo.isdigit() else codigo
        rows = conn.execute(
            "SELECT codigo, nombre, codigo_2012, dpto FROM territorio.distrito WHERE dpto = %s ORDER BY codigo",
            (codigo,),
        ).fetchall()
    else:
        raise ValueError("El territorio debe ser un distrito o un departamento.")
    if not rows:
        raise ValueError(
            f"{nivel.capitalize()} desconocido: '{codigo}'. Use el código 2022 "
            f"({'4' if nivel == 'distrito' else '2'} dígitos)."
        )
    return [dict(zip(("codigo", "nombre", "codigo_2012", "dpto"), r)) for r in rows]


def demanda_sin_oferta(
    conn: psycopg.Connection, distritos: list[str], tipo: str, catalog: Catalogo, fecha_corte: date | None = None
) -> pd.DataFrame:
    """Demand cells (H3 res-8 × zone) of the units lacking a service of ``tipo`` with none in reach.

    ``peso``: (unit, service) gaps *sin oferta* of the type's services; ``carga``: units in
    the type's capacity unit (households with such a gap for ``demanda: hogares``, else persons).
    """
    servicios = [s for s in catalog.servicios if s.punto_tipo == tipo and s.unidad in ("persona", "hogar")]
    por_hogares = catalog.tipos_punto[tipo].demanda == "hogares"
    partes = []
    for codigo in distritos:
        units = Units.from_db(conn, fecha_corte, distrito=codigo, lugares=False)
        hh = units.hogares.reset_index(drop=True)
        if hh.empty:
            continue
        pp = units.personas.reset_index(drop=True)
        of_person = index_in(pp["hogar_id"], hh["hogar_id"])
        pp, of_person = pp[of_person >= 0].reset_index(drop=True), of_person[of_person >= 0]
        p_st = person_status(
            catalog,
            pp,
            units.eventos,
            ages_reference(fecha_corte, hh, of_person),
            hh["fecha_relevamiento"].to_numpy()[of_person],
        )
        h_st = household_status(catalog, hh, units.eventos)
        urban = (hh["zona"] == "urbana").to_numpy()
        pts = units.puntos[units.puntos["tipo"] == tipo]
        km = nearest_km_xyz(
            unit_vectors(hh["lon"].to_numpy(float), hh["lat"].to_numpy(float)),
            pts["lon"].to_numpy(float),
            pts["lat"].to_numpy(float),
        )[0]
        peso = np.zeros(len(hh))
        hogar_falta, persona_falta = np.zeros(len(hh), bool), np.zeros(len(pp), bool)
        for s in servicios:
            st = p_st if s.unidad == "persona" else h_st
            col = st.codes.index(s.codigo)
            sin = ~(km <= s.radius_km(urban))
            falta = st.aplica[:, col] & ~st.cubierto[:, col]
            if s.unidad == "persona":
                falta &= sin[of_person]
                peso += np.bincount(of_person[falta], minlength=len(hh))
                persona_falta |= falta
                hogar_falta[of_person[falta]] = True
            else:
                falta &= sin
                peso += falta
                hogar_falta |= falta
        carga = (
            hogar_falta.astype(float)
            if por_hogares
            else np.maximum(np.bincount(of_person[persona_falta], minlength=len(hh)), hogar_falta).astype(float)
        )  # > 0 wherever peso is
        keep = peso > 0
        if keep.any():
            partes.append(
                pd.DataFrame(
                    {
                        "celda": hh["h3_8"].to_numpy(np.int64)[keep],
                        "urbana": urban[keep],
                        "distrito": codigo,
                        "lon": hh["lon"].to_numpy(float)[keep],
                        "lat": hh["lat"].to_numpy(float)[keep],
                        "peso": peso[keep],
                        "carga": carga[keep],
                    }
                )
            )
    if not partes:
        return pd.DataFrame(columns=["celda", "urbana", "distrito", "lon", "lat", "peso", "carga"])
    todo = pd.concat(partes, ignore_index=True)
    celdas = (
        todo.groupby(["celda", "urbana"], sort=True)
        .agg(
            distrito=("distrito", "first"),
            lon=("lon", "mean"),
            lat=("lat", "mean"),
            peso=("peso", "sum"),
            carga=("carga", "sum"),
        )
        .reset_index()
    )
    return celdas


def leer_candidatos(conn: psycopg.Connection, modo: str, distritos: list[dict]) -> pd.DataFrame:
    """Candidate sites: h3 (res-8 cells with households), localidades, or a CSV file path."""
    codigos = [d["codigo"] for d in distritos]
    if modo == "h3":
        rows = conn.execute(
            "SELECT h3_8, count(*), avg((zona = 'urbana')::int) FROM nominal.hogar WHERE codigo_distrito = ANY(%s)"
            " GROUP BY h3_8 ORDER BY h3_8",
            (codigos,),
        ).fetchall()
        lat_lon = [h3i.cell_to_latlng(int(c)) for c, _, _ in rows]
        return pd.DataFrame(
            {
                "nombre": [h3i.int_to_str(int(c)) for c, _, _ in rows],
                "lon": [p[1] for p in lat_lon],
                "lat": [p[0] for p in lat_lon],
                "zona": ["urbana" if float(u) > 0.5 else "rural" for _, _, u in rows],
            }
        )
    if modo == "localidades":
        polys = sorted({d["codigo_2012"] for d in distritos if d["codigo_2012"]})
        rows = conn.execute(
            "SELECT nombre, lon, lat, coalesce(zona, 'rural') FROM territorio.lugar"
            " WHERE codigo_2012 = ANY(%s) ORDER BY lugar_id",
            (polys,),
        ).fetchall()
        return pd.DataFrame(rows, columns=["nombre", "lon", "lat", "zona"])
    path = Path(modo)
    if not path.exists():
        raise ValueError(f"Candidatos: '{modo}' no es h3, localidades ni un archivo existente.")
    try:
        frame = pd.read_csv(path)
    except Exception:  # noqa: BLE001 - any unreadable file gets the same Spanish message
        raise ValueError(
            f"{path.name}: no se pudo leer como CSV (columnas lon, lat y opcionalmente nombre, zona)."
        ) from None
    if not {"lon", "lat"} <= set(frame.columns):
        raise ValueError(f"{path.name}: faltan las columnas lon y lat.")
    frame["lon"], frame["lat"] = (
        pd.to_numeric(frame["lon"], errors="coerce"),
        pd.to_numeric(frame["lat"], errors="coerce"),
    )
    if frame[["lon", "lat"]].isna().any().any():
        fila = int(frame[["lon", "lat"]].isna().any(axis=1).to_numpy().argmax()) + 2
        raise ValueError(f"{path.name}, fila {fila}: lon y lat deben ser números (grados, punto decimal).")
    frame["nombre"] = (
        frame["nombre"].astype(str) if "nombre" in frame else [f"candidato {n}" for n in range(1, len(frame) + 1)]
    )
    frame["zona"] = frame["zona"].astype(str) if "zona" in frame else "rural"
    return frame[["nombre", "lon", "lat", "zona"]].reset_index(drop=True)


@dataclass
class Plan:
    """What ``planificar`` returns: the problem size, both objectives, the sites (aggregates)."""

    territorio: dict
    tipo: str
    k: int
    capacidad: float | None
    tamano: tuple[int, int, int]
    demanda_total: float
    solucion: Solucion
    sitios: list[dict]
    segundos_demanda: float
    costo_unitario: float | None


def planificar(
    conn: psycopg.Connection,
    nivel: str,
    codigo: str,
    tipo: str,
    k: int,
    capacidad: int | None = None,
    candidatos: str = "h3",
    presupuesto: float | None = None,
    catalog: Catalogo | None = None,
    fecha_corte: date | None = None,
    motor: str = "cbc",
) -> Plan:
    """The k best new sites of ``tipo`` in a district or department (read-only; see module doc)."""
    catalog = catalog or default_catalog()
    if tipo not in catalog.tipos_punto:
        raise ValueError(
            f"Tipo de punto desconocido '{tipo}'. Tipos válidos: {', '.join(sorted(catalog.tipos_punto))}."
        )
    if not 1 <= int(k) <= 50:
        raise ValueError("k debe ser un entero entre 1 y 50.")
    spec = catalog.tipos_punto[tipo]
    capacidad = capacidad if capacidad is not None else spec.capacidad
    if capacidad is not None and capacidad <= 0:
        raise ValueError("La capacidad debe ser mayor que 0.")
    costo = spec.costo
    if presupuesto is not None:
        if costo is None:
            raise ValueError(f"El catálogo no da un costo para el tipo {tipo}: el presupuesto no se puede aplicar.")
        k = min(int(k), int(presupuesto // costo))
        if k < 1:
            raise ValueError(
                f"El presupuesto ({presupuesto:,.0f}) no alcanza para un punto {tipo} "
                f"(costo supuesto {costo:,.0f}).".replace(",", ".")
            )
    with _solo_lectura(conn):
        distritos = distritos_de(conn, nivel, codigo)
        inicio = time.perf_counter()
        demanda = demanda_sin_oferta(conn, [d["codigo"] for d in distritos], tipo, catalog, fecha_corte)
        cand = leer_candidatos(conn, candidatos, distritos)
        segundos_demanda = time.perf_counter() - inicio
    radio = type_radius(catalog, tipo)
    i, j = pares(
        demanda["lon"].to_numpy(float),
        demanda["lat"].to_numpy(float),
        demanda["urbana"].to_numpy(bool),
        cand["lon"].to_numpy(float),
        cand["lat"].to_numpy(float),
        radio,
    )
    utiles = np.unique(j)  # candidates reaching no demand cannot help: left out of the model
    cand = cand.iloc[utiles].reset_index(drop=True)
    j = np.searchsorted(utiles, j)
    problema = Problema(demanda, cand, i, j)
    if len(cand) == 0:
        sol = Solucion([], 0.0, 0.0, [], 0.0, 0.0, "Sin demanda al alcance", 0.0)
    else:
        sol = resolver(demanda["peso"].to_numpy(), demanda["carga"].to_numpy(), i, j, len(cand), k, capacidad, motor)
    sitios = []
    for c in sol.elegidos:
        celdas = i[j == c]
        sitios.append(
            {
                "nombre": str(cand.at[c, "nombre"]),
                "lon": float(cand.at[c, "lon"]),
                "lat": float(cand.at[c, "lat"]),
                "zona": str(cand.at[c, "zona"]),
                "celdas_al_alcance": [h3i.int_to_str(int(x)) for x in demanda["celda"].to_numpy()[np.unique(celdas)]]
                if "celda" in demanda
                else [],
                # the demand of each of those cells (same order): exact, stays on the server
                "peso_celdas": [float(x) for x in demanda["peso"].to_numpy()[np.unique(celdas)]]
                if "celda" in demanda
                else [],
                "unidades_estimadas": sol.cubierto.get(c, 0.0),
                "carga_asignada": sol.carga.get(c, 0.0),
            }
        )
    info = {
        "nivel": nivel,
        "codigo": distritos[0]["codigo"] if nivel == "distrito" else distritos[0]["dpto"],
        "nombre": distritos[0]["nombre"] if nivel == "distrito" else f"departamento {distritos[0]['dpto']}",
        "distritos": [d["codigo"] for d in distritos],
    }
    return Plan(
        info, tipo, k, capacidad, problema.tamano, float(demanda["peso"].sum()), sol, sitios, segundos_demanda, costo
    )


def distrito_del_punto(conn: psycopg.Connection, lon: float, lat: float, entre: list[str]) -> str | None:
    """The 2022 district (among ``entre``) whose 2012 polygon holds the point, else the nearest."""
    row = conn.execute(
        "SELECT d.codigo FROM territorio.distrito d JOIN territorio.distrito_cartografico c USING (codigo_2012)"
        " WHERE d.codigo = ANY(%s) ORDER BY ST_Distance(c.geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326)), d.codigo LIMIT 1",
        (entre, lon, lat),
    ).fetchone()
    return row[0] if row else (entre[0] if entre else None)


def efecto_whatif(tabla: pd.DataFrame, tipo: str | None = None) -> dict:
    """Units moved from sin oferta to con oferta (of ``tipo``'s services, or all) and Logro changes."""
    servicios = tabla[tabla["punto_tipo"].notna() & (tabla["unidad"] != "entorno")]
    if tipo:
        servicios = servicios[servicios["punto_tipo"] == tipo]
    agregadas = int((servicios["brecha_sin_oferta_antes"] - servicios["brecha_sin_oferta_despues"]).sum())
    logros = {}
    for _, r in tabla[tabla["servicio"].str.startswith("LOGRO_")].iterrows():
        logros[r["servicio"]] = {
            "antes": int(r["cubiertos"]),
            "despues": int(r["cubiertos_despues"]),
            "universo": int(r["aplica"]),
        }
    return {"unidades_agregadas": agregadas, "logros": logros}


def verificar(
    conn: psycopg.Connection, plan: Plan, catalog: Catalogo | None = None, fecha_corte: date | None = None
) -> list[dict]:
    """Each proposed site through the what-if engine, alone in the district that holds it."""
    catalog = catalog or default_catalog()
    out = []
    for sitio in plan.sitios:
        distrito = distrito_del_punto(conn, sitio["lon"], sitio["lat"], plan.territorio["distritos"])
        capacidad = int(plan.capacidad or max(1, round(sitio["carga_asignada"])))
        zona = sitio["zona"] if sitio["zona"] in ("urbana", "rural") else "rural"
        tabla = simulate(
            conn,
            distrito,
            [PuntoNuevo(plan.tipo, sitio["lon"], sitio["lat"], capacidad, zona)],
            fecha_corte=fecha_corte,
            catalog=catalog,
        )
        efecto = efecto_whatif(tabla, plan.tipo)
        costo = plan.costo_unitario
        efecto.update(
            {
                "distrito": distrito,
                "costo_por_unidad": (costo / efecto["unidades_agregadas"])
                if costo and efecto["unidades_agregadas"] > 0
                else None,
            }
        )
        out.append(efecto)
    return out
