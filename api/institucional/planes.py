"""Plans of improvement and investment: the planner, plans and actions, expected effect.

- ``POST /api/planificador`` (gabinete, Mesas; own territory only): the k best new sites of a
  point type (``geoportal.planificador``, solved in this process by HiGHS: a request never
  spawns a process). Only aggregates leave: sites, the cells they reach, and counts
  protected like every figure a role sees (``geoportal.planes.proteger``: under the
  threshold hidden, else rounded to the base). The nominal demand never leaves the server.
- ``POST /api/planificador/efecto`` (same roles, a district of their territory): the what-if of
  candidate points clicked on the map (up to 20 together), protected like the plan's effect;
  ``GET /api/planificador/ambito``: the role's districts and the point types, for the viewer.
- ``GET/POST /api/planes``, ``GET/DELETE /api/planes/{id}``, ``POST /api/planes/{id}/acciones``,
  ``PATCH /api/acciones/{id}``: plans under Row-Level Security (migration 0013). A Mesa
  distrital its district's plans, a Mesa departamental its department's, the Gabinete all;
  an institution reads only the actions assigned to it (and their plans), writes nothing.
  Each write is audited in the same transaction; a refused or failed write leaves nothing.
- ``GET /api/planes/{id}/efecto``: the plan's expected effect (what-if of all its new points,
  campaigns as target counts), Logro by Logro against the metas, with each action's progress.
- HTML pages (templates ``plan*.html``, no script): ``/planes`` (run the planner, add a
  proposed site to a plan, create a plan), ``/planes/{id}`` (actions, progress, expected
  effect, each Logro's course over the public releases against its meta as a small SVG),
  ``/planes/{id}/hoja`` (the printable sheet, one page per district).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal
from urllib.parse import urlencode

import psycopg
from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from api.base.conexiones import conexion_rol
from api.base.errores import AccesoError
from api.base.plantilla import pagina
from api.base.registro import RutaInstitucional
from api.institucional.acceso import (
    Sesion,
    access_conn,
    audit,
    may_see_territory,
    optional_session,
    require,
)
from geoportal import planes
from geoportal.settings import get_settings
from geoportal.territory import POLIGONO_SQL
from geoportal.usuarios import Rol, nombre_rol

router = APIRouter(tags=["planes"], route_class=RutaInstitucional)
ESCRIBEN = (Rol.GABINETE, Rol.MESA_DEPARTAMENTAL, Rol.MESA_DISTRITAL)
LEEN = (*ESCRIBEN, Rol.INSTITUCION)
NO_HAY = "El plan no existe o no está en su territorio."
PRIVADO = {"Cache-Control": "private, no-store"}


class Planificar(BaseModel):
    nivel: Literal["distrito", "departamento"] = "distrito"
    codigo: str = Field(min_length=2, max_length=4, pattern=r"^\d{2,4}$")
    tipo: str = Field(default="usf", max_length=40)
    k: int = Field(default=3, ge=1, le=20)
    capacidad: int | None = Field(default=None, gt=0, le=1_000_000)
    candidatos: Literal["h3", "localidades"] = "h3"


class Candidato(BaseModel):
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    capacidad: int | None = Field(default=None, gt=0, le=1_000_000)


class Simular(BaseModel):
    distrito: str = Field(pattern=r"^\d{4}$")
    tipo: str = Field(default="usf", max_length=40)
    puntos: list[Candidato] = Field(min_length=1, max_length=20)


class PlanNuevo(BaseModel):
    titulo: str = Field(max_length=200)
    distrito: str = Field(max_length=4)
    periodo_desde: str = Field(max_length=10)
    periodo_hasta: str = Field(max_length=10)


class AccionNueva(BaseModel):
    tipo: str = Field(max_length=40)
    institucion: str = Field(max_length=40)
    desde: str = Field(max_length=10)
    hasta: str = Field(max_length=10)
    descripcion: str = Field(default="", max_length=500)
    estado: str = Field(default="prevista", max_length=20)
    meta: int | None = None
    servicio: str | None = Field(default=None, max_length=64)
    localidad: str | None = Field(default=None, max_length=120)
    punto_tipo: str | None = Field(default=None, max_length=40)
    punto_id: str | None = Field(default=None, max_length=64)
    lon: float | None = None
    lat: float | None = None
    capacidad: int | None = None
    costo: float | None = None


class EstadoAccion(BaseModel):
    estado: Literal["prevista", "en_curso", "cumplida", "cancelada"]


# ----------------------------------------------------------------------------- scope
def _ambito(conn: psycopg.Connection, sesion: Sesion) -> tuple[list[str], str]:
    """(districts, institution) of the plan scope; '*' = a Mesa or the Gabinete."""
    u = sesion.usuario
    if u.rol == Rol.GABINETE:
        return [c for (c,) in conn.execute("SELECT codigo FROM territorio.distrito ORDER BY codigo").fetchall()], "*"
    if u.rol == Rol.MESA_DEPARTAMENTAL:
        return [
            c
            for (c,) in conn.execute(
                "SELECT codigo FROM territorio.distrito WHERE dpto = %s ORDER BY codigo", (u.departamento,)
            ).fetchall()
        ], "*"
    if u.rol == Rol.MESA_DISTRITAL:
        return [u.distrito], "*"
    if u.rol == Rol.INSTITUCION:
        return list(u.distritos), u.institucion
    raise AccesoError(403, f"El rol {nombre_rol(u.rol)} no accede a los planes.")


@contextmanager
def plan_tx(sesion: Sesion) -> Iterator[psycopg.Connection]:
    """One transaction as ``geoportal_nominal`` with the plan scope set (RLS of migration 0013);
    it commits at the end and rolls back everything on any error."""
    with conexion_rol("nominal") as conn:
        distritos, institucion = _ambito(conn, sesion)
        conn.execute(
            "SELECT set_config('geoportal.plan_distritos', %s, true),"
            " set_config('geoportal.plan_institucion', %s, true), set_config('geoportal.rol', %s, true)",
            (",".join(distritos), institucion, sesion.rol),
        )
        yield conn


def _escritura(fn, *args):
    """Run a write; bad input or a refused row becomes a Spanish 4xx (the transaction rolls back)."""
    try:
        return fn(*args)
    except planes.PlanError as exc:
        raise AccesoError(422, str(exc)) from None
    except psycopg.errors.InsufficientPrivilege:
        raise AccesoError(403, "Su rol no puede escribir planes de este territorio.") from None
    except psycopg.errors.CheckViolation:
        raise AccesoError(422, "Datos del plan no válidos (revise fechas, estado y campos obligatorios).") from None


def _plan(conn, plan_id: int) -> dict:
    plan = planes.leer(conn, plan_id)
    if plan is None:
        raise AccesoError(404, NO_HAY)
    return plan


# ----------------------------------------------------------------------------- planner
def run_planner(body: Planificar, sesion: Sesion) -> dict:
    """The planner for a territory the role covers; aggregates only, protected."""
    from geoportal.audit import log_access
    from geoportal.planificador import planificar

    with access_conn() as conn:
        if not may_see_territory(conn, sesion, body.nivel, body.codigo):
            raise AccesoError(403, "Su rol no cubre este territorio.")
    with conexion_rol("admin") as conn:
        try:
            plan = planificar(
                conn,
                body.nivel,
                body.codigo,
                body.tipo.lower(),
                body.k,
                body.capacidad,
                body.candidatos,
                fecha_corte=get_settings().fecha_corte,
                motor="highs",
            )
        except ValueError as exc:
            raise AccesoError(422, str(exc)) from None
        with conn.transaction():
            log_access(
                conn,
                "planificar",
                body.codigo,
                {"finalidad": "planificacion", "tipo": body.tipo, "k": body.k},
                usuario=sesion.usuario.nombre,
                rol=sesion.rol,
            )
    s = plan.solucion
    return {
        "territorio": plan.territorio,
        "tipo": plan.tipo,
        "k": plan.k,
        "capacidad": plan.capacidad,
        "tamano": {"celdas_demanda": plan.tamano[0], "candidatos": plan.tamano[1], "pares": plan.tamano[2]},
        "demanda_sin_oferta": planes.proteger(plan.demanda_total),
        "optimo": planes.proteger(s.objetivo),
        "codicioso": planes.proteger(s.codicioso),
        "gap": round(s.gap, 4),
        "estado": s.estado,
        "segundos": round(s.segundos, 2),
        "costo_supuesto": plan.costo_unitario,
        "sitios": [
            {
                "nombre": x["nombre"],
                "lon": round(x["lon"], 6),
                "lat": round(x["lat"], 6),
                "zona": x["zona"],
                "celdas_al_alcance": _celdas_visibles(x, sesion),
                "unidades": planes.proteger(x["unidades_estimadas"]),
                "carga": planes.proteger(x["carga_asignada"]),
            }
            for x in plan.sitios
        ],
    }


def _celdas_visibles(sitio: dict, sesion: Sesion) -> list[str]:
    """The cells a site reaches that the role may see: a district Mesa (which reads its own
    nominal list) every one; an aggregate role (Gabinete, departmental Mesa) only the cells
    holding at least the disclosure threshold of units, so no small cell is singled out."""
    if sesion.rol == Rol.MESA_DISTRITAL:
        return sitio["celdas_al_alcance"]
    minimo = get_settings().umbral_hogares
    return [c for c, peso in zip(sitio["celdas_al_alcance"], sitio["peso_celdas"], strict=True) if peso >= minimo]


def _celdas_geojson(sitios: list[dict]) -> dict:
    """The res-8 cells each proposed site reaches (their outlines, no count), for the viewer's map."""
    import h3

    features = []
    for n, sitio in enumerate(sitios, start=1):
        for celda in sitio["celdas_al_alcance"]:
            anillo = [[round(lng, 6), round(lat, 6)] for lat, lng in h3.cell_to_boundary(celda)]
            features.append(
                {
                    "type": "Feature",
                    "properties": {"sitio": n, "celda": celda},
                    "geometry": {"type": "Polygon", "coordinates": [[*anillo, anillo[0]]]},
                }
            )
    return {"type": "FeatureCollection", "features": features}


@router.post("/api/planificador")
def planner(body: Planificar, sesion: Sesion = Depends(require(*ESCRIBEN))) -> JSONResponse:
    out = run_planner(body, sesion)
    return JSONResponse({**out, "celdas": _celdas_geojson(out["sitios"])}, headers=PRIVADO)


@router.get("/api/planificador/ambito")
def planner_scope(sesion: Sesion = Depends(require(*ESCRIBEN))) -> JSONResponse:
    """What the viewer's planning panel offers: the role's districts, the point types, the institutions."""
    from geoportal.catalog import default_catalog

    catalog = default_catalog()
    with plan_tx(sesion) as conn:
        distritos, _ = _ambito(conn, sesion)
        nombres = dict(
            conn.execute(
                "SELECT codigo, nombre FROM territorio.distrito WHERE codigo = ANY(%s)", (distritos,)
            ).fetchall()
        )
    return JSONResponse(
        {
            "distritos": [{"codigo": c, "nombre": nombres.get(c, c)} for c in distritos],
            "tipos": [
                {"codigo": c, "nombre": t.nombre, "institucion": t.institucion, "capacidad": t.capacidad}
                for c, t in sorted(catalog.tipos_punto.items())
            ],
        },
        headers=PRIVADO,
    )


def candidate_effect(body: Simular, sesion: Sesion) -> dict:
    """The what-if of candidate points in one district of the role: protected effect, audited."""
    from geoportal.audit import log_access
    from geoportal.catalog import default_catalog

    catalog = default_catalog()
    tipo = body.tipo.lower()
    if tipo not in catalog.tipos_punto:
        raise AccesoError(
            422, f"Tipo de punto desconocido '{tipo[:30]}'. Tipos válidos: {', '.join(sorted(catalog.tipos_punto))}."
        )
    with access_conn() as conn:
        if not may_see_territory(conn, sesion, "distrito", body.distrito):
            raise AccesoError(403, "Su rol no cubre este distrito.")
    capacidad = catalog.tipos_punto[tipo].capacidad or 1
    acciones = [
        {
            "accion_id": n,
            "tipo": "punto_nuevo",
            "estado": "prevista",
            "punto_tipo": tipo,
            "lon": p.lon,
            "lat": p.lat,
            "capacidad": p.capacidad or capacidad,
            "costo": catalog.tipos_punto[tipo].costo,
        }
        for n, p in enumerate(body.puntos, start=1)
    ]
    with conexion_rol("admin") as conn:
        if conn.execute("SELECT 1 FROM territorio.distrito WHERE codigo = %s", (body.distrito,)).fetchone() is None:
            raise AccesoError(422, f"Campo 'distrito': '{body.distrito}' no es un distrito 2022.")
        try:
            for p in body.puntos:
                planes.punto_en_distrito(conn, body.distrito, p.lon, p.lat)
            efecto = planes.efecto(
                conn, {"distrito": body.distrito, "acciones": acciones}, catalog, get_settings().fecha_corte
            )
        except ValueError as exc:
            raise AccesoError(422, str(exc)) from None
        with conn.transaction():
            log_access(
                conn,
                "simular_puntos",
                body.distrito,
                {"finalidad": "planificacion", "tipo": tipo, "puntos": len(body.puntos)},
                usuario=sesion.usuario.nombre,
                rol=sesion.rol,
            )
    pasan = sum(s["pasan_a_con_oferta"] or 0 for s in efecto.servicios)
    return {
        "distrito": body.distrito,
        "tipo": tipo,
        "puntos_nuevos": efecto.puntos,
        "pasan_a_con_oferta": pasan,
        "servicios": efecto.servicios,
        "logros": efecto.logros,
        "costo_total": efecto.costo_total,
    }


@router.post("/api/planificador/efecto")
def candidate_points(body: Simular, sesion: Sesion = Depends(require(*ESCRIBEN))) -> JSONResponse:
    """What-if of points clicked on the map (up to 20 together) in a district of the role's territory."""
    return JSONResponse(candidate_effect(body, sesion), headers=PRIVADO)


# ----------------------------------------------------------------------------- plans
def create_plan(body: dict, sesion: Sesion) -> int:
    with plan_tx(sesion) as conn:
        plan_id = _escritura(planes.crear_plan, conn, body, sesion.usuario.nombre, sesion.rol)
        audit(conn, sesion, "plan_crear", body.get("distrito"), 1, "planificacion", plan_id=plan_id)
    return plan_id


def add_action(plan_id: int, body: dict, sesion: Sesion) -> int:
    with plan_tx(sesion) as conn:
        plan = _plan(conn, plan_id)
        accion_id = _escritura(planes.agregar_accion, conn, plan, body)
        audit(conn, sesion, "plan_accion", plan["distrito"], 1, "planificacion", plan_id=plan_id, accion_id=accion_id)
    return accion_id


def plan_effect(plan_id: int, sesion: Sesion) -> dict:
    with plan_tx(sesion) as conn:
        plan = _plan(conn, plan_id)
    with conexion_rol("admin") as conn:
        try:
            efecto = planes.efecto(conn, plan, fecha_corte=get_settings().fecha_corte)
        except ValueError as exc:
            raise AccesoError(422, str(exc)) from None
        avance = planes.avance(conn, plan)
        poligono = conn.execute(
            f"SELECT {POLIGONO_SQL} FROM territorio.distrito WHERE codigo = %s", (plan["distrito"],)
        ).fetchone()[0]
        series = {
            f"l{n['logro']}": planes.serie(conn, "distrito", poligono, f"l{n['logro']}_pct") for n in efecto.logros
        }
    return {
        "plan": plan,
        "logros": efecto.logros,
        "servicios": efecto.servicios,
        "puntos_nuevos": efecto.puntos,
        "costo_total": efecto.costo_total,
        "avance": avance,
        "series": series,
    }


@router.get("/api/planes")
def list_plans(sesion: Sesion = Depends(require(*LEEN))) -> JSONResponse:
    with plan_tx(sesion) as conn:
        return JSONResponse({"planes": planes.listar(conn)}, headers=PRIVADO)


@router.post("/api/planes", status_code=201)
def new_plan(body: PlanNuevo, sesion: Sesion = Depends(require(*ESCRIBEN))) -> JSONResponse:
    return JSONResponse({"plan_id": create_plan(body.model_dump(), sesion)}, status_code=201, headers=PRIVADO)


@router.get("/api/planes/{plan_id}")
def get_plan(plan_id: int, sesion: Sesion = Depends(require(*LEEN))) -> JSONResponse:
    with plan_tx(sesion) as conn:
        return JSONResponse(_plan(conn, plan_id), headers=PRIVADO)


@router.delete("/api/planes/{plan_id}", status_code=204)
def delete_plan(plan_id: int, sesion: Sesion = Depends(require(*ESCRIBEN))) -> Response:
    with plan_tx(sesion) as conn:
        plan = _plan(conn, plan_id)
        if conn.execute("DELETE FROM planes.plan WHERE plan_id = %s", (plan_id,)).rowcount != 1:
            raise AccesoError(404, NO_HAY)
        audit(conn, sesion, "plan_borrar", plan["distrito"], 1, "planificacion", plan_id=plan_id)
    return Response(status_code=204)


@router.post("/api/planes/{plan_id}/acciones", status_code=201)
def new_action(plan_id: int, body: AccionNueva, sesion: Sesion = Depends(require(*ESCRIBEN))) -> JSONResponse:
    return JSONResponse({"accion_id": add_action(plan_id, body.model_dump(), sesion)}, status_code=201, headers=PRIVADO)


@router.patch("/api/acciones/{accion_id}")
def action_state(accion_id: int, body: EstadoAccion, sesion: Sesion = Depends(require(*ESCRIBEN))) -> JSONResponse:
    with plan_tx(sesion) as conn:
        row = conn.execute(
            "UPDATE planes.accion SET estado = %s, modificado = now() WHERE accion_id = %s RETURNING plan_id",
            (body.estado, accion_id),
        ).fetchone()
        if row is None:
            raise AccesoError(404, "La acción no existe o no está en su territorio.")
        audit(conn, sesion, "plan_accion_estado", None, 1, "planificacion", accion_id=accion_id, estado=body.estado)
    return JSONResponse({"accion_id": accion_id, "estado": body.estado}, headers=PRIVADO)


@router.get("/api/planes/{plan_id}/efecto")
def effect(plan_id: int, sesion: Sesion = Depends(require(*ESCRIBEN))) -> JSONResponse:
    return JSONResponse(plan_effect(plan_id, sesion), headers=PRIVADO)


# ----------------------------------------------------------------------------- pages
def _page(plantilla: str, title: str, sesion: Sesion | None = None, **datos) -> HTMLResponse:
    return HTMLResponse(pagina(plantilla, title, sesion, **datos), headers={"Cache-Control": "no-store"})


def _gate(sesion: Sesion | None, here: str) -> Response | None:
    if sesion is None:
        return RedirectResponse(f"/ingresar?{urlencode({'siguiente': here})}", status_code=303)
    if sesion.rol not in ESCRIBEN:
        return _page("aviso.html", "Sin acceso", sesion, texto="Esta página es para las Mesas y el Gabinete.")
    return None


@router.get("/planes", include_in_schema=False)
def plans_page(
    distrito: str = "",
    tipo: str = "usf",
    k: int = 3,
    plan_id: int | None = None,
    mensaje: str | None = None,
    sesion: Sesion | None = Depends(optional_session),
) -> Response:
    refused = _gate(sesion, "/planes")
    if refused:
        return refused
    from geoportal.catalog import default_catalog

    with plan_tx(sesion) as conn:
        mios = planes.listar(conn)
        distritos, _ = _ambito(conn, sesion)
    propuesta, error = None, None
    if distrito:
        try:
            propuesta = run_planner(Planificar(codigo=distrito[:4], tipo=tipo, k=max(1, min(k, 20))), sesion)
        except AccesoError as exc:
            error = exc.detalle
        except ValueError:
            error = "Datos del planificador no válidos."
    defecto = sesion.usuario.distrito or (distritos[0] if distritos else "")
    return _page(
        "planes.html",
        "Planes de mejora e inversión",
        sesion,
        planes=mios,
        propuesta=propuesta,
        error=error,
        mensaje=mensaje,
        distrito=distrito or defecto,
        tipo=tipo,
        k=k,
        plan_id=plan_id,
        tipos=sorted(default_catalog().tipos_punto),
        instituciones=sorted(default_catalog().instituciones),
    )


@router.post("/planes/nuevo", include_in_schema=False)
def plans_new(
    titulo: str = Form(""),
    distrito: str = Form(""),
    periodo_desde: str = Form(""),
    periodo_hasta: str = Form(""),
    sesion: Sesion | None = Depends(optional_session),
) -> Response:
    refused = _gate(sesion, "/planes")
    if refused:
        return refused
    try:
        plan_id = create_plan(
            {"titulo": titulo, "distrito": distrito, "periodo_desde": periodo_desde, "periodo_hasta": periodo_hasta},
            sesion,
        )
    except AccesoError as exc:
        return RedirectResponse(f"/planes?{urlencode({'mensaje': exc.detalle})}", status_code=303)
    return RedirectResponse(f"/planes/{plan_id}", status_code=303)


@router.post("/planes/{plan_id}/sitio", include_in_schema=False)
def plans_add_site(
    plan_id: int,
    tipo: str = Form("usf"),
    lon: float = Form(...),
    lat: float = Form(...),
    nombre: str = Form(""),
    institucion: str = Form(""),
    capacidad: int = Form(100, gt=0, le=1_000_000),
    sesion: Sesion | None = Depends(optional_session),
) -> Response:
    """A proposed site added to a plan as a new point, for the plan's whole period."""
    refused = _gate(sesion, "/planes")
    if refused:
        return refused
    from geoportal.catalog import default_catalog

    try:
        with plan_tx(sesion) as conn:
            plan = _plan(conn, plan_id)
        spec = default_catalog().tipos_punto.get(tipo)
        add_action(
            plan_id,
            {
                "tipo": "punto_nuevo",
                "punto_tipo": tipo,
                "lon": lon,
                "lat": lat,
                "capacidad": capacidad,
                "institucion": institucion or (spec.institucion if spec else ""),
                "desde": plan["periodo_desde"],
                "hasta": plan["periodo_hasta"],
                "descripcion": f"Sitio propuesto por el planificador ({nombre[:40]})",
            },
            sesion,
        )
    except AccesoError as exc:
        return RedirectResponse(f"/planes?{urlencode({'mensaje': exc.detalle})}", status_code=303)
    return RedirectResponse(f"/planes/{plan_id}?{urlencode({'mensaje': 'Sitio agregado al plan.'})}", status_code=303)


def _vista(plan_id: int, sesion: Sesion, ancho: int = 240, alto: int = 80) -> dict:
    datos = plan_effect(plan_id, sesion)
    avance = {a["accion_id"]: a for a in datos["avance"]}
    graficos = {
        n["logro"]: planes.svg_serie(datos["series"][f"l{n['logro']}"], n["meta_pct"], ancho, alto)
        for n in datos["logros"]
    }
    return {**datos, "avance_de": avance, "graficos": graficos, "tipos_accion": planes.TIPOS}


@router.get("/planes/{plan_id}", include_in_schema=False)
def plan_page(plan_id: int, mensaje: str | None = None, sesion: Sesion | None = Depends(optional_session)) -> Response:
    refused = _gate(sesion, f"/planes/{plan_id}")
    if refused:
        return refused
    try:
        datos = _vista(plan_id, sesion)
    except AccesoError as exc:
        return _page("aviso.html", "Plan", sesion, texto=exc.detalle, error=True)
    return _page("plan.html", datos["plan"]["titulo"], sesion, mensaje=mensaje, **datos)


@router.get("/planes/{plan_id}/hoja", include_in_schema=False)
def plan_sheet(plan_id: int, sesion: Sesion | None = Depends(optional_session)) -> Response:
    refused = _gate(sesion, f"/planes/{plan_id}/hoja")
    if refused:
        return refused
    try:
        datos = _vista(plan_id, sesion, 150, 30)  # the sheet fits one page
    except AccesoError as exc:
        return _page("aviso.html", "Plan", sesion, texto=exc.detalle, error=True)
    return _page("plan_hoja.html", datos["plan"]["titulo"], sesion, **datos)
