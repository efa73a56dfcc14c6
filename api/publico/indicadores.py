"""Indicators, territory profiles and place search (``/api/...``), all from ``publico``.

* ``/api/indicadores?nivel=&codigo=``: the 10 Logros (numerator = protegidos, denominator
  = universo, share, meta, progress) and every service (cubiertos / aplica, share, gaps).
* ``/api/territorios/{codigo}``: the profile a Mesa opens first: Logros against metas,
  ranked gaps (which service, how many units, investment vs referral, where: the published
  H3 resolution-7 cells of the territory with the largest gap), survey coverage with a
  warning when low, persons far from each point type (the published ``lejos_*`` counts
  and shares), and change since the previous version (said plainly when the store keeps
  only the current one).
* ``/api/buscar?q=``: departments, districts and localities by name, accent-, case-, ñ- and
  abbreviation-insensitive ("asuncion", "nemby", "Mcal"); names in their one public form
  (``geoportal.nombres.nombre_oficial``).
* ``/api/sin-relevamiento``: the departments and districts the FIPS survey has not reached
  (name and census population only); their profile answers 200 with what is public.
* ``/api/medidas``: the dictionary of published measures.
"""

from __future__ import annotations

import re

import psycopg
from fastapi import APIRouter, Path, Query

from api.base.ajustes import ajustes
from api.base.conexiones import PoolPublico, conexion
from api.base.errores import NoEncontrado, SolicitudIncorrecta
from api.base.publicado import NIVELES, medidas, version_o_503
from api.publico.consultas import tipo_nombres
from geoportal.brechas import ranked_service_gaps
from geoportal.nombres import clave, clave_busqueda, nombre_oficial

router = APIRouter(prefix="/api", tags=["indicadores"])

# A 2022 district without a 2012 polygon of its own is published as D + its code (D0222).
CODIGO = re.compile(r"^(PY|[0-9]{2}|D?[0-9]{4}|[0-9a-f]{15})$")


def _row(conn: psycopg.Connection, nivel: str | None, codigo: str) -> dict:
    if not CODIGO.match(codigo):
        raise SolicitudIncorrecta(
            "El código debe ser PY, un departamento (2 dígitos), un distrito "
            "(4 dígitos) o una celda H3 (15 caracteres hexadecimales)."
        )
    query = "SELECT * FROM publico.cobertura WHERE codigo = %s" + (" AND nivel = %s" if nivel else "")
    cur = conn.execute(query, (codigo, nivel) if nivel else (codigo,))
    row = cur.fetchone()
    if row is None:
        raise NoEncontrado(
            f"No hay cifras publicadas para el código '{codigo}'" + (f" en el nivel '{nivel}'." if nivel else ".")
        )
    out = dict(zip([d.name for d in cur.description], row))
    out.pop("geom", None)
    return out


def _indicadores(conn: psycopg.Connection, row: dict) -> dict:
    dictionary = medidas(conn)
    logros: dict[int, dict] = {}
    servicios: dict[str, dict] = {}
    for m in dictionary:
        if m.logro is not None:
            kind = m.columna.removeprefix(f"l{m.logro}_")
            entry = logros.setdefault(m.logro, {"logro": m.logro, "unidad": m.unidad})
            if kind == "universo":
                entry["nombre"] = m.etiqueta.removeprefix(f"Logro {m.logro}: ").removesuffix(" identificados")
                entry["unidad"] = m.unidad
            entry[{"universo": "denominador", "protegidos": "numerador", "pct": "porcentaje"}.get(kind, kind)] = (
                row.get(m.columna)
            )
        elif m.servicio is not None:
            kind = m.columna.removeprefix(m.servicio.lower() + "_")
            entry = servicios.setdefault(
                m.servicio, {"servicio": m.servicio, "paquete": m.paquete, "nombre": m.etiqueta.split(":")[0]}
            )
            if kind == "aplica":
                entry["unidad"] = m.unidad
            entry[{"aplica": "denominador", "cubiertos": "numerador", "pct": "porcentaje"}.get(kind, kind)] = row.get(
                m.columna
            )
    for entry in servicios.values():
        entry.setdefault("meta", None)
    return {"logros": [logros[k] for k in sorted(logros)], "servicios": list(servicios.values())}


LEJOS = re.compile(r"^lejos_([a-z_]+)_([0-9]+)km$")


def _lejania(row: dict) -> list[dict]:
    """Persons beyond each distance of the nearest point of each type: the row's published
    (protected) counts and shares, nothing recomputed."""
    names = tipo_nombres()
    by_type: dict[str, list[dict]] = {}
    for column, value in row.items():
        found = LEJOS.match(column)
        if found:
            tipo, km = found.group(1), int(found.group(2))
            by_type.setdefault(tipo, []).append({"km": km, "personas": value, "porcentaje": row.get(column + "_pct")})
    return [
        {"tipo": t, "tipo_nombre": names.get(t, t), "umbrales": sorted(v, key=lambda u: u["km"])}
        for t, v in by_type.items()
    ]


def _head(row: dict, version: dict) -> dict:
    return {
        "nivel": row["nivel"],
        "codigo": row["codigo"],
        "nombre": nombre_oficial(row["nombre"]),
        "padre": row["padre"],
        "reservado": row["reservado"],
        "data_version": version["data_version"],
        "nota_sdc": version["notas"],
    }


@router.get("/indicadores", summary="Logros y servicios de un territorio")
def indicadores(
    publico: PoolPublico,
    nivel: str = Query(..., max_length=20, description="pais, departamento, distrito, h3_5 … h3_8"),
    codigo: str = Query(..., max_length=20, description="Código del área (PY, 11, 1116, celda H3)"),
):
    if nivel not in NIVELES:
        raise SolicitudIncorrecta(f"El parámetro 'nivel' debe ser uno de: {', '.join(NIVELES)}.")
    with conexion(publico) as conn:
        version = version_o_503(conn)
        row = _row(conn, nivel, codigo)
        return {**_head(row, version), **_indicadores(conn, row)}


@router.get("/medidas", summary="Diccionario de medidas publicadas")
def diccionario_medidas(publico: PoolPublico):
    with conexion(publico) as conn:
        return [m.__dict__ for m in medidas(conn)]


def _brechas(conn: psycopg.Connection, row: dict, servicios: list[dict], lugares: int = 3) -> list[dict]:
    """The profile's ranked gaps (``geoportal.brechas.ranked_service_gaps``, as the CLI's)."""
    by_code = {s["servicio"]: s for s in servicios}
    out = []
    for g in ranked_service_gaps(conn, row, list(by_code), lugares):
        s, gap, without, within = by_code[g["servicio"]], g["brecha"], g["sin_oferta"], g["con_oferta"]
        caso = None
        if gap:
            caso = "inversión (sin oferta al alcance)" if without >= within else "derivación (con oferta al alcance)"
        out.append(
            {
                "servicio": s["servicio"],
                "nombre": s["nombre"],
                "paquete": s["paquete"],
                "unidad": s.get("unidad"),
                "brecha": gap,
                "sin_oferta": without,
                "con_oferta": within,
                "caso_principal": caso,
                "donde_h3_7": [{"celda": c, "brecha": n} for c, n in g["donde"]],
            }
        )
    return out


def _cambio(conn, row: dict, version: str) -> dict:
    """Change of each Logro's published share since the previous public release
    (``publico.cobertura_anterior``), in percentage points; both figures are published ones."""
    exists = conn.execute("SELECT to_regclass('publico.cobertura_anterior') IS NOT NULL").fetchone()[0]
    before = (
        conn.execute(
            "SELECT * FROM publico.cobertura_anterior WHERE nivel = %s AND codigo = %s", (row["nivel"], row["codigo"])
        ).fetchone()
        if exists
        else None
    )
    if before is None:
        return {
            "disponible": False,
            "version_anterior": None,
            "motivo": "No hay una versión anterior publicada de este territorio.",
        }
    columns = [d.name for d in conn.execute("SELECT * FROM publico.cobertura_anterior LIMIT 0").description]
    before = dict(zip(columns, before))
    if before["data_version"] == version:
        return {"disponible": False, "version_anterior": None, "motivo": "No hay una versión anterior publicada."}
    logros = []
    for n in range(1, 11):
        now, then = row.get(f"l{n}_pct"), before.get(f"l{n}_pct")
        logros.append(
            {
                "logro": n,
                "pct_anterior": then,
                "pct": now,
                "diferencia": None if now is None or then is None else round(float(now) - float(then), 1),
            }
        )
    return {
        "disponible": True,
        "version_anterior": before["data_version"],
        "unidad": "puntos porcentuales",
        "logros": logros,
    }


def _evolucion(conn: psycopg.Connection, nivel: str, codigo: str) -> dict[str, list[dict]]:
    """Each Logro's published share over the public releases (publico.cifra_historia), oldest first."""
    rows = conn.execute(
        "SELECT h.columna, h.fecha, h.data_version, h.valor FROM publico.cifra_historia h"
        " LEFT JOIN publico.version v USING (data_version) WHERE h.nivel = %s AND h.codigo = %s"
        " AND h.columna ~ '^l[0-9]+_pct$' ORDER BY h.fecha, v.calculado_en, h.data_version",
        (nivel, codigo),
    ).fetchall()
    out: dict[str, list[dict]] = {}
    for columna, fecha, version, valor in rows:
        out.setdefault(columna[1:-4], []).append(
            {"fecha": fecha.isoformat(), "data_version": version, "valor": round(float(valor), 1)}
        )
    return out


@router.get("/territorios/{codigo}", summary="Perfil de un territorio (Logros, brechas, relevamiento)")
def territorio(
    publico: PoolPublico,
    codigo: str = Path(..., max_length=20, description="PY, departamento (2 dígitos) o distrito (4 dígitos)"),
):
    if not re.match(r"^(PY|[0-9]{2}|D?[0-9]{4})$", codigo):
        raise SolicitudIncorrecta(
            "El código de territorio debe ser PY, un departamento (2 dígitos) "
            "o un distrito (4 dígitos, código del polígono, p. ej. 1116; D y el "
            "código del censo 2022 si no tiene polígono propio, p. ej. D0222)."
        )
    nivel = "pais" if codigo == "PY" else ("departamento" if len(codigo) == 2 else "distrito")
    with conexion(publico) as conn:
        version = version_o_503(conn)
        try:
            row = _row(conn, nivel, codigo)
        except NoEncontrado:
            # A known territory the survey has not reached: what is public about it, 200.
            perfil = _perfil_sin_relevamiento(conn, nivel, codigo, version)
            if perfil is None:
                raise NoEncontrado(f"No existe el territorio de código '{codigo}'.") from None
            return perfil
        data = _indicadores(conn, row)
        brechas = [] if row["reservado"] else _brechas(conn, row, data["servicios"])
        cambio = _cambio(conn, row, version)
        evolucion = {} if row["reservado"] else _evolucion(conn, nivel, codigo)
        bbox = _bbox(conn, nivel, codigo)
    pct = row.get("relevamiento_pct")
    low = ajustes().api_relevamiento_bajo_pct
    aviso = None
    if pct is None:
        aviso = (
            "No se publica la cobertura del relevamiento de este territorio (área reservada o sin población censal)."
        )
    elif pct < low:
        aviso = (
            f"Cobertura del relevamiento baja: solo {str(pct).replace('.', ',')} % de la población censal 2022 "
            "fue relevada. Las cifras describen a los hogares relevados y pueden no representar al territorio."
        )
    return {
        **_head(row, version),
        "bbox": bbox,
        "logros": data["logros"],
        "brechas": brechas,
        "relevamiento": {"relevamiento_pct": pct, "umbral_bajo_pct": low, "aviso": aviso},
        "lejania": _lejania(row),
        "cambio_desde_version_anterior": cambio,
        "evolucion": evolucion,
        "reservado_texto": (
            "Área reservada por control de divulgación: no se publican sus cifras." if row["reservado"] else None
        ),
    }


# Census population of each published area, as geoportal.publicacion sums it: a 2022
# district counts in its 2012 polygon, or in its own D-code when it has none.
_CENSO = (
    "SELECT CASE WHEN %(nivel)s = 'departamento' THEN d.dpto"
    " ELSE COALESCE(NULLIF(d.codigo_2012, ''), 'D' || d.codigo) END AS codigo,"
    " d.dpto, d.nombre, d.pob_total, d.lon_cabecera, d.lat_cabecera FROM territorio.distrito d"
)
SIN_RELEVAMIENTO_TEXTO = (
    "La Ficha de Información de Protección Social todavía no "
    "relevó hogares en este territorio (0 % de su población censal 2022). No hay cifras "
    "de cobertura ni brechas; solo lo público: nombre, población del censo 2022 y los "
    "puntos de entrega más cercanos."
)


def _sin_relevamiento(conn: psycopg.Connection) -> list[dict]:
    """Departments and district polygons (and D-coded 2022 districts) with no published
    row: the survey has not reached them. Only public facts: name and census population."""
    published = {
        (n, c)
        for n, c in conn.execute(
            "SELECT nivel, codigo FROM publico.cobertura WHERE nivel IN ('departamento', 'distrito')"
        ).fetchall()
    }
    out = []
    for nivel in ("departamento", "distrito"):
        census: dict[str, list] = {}
        for code, dpto, name, pob, *_ in conn.execute(_CENSO, {"nivel": nivel}).fetchall():
            entry = census.setdefault(code, [dpto, [], 0])
            entry[1].append(name)
            entry[2] += pob
        if nivel == "departamento":
            names = dict(conn.execute("SELECT codigo, nombre FROM territorio.departamento").fetchall())
        else:
            names = dict(conn.execute("SELECT codigo_2012, nombre FROM territorio.distrito_cartografico").fetchall())
            names.update({c: " / ".join(sorted(v[1])) for c, v in census.items() if c.startswith("D")})
        for code in sorted(set(names) | set(census)):
            if (nivel, code) in published:
                continue
            dpto, _, pob = census.get(code, [code[:2], [], None])
            out.append(
                {
                    "nivel": nivel,
                    "codigo": code,
                    "nombre": nombre_oficial(names.get(code, code)),
                    "padre": None if nivel == "departamento" else dpto,
                    "poblacion_censo_2022": pob,
                }
            )
    return out


@router.get("/sin-relevamiento", summary="Territorios sin relevamiento FIPS (nombre y población censal)")
def sin_relevamiento(publico: PoolPublico):
    with conexion(publico) as conn:
        version = version_o_503(conn)
        return {
            "data_version": version["data_version"],
            "texto": SIN_RELEVAMIENTO_TEXTO,
            "territorios": _sin_relevamiento(conn),
        }


@router.get("/areas", summary="Departamentos y distritos del mapa, por nombre (lista para el teclado)")
def areas(publico: PoolPublico):
    """Every department and district polygon with its public name: the viewer's keyboard list
    of areas (a profile opened without the mouse). Names only, no geometry."""
    with conexion(publico) as conn:
        deps = conn.execute("SELECT codigo, nombre FROM territorio.departamento").fetchall()
        dists = conn.execute("SELECT codigo_2012, nombre, dpto FROM territorio.distrito_cartografico").fetchall()
    out = []
    for codigo, nombre in sorted(deps, key=lambda r: clave(nombre_oficial(r[1]))):
        out.append({"nivel": "departamento", "codigo": codigo, "nombre": nombre_oficial(nombre)})
        mine = [(c, nombre_oficial(n)) for c, n, d in dists if d == codigo]
        out += [
            {"nivel": "distrito", "codigo": c, "nombre": n, "departamento": codigo}
            for c, n in sorted(mine, key=lambda r: clave(r[1]))
        ]
    return {"areas": out}


def _cercanos_por_tipo(conn: psycopg.Connection, lon: float, lat: float) -> list[dict]:
    """The nearest public delivery point of each type to a place (geodesic km)."""
    names = tipo_nombres()
    rows = conn.execute(
        "SELECT t.tipo, p.punto_id, p.nombre, p.institucion, p.lon, p.lat, p.origen,"
        " ST_Distance(p.geom::geography, g.here) / 1000.0"
        " FROM (SELECT DISTINCT tipo FROM oferta.punto_entrega) t,"
        " (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography AS here) g,"
        " LATERAL (SELECT * FROM oferta.punto_entrega q WHERE q.tipo = t.tipo"
        "          ORDER BY q.geom::geography <-> g.here, q.punto_id LIMIT 1) p"
        " ORDER BY 8, t.tipo",
        {"lon": lon, "lat": lat},
    ).fetchall()
    return [
        {
            "tipo": r[0],
            "tipo_nombre": names.get(r[0], r[0]),
            "punto_id": r[1],
            "nombre": r[2],
            "institucion": r[3],
            "lon": r[4],
            "lat": r[5],
            "origen": r[6],
            "distancia_km": round(r[7], 1),
        }
        for r in rows
    ]


def _bbox(conn: psycopg.Connection, nivel: str, codigo: str) -> list[float] | None:
    """[west, south, east, north] of a department or district polygon (the map goes there)."""
    if nivel == "departamento":
        q = "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) e FROM territorio.departamento WHERE codigo = %s) s"
    elif nivel == "distrito" and not codigo.startswith("D"):
        q = (
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) e"
            " FROM territorio.distrito_cartografico WHERE codigo_2012 = %s) s"
        )
    else:
        return None
    row = conn.execute(q, (codigo,)).fetchone()
    return [round(v, 5) for v in row] if row and row[0] is not None else None


def _perfil_sin_relevamiento(conn: psycopg.Connection, nivel: str, codigo: str, version: dict) -> dict | None:
    """The profile of a known territory without survey, or None for an unknown code."""
    entry = next((t for t in _sin_relevamiento(conn) if t["nivel"] == nivel and t["codigo"] == codigo), None)
    if entry is None:
        return None
    if codigo.startswith("D"):
        here = conn.execute(
            "SELECT lon_cabecera, lat_cabecera FROM territorio.distrito WHERE codigo = %s", (codigo[1:],)
        ).fetchone()
    else:
        table = (
            "territorio.departamento WHERE codigo"
            if nivel == "departamento"
            else "territorio.distrito_cartografico WHERE codigo_2012"
        )
        here = conn.execute(
            f"SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_PointOnSurface(geom) c FROM {table} = %s) s", (codigo,)
        ).fetchone()
    cercanos = _cercanos_por_tipo(conn, *here) if here and here[0] is not None else []
    return {
        "nivel": nivel,
        "codigo": codigo,
        "nombre": entry["nombre"],
        "padre": entry["padre"],
        "bbox": _bbox(conn, nivel, codigo),
        "reservado": False,
        "sin_relevamiento": True,
        "data_version": version["data_version"],
        "nota_sdc": version["notas"],
        "poblacion_censo_2022": entry["poblacion_censo_2022"],
        "logros": [],
        "brechas": [],
        "servicios_cercanos": cercanos,
        "relevamiento": {
            "relevamiento_pct": 0.0,
            "umbral_bajo_pct": ajustes().api_relevamiento_bajo_pct,
            "aviso": SIN_RELEVAMIENTO_TEXTO,
        },
        "cambio_desde_version_anterior": {
            "disponible": False,
            "version_anterior": None,
            "motivo": "Sin relevamiento FIPS: no hay cifras que comparar.",
        },
        "reservado_texto": None,
    }


ABREVIATURAS = {
    "mcal": "mariscal",
    "gral": "general",
    "tte": "teniente",
    "cnel": "coronel",
    "pdte": "presidente",
    "pte": "presidente",
    "sta": "santa",
    "sto": "santo",
    "dr": "doctor",
    "cap": "capitan",
    "sgto": "sargento",
    "cptan": "capitan",
    "ma": "maria",
    "cdte": "comandante",
    "pto": "puerto",
    "cnia": "colonia",
    "col": "colonia",
}


def _tokens(text: str) -> list[str]:
    words = re.findall(r"\w+", clave_busqueda(text))
    return [ABREVIATURAS.get(w, w) for w in words]


def _matches(query: list[str], name: list[str]) -> bool:
    return all(any(w.startswith(q) for w in name) for q in query)


@router.get("/buscar", summary="Buscar departamentos, distritos y localidades por nombre")
def buscar(
    publico: PoolPublico,
    q: str = Query(..., min_length=2, max_length=100, description="Nombre o parte (sin importar tildes)"),
    n: int = Query(20, ge=1, le=100, description="Cantidad máxima de resultados"),
):
    query = _tokens(q)
    if not query:
        raise SolicitudIncorrecta("El parámetro 'q' debe contener letras o números.")
    with conexion(publico) as conn:
        rows = conn.execute(
            "SELECT 'departamento', d.codigo, d.nombre, NULL, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e),"
            " ST_X(c), ST_Y(c) FROM territorio.departamento d,"
            " LATERAL (SELECT ST_Envelope(d.geom) e, ST_PointOnSurface(d.geom) c) g"
            " UNION ALL SELECT 'distrito', d.codigo_2012, d.nombre, p.nombre, ST_XMin(e), ST_YMin(e), ST_XMax(e),"
            " ST_YMax(e), ST_X(c), ST_Y(c) FROM territorio.distrito_cartografico d"
            " JOIN territorio.departamento p ON p.codigo = d.dpto,"
            " LATERAL (SELECT ST_Envelope(d.geom) e, ST_PointOnSurface(d.geom) c) g"
            " UNION ALL SELECT 'localidad', l.geonameid::text, l.nombre, c.nombre, ST_X(l.geom), ST_Y(l.geom),"
            " ST_X(l.geom), ST_Y(l.geom), ST_X(l.geom), ST_Y(l.geom) FROM territorio.localidad l"
            " LEFT JOIN territorio.distrito_cartografico c ON c.codigo_2012 = l.codigo_2012"
        ).fetchall()
        if conn.execute("SELECT to_regclass('territorio.lugar') IS NOT NULL").fetchone()[0]:
            # MEC localities (one point per district and locality name); GeoNames ones are above.
            rows += conn.execute(
                "SELECT 'localidad', l.lugar_id, l.nombre, c.nombre, l.lon, l.lat, l.lon, l.lat, l.lon, l.lat"
                " FROM territorio.lugar l LEFT JOIN territorio.distrito_cartografico c ON c.codigo_2012 = l.codigo_2012"
                " WHERE l.fuente = 'mec'"
            ).fetchall()
        # 2022 district names that differ from the cartographic one point to its polygon.
        extra = conn.execute(
            "SELECT d.codigo_2012, d.nombre FROM territorio.distrito d WHERE d.codigo_2012 IS NOT NULL"
        ).fetchall()
    by_code = {r[1]: r for r in rows if r[0] == "distrito"}
    candidates = [(r, r[2]) for r in rows]
    candidates += [
        (by_code[code], name) for code, name in extra if code in by_code and clave(name) != clave(by_code[code][2])
    ]
    order = {"departamento": 0, "distrito": 1, "localidad": 2}
    found: dict[tuple, dict] = {}
    for r, name in candidates:
        tokens = _tokens(name)
        if not _matches(query, tokens):
            continue
        key = (r[0], r[1])
        exact = tokens[: len(query)] == query
        if key in found and not exact:
            continue
        found[key] = {
            "nivel": r[0],
            "codigo": r[1],
            "nombre": nombre_oficial(name),
            "en": nombre_oficial(r[3]),
            "bbox": [round(v, 6) for v in r[4:8]],
            "centroide": [round(r[8], 6), round(r[9], 6)],
            "_orden": (0 if exact else 1, order[r[0]], clave(name)),
        }
    results = sorted(found.values(), key=lambda x: x["_orden"])[:n]
    for r in results:
        r.pop("_orden")
    return {"q": q, "resultados": results}
