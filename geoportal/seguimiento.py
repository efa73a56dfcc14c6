"""Read functions of the follow-up pages (Mesa, institution, Gabinete): plain SQL on the
caller's connection, so Row-Level Security and the session scope the web wing set on it
limit what each one sees. Nothing here writes, and nothing here audits: the caller
(``api.institucional.seguimiento``) logs every nominal read in the same transaction.

- ``points_in_reach``: the delivery points of a service's type nearest a household, with
  their great-circle distance and whether each lies within the catalog's catchment;
- ``closed_gaps``: the gaps the Mesa's own cycle closed since the public release in force
  (delivered contrarreferencias of its district), per service and per Logro;
- ``referral_details``: what a health worker needs to find the person of a referral
  (age, sex, locality, zone, the nearest named place), and no more;
- ``compare_rows``: the protected figures of departments (or the districts of one) with
  their metas and their change since the previous public release.
"""

from __future__ import annotations

from datetime import date

import psycopg

from geoportal.catalog import Catalogo, default_catalog
from geoportal.nombres import nombre_oficial
from geoportal.territory import POLIGONO_SQL

EARTH_KM = 6371.0088
# Great-circle distance in SQL (the same sphere as geoportal.geodesia).
_HAVERSINE = (
    f"2 * {EARTH_KM} * asin(sqrt(power(sin(radians(p.lat - %(lat)s) / 2), 2) + cos(radians(%(lat)s))"
    " * cos(radians(p.lat)) * power(sin(radians(p.lon - %(lon)s) / 2), 2)))"
)


def points_in_reach(
    conn: psycopg.Connection, lon: float, lat: float, tipo: str, radio_km: float, limite: int = 5
) -> list[dict]:
    """The ``limite`` points of ``tipo`` nearest (lon, lat), nearest first; ``alcance`` says
    whether each is within ``radio_km`` (the catalog's catchment of the unit's zone)."""
    rows = conn.execute(
        f"SELECT p.punto_id, p.nombre, {_HAVERSINE} AS km FROM oferta.punto_entrega p WHERE p.tipo = %(tipo)s"
        " ORDER BY p.geom <-> ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) LIMIT %(n)s",
        {"lon": lon, "lat": lat, "tipo": tipo, "n": limite * 4},
    ).fetchall()
    found = sorted(
        (
            {"punto_id": r[0], "nombre": r[1], "km": round(float(r[2]), 2), "alcance": float(r[2]) <= radio_km}
            for r in rows
        ),
        key=lambda p: (p["km"], p["punto_id"]),
    )
    return found[:limite]


def last_release(conn: psycopg.Connection) -> tuple[str | None, object]:
    """(data_version, calculated at) of the public release in force."""
    row = conn.execute("SELECT data_version, calculado_en FROM publico.version WHERE vigente").fetchone()
    return (row[0], row[1]) if row else (None, None)


def logros_of(catalog: Catalogo) -> dict[str, list[int]]:
    """service -> the Logros whose categories it serves (sorted)."""
    logro = {c.codigo: c.logro for c in catalog.categorias}
    return {s.codigo: sorted({logro[c] for c in s.categorias if c in logro}) for s in catalog.servicios}


def closed_gaps(conn: psycopg.Connection, since, catalog: Catalogo | None = None) -> dict:
    """Gaps closed by delivered contrarreferencias registered after ``since`` (the release in
    force), among the units the connection may see: units per service, and per Logro (a
    unit counted once per Logro even if two of its services closed)."""
    catalog = catalog or default_catalog()
    rows = conn.execute(
        "SELECT servicio, unidad, unidad_id FROM nominal.estatus_evento WHERE cubierto AND fuente LIKE 'contrarreferencia:%%'"
        " AND registrado > coalesce(%s, '-infinity'::timestamptz) GROUP BY servicio, unidad, unidad_id",
        (since,),
    ).fetchall()
    names = {s.codigo: s.nombre for s in catalog.servicios}
    logros = logros_of(catalog)
    per_service: dict[str, int] = {}
    per_logro: dict[int, set] = {}
    for servicio, unidad, unidad_id in rows:
        per_service[servicio] = per_service.get(servicio, 0) + 1
        for n in logros.get(servicio, []):
            per_logro.setdefault(n, set()).add((unidad, unidad_id))
    order = [s.codigo for s in catalog.servicios]
    servicios = [
        {"servicio": s, "nombre": names.get(s, s), "cerradas": per_service[s], "logros": logros.get(s, [])}
        for s in sorted(per_service, key=lambda s: (order.index(s) if s in order else 999, s))
    ]
    return {
        "servicios": servicios,
        "logros": [{"logro": n, "unidades": len(per_logro[n])} for n in sorted(per_logro)],
        "total": len({(u, i) for _, u, i in rows}),
    }


def age_on(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def age_text(birth: date, today: date) -> str:
    """«25 años»; under two, in months («7 meses»), as a health worker counts them."""
    years = age_on(birth, today)
    if years >= 2:
        return f"{years} años"
    months = (today.year - birth.year) * 12 + today.month - birth.month - (today.day < birth.day)
    return "1 mes" if months == 1 else f"{max(months, 0)} meses"


def referral_details(conn: psycopg.Connection, referrals: list[dict], today: date | None = None) -> dict[int, dict]:
    """derivacion_id -> sex, age (persons), locality, zone and nearest named place of the
    household (households of the visible referrals only: RLS decides)."""
    today = today or date.today()
    homes = sorted({r["hogar_id"] for r in referrals})
    persons = sorted({r["unidad_id"] for r in referrals if r["unidad"] == "persona"})
    home = (
        {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT h.hogar_id, h.localidad, h.zona, l.nombre, round((ST_DistanceSphere(h.geom, l.geom) / 1000)::numeric, 1)"
                " FROM nominal.hogar h LEFT JOIN LATERAL (SELECT nombre, geom FROM territorio.lugar"
                "  ORDER BY lugar.geom <-> h.geom LIMIT 1) l ON true WHERE h.hogar_id = ANY(%s)",
                (homes,),
            ).fetchall()
        }
        if homes
        else {}
    )
    person = (
        {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT persona_id, sexo, fecha_nacimiento FROM nominal.persona WHERE persona_id = ANY(%s)", (persons,)
            ).fetchall()
        }
        if persons
        else {}
    )
    out = {}
    for r in referrals:
        h = home.get(r["hogar_id"])
        p = person.get(r["unidad_id"]) if r["unidad"] == "persona" else None
        out[r["derivacion_id"]] = {
            "sexo": {"F": "mujer", "M": "varón"}.get(p[0]) if p else None,
            "edad": age_on(p[1], today) if p else None,
            "edad_texto": age_text(p[1], today) if p else None,
            "localidad": h[0] if h else None,
            "zona": h[1] if h else None,
            "cercania": (f"a {str(h[3]).replace('.', ',')} km de {nombre_oficial(h[2])}" if h and h[2] else None),
        }
    return out


def referral_cards(conn: psycopg.Connection, ids: list[int]) -> dict[int, dict]:
    """derivacion_id -> the household's locality, its FIPS address reference and, for a
    child, the guardian's name: ``nominal.ficha_derivaciones``, which answers an institution
    for its own referrals only and writes its own audit row (a Mesa's call is refused)."""
    if not ids:
        return {}
    return {
        r[0]: {"localidad": r[1], "direccion": r[2] or None, "responsable": r[3]}
        for r in conn.execute(
            "SELECT derivacion_id, localidad, referencia, responsable FROM nominal.ficha_derivaciones(%s)",
            (sorted(ids),),
        ).fetchall()
    }


def compare_rows(conn: psycopg.Connection, nivel: str, departamento: str | None, logros: list[int]) -> list[dict]:
    """Protected figures (``acceso.cifras_vivas``) of every department, or of the districts
    of ``departamento``: per Logro its share, meta, people concerned and the change in
    points since the previous public release (``publico.cobertura_anterior``; None if none)."""
    rows = [r[0] for r in conn.execute("SELECT * FROM acceso.cifras_vivas(%s, NULL)", ([nivel],)).fetchall()]
    if nivel == "distrito":
        mine = {
            r[0]
            for r in conn.execute(
                f"SELECT DISTINCT {POLIGONO_SQL} FROM territorio.distrito WHERE dpto = %s", (departamento,)
            ).fetchall()
        }
        rows = [r for r in rows if r["codigo"] in mine]
    before: dict = {}
    if conn.execute("SELECT to_regclass('publico.cobertura_anterior') IS NOT NULL").fetchone()[0]:
        columns = [d.name for d in conn.execute("SELECT * FROM publico.cobertura_anterior LIMIT 0").description]
        wanted = [f"l{n}_pct" for n in logros if f"l{n}_pct" in columns]
        if wanted:
            for r in conn.execute(
                f"SELECT codigo, {', '.join(wanted)} FROM publico.cobertura_anterior WHERE nivel = %s", (nivel,)
            ).fetchall():
                before[r[0]] = dict(zip(wanted, r[1:]))
    out = []
    for r in rows:
        item = {
            "codigo": r["codigo"],
            "nombre": r.get("nombre") or r["codigo"],
            "reservado": bool(r.get("reservado")),
            "logros": {},
        }
        for n in logros:
            value, meta = r.get(f"l{n}_pct"), r.get(f"l{n}_meta")
            old = before.get(r["codigo"], {}).get(f"l{n}_pct")
            item["logros"][n] = {
                "pct": value,
                "meta": meta,
                "universo": r.get(f"l{n}_universo"),
                "cambio": round(value - old, 1) if value is not None and old is not None else None,
            }
        out.append(item)
    return out
