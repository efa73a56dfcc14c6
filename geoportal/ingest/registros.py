"""Administrative records: status events (``nominal.estatus_evento``) from a file.

One row per record: ``unidad`` (persona | hogar), ``unidad_id``, ``servicio`` (a catalog
code the FIPS row of that unit may list), ``cubierto`` (si | no), ``fecha`` and
``fuente`` (the register it comes from). The loader's rules hold as for every ingest file
(``geoportal.ingest.load``): quarantine with a reason, one transaction, and a repeated
load changes nothing.

A record is identified by (unidad, unidad_id, servicio, fecha, fuente). Loaded again
with the same status it is unchanged; with the other status it is a correction, written
as a new event that wins over the earlier one (events are never edited nor deleted: the
history stays). A record may arrive before its unit: it is kept and counts once the unit
is loaded (the event takes its district then, migration 0009).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import psycopg

from geoportal.catalog import Catalogo
from geoportal.dbcopy import copy_in
from geoportal.ingest import validate as v

COLUMNS = ["unidad", "unidad_id", "servicio", "cubierto", "fecha", "fuente"]
STAGED = [
    ("unidad", "text"),
    ("unidad_id", "text"),
    ("servicio", "text"),
    ("cubierto", "boolean"),
    ("fecha", "date"),
    ("fuente", "text"),
]
KEY = ["unidad", "unidad_id", "servicio", "fecha", "fuente"]
# Contrarreferencias are recorded by the institutions in the geoportal itself.
RESERVED_SOURCE = "contrarreferencia"


def validate_records(frame: pd.DataFrame, catalog: Catalogo, today: date) -> tuple[pd.DataFrame, v.Checked]:
    checked = v.Checked.empty(len(frame))
    v.check_text(frame, checked)
    v.check_required(frame, COLUMNS, checked)
    unidad = np.asarray(v.per_unique(frame["unidad"], str.lower), dtype=object)
    checked.flag(~np.isin(unidad, ["persona", "hogar"]), "valor_invalido", "'unidad' debe ser persona u hogar")
    servicio = np.asarray(v.per_unique(frame["servicio"], lambda s: s.strip().upper()), dtype=object)
    known = np.zeros(len(frame), dtype=bool)
    for unit in ("persona", "hogar"):
        known |= (unidad == unit) & v.isin(servicio, sorted(catalog.codigos_fips(unit)))
    detail = (
        np.array(
            [f"servicio '{s}' desconocido o que no corresponde a la unidad '{u}'" for s, u in zip(servicio, unidad)],
            dtype=object,
        )
        if (~known).any()
        else None
    )
    checked.flag(~known, "servicio_desconocido", detail)
    word = np.asarray(
        v.per_unique(
            frame["cubierto"],
            lambda w: "t" if w.lower() in v.TRUE_WORDS else ("f" if w.lower() in v.FALSE_WORDS - {""} else "?"),
        ),
        dtype=object,
    )
    checked.flag(word == "?", "valor_invalido", "'cubierto' debe ser si o no")
    when, when_iso = v.parse_dates(frame["fecha"])
    checked.flag(
        np.isnat(when) | (when > np.datetime64(today)),
        "fecha_invalida",
        "'fecha' no es una fecha válida o está en el futuro",
    )
    reserved = frame["fuente"].str.lower().str.startswith(RESERVED_SOURCE).to_numpy(dtype=bool)
    checked.flag(
        reserved,
        "valor_invalido",
        "'fuente' no puede ser una contrarreferencia: las registra la institución en el geoportal",
    )
    clean = pd.DataFrame(
        {
            "unidad": unidad,
            "unidad_id": frame["unidad_id"],
            "servicio": servicio,
            "cubierto": word == "t",
            "fecha": np.asarray(when_iso, dtype=object),
            "fuente": frame["fuente"],
        }
    )
    key = clean["unidad"].astype(str)
    for column in KEY[1:]:
        key = key + "|" + clean[column].astype(str)
    v.check_duplicates(key.where(checked.ok, ""), checked)
    return clean, checked


def merge_records(cur: psycopg.Cursor, good: pd.DataFrame) -> tuple[int, int, int]:
    """Write new records and corrections; returns (new, corrected, of units not loaded yet)."""
    cur.execute("CREATE TEMP TABLE entrada (" + ", ".join(f"{c} {t}" for c, t in STAGED) + ") ON COMMIT DROP")
    copy_in(cur, "pg_temp.entrada", good[[c for c, _ in STAGED]])
    cur.execute("ANALYZE pg_temp.entrada")
    key = ", ".join(KEY)
    cur.execute(
        "CREATE TEMP TABLE registro ON COMMIT DROP AS"
        " WITH actual AS (SELECT DISTINCT ON ("
        + ", ".join(f"t.{k}" for k in KEY)
        + ") "
        + ", ".join(f"t.{k}" for k in KEY)
        + ", t.cubierto"
        " FROM nominal.estatus_evento t JOIN pg_temp.entrada e USING (" + key + ")"
        " ORDER BY " + ", ".join(f"t.{k}" for k in KEY) + ", t.registrado DESC, t.evento_id DESC)"
        " SELECT e.*, a.cubierto AS antes FROM pg_temp.entrada e LEFT JOIN actual a USING (" + key + ")"
    )
    new, corrected = cur.execute(
        "SELECT count(*) FILTER (WHERE antes IS NULL), count(*) FILTER (WHERE antes <> cubierto) FROM pg_temp.registro"
    ).fetchone()
    pending = cur.execute(
        "WITH escritos AS (INSERT INTO nominal.estatus_evento (unidad, unidad_id, servicio, cubierto, fecha, fuente)"
        " SELECT unidad, unidad_id, servicio, cubierto, fecha, fuente FROM pg_temp.registro"
        " WHERE antes IS DISTINCT FROM cubierto ORDER BY " + key + " RETURNING codigo_distrito)"
        " SELECT count(*) FILTER (WHERE codigo_distrito IS NULL) FROM escritos"
    ).fetchone()[0]
    return int(new), int(corrected), int(pending)
