"""Legend classes: colour-blind-safe ramps and class breaks per data_version.

Breaks follow mapclassify's convention: with ``cortes = [b1, …, bk-1]`` class 1 is
``v ≤ b1``, class i is ``b(i-1) < v ≤ bi`` and the last class ``v > bk-1``; there is one
colour per class (``len(colores) == len(cortes) + 1``). Fixed breaks (percentages, where
comparability between areas and versions matters) come from the layer file; the others
are computed with mapclassify from the published, non-reserved values of each level.

:func:`store_breaks` writes them to ``publico.leyenda`` for the current data_version; it
is idempotent and runs right after each publication (``tiles.publicacion.preparar_publicacion``).
"""

from __future__ import annotations

import warnings

import mapclassify
import numpy as np
from psycopg import sql

from capas.catalogo import Capa, default_capas, validate_against_db
from capas.rampas import colours

_JENKS_SAMPLE = 300  # FisherJenks is O(k·n²) in pure Python: classify a deterministic sample.


def breaks(capa: Capa, values: np.ndarray) -> list[float]:
    """Inner class breaks of one measure at one level (empty when there is nothing to classify)."""
    spec = capa.clasificacion
    if spec.metodo == "fijo":
        return list(spec.cortes)
    values = np.asarray(values, dtype=float)
    values = np.sort(values[np.isfinite(values)])
    unique = np.unique(values)
    if len(unique) <= 1:
        return []
    k = spec.clases
    if len(unique) <= k:
        return [float(v) for v in unique[:-1]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if spec.metodo == "cuantiles":
            bins = mapclassify.Quantiles(values, k=k).bins
        elif spec.metodo == "intervalos_iguales":
            bins = mapclassify.EqualInterval(values, k=k).bins
        else:  # jenks
            sample = values[np.linspace(0, len(values) - 1, min(len(values), _JENKS_SAMPLE)).round().astype(int)]
            bins = mapclassify.FisherJenks(sample, k=k).bins
    inner = sorted({round(float(b), 6) for b in bins[:-1]})
    return [b for b in inner if b < values[-1]]


def compute_legends(conn, capas: dict[str, Capa] | None = None, strict: bool = True) -> list[dict]:
    """Every layer's legend rows for the published data (reads ``publico`` only).

    ``strict``: a layer that does not match the publication raises CapaError; otherwise
    it is left without legend (the API marks it as not servable).
    """
    capas = capas or default_capas()
    resolved = validate_against_db(conn, capas, strict=strict)
    rows = []
    for capa in capas.values():
        if capa.id not in resolved:
            continue
        spec = capa.clasificacion
        if spec.metodo == "ninguna":
            continue
        if spec.metodo == "categorias":
            for level in capa.niveles:
                cats = [
                    r[0]
                    for r in conn.execute(
                        sql.SQL(
                            "SELECT DISTINCT {c}::text FROM {t} WHERE nivel = %s AND {c} IS NOT NULL ORDER BY 1"
                        ).format(c=sql.Identifier(spec.campo), t=sql.SQL(capa.fuente)),
                        (level.nivel,),
                    ).fetchall()
                ]
                rows.append(
                    {
                        "capa": capa.id,
                        "medida": spec.campo,
                        "nivel": level.nivel,
                        "metodo": spec.metodo,
                        "cortes": [],
                        "categorias": cats,
                        "colores": colours(capa.rampa, len(cats)),
                    }
                )
            continue
        measures = [m["columna"] for m in resolved[capa.id]]
        for level in capa.niveles:
            if spec.metodo == "fijo":
                data = None
            else:
                cur = conn.cursor(binary=True)
                cur.execute(
                    sql.SQL("SELECT {} FROM {} WHERE nivel = %s AND NOT reservado").format(
                        sql.SQL(", ").join(sql.SQL("{}::float8").format(sql.Identifier(m)) for m in measures),
                        sql.SQL(capa.fuente),
                    ),
                    (level.nivel,),
                )
                fetched = cur.fetchall()
                data = np.array(fetched, dtype=float).reshape(len(fetched), len(measures)) if fetched else None
            for j, measure in enumerate(measures):
                column = np.empty(0) if data is None else data[:, j]
                cuts = breaks(capa, column)
                rows.append(
                    {
                        "capa": capa.id,
                        "medida": measure,
                        "nivel": level.nivel,
                        "metodo": spec.metodo,
                        "cortes": cuts,
                        "categorias": None,
                        "colores": colours(capa.rampa, len(cuts) + 1),
                    }
                )
    return rows


def current_version(conn) -> str | None:
    row = conn.execute("SELECT data_version FROM publico.version WHERE vigente").fetchone()
    return row[0] if row else None


def store_breaks(conn, capas: dict[str, Capa] | None = None) -> int:
    """Compute and store the legends of the current data_version in ``publico.leyenda``.

    Idempotent: the current version's rows are replaced, older versions' rows dropped.
    Returns the number of rows written (0 when nothing is published yet). Commits.
    """
    version = current_version(conn)
    if version is None:
        return 0
    legends = compute_legends(conn, capas)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("DELETE FROM publico.leyenda")
        cur.executemany(
            "INSERT INTO publico.leyenda (data_version, capa, medida, nivel, metodo, cortes, categorias, colores)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (version, r["capa"], r["medida"], r["nivel"], r["metodo"], r["cortes"], r["categorias"], r["colores"])
                for r in legends
            ],
        )
    conn.commit()
    return len(legends)
