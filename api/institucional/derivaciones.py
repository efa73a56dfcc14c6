"""The referral cycle: the Mesa's nominal list, referrals, contrarreferencias, reports.

- ``GET /api/nominal/brechas`` (mesa_distrital): unprotected persons / households of the
  Mesa's district by service, with gap type and nearest delivery point (``geoportal.lista_nominal``).
- ``GET /api/nominal/hogares/{id}``: one household and its members (Mesa: its district;
  institution: households referred to it). Any other id is 404, existing or not.
- ``POST /api/derivaciones`` (mesa_distrital): refers a unit to a service and point; the
  institution is the service's (catalog).
- ``GET /api/derivaciones[/{id}]``, ``GET /api/derivaciones/reporte`` (CSV): the Mesa sees
  its district's referrals, an institution those addressed to it in its districts; one
  referral read by its institution carries its ``ficha`` (the household's address reference,
  a child's guardian: ``nominal.ficha_derivaciones``, audited in the database).
- ``POST /api/derivaciones/{id}/contrarreferencia`` (institucion): delivered / not
  delivered / not located, date, point. Delivered writes a ``nominal.estatus_evento`` and
  marks the district pending in the same transaction, and answers at once with
  ``"actualizando": true``; the app's background worker recomputes the district right
  after (``geoportal.operaciones.drain_pending``, coalesced per district), so the
  authenticated figures change seconds later; ``GET /api/derivaciones/estado-calculo``
  says when. The public figures follow the next batched public release
  (disclosure-control issue), never one release per event.
- ``POST /api/derivaciones/contrarreferencias``: the same by CSV
  (``api.institucional.contrarreferencias``).

Every handler reads nominal data only through ``api.institucional.acceso.nominal_tx`` and
logs it. CSV exports are written by ``api.base.hojas`` (formula neutralisation included:
a referral's ``nota`` is free text typed by another institution).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager, suppress
from datetime import date
from typing import Literal

import psycopg
from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from api.base.errores import AccesoError
from api.base.hojas import csv_records
from api.base.registro import RutaInstitucional
from api.institucional.acceso import (
    AGGREGATE_ROLES,
    Sesion,
    access_conn,
    audit,
    nominal_tx,
    require,
    territorio_de,
)
from geoportal import lista_nominal as nominal
from geoportal.catalog import default_catalog
from geoportal.db import database_url
from geoportal.operaciones import atender_pendientes
from geoportal.seguimiento import referral_cards
from geoportal.settings import get_settings
from geoportal.usuarios import Rol
from tiles.publicacion import preparar_publicacion

log = logging.getLogger("geoportal.derivaciones")
router = APIRouter(tags=["derivaciones"], route_class=RutaInstitucional)

FINALIDADES = ("derivacion", "seguimiento", "planificacion")
Finalidad = Literal["derivacion", "seguimiento", "planificacion"]
NOT_FOUND = "No existe o no está en su territorio."


class DerivacionNueva(BaseModel):
    unidad: Literal["persona", "hogar"]
    unidad_id: str = Field(min_length=1, max_length=64)
    servicio: str = Field(min_length=1, max_length=64)
    punto_id: str | None = Field(default=None, max_length=64)
    nota: str = Field(default="", max_length=500)


class Contrarreferencia(BaseModel):
    resultado: Literal["entregada", "no_entregada", "no_localizada"]
    fecha: date
    punto_id: str | None = Field(default=None, max_length=64)
    nota: str = Field(default="", max_length=500)


def _csv(rows: list[dict], filename: str) -> Response:
    return csv_records(rows, filename, {"Cache-Control": "no-store"})


def _service(codigo: str, unidad: str | None = None):
    catalog = default_catalog()
    try:
        s = catalog.servicio(codigo)
    except KeyError:
        raise AccesoError(422, f"Servicio desconocido: {codigo[:40]}.") from None
    if s.unidad == "entorno" or (unidad and s.unidad != unidad):
        raise AccesoError(422, f"El servicio {s.codigo} no se deriva a una {unidad or 'unidad'} (es de {s.unidad}).")
    return s


# ----------------------------------------------------------------------------- nominal list
def nominal_list(
    sesion: Sesion,
    *,
    servicio: str | None = None,
    categoria: str | None = None,
    brecha: str | None = None,
    paquete: str = "nucleo",
    localidad: str | None = None,
    limite: int = 100,
    desde: int = 0,
    exportar: bool = False,
    finalidad: str = "derivacion",
) -> dict:
    """One page (all of it when ``exportar``) of the Mesa's list, logged: the plain function
    behind ``GET /api/nominal/brechas`` and the ``/mesa`` page."""
    catalog = default_catalog()
    if servicio:
        _service(servicio)
    if categoria and categoria not in {c.codigo for c in catalog.categorias}:
        raise AccesoError(422, f"Categoría desconocida: {categoria[:20]}.")
    distrito = sesion.usuario.distrito
    filtros = nominal.FiltrosLista(servicio, categoria, brecha, None if paquete == "todos" else paquete, localidad)
    with nominal_tx(sesion) as conn:
        found = nominal.gaps(conn, distrito, filtros, catalog, get_settings().fecha_corte)
        page = found.rows(desde, None if exportar else limite)
        names = nominal.person_names(conn, [r["unidad_id"] for r in page if r["unidad"] == "persona"])
        points = nominal.point_names(conn, [r["punto_id"] for r in page])
        open_refs = {
            (u, s): i
            for u, s, i in conn.execute(
                "SELECT unidad_id, servicio, derivacion_id FROM nominal.derivacion WHERE estado = 'referida'"
            ).fetchall()
        }
        rows = [
            {
                **r,
                **(names.get(r["unidad_id"], {}) if r["unidad"] == "persona" else {}),
                "punto_nombre": points.get(r["punto_id"]),
                "derivacion_abierta": open_refs.get((r["unidad_id"], r["servicio"])),
            }
            for r in page
        ]
        audit(
            conn,
            sesion,
            "exportar_lista_nominal" if exportar else "lista_nominal",
            distrito,
            len(rows),
            finalidad,
            filtros={k: v for k, v in vars(filtros).items() if v},
        )
    return {"distrito": distrito, "total": found.total, "desde": desde, "filas": rows, "resumen": found.summary()}


@router.get("/api/nominal/brechas")
def unprotected_list(
    servicio: str | None = None,
    categoria: str | None = None,
    brecha: Literal["derivacion", "inversion"] | None = None,
    paquete: Literal["nucleo", "ampliado", "diferenciado", "todos"] = "nucleo",
    localidad: str | None = Query(default=None, max_length=120),
    limite: int = Query(default=100, ge=1, le=50_000),
    desde: int = Query(default=0, ge=0),
    formato: Literal["json", "csv"] = "json",
    finalidad: Finalidad = "derivacion",
    sesion: Sesion = Depends(require(Rol.MESA_DISTRITAL)),
) -> Response:
    """Unprotected persons and households of the Mesa's district, by service and category."""
    found = nominal_list(
        sesion,
        servicio=servicio,
        categoria=categoria,
        brecha=brecha,
        paquete=paquete,
        localidad=localidad,
        limite=limite,
        desde=desde,
        exportar=formato == "csv",
        finalidad=finalidad,
    )
    if formato == "csv":
        return _csv(found["filas"], f"brechas_{found['distrito']}.csv")
    return JSONResponse(found, headers={"Cache-Control": "no-store"})


@router.get("/api/nominal/hogares/{hogar_id}")
def household(
    hogar_id: str,
    finalidad: Finalidad = "derivacion",
    sesion: Sesion = Depends(require(Rol.MESA_DISTRITAL, Rol.INSTITUCION)),
) -> Response:
    """A household and its members (as far as the session's scope lets it see them)."""
    with nominal_tx(sesion) as conn:
        home = conn.execute(
            "SELECT hogar_id, codigo_distrito, localidad, zona, fecha_relevamiento, lon, lat"
            " FROM nominal.hogar WHERE hogar_id = %s",
            (hogar_id[:64],),
        ).fetchone()
        if home is None:
            raise AccesoError(404, NOT_FOUND)
        members = conn.execute(
            "SELECT persona_id, nombres, apellidos, sexo, fecha_nacimiento FROM nominal.persona"
            " WHERE hogar_id = %s ORDER BY persona_id",
            (home[0],),
        ).fetchall()
        audit(conn, sesion, "ver_hogar", home[1], 1 + len(members), finalidad, hogar_id=home[0])
    return JSONResponse(
        {
            "hogar_id": home[0],
            "distrito": home[1],
            "localidad": home[2],
            "zona": home[3],
            "fecha_relevamiento": home[4].isoformat(),
            "lon": home[5],
            "lat": home[6],
            "personas": [
                {
                    "persona_id": m[0],
                    "nombres": m[1],
                    "apellidos": m[2],
                    "sexo": m[3],
                    "fecha_nacimiento": m[4].isoformat(),
                }
                for m in members
            ],
        },
        headers={"Cache-Control": "no-store"},
    )


# ----------------------------------------------------------------------------- referrals
REFERRAL_SQL = (
    "SELECT d.derivacion_id, d.unidad, d.unidad_id, d.hogar_id, d.servicio, d.institucion, d.punto_id, d.brecha,"
    " d.estado, d.distrito, d.creada, d.actualizada, d.usuario, d.nota, p.nombres, p.apellidos, h.localidad"
    " FROM nominal.derivacion d LEFT JOIN nominal.persona p ON d.unidad = 'persona' AND p.persona_id = d.unidad_id"
    " LEFT JOIN nominal.hogar h ON h.hogar_id = d.hogar_id"
)
REFERRAL_FIELDS = [
    "derivacion_id",
    "unidad",
    "unidad_id",
    "hogar_id",
    "servicio",
    "institucion",
    "punto_id",
    "brecha",
    "estado",
    "distrito",
    "creada",
    "actualizada",
    "usuario",
    "nota",
    "nombres",
    "apellidos",
    "localidad",
]


def _referral(row) -> dict:
    out = dict(zip(REFERRAL_FIELDS, row))
    out["creada"], out["actualizada"] = out["creada"].isoformat(), out["actualizada"].isoformat()
    return out


@router.post("/api/derivaciones", status_code=201)
def create_referral(
    body: DerivacionNueva, finalidad: Finalidad = "derivacion", sesion: Sesion = Depends(require(Rol.MESA_DISTRITAL))
) -> dict:
    """Refer a person or household of the Mesa's district to a service (and point)."""
    return refer(body, finalidad, sesion)


def _check_reach(conn, gap: dict, punto: str | None, s) -> None:
    """A referral's point must be within the service's catchment of the unit (the catalog's
    ``radio_km``, the engine's geodesy): nobody is sent 400 km away."""
    if not punto or not s.punto_tipo:
        return
    reach = nominal.reach_of_point(conn, gap["hogar_id"], punto, s)
    if reach is None or reach.dentro:
        return
    km = f"{reach.km:.1f}".replace(".", ",")
    radio = f"{reach.radio_km:g}".replace(".", ",")
    extra = (
        " No hay un punto de este servicio a su alcance (brecha de inversión): no se deriva."
        if gap["brecha"] == "inversion"
        else " Elija un punto más cercano o deje el punto vacío."
    )
    raise AccesoError(
        422,
        f"El punto de entrega {punto} está a {km} km de la unidad y el alcance de {s.codigo}"
        f" en zona {reach.zona} es de {radio} km.{extra}",
    )


def refer(body: DerivacionNueva, finalidad: str, sesion: Sesion) -> dict:
    """A new referral, logged (the route and the ``/mesa`` page's form)."""
    s = _service(body.servicio, body.unidad)
    distrito = sesion.usuario.distrito
    with nominal_tx(sesion) as conn:
        table, key = ("nominal.persona", "persona_id") if body.unidad == "persona" else ("nominal.hogar", "hogar_id")
        if conn.execute(f"SELECT 1 FROM {table} WHERE {key} = %s", (body.unidad_id,)).fetchone() is None:
            raise AccesoError(404, NOT_FOUND)
        gap = nominal.gaps(
            conn,
            distrito,
            nominal.FiltrosLista(servicio=s.codigo, paquete=None),
            fecha_corte=get_settings().fecha_corte,
        ).find(s.codigo, body.unidad_id)
        if gap is None:
            raise AccesoError(
                409,
                f"Según su estatus actual, el servicio {s.codigo} no le falta a esta unidad "
                "(ya cubierto o no le corresponde).",
            )
        punto = body.punto_id or gap["punto_id"]
        if body.punto_id:
            found = conn.execute(
                "SELECT tipo FROM oferta.punto_entrega WHERE punto_id = %s", (body.punto_id,)
            ).fetchone()
            if found is None or (s.punto_tipo and found[0] != s.punto_tipo):
                raise AccesoError(422, f"El punto de entrega no existe o no presta {s.codigo} (tipo {s.punto_tipo}).")
        _check_reach(conn, gap, punto, s)
        try:
            derivacion_id = conn.execute(
                "INSERT INTO nominal.derivacion (unidad, unidad_id, servicio, estado, usuario, hogar_id, distrito,"
                " institucion, punto_id, brecha, nota) VALUES (%s, %s, %s, 'referida', %s, %s, %s, %s, %s, %s, %s)"
                " RETURNING derivacion_id",
                (
                    body.unidad,
                    body.unidad_id,
                    s.codigo,
                    sesion.usuario.nombre,
                    gap["hogar_id"],
                    distrito,
                    s.institucion,
                    punto,
                    gap["brecha"],
                    body.nota,
                ),
            ).fetchone()[0]
        except psycopg.errors.UniqueViolation:
            raise AccesoError(409, "Ya hay una derivación abierta de esta unidad a este servicio.") from None
        audit(conn, sesion, "derivar", distrito, 1, finalidad, derivacion_id=derivacion_id, servicio=s.codigo)
        created = conn.execute(REFERRAL_SQL + " WHERE d.derivacion_id = %s", (derivacion_id,)).fetchone()
    return _referral(created)


def _visible_referrals(conn, estado: str | None, servicio: str | None) -> list[dict]:
    where, params = [], []
    if estado:
        where.append("d.estado = %s")
        params.append(estado)
    if servicio:
        where.append("d.servicio = %s")
        params.append(servicio)
    query = REFERRAL_SQL + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY d.derivacion_id"
    return [_referral(r) for r in conn.execute(query, params).fetchall()]


Estado = Literal["referida", "entregada", "no_entregada", "no_localizada"]


def visible_referrals(
    sesion: Sesion,
    *,
    estado: str | None = None,
    servicio: str | None = None,
    finalidad: str = "seguimiento",
    exportar: bool = False,
) -> list[dict]:
    """The referrals the session may see, logged: the plain function behind
    ``GET /api/derivaciones``, its CSV report and the ``/institucion`` page."""
    with nominal_tx(sesion) as conn:
        rows = _visible_referrals(conn, estado, servicio)
        audit(
            conn,
            sesion,
            "exportar_derivaciones" if exportar else "listar_derivaciones",
            territorio_de(sesion),
            len(rows),
            finalidad,
        )
    return rows


@router.get("/api/derivaciones")
def list_referrals(
    estado: Estado | None = None,
    servicio: str | None = Query(default=None, max_length=64),
    finalidad: Finalidad = "seguimiento",
    sesion: Sesion = Depends(require(Rol.MESA_DISTRITAL, Rol.INSTITUCION)),
) -> Response:
    """Referrals of the Mesa's district, or addressed to the institution in its districts."""
    rows = visible_referrals(sesion, estado=estado, servicio=servicio, finalidad=finalidad)
    return JSONResponse({"derivaciones": rows}, headers={"Cache-Control": "no-store"})


@router.get("/api/derivaciones/reporte")
def referral_report(
    estado: Estado | None = None,
    servicio: str | None = Query(default=None, max_length=64),
    finalidad: Finalidad = "seguimiento",
    sesion: Sesion = Depends(require(Rol.MESA_DISTRITAL, Rol.INSTITUCION)),
) -> Response:
    """CSV report of the referrals the session may see (nominal export, logged)."""
    rows = visible_referrals(sesion, estado=estado, servicio=servicio, finalidad=finalidad, exportar=True)
    who = sesion.usuario.institucion or sesion.usuario.distrito
    return _csv(rows, f"derivaciones_{who}.csv")


def pending_of(sesion: Sesion) -> list[dict]:
    """The districts of the session's territory whose figures are still being updated."""
    with access_conn() as conn:
        rows = conn.execute("SELECT distrito, desde, intentos FROM acceso.distritos_pendientes()").fetchall()
        if rows and sesion.rol == Rol.MESA_DEPARTAMENTAL:
            mine = {
                c
                for (c,) in conn.execute(
                    "SELECT codigo FROM territorio.distrito WHERE dpto = %s", (sesion.usuario.departamento,)
                ).fetchall()
            }
        elif sesion.rol == Rol.GABINETE:
            mine = {r[0] for r in rows}
        else:
            mine = {sesion.usuario.distrito} if sesion.rol == Rol.MESA_DISTRITAL else set(sesion.usuario.distritos)
    return [{"distrito": d, "desde": t.isoformat(), "intentos": n} for d, t, n in rows if d in mine]


@router.get("/api/derivaciones/estado-calculo")
def computation_state(sesion: Sesion = Depends(require(*AGGREGATE_ROLES))) -> JSONResponse:
    """Whether the figures of the session's districts are still being updated after a
    contrarreferencia (``actualizando``), and since when."""
    pending = pending_of(sesion)
    return JSONResponse({"actualizando": bool(pending), "distritos": pending}, headers={"Cache-Control": "no-store"})


@router.get("/api/derivaciones/{derivacion_id}")
def get_referral(
    derivacion_id: int,
    finalidad: Finalidad = "seguimiento",
    sesion: Sesion = Depends(require(Rol.MESA_DISTRITAL, Rol.INSTITUCION)),
) -> Response:
    with nominal_tx(sesion) as conn:
        row = conn.execute(REFERRAL_SQL + " WHERE d.derivacion_id = %s", (derivacion_id,)).fetchone()
        if row is None:
            raise AccesoError(404, NOT_FOUND)
        history = conn.execute(
            "SELECT estado, fecha, punto_id, nota, usuario, rol, registrado FROM nominal.derivacion_estado"
            " WHERE derivacion_id = %s ORDER BY historia_id",
            (derivacion_id,),
        ).fetchall()
        audit(conn, sesion, "ver_derivacion", row[9], 1, finalidad, derivacion_id=derivacion_id)
        # the institution's card: address reference, a child's guardian (audited in the database)
        card = referral_cards(conn, [derivacion_id]).get(derivacion_id) if sesion.rol == Rol.INSTITUCION else None
    out = _referral(row)
    if card is not None:
        out["ficha"] = card
    out["historia"] = [
        {
            "estado": h[0],
            "fecha": h[1].isoformat(),
            "punto_id": h[2],
            "nota": h[3],
            "usuario": h[4],
            "rol": h[5],
            "registrado": h[6].isoformat(),
        }
        for h in history
    ]
    return JSONResponse(out, headers={"Cache-Control": "no-store"})


def mark_pending(conn, distrito: str) -> dict:
    """Mark the district's figures pending in the contrarreferencia's own transaction (the
    background worker recomputes it after the answer; ``geoportal.operaciones``)."""
    desde = conn.execute("SELECT nominal.marcar_distrito_pendiente(%s)", (distrito,)).fetchone()[0]
    return {"distrito": distrito, "actualizando": True, "desde": desde.isoformat()}


@asynccontextmanager
async def recalculos_en_segundo_plano():
    """The app's lifespan runs the worker that recomputes the pending districts
    (``geoportal.operaciones.atender_pendientes``) for as long as the app lives."""
    try:
        url = database_url(start=False)
    except Exception:  # noqa: BLE001 -- no database configured: no worker (the CLI still drains)
        url = None
    task = asyncio.create_task(atender_pendientes(url, al_publicar=preparar_publicacion)) if url else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task


@router.post("/api/derivaciones/{derivacion_id}/contrarreferencia")
def counter_referral(
    derivacion_id: int,
    body: Contrarreferencia,
    finalidad: Finalidad = "seguimiento",
    sesion: Sesion = Depends(require(Rol.INSTITUCION)),
) -> dict:
    """The institution reports the outcome; a delivered service updates the status and the district."""
    return counter_refer(derivacion_id, body, finalidad, sesion)


def counter_refer(derivacion_id: int, body: Contrarreferencia, finalidad: str, sesion: Sesion) -> dict:
    """A contrarreferencia, logged; when delivered, its district marked pending in the same
    transaction and recomputed after the answer by the background worker (the route and
    the ``/institucion`` page's form). ``actualizando``: the figures are not yet updated
    (``GET /api/derivaciones/estado-calculo`` says when they are)."""
    with nominal_tx(sesion) as conn:
        row = conn.execute(REFERRAL_SQL + " WHERE d.derivacion_id = %s", (derivacion_id,)).fetchone()
        if row is None:
            raise AccesoError(404, NOT_FOUND)
        ref = _referral(row)
        if body.fecha > date.today() or body.fecha < date.fromisoformat(ref["creada"][:10]):
            raise AccesoError(422, "La fecha de la contrarreferencia no puede ser futura ni anterior a la derivación.")
        s = default_catalog().servicio(ref["servicio"])
        if body.punto_id:
            found = conn.execute(
                "SELECT tipo FROM oferta.punto_entrega WHERE punto_id = %s", (body.punto_id,)
            ).fetchone()
            if found is None or (s.punto_tipo and found[0] != s.punto_tipo):
                raise AccesoError(422, f"El punto de entrega no existe o no presta {s.codigo}.")
        try:
            conn.execute(
                "INSERT INTO nominal.derivacion_estado (derivacion_id, estado, fecha, punto_id, nota, usuario, rol)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    derivacion_id,
                    body.resultado,
                    body.fecha,
                    body.punto_id or ref["punto_id"],
                    body.nota,
                    sesion.usuario.nombre,
                    sesion.rol,
                ),
            )
        except psycopg.Error as exc:
            if exc.sqlstate != "GP409":
                raise
            raise AccesoError(409, "Esta derivación ya tiene su contrarreferencia.") from None
        if body.resultado == "entregada":
            conn.execute(
                "INSERT INTO nominal.estatus_evento (unidad, unidad_id, servicio, cubierto, fecha, fuente)"
                " VALUES (%s, %s, %s, true, %s, %s)",
                (ref["unidad"], ref["unidad_id"], ref["servicio"], body.fecha, f"contrarreferencia:{derivacion_id}"),
            )
        # the event and its district's "pending" marker commit together: a crash after the
        # commit leaves the marker, which the next start-up or drain picks up
        pending = mark_pending(conn, ref["distrito"]) if body.resultado == "entregada" else None
        audit(
            conn,
            sesion,
            "contrarreferencia",
            ref["distrito"],
            1,
            finalidad,
            derivacion_id=derivacion_id,
            resultado=body.resultado,
        )
    return {
        "derivacion_id": derivacion_id,
        "estado": body.resultado,
        "actualizando": pending is not None,
        "recalculo": pending,
    }
