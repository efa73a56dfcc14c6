"""Fingerprint of the nominal data behind the figures, one per 2022 district.

``data_version`` must change whenever a published figure can, and stay the same for the
same data however it was computed: a national computation, or one followed by district
updates, over the same rows gives the same version. So the fingerprint is kept per
district (``calculo.huella``): a national computation writes every district's, a district
update replaces its own. Each hashes the district's households, their persons and the
status event of each unit and service that counts (the newest, as the computation takes
it), column by column, and every other input at that moment (points, territory,
catalog, cut-off, ...: ``pipeline.computation_inputs``).

It is computed in PostgreSQL, in parallel and without sorting: a sum of 64-bit row
hashes per district (order-free; any changed, added or removed row changes it). The
national one (1.9 M households, 6.1 M persons, 0.5 M events: a parallel query of 7-9 s
on the loaded, shared 2-core machine) runs on its own connection beside the read and
the engine (``pipeline.compute_all``); a district's takes about 0.3 s.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date

import psycopg

# One 64-bit hash per row: each column hashed by type with its own seed, combined by XOR.
HOGAR = (
    "hashtextextended(h.hogar_id, 11) # hashtextextended(h.codigo_distrito, 12)"
    " # hashtextextended(coalesce(h.codigo_2012, ''), 13) # hashtextextended(h.localidad, 14)"
    " # hashtextextended(h.zona, 15) # hashint4extended(h.fecha_relevamiento - date '2000-01-01', 16)"
    " # hashfloat8extended(h.lon, 17) # hashfloat8extended(h.lat, 18) # hashint8extended(h.h3_8, 19)"
    " # hash_array_extended(h.servicios, 20)"
)
PERSONA = (
    "hashtextextended(p.persona_id, 1) # hashtextextended(p.hogar_id, 2) # hashbpcharextended(p.sexo, 3)"
    " # hashint4extended(p.fecha_nacimiento - date '2000-01-01', 4)"
    " # hashint4extended(p.embarazada::int + 2 * p.discapacidad::int + 4 * p.indigena::int, 5)"
    " # hash_array_extended(p.servicios, 6)"
)
EVENTO = (
    "hashtextextended(e.unidad, 21) # hashtextextended(e.unidad_id, 22) # hashtextextended(e.servicio, 23)"
    " # hashint4extended(e.cubierto::int, 24) # hashint4extended(e.fecha - date '2000-01-01', 25)"
    " # hashtextextended(e.fuente, 26)"
)


def _query(distrito: str | None, fecha_corte: date | None) -> tuple[str, tuple]:
    only_h = "" if distrito is None else " WHERE h.codigo_distrito = %(d)s"
    events = " AND ".join(
        w
        for w, v in (
            ("codigo_distrito = %(d)s", distrito),
            ("fecha <= %(c)s", fecha_corte),
            ("codigo_distrito IS NOT NULL", True),
        )
        if v is not None
    )
    return (
        (
            "SELECT codigo_distrito, coalesce(sum(hh), 0)::text, coalesce(sum(pp), 0)::text, coalesce(sum(ee), 0)::text FROM ("
            f" SELECT h.codigo_distrito, {HOGAR} AS hh, NULL::bigint AS pp, NULL::bigint AS ee FROM nominal.hogar h{only_h}"
            f" UNION ALL SELECT h.codigo_distrito, NULL, {PERSONA}, NULL"
            f"  FROM nominal.persona p JOIN nominal.hogar h USING (hogar_id){only_h}"
            f" UNION ALL SELECT e.codigo_distrito, NULL, NULL, {EVENTO} FROM ("
            "  SELECT DISTINCT ON (unidad, unidad_id, servicio) * FROM nominal.estatus_evento"
            f"  WHERE {events} ORDER BY unidad, unidad_id, servicio, fecha DESC, registrado DESC, evento_id DESC) e"
            ") t GROUP BY codigo_distrito ORDER BY codigo_distrito"
        ),
        {"d": distrito, "c": fecha_corte},
    )


def district_sums(
    conn: psycopg.Connection, distrito: str | None = None, fecha_corte: date | None = None
) -> dict[str, str]:
    """District -> the sums of its row hashes (households, persons, events that count)."""
    sql, params = _query(distrito, fecha_corte)
    return {d: f"{h}|{p}|{e}" for d, h, p, e in conn.execute(sql, params).fetchall()}


def fingerprints(sums: dict[str, str], inputs: dict) -> dict[str, str]:
    """District -> SHA-256 of its row sums and of every other input of the computation."""
    context = json.dumps(inputs, sort_keys=True)
    return {d: hashlib.sha256(f"{d}|{s}|{context}".encode()).hexdigest() for d, s in sums.items()}
