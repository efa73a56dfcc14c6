"""Alerts on the live protected figures, and the snapshots they compare against.

- **bajo_meta**: a Logro's protected coverage is below its meta;
- **empeora**: a Logro's or a service's coverage fell by more than ``umbral`` percentage
  points since the previous snapshot of the figures (``acceso.cifra_version``);
- **accion_vencida**: an action of a plan past its end date and not done (``plan_alerts``).

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


def plan_alerts(conn: psycopg.Connection, hoy: date | None = None) -> list[dict]:
    """**accion_vencida**: a plan's action past its end date, neither done nor cancelled
    (``planes.acciones_vencidas``, migration 0013); keyed by the district's polygon."""
    hoy = hoy or date.today()
    out = []
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
