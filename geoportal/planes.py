"""Plans of improvement and investment (planes de mejora e inversión), their expected
effect and their monitoring.

A **plan** belongs to one 2022 district (title, period, author) and holds **actions**:
``campana_derivacion`` (referral campaign: service, locality, target count),
``punto_nuevo`` (a new delivery point: type, site, capacity, cost), ``punto_ampliado``
(an existing point's capacity raised), ``operativo_registro`` (outreach / registration
drive) — each with its responsible institution, dates and status. Stored in the
``planes`` schema (migration 0013) under Row-Level Security; the functions here take the
caller's connection, already scoped (``api.institucional.planes``) or the admin's (CLI).

- **Expected effect** (:func:`efecto`): all the plan's new points together through the
  what-if engine (``geoportal.whatif.simulate``, rolled back): units moving from *sin
  oferta* to *con oferta* per service and the Logro changes (a point changes reach, so
  only the entorno Logro's coverage moves; see whatif's docstring); campaigns as their
  target count added to the service's covered units (at most its gap). Logro by Logro
  against the meta of the live protected figures. Counts that leave this module are
  protected like every figure a role sees (:func:`proteger`).
- **Progress** (:func:`avance`): referrals made and delivered for a campaign's service in
  the district within the action's dates (the cycle's own records), a new point present in
  the network (a point of the type within 500 m of the site), an extended point's capacity.
- **Course** (:func:`serie`): a Logro's share over the public releases
  (``publico.cifra_historia``) beside its meta, and a small SVG line for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import psycopg

from geoportal.catalog import Catalogo, default_catalog
from geoportal.settings import get_settings

TIPOS = {
    "campana_derivacion": "Campaña de derivación",
    "punto_nuevo": "Punto de entrega nuevo",
    "punto_ampliado": "Punto de entrega ampliado",
    "operativo_registro": "Operativo de registro",
}
ESTADOS = ("prevista", "en_curso", "cumplida", "cancelada")
PRESENTE_KM = 0.5
PLAN_COLS = ["plan_id", "titulo", "distrito", "periodo_desde", "periodo_hasta", "autor", "rol", "creado", "modificado"]
ACCION_COLS = [
    "accion_id",
    "plan_id",
    "tipo",
    "descripcion",
    "institucion",
    "desde",
    "hasta",
    "estado",
    "meta",
    "servicio",
    "localidad",
    "punto_tipo",
    "punto_id",
    "lon",
    "lat",
    "capacidad",
    "costo",
]


class PlanError(ValueError):
    """Bad plan input; the message is Spanish and names the field."""


def proteger(n: float | None) -> int | None:
    """A count as a role may see it: under the threshold hidden (None), else rounded to the base."""
    if n is None:
        return None
    s = get_settings()
    n = round(float(n))
    if 0 < abs(n) < s.umbral_hogares:
        return None
    return int(s.base_redondeo * round(n / s.base_redondeo))


def _fecha(valor, campo: str) -> date:
    if isinstance(valor, date):
        return valor
    try:
        return date.fromisoformat(str(valor))
    except ValueError:
        raise PlanError(f"Campo '{campo}': '{str(valor)[:20]}' no es una fecha AAAA-MM-DD.") from None


def _jsonable(row: dict) -> dict:
    return {
        k: (v.isoformat() if hasattr(v, "isoformat") else float(v) if k == "costo" and v is not None else v)
        for k, v in row.items()
    }


# ----------------------------------------------------------------------------- plans
def validar_plan(conn: psycopg.Connection, datos: dict) -> dict:
    titulo = str(datos.get("titulo") or "").strip()
    if not 3 <= len(titulo) <= 200:
        raise PlanError("Campo 'titulo': debe tener entre 3 y 200 caracteres.")
    desde, hasta = (
        _fecha(datos.get("periodo_desde"), "periodo_desde"),
        _fecha(datos.get("periodo_hasta"), "periodo_hasta"),
    )
    if hasta < desde:
        raise PlanError(
            f"Fechas invertidas: el período termina ({hasta.isoformat()}) antes de empezar ({desde.isoformat()})."
        )
    distrito = str(datos.get("distrito") or "").strip()
    if conn.execute("SELECT 1 FROM territorio.distrito WHERE codigo = %s", (distrito,)).fetchone() is None:
        raise PlanError(f"Campo 'distrito': '{distrito[:8]}' no es un distrito 2022 (4 dígitos).")
    return {"titulo": titulo, "distrito": distrito, "periodo_desde": desde, "periodo_hasta": hasta}


def crear_plan(conn: psycopg.Connection, datos: dict, autor: str, rol: str) -> int:
    d = validar_plan(conn, datos)
    return conn.execute(
        "INSERT INTO planes.plan (titulo, distrito, periodo_desde, periodo_hasta, autor, rol)"
        " VALUES (%s, %s, %s, %s, %s, %s) RETURNING plan_id",
        (d["titulo"], d["distrito"], d["periodo_desde"], d["periodo_hasta"], autor, rol),
    ).fetchone()[0]


def listar(conn: psycopg.Connection) -> list[dict]:
    rows = conn.execute(f"SELECT {', '.join(PLAN_COLS)} FROM planes.plan ORDER BY distrito, plan_id").fetchall()
    return [_jsonable(dict(zip(PLAN_COLS, r))) for r in rows]


def leer(conn: psycopg.Connection, plan_id: int) -> dict | None:
    row = conn.execute(f"SELECT {', '.join(PLAN_COLS)} FROM planes.plan WHERE plan_id = %s", (plan_id,)).fetchone()
    if row is None:
        return None
    plan = _jsonable(dict(zip(PLAN_COLS, row)))
    plan["nombre_distrito"] = conn.execute(
        "SELECT nombre FROM territorio.distrito WHERE codigo = %s", (plan["distrito"],)
    ).fetchone()[0]
    acciones = conn.execute(
        f"SELECT {', '.join(ACCION_COLS)} FROM planes.accion WHERE plan_id = %s ORDER BY desde, accion_id", (plan_id,)
    ).fetchall()
    plan["acciones"] = [_jsonable(dict(zip(ACCION_COLS, a))) for a in acciones]
    return plan


# ----------------------------------------------------------------------------- actions
def validar_accion(conn: psycopg.Connection, plan: dict, datos: dict, catalog: Catalogo | None = None) -> dict:
    catalog = catalog or default_catalog()
    tipo = datos.get("tipo")
    if tipo not in TIPOS:
        raise PlanError(f"Campo 'tipo': '{str(tipo)[:30]}' no es un tipo de acción ({', '.join(TIPOS)}).")
    institucion = str(datos.get("institucion") or "")
    if institucion not in catalog.instituciones:
        raise PlanError(
            f"Campo 'institucion': '{institucion[:30]}' no está en el catálogo "
            f"({', '.join(sorted(catalog.instituciones))})."
        )
    desde, hasta = _fecha(datos.get("desde"), "desde"), _fecha(datos.get("hasta"), "hasta")
    if hasta < desde:
        raise PlanError(
            f"Fechas invertidas: la acción termina ({hasta.isoformat()}) antes de empezar ({desde.isoformat()})."
        )
    inicio, fin = _fecha(plan["periodo_desde"], "periodo_desde"), _fecha(plan["periodo_hasta"], "periodo_hasta")
    if desde < inicio or hasta > fin:
        raise PlanError(
            f"Las fechas de la acción deben caer dentro del período del plan ({inicio.isoformat()} a {fin.isoformat()})."
        )
    estado = datos.get("estado") or "prevista"
    if estado not in ESTADOS:
        raise PlanError(f"Campo 'estado': debe ser {', '.join(ESTADOS)}.")
    meta = datos.get("meta")
    if meta is not None and (not isinstance(meta, int) or meta < 0):
        raise PlanError("Campo 'meta': debe ser un entero mayor o igual a 0.")
    out = {k: None for k in ("servicio", "localidad", "punto_tipo", "punto_id", "lon", "lat", "capacidad", "costo")}
    out.update(
        {
            "tipo": tipo,
            "institucion": institucion,
            "desde": desde,
            "hasta": hasta,
            "estado": estado,
            "meta": meta,
            "descripcion": str(datos.get("descripcion") or "")[:500],
            "localidad": datos.get("localidad"),
        }
    )
    if tipo == "campana_derivacion":
        servicio = str(datos.get("servicio") or "")
        if servicio not in {s.codigo for s in catalog.servicios if s.unidad != "entorno"}:
            raise PlanError(
                f"Campo 'servicio': '{servicio[:30]}' no es un servicio de personas u hogares del catálogo."
            )
        if meta is None:
            raise PlanError("Una campaña de derivación necesita 'meta' (cantidad de derivaciones).")
        out["servicio"] = servicio
    if tipo in ("punto_nuevo", "punto_ampliado"):
        punto_tipo = str(datos.get("punto_tipo") or "")
        if punto_tipo not in catalog.tipos_punto:
            raise PlanError(
                f"Tipo de punto desconocido '{punto_tipo[:30]}'. Tipos válidos: "
                f"{', '.join(sorted(catalog.tipos_punto))}."
            )
        capacidad = datos.get("capacidad")
        if capacidad is not None and (not isinstance(capacidad, int) or capacidad <= 0):
            raise PlanError("Campo 'capacidad': debe ser un entero mayor que 0.")
        costo = datos.get("costo")
        if costo is None and tipo == "punto_nuevo":
            costo = catalog.tipos_punto[punto_tipo].costo  # the catalog's assumed cost
        if costo is not None and (not isinstance(costo, (int, float)) or costo < 0):
            raise PlanError("Campo 'costo': debe ser un número mayor o igual a 0.")
        out.update({"punto_tipo": punto_tipo, "capacidad": capacidad, "costo": costo})
    if tipo == "punto_nuevo":
        try:
            lon, lat = float(datos.get("lon")), float(datos.get("lat"))
        except (TypeError, ValueError):
            raise PlanError("Un punto nuevo necesita 'lon' y 'lat' (grados).") from None
        if out["capacidad"] is None:
            out["capacidad"] = catalog.tipos_punto[punto_tipo].capacidad or 1
        punto_en_distrito(conn, plan["distrito"], lon, lat)
        out.update({"lon": lon, "lat": lat})
    if tipo == "punto_ampliado":
        punto_id = str(datos.get("punto_id") or "")
        found = conn.execute("SELECT tipo FROM oferta.punto_entrega WHERE punto_id = %s", (punto_id,)).fetchone()
        if found is None or found[0] != out["punto_tipo"]:
            raise PlanError(f"Campo 'punto_id': no hay un punto {out['punto_tipo']} '{punto_id[:40]}' en la red.")
        out["punto_id"] = punto_id
    return out


def punto_en_distrito(conn: psycopg.Connection, distrito: str, lon: float, lat: float) -> None:
    """PlanError unless the point lies in the district (its mapped polygon, with the configured tolerance)."""
    km = conn.execute(
        "SELECT ST_Distance(c.geom::geography, ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography) / 1000"
        " FROM territorio.distrito d JOIN territorio.distrito_cartografico c USING (codigo_2012)"
        " WHERE d.codigo = %s",
        (lon, lat, distrito),
    ).fetchone()
    if km is not None and km[0] > get_settings().tolerancia_distrito_m / 1000:
        raise PlanError(
            f"El punto (lon {lon:g}, lat {lat:g}) cae fuera del distrito {distrito} (a {km[0]:.1f} km de su límite)."
        )


def agregar_accion(conn: psycopg.Connection, plan: dict, datos: dict, catalog: Catalogo | None = None) -> int:
    a = validar_accion(conn, plan, datos, catalog)
    columnas = [c for c in ACCION_COLS if c not in ("accion_id", "plan_id")]
    accion_id = conn.execute(
        f"INSERT INTO planes.accion (plan_id, {', '.join(columnas)}) VALUES (%s, {', '.join(['%s'] * len(columnas))})"
        " RETURNING accion_id",
        (plan["plan_id"], *[a[c] for c in columnas]),
    ).fetchone()[0]
    conn.execute("UPDATE planes.plan SET modificado = now() WHERE plan_id = %s", (plan["plan_id"],))
    return accion_id


# ----------------------------------------------------------------------------- effect
@dataclass
class Efecto:
    logros: list[dict]
    servicios: list[dict]
    puntos: int
    costo_total: float | None


def efecto(
    conn: psycopg.Connection, plan: dict, catalog: Catalogo | None = None, fecha_corte: date | None = None
) -> Efecto:
    """Expected effect of the plan (admin connection: the what-if reads the district's units)."""
    from geoportal.alertas import live_rows
    from geoportal.territory import POLIGONO_SQL
    from geoportal.whatif import PuntoNuevo, simulate

    catalog = catalog or default_catalog()
    activas = [a for a in plan["acciones"] if a["estado"] != "cancelada"]
    nuevos = [
        PuntoNuevo(a["punto_tipo"], a["lon"], a["lat"], int(a["capacidad"] or 1))
        for a in activas
        if a["tipo"] == "punto_nuevo"
    ]
    poligono = conn.execute(
        f"SELECT {POLIGONO_SQL} FROM territorio.distrito WHERE codigo = %s", (plan["distrito"],)
    ).fetchone()[0]
    vivas = live_rows(conn, ["distrito"], poligono)
    fila = vivas[0] if vivas else {}
    conn.commit()
    tabla = simulate(conn, plan["distrito"], nuevos, fecha_corte=fecha_corte, catalog=catalog)
    por_servicio = tabla.set_index("servicio")
    campanas: dict[str, int] = {}
    for a in activas:
        if a["tipo"] == "campana_derivacion":
            campanas[a["servicio"]] = campanas.get(a["servicio"], 0) + int(a["meta"] or 0)
    servicios = []
    for s in catalog.servicios:
        c = s.codigo.lower()
        pasan = 0
        if s.codigo in por_servicio.index and s.unidad != "entorno":
            r = por_servicio.loc[s.codigo]
            pasan = int(r["brecha_sin_oferta_antes"] - r["brecha_sin_oferta_despues"])
        meta = campanas.get(s.codigo, 0)
        if not pasan and not meta:
            continue
        aplica, pct = fila.get(f"{c}_aplica"), fila.get(f"{c}_pct")
        con_oferta = fila.get(f"{c}_con_oferta")
        derivables = (con_oferta or 0) + pasan
        esperado = None
        if pct is not None and aplica:
            esperado = round(min(100.0, pct + 100.0 * min(meta, derivables) / aplica), 1)
        servicios.append(
            {
                "servicio": s.codigo,
                "nombre": s.nombre,
                "pasan_a_con_oferta": proteger(pasan),
                "meta_campana": meta,
                "cobertura_pct": pct,
                "cobertura_esperada_pct": esperado if meta else pct,
            }
        )
    logros = []
    for cat in sorted(catalog.categorias, key=lambda k: k.logro):
        n = cat.logro
        actual, meta = fila.get(f"l{n}_pct"), fila.get(f"l{n}_meta")
        esperado = actual
        clave = f"LOGRO_{n}"
        if clave in por_servicio.index and actual is not None:
            r = por_servicio.loc[clave]
            if int(r["aplica"]) > 0:
                esperado = round(
                    min(
                        100.0,
                        max(
                            0.0, actual + 100.0 * (int(r["cubiertos_despues"]) - int(r["cubiertos"])) / int(r["aplica"])
                        ),
                    ),
                    1,
                )
        logros.append(
            {
                "logro": n,
                "nombre": cat.nombre,
                "actual_pct": actual,
                "esperado_pct": esperado,
                "meta_pct": meta,
                "alcanza_meta": None if esperado is None or meta is None else esperado >= meta,
            }
        )
    costos = [float(a["costo"]) for a in activas if a.get("costo") is not None]
    return Efecto(logros, servicios, len(nuevos), sum(costos) if costos else None)


# ----------------------------------------------------------------------------- monitoring
def avance(conn: psycopg.Connection, plan: dict, hoy: date | None = None) -> list[dict]:
    """Progress of each action from the cycle's records and the network (admin connection)."""
    hoy = hoy or date.today()
    out = []
    for a in plan["acciones"]:
        item = {
            "accion_id": a["accion_id"],
            "vencida": _fecha(a["hasta"], "hasta") < hoy and a["estado"] not in ("cumplida", "cancelada"),
        }
        if a["tipo"] == "campana_derivacion":
            hechas, entregadas = conn.execute(
                "SELECT count(*), count(*) FILTER (WHERE estado = 'entregada') FROM nominal.derivacion"
                " WHERE distrito = %s AND servicio = %s AND creada::date BETWEEN %s AND %s",
                (plan["distrito"], a["servicio"], a["desde"], a["hasta"]),
            ).fetchone()
            item.update(
                {
                    "derivaciones": hechas,
                    "entregadas": entregadas,
                    "meta": a["meta"],
                    "texto": f"{hechas} derivaciones, {entregadas} entregadas (meta {a['meta']})",
                }
            )
        elif a["tipo"] == "punto_nuevo":
            presente = conn.execute(
                "SELECT punto_id FROM oferta.punto_entrega WHERE tipo = %s AND ST_DWithin(geom::geography,"
                " ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography, %s) ORDER BY punto_id LIMIT 1",
                (a["punto_tipo"], a["lon"], a["lat"], PRESENTE_KM * 1000),
            ).fetchone()
            item.update(
                {
                    "presente": presente is not None,
                    "texto": "presente en la red" if presente else "todavía no está en la red",
                }
            )
        elif a["tipo"] == "punto_ampliado":
            cap = conn.execute(
                "SELECT capacidad FROM oferta.punto_entrega WHERE punto_id = %s", (a["punto_id"],)
            ).fetchone()
            listo = cap is not None and a["capacidad"] is not None and cap[0] >= a["capacidad"]
            item.update(
                {
                    "presente": listo,
                    "texto": f"capacidad actual {cap[0] if cap else '—'}"
                    + (f" (objetivo {a['capacidad']})" if a["capacidad"] else ""),
                }
            )
        else:
            item["texto"] = "sin medición automática (registre el estado)"
        out.append(item)
    return out


def serie(conn: psycopg.Connection, nivel: str, codigo: str, columna: str) -> list[dict]:
    """The protected share ``columna`` of a territory over the public releases, oldest first."""
    rows = conn.execute(
        "SELECT h.fecha, h.data_version, h.valor FROM publico.cifra_historia h LEFT JOIN publico.version v"
        " USING (data_version) WHERE h.nivel = %s AND h.codigo = %s AND h.columna = %s"
        " ORDER BY h.fecha, v.calculado_en, h.data_version",
        (nivel, codigo, columna),
    ).fetchall()
    return [{"fecha": f.isoformat(), "data_version": v, "valor": float(x)} for f, v, x in rows]


def svg_serie(puntos: list[dict], meta: float | None, ancho: int = 240, alto: int = 80) -> dict:
    """Coordinates of a small line chart (0-100 %) of a series and its meta, for the template."""

    def y(v: float) -> float:
        return round(alto - 4 - (alto - 8) * max(0.0, min(100.0, v)) / 100.0, 1)

    n = len(puntos)
    xs = [round(4 + (ancho - 8) * (k / (n - 1) if n > 1 else 0.5), 1) for k in range(n)]
    return {
        "ancho": ancho,
        "alto": alto,
        "linea": " ".join(f"{x},{y(p['valor'])}" for x, p in zip(xs, puntos)),
        "puntos": [{"x": x, "y": y(p["valor"]), "valor": p["valor"], "fecha": p["fecha"]} for x, p in zip(xs, puntos)],
        "meta_y": None if meta is None else y(meta),
    }
