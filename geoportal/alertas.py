"""Alerts on the live protected figures, and the snapshots they compare against.

- **bajo_meta**: a Logro's protected coverage is below its meta;
- **empeora**: a Logro's or a service's coverage fell by more than ``umbral`` percentage
  points since the previous snapshot of the figures (``acceso.cifra_version``);
- **accion_vencida**: an action of a plan past its end date and not done (``plan_alerts``);
- **se_aleja**: a Logro moving away from its meta while a plan in course targets it
  (``plan_alerts``, :func:`moving_away`): over the public release history
  (``publico.cifra_historia``), the district's share at the latest release is below the meta
  and lower than at the plan's start (the last release published on or before the day the
  plan was written, else the first release kept) by more than ``ALEJA_PP`` points. A plan
  targets the Logros of the services its actions name (a campaign's service, the services a
  point type offers; registration drives name none). Shares are the published, protected ones.

A snapshot is taken before and after every recompute and publication
(``geoportal.operaciones``, whichever door triggered it: the CLI or the API) and by
``geoportal alertas``, so the alerts do not depend on who asked for the recompute.

The figures are read through ``acceso.cifras_vivas`` (SQL function, migration 0007): the
live protected table ``calculo.cobertura_viva``, never unprotected counts. Which of these
alerts a user sees is decided by the web's territorial scope, not here.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import psycopg

from geoportal.dbcopy import copy_in

NIVELES = ("pais", "departamento", "distrito")
ALEJA_PP = 1.0  # percentage points: published shares carry the disclosure noise, a smaller fall means nothing


def live_rows(conn: psycopg.Connection, niveles=NIVELES, area: str | None = None) -> list[dict]:
    """Live protected rows (``acceso.cifras_vivas``: the live table once it exists, else publico.cobertura)."""
    return [r[0] for r in conn.execute("SELECT * FROM acceso.cifras_vivas(%s, %s)", (list(niveles), area)).fetchall()]


def _tracked(conn) -> dict[str, str]:
    """column -> label of every Logro and service coverage share."""
    return dict(
        conn.execute(
            "SELECT columna, etiqueta FROM publico.medida WHERE tipo = 'porcentaje' AND columna <> 'relevamiento_pct'"
            " ORDER BY columna"
        ).fetchall()
    )


def _snapshot_key(rows: list[dict]) -> str | None:
    """The country row changes with every recompute, so its data_version names the state."""
    country = next((r for r in rows if r["nivel"] == "pais"), None)
    return None if country is None else country["data_version"]


def record_snapshot(conn: psycopg.Connection) -> str | None:
    """Keep the live shares of pais / departamento / distrito (once per state: a state
    already kept, as before a recompute that follows another, costs one lookup)."""
    key = _snapshot_key(live_rows(conn, ["pais"]))
    if key is None:
        return None
    if conn.execute("SELECT 1 FROM acceso.cifra_version WHERE data_version = %s LIMIT 1", (key,)).fetchone():
        conn.commit()
        return key
    rows = live_rows(conn)
    tracked = _tracked(conn)
    values = pd.DataFrame(
        [
            (key, r["nivel"], r["codigo"], c, r[c])
            for r in rows
            if not r.get("reservado")
            for c in tracked
            if r.get(c) is not None
        ],
        columns=["data_version", "nivel", "codigo", "columna", "valor"],
    )
    try:
        with conn.cursor() as cur:
            copy_in(cur, "acceso.cifra_version", values)
        conn.commit()
    except psycopg.errors.UniqueViolation:  # another process kept the same state meanwhile
        conn.rollback()
    return key


def compute_alerts(conn: psycopg.Connection, umbral: float = 5.0) -> list[dict]:
    """Alerts of every territory (pais, departamento, distrito), worst first."""
    labels = _tracked(conn)
    rows = live_rows(conn)
    logros = [c for c in labels if c.startswith("l") and c.endswith("_pct") and not c.endswith("_ampliado_pct")]
    alerts = []
    for r in rows:
        if r.get("reservado"):
            continue
        for column in logros:
            value, meta = r.get(column), r.get(column.replace("_pct", "_meta"))
            if value is not None and meta is not None and value < meta:
                alerts.append(
                    {
                        "tipo": "bajo_meta",
                        "nivel": r["nivel"],
                        "codigo": r["codigo"],
                        "nombre": r["nombre"],
                        "columna": column,
                        "etiqueta": labels[column],
                        "valor": round(value, 1),
                        "referencia": round(meta, 1),
                        "diferencia": round(value - meta, 1),
                    }
                )
    key = _snapshot_key(rows)
    previous = conn.execute(
        "SELECT data_version FROM acceso.cifra_version WHERE data_version <> %s GROUP BY data_version"
        " ORDER BY max(registrada) DESC LIMIT 1",
        (key or "",),
    ).fetchone()
    if previous:
        before = {
            (n, c, col): v
            for n, c, col, v in conn.execute(
                "SELECT nivel, codigo, columna, valor FROM acceso.cifra_version WHERE data_version = %s", previous
            ).fetchall()
        }
        for r in rows:
            if r.get("reservado"):
                continue
            for column in labels:
                old, new = before.get((r["nivel"], r["codigo"], column)), r.get(column)
                if old is not None and new is not None and old - new > umbral:
                    alerts.append(
                        {
                            "tipo": "empeora",
                            "nivel": r["nivel"],
                            "codigo": r["codigo"],
                            "nombre": r["nombre"],
                            "columna": column,
                            "etiqueta": labels[column],
                            "valor": round(new, 1),
                            "referencia": round(old, 1),
                            "diferencia": round(new - old, 1),
                        }
                    )
    alerts += plan_alerts(conn)
    return sorted(alerts, key=lambda a: (a["diferencia"], a["nivel"], a["codigo"], a["columna"]))


def moving_away(
    serie: list[tuple[date, float]], meta: float | None, inicio: date, umbral: float = ALEJA_PP
) -> tuple[date, float, float] | None:
    """(start release date, share then, share now) when the Logro moves away from its meta.

    ``serie``: (release date, published share), oldest first. The start is the last release
    on or before ``inicio`` (else the first); moving away = the latest share is below the meta
    and more than ``umbral`` points under the start's. None otherwise (or with fewer than two
    releases, or no meta)."""
    if meta is None or len(serie) < 2:
        return None
    antes = [p for p in serie if p[0] <= inicio]
    base = antes[-1] if antes else serie[0]
    ultimo = serie[-1]
    if ultimo is base or ultimo[1] >= meta or base[1] - ultimo[1] <= umbral:
        return None
    return base[0], base[1], ultimo[1]


def _targets(conn: psycopg.Connection, hoy: date) -> dict[tuple, set[int]]:
    """(polygon, district, plan_id, title, created) -> Logros its actions in course target."""
    from geoportal.catalog import default_catalog

    catalog = default_catalog()
    logro_de = {c.codigo: c.logro for c in catalog.categorias}
    de_servicio = {s.codigo: {logro_de[c] for c in s.categorias} for s in catalog.servicios}
    de_tipo: dict[str, set[int]] = {}
    for s in catalog.servicios:
        if s.punto_tipo:
            de_tipo.setdefault(s.punto_tipo, set()).update(de_servicio[s.codigo])
    out: dict[tuple, set[int]] = {}
    for poligono, distrito, plan_id, titulo, creado, servicio, punto_tipo in conn.execute(
        "SELECT * FROM planes.objetivos_en_curso(%s)", (hoy,)
    ).fetchall():
        logros = de_servicio.get(servicio, set()) if servicio else de_tipo.get(punto_tipo, set())
        out.setdefault((poligono, distrito, plan_id, titulo, creado), set()).update(logros)
    return out


def _away_alerts(conn: psycopg.Connection, hoy: date, umbral: float) -> list[dict]:
    targets = _targets(conn, hoy)
    if not targets:
        return []
    metas = {r["codigo"]: r for r in live_rows(conn, ["distrito"])}
    out = []
    for (poligono, distrito, plan_id, titulo, creado), logros in sorted(targets.items(), key=lambda x: x[0][2]):
        for n in sorted(logros):
            serie = conn.execute(
                "SELECT h.fecha, h.valor FROM publico.cifra_historia h LEFT JOIN publico.version v USING (data_version)"
                " WHERE h.nivel = 'distrito' AND h.codigo = %s AND h.columna = %s"
                " ORDER BY h.fecha, v.calculado_en, h.data_version",
                (poligono, f"l{n}_pct"),
            ).fetchall()
            found = moving_away(serie, (metas.get(poligono) or {}).get(f"l{n}_meta"), creado, umbral)
            if found is None:
                continue
            desde, antes, ahora = found
            meta = metas[poligono][f"l{n}_meta"]
            out.append(
                {
                    "tipo": "se_aleja",
                    "nivel": "distrito",
                    "codigo": poligono,
                    "nombre": titulo,
                    "columna": f"l{n}_pct",
                    "etiqueta": f"Logro {n} se aleja de su meta ({meta:.1f} %) con el plan n.º {plan_id} en curso: "
                    f"{antes:.1f} % en la publicación del {desde.isoformat()}",
                    "valor": round(float(ahora), 1),
                    "referencia": round(float(antes), 1),
                    "diferencia": round(float(ahora) - float(antes), 1),
                    "meta": round(float(meta), 1),
                    "plan_id": plan_id,
                    "distrito": distrito,
                }
            )
    return out


def plan_alerts(conn: psycopg.Connection, hoy: date | None = None, umbral: float = ALEJA_PP) -> list[dict]:
    """**accion_vencida**: a plan's action past its end date, neither done nor cancelled
    (``planes.acciones_vencidas``, migration 0013); **se_aleja**: a Logro a plan in course
    targets moving away from its meta over the releases (``planes.objetivos_en_curso``,
    migration 0016; :func:`moving_away`). Keyed by the district's polygon."""
    hoy = hoy or date.today()
    out = _away_alerts(conn, hoy, umbral)
    for poligono, distrito, plan_id, titulo, accion_id, tipo, institucion, hasta in conn.execute(
        "SELECT * FROM planes.acciones_vencidas(%s)", (hoy,)
    ).fetchall():
        out.append(
            {
                "tipo": "accion_vencida",
                "nivel": "distrito",
                "codigo": poligono,
                "nombre": titulo,
                "columna": tipo,
                "etiqueta": f"Plan n.º {plan_id}, acción n.º {accion_id} ({institucion}) vencida el "
                f"{hasta.isoformat()}",
                "valor": None,
                "referencia": None,
                "diferencia": -float((hoy - hasta).days),
                "plan_id": plan_id,
                "accion_id": accion_id,
                "distrito": distrito,
            }
        )
    return out
