"""Pages of the aggregate roles over the protected figures (no nominal data here):

- ``GET /gabinete``: the alerts as a dashboard: counts per Logro and territory level,
  filtered by department, Logro, level and type, ranked (worst first), alerts over few
  persons (fewer than ``MUESTRA_MINIMA`` in the Logro's population) held back unless asked;
- ``GET /gabinete/comparar`` (``formato=csv``): departments, or the districts of one,
  × Logros: protected share, meta, change since the previous public release, population
  concerned; sortable, with a bar view of one Logro;
- ``GET /perdida``: the exact information loss of the disclosure control as a table (the
  same rows as ``GET /api/perdida``).

Figures come only from ``acceso.cifras_vivas`` / ``publico`` through ``access_conn``,
scoped by ``acceso.visible_areas`` like ``GET /api/alertas``.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.base.hojas import MEDIA_TYPE, csv_document
from api.base.plantilla import pagina
from api.base.registro import RutaInstitucional
from api.institucional.acceso import (
    AGGREGATE_ROLES,
    PERDIDA_ROLES,
    Sesion,
    access_conn,
    optional_session,
    visible_areas,
)
from api.institucional.cifras import LOSS_COLUMNS, LOSS_ORDER, MUESTRA_MINIMA, annotate
from geoportal import seguimiento as engine
from geoportal.alertas import compute_alerts
from geoportal.catalog import default_catalog
from geoportal.territory import POLIGONO_SQL
from geoportal.usuarios import Rol

router = APIRouter(include_in_schema=False, route_class=RutaInstitucional)

NIVELES = {"pais": "País", "departamento": "Departamento", "distrito": "Distrito"}
TIPOS = {"bajo_meta": "bajo la meta", "empeora": "empeoró", "se_aleja": "se aleja de la meta (plan en curso)"}
POR_GRUPO = 15


def _page(plantilla: str, title: str, sesion, **datos) -> HTMLResponse:
    return HTMLResponse(pagina(plantilla, title, sesion, **datos), headers={"Cache-Control": "no-store"})


def _gate(sesion: Sesion | None, roles, here: str) -> Response | None:
    if sesion is None:
        return RedirectResponse(f"/ingresar?{urlencode({'siguiente': here})}", status_code=303)
    if sesion.rol not in roles:
        return _page("aviso.html", "Sin acceso", sesion, texto="Su rol no tiene acceso a esta página.")
    return None


def _departments(conn) -> tuple[dict[str, str], dict[str, str]]:
    """(department code -> name, district polygon -> department code)."""
    names = dict(conn.execute("SELECT codigo, nombre FROM territorio.departamento ORDER BY codigo").fetchall())
    of_polygon = dict(conn.execute(f"SELECT DISTINCT {POLIGONO_SQL}, dpto FROM territorio.distrito").fetchall())
    return names, of_polygon


def num(value, decimals: int = 1, sign: bool = False) -> str:
    """A number as written in Paraguay (1.234,5); empty for a missing one."""
    if value is None:
        return ""
    text = f"{value:+,.{decimals}f}" if sign else f"{value:,.{decimals}f}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


def place(name: str | None) -> str:
    """An upper-case official name in title case (BOQUERÓN → Boquerón)."""
    return name.title().replace(" De ", " de ").replace(" Del ", " del ") if name and name.isupper() else (name or "")


def _int(text: str, low: int, high: int) -> int | None:
    return int(text) if text.isdigit() and low <= int(text) <= high else None


@router.get("/gabinete")
def alerts_dashboard(
    departamento: str = "",
    logro: str = "",
    nivel: str = "",
    tipo: str = "",
    pequenas: str = "",
    ver: str = "",
    sesion: Sesion | None = Depends(optional_session),
) -> Response:
    refused = _gate(sesion, AGGREGATE_ROLES, "/gabinete")
    if refused:
        return refused
    catalog = default_catalog()
    logro_n = _int(logro, 1, 10)
    nivel = nivel if nivel in NIVELES else ""
    tipo = tipo if tipo in TIPOS else ""
    with access_conn() as conn:
        areas = visible_areas(conn, sesion)
        alerts = annotate(conn, [a for a in compute_alerts(conn) if (a["nivel"], a["codigo"]) in areas])
        dept_names, _ = _departments(conn)
    dept_names = {c: place(n) for c, n in dept_names.items()}
    population = {c.logro: c.nombre for c in catalog.categorias}
    rows = [
        {
            **a,
            "tipo_texto": TIPOS.get(a["tipo"], a["tipo"]),
            "nivel_texto": NIVELES.get(a["nivel"], a["nivel"]),
            "lugar": place(a["nombre"] or a["codigo"]),
            "valor_t": num(a["valor"]),
            "referencia_t": num(a["referencia"]),
            "diferencia_t": num(a["diferencia"], sign=True),
            "universo_t": num(a["universo"], 0),
        }
        for a in alerts
    ]
    scope = [
        r
        for r in rows
        if (not departamento or r["departamento"] == departamento)
        and (logro_n is None or logro_n in r["logros"])
        and (not nivel or r["nivel"] == nivel)
        and (not tipo or r["tipo"] == tipo)
    ]
    held = sum(r["pequena"] for r in scope)
    shown = scope if pequenas else [r for r in scope if not r["pequena"]]
    # counts per Logro × level (of the alerts shown), then the ranked lists per Logro
    table = {}
    for r in shown:
        key = r["logro"] or 0
        table.setdefault(key, {n: 0 for n in NIVELES})[r["nivel"]] += 1
    groups = []
    for key in sorted(table):
        items = sorted(
            (r for r in shown if (r["logro"] or 0) == key),
            key=lambda r: (r["diferencia"], list(NIVELES).index(r["nivel"]), r["codigo"], r["columna"]),
        )
        whole = ver == str(key)
        groups.append(
            {
                "logro": key,
                "poblacion": population.get(key, "servicios sin Logro"),
                "total": len(items),
                "filas": items if whole else items[:POR_GRUPO],
                "todas": whole,
                "ver_todas": "/gabinete?"
                + urlencode(
                    {
                        k: v
                        for k, v in {
                            "departamento": departamento,
                            "logro": logro,
                            "nivel": nivel,
                            "tipo": tipo,
                            "pequenas": pequenas,
                            "ver": key,
                        }.items()
                        if v
                    }
                ),
            }
        )
    return _page(
        "gabinete.html",
        "Alertas del territorio",
        sesion,
        grupos=groups,
        conteos=table,
        niveles=NIVELES,
        tipos=TIPOS,
        departamentos=dept_names,
        departamento=departamento,
        logros=population,
        logro=logro_n,
        nivel=nivel,
        tipo=tipo,
        pequenas=bool(pequenas),
        retenidas=held,
        total=len(shown),
        minimo=MUESTRA_MINIMA,
        todas=len(rows),
    )


# ----------------------------------------------------------------------------- compare
ORDEN_COMPARAR = ("nombre", "pct", "cambio", "meta")


@router.get("/gabinete/comparar")
def compare(
    departamento: str = "",
    logro: str = "1",
    orden: str = "pct",
    formato: str = "html",
    sesion: Sesion | None = Depends(optional_session),
) -> Response:
    refused = _gate(sesion, (Rol.GABINETE, Rol.MESA_DEPARTAMENTAL), "/gabinete/comparar")
    if refused:
        return refused
    catalog = default_catalog()
    population = {c.logro: c.nombre for c in sorted(catalog.categorias, key=lambda c: c.logro)}
    logro_n = _int(logro, 1, 10) or 1
    orden = orden if orden in ORDEN_COMPARAR else "pct"
    if sesion.rol == Rol.MESA_DEPARTAMENTAL:  # its own department's districts only
        departamento = sesion.usuario.departamento
    with access_conn() as conn:
        dept_names = {c: place(n) for c, n in _departments(conn)[0].items()}
        departamento = departamento if departamento in dept_names else ""
        nivel = "distrito" if departamento else "departamento"
        areas = visible_areas(conn, sesion)
        rows = [
            r
            for r in engine.compare_rows(conn, nivel, departamento or None, list(population))
            if (nivel, r["codigo"]) in areas
        ]
        version = conn.execute("SELECT data_version, calculado_en FROM publico.version WHERE vigente").fetchone()
    if formato == "csv":
        header = [
            "Nivel",
            "Código",
            "Territorio",
            "Logro",
            "Población",
            "Cobertura protegida (%)",
            "Meta (%)",
            "Cambio desde la publicación anterior (puntos)",
            "Universo (redondeado)",
            "Reservado",
        ]
        body = csv_document(
            header,
            (
                [
                    NIVELES[nivel],
                    r["codigo"],
                    r["nombre"],
                    n,
                    population[n],
                    v["pct"],
                    v["meta"],
                    v["cambio"],
                    v["universo"],
                    r["reservado"],
                ]
                for r in rows
                for n, v in r["logros"].items()
            ),
        )
        return Response(
            body.encode(),
            media_type=MEDIA_TYPE,
            headers={
                "Content-Disposition": f"attachment; filename=comparar_{nivel}{('_' + departamento) if departamento else ''}.csv",
                "Cache-Control": "private, no-store",
            },
        )

    def key(r):
        v = r["logros"][logro_n]
        if orden == "nombre":
            return (0, r["nombre"].casefold(), r["codigo"])
        value = v.get(orden)
        return (value is None, value if value is not None else 0, r["codigo"])

    ranked = sorted(rows, key=key)
    for r in ranked:
        r["nombre"] = place(r["nombre"])
        for v in r["logros"].values():
            v.update(
                pct_t=num(v["pct"]),
                meta_t=num(v["meta"]),
                cambio_t=num(v["cambio"], sign=True),
                universo_t=num(v["universo"], 0),
            )
    links = {
        o: "/gabinete/comparar?"
        + urlencode({k: v for k, v in {"departamento": departamento, "logro": logro_n, "orden": o}.items() if v})
        for o in ORDEN_COMPARAR
    }
    csv = "/gabinete/comparar?" + urlencode(
        {k: v for k, v in {"departamento": departamento, "formato": "csv"}.items() if v}
    )
    return _page(
        "comparar.html",
        "Comparar territorios",
        sesion,
        filas=ranked,
        logros=population,
        logro=logro_n,
        orden=orden,
        enlaces_orden=links,
        csv=csv,
        departamentos=dept_names,
        departamento=departamento,
        nivel=NIVELES[nivel],
        version=version[0] if version else None,
        fija_departamento=sesion.rol == Rol.MESA_DEPARTAMENTAL,
    )


# ----------------------------------------------------------------------------- information loss
@router.get("/perdida")
def loss_page(sesion: Sesion | None = Depends(optional_session)) -> Response:
    refused = _gate(sesion, PERDIDA_ROLES, "/perdida")
    if refused:
        return refused
    with access_conn() as conn:
        rows = conn.execute("SELECT * FROM acceso.perdida_exacta(NULL)").fetchall()
    rank = {n: i for i, n in enumerate(LOSS_ORDER)}
    records = sorted(
        (dict(zip(LOSS_COLUMNS, r)) for r in rows), key=lambda r: (rank.get(r["nivel"], 99), r["nivel"], r["zona"])
    )
    level_names = {
        "pais": "País",
        "departamento": "Departamento",
        "distrito": "Distrito",
        "h3_5": "Hexágono H3 res. 5",
        "h3_6": "Hexágono H3 res. 6",
        "h3_7": "Hexágono H3 res. 7",
        "h3_8": "Hexágono H3 res. 8",
        "h3_9": "Hexágono H3 res. 9",
    }
    for r in records:
        r.update(
            areas_t=num(r["areas"], 0),
            areas_reservadas_pct_t=num(r["areas_reservadas_pct"]),
            hogares_en_reservadas_pct_t=num(r["hogares_en_reservadas_pct"], 2),
            cifras_cambiadas_pct_t=num(r["cifras_cambiadas_pct"]),
            cambio_absoluto_medio_t=num(r["cambio_absoluto_medio"], 2),
        )
    return _page(
        "perdida.html",
        "Pérdida de información por el control de divulgación",
        sesion,
        filas=records,
        niveles=level_names,
        version=records[0]["data_version"] if records else None,
    )
