"""The Mesa's follow-up: its gap list searched and sorted, the referral's confirmation step,
its referrals with their states, and the effect of its delivered services.

- ``GET /mesa/hogar/{id}``: a gap row's household on the map (its H3 res-8 cell's centre,
  in the URL fragment only).
- ``GET /mesa/confirmar``: one gap, the delivery points of its service nearest the
  household (the nearest in reach chosen), a note; the form posts to ``/mesa/derivar``.
- ``GET /mesa/derivaciones`` (``formato=csv`` for the sheet): the district's referrals,
  every state (referida, entregada, no entregada, no localizada), filtered by state,
  service, institution and dates.
- ``GET /mesa/efecto``: the gaps its own cycle closed since the public release in force
  (delivered contrarreferencias of its district), per service and Logro: nominal-side
  counts of its own district, shown apart from the protected figures.

Every nominal read goes through ``acceso.nominal_tx`` (Row-Level Security: the Mesa's
district only) and is audited in the same transaction. ``landing_url`` is where a login
lands (a Mesa: the map on its district).
"""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from datetime import date
from urllib.parse import urlencode

import h3.api.basic_int as h3i
import numpy as np
from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.base.errores import AccesoError
from api.base.hojas import MEDIA_TYPE, csv_document
from api.base.plantilla import km, pagina
from api.base.registro import RutaInstitucional
from api.institucional.acceso import Sesion, audit, nominal_tx, optional_session
from geoportal import lista_nominal as nominal
from geoportal import seguimiento as engine
from geoportal.catalog import default_catalog
from geoportal.nombres import nombre_de_lugar
from geoportal.settings import get_settings
from geoportal.usuarios import Rol, nombre_rol

router = APIRouter(include_in_schema=False, route_class=RutaInstitucional)

ESTADOS = {
    "referida": "referida (pendiente)",
    "entregada": "entregada",
    "no_entregada": "no entregada",
    "no_localizada": "no localizada",
}
ORDENES = {"servicio": "servicio", "nombre": "nombre", "localidad": "localidad", "km": "distancia"}


def landing_url(usuario, siguiente: str) -> str:
    """Where a login lands: what was asked, except that a Mesa asking nothing in particular
    (the account page, the default) goes to the map on its district."""
    if siguiente == "/cuenta" and usuario.rol == Rol.MESA_DISTRITAL and usuario.distrito:
        return f"/?{urlencode({'t': usuario.distrito})}"
    return siguiente


def fold(text: str | None) -> str:
    """Search and sort key: case, accents and ñ folded (both sides), spaces normalised.
    Plain C-level string operations: a district's tens of thousands of names in a blink."""
    return " ".join(unicodedata.normalize("NFKD", (text or "").casefold()).encode("ascii", "ignore").decode().split())


def district_name(conn, codigo: str) -> str:
    row = conn.execute("SELECT nombre FROM territorio.distrito WHERE codigo = %s", (codigo,)).fetchone()
    return (nombre_de_lugar(row[0]) or codigo) if row else codigo


def page(plantilla: str, title: str, sesion: Sesion | None = None, **datos) -> HTMLResponse:
    return HTMLResponse(pagina(plantilla, title, sesion, **datos), headers={"Cache-Control": "no-store"})


def gate(sesion: Sesion | None, rol: str, here: str) -> Response | None:
    if sesion is None:
        return RedirectResponse(f"/ingresar?{urlencode({'siguiente': here})}", status_code=303)
    if sesion.rol != rol:
        return page("aviso.html", "Sin acceso", sesion, texto=f"Esta página es para el rol {nombre_rol(rol)}.")
    return None


# ----------------------------------------------------------------------------- the gap list
def gap_page(
    sesion: Sesion,
    *,
    servicio: str | None,
    categoria: str | None,
    brecha: str | None,
    localidad: str | None,
    buscar: str,
    orden: str,
    desde: int,
    limite: int,
) -> dict:
    """One page of the Mesa's gaps, searched by name and sorted (the ``/mesa`` page), logged
    like ``derivaciones.nominal_list``: the same RLS transaction, the same audit action."""
    catalog = default_catalog()
    if servicio and servicio not in {s.codigo for s in catalog.servicios}:
        raise AccesoError(422, f"Servicio desconocido: {servicio[:40]}.")
    if categoria and categoria not in {c.codigo for c in catalog.categorias}:
        raise AccesoError(422, f"Categoría desconocida: {categoria[:20]}.")
    distrito = sesion.usuario.distrito
    filtros = nominal.FiltrosLista(servicio, categoria, brecha, None, localidad or None)
    with nominal_tx(sesion) as conn:
        found = nominal.gaps(conn, distrito, filtros, catalog, get_settings().fecha_corte)
        names = {}
        if buscar or orden == "nombre":  # (household, given names first, surnames first), folded as needed
            names = {
                r[0]: (
                    r[1],
                    fold(f"{r[2]} {r[3]}") if buscar else "",
                    fold(f"{r[3]} {r[2]}") if orden == "nombre" else "",
                )
                for r in conn.execute("SELECT persona_id, hogar_id, nombres, apellidos FROM nominal.persona").fetchall()
            }
        listed = _searched(found, names, fold(buscar)) if buscar else found
        total = listed.total
        shown = listed.rows(desde, limite) if orden == "servicio" else _sorted(listed, names, orden, desde, limite)
        people = nominal.person_names(conn, [r["unidad_id"] for r in shown if r["unidad"] == "persona"])
        points = nominal.point_names(conn, [r["punto_id"] for r in shown])
        open_refs = {
            (u, s): i
            for u, s, i in conn.execute(
                "SELECT unidad_id, servicio, derivacion_id FROM nominal.derivacion WHERE estado = 'referida'"
            ).fetchall()
        }
        localities = [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT localidad FROM nominal.hogar WHERE codigo_distrito = %s", (distrito,)
            ).fetchall()
        ]
        out = [
            {
                **r,
                **(people.get(r["unidad_id"], {}) if r["unidad"] == "persona" else {}),
                "punto_nombre": points.get(r["punto_id"]),
                "derivacion_abierta": open_refs.get((r["unidad_id"], r["servicio"])),
            }
            for r in shown
        ]
        audit(
            conn,
            sesion,
            "lista_nominal",
            distrito,
            len(out),
            "derivacion",
            filtros={k: v for k, v in {**vars(filtros), "buscar": bool(buscar), "orden": orden}.items() if v},
        )
        nombre = district_name(conn, distrito)
    return {
        "distrito": distrito,
        "nombre_distrito": nombre,
        "total": total,
        "filas": out,
        "resumen": found.summary(),
        "localidades": sorted(localities, key=fold),
    }


def _ids(gaps, s, rows) -> np.ndarray:
    return (gaps.personas["persona_id"] if s.unidad == "persona" else gaps.hogares["hogar_id"]).to_numpy()[rows]


def _searched(gaps, names: dict, wanted: str):
    """The gaps of persons whose name contains ``wanted`` (folded), and of their households."""
    hits = {pid for pid, (_, given_first, _) in names.items() if wanted in given_first}
    homes = {names[pid][0] for pid in hits}
    parts = []
    for s, rows, house, reach, point, km_ in gaps.parts:
        wanted_ids = hits if s.unidad == "persona" else homes
        keep = np.fromiter((i in wanted_ids for i in _ids(gaps, s, rows)), dtype=bool, count=len(rows))
        parts.append((s, rows[keep], house[keep], reach[keep], point[keep], km_[keep]))
    return replace(gaps, parts=parts)


def _sorted(gaps, names: dict, orden: str, desde: int, limite: int) -> list[dict]:
    """One page of the gaps in another order than the catalog's: sort keys built from the
    index arrays (no row built but the page's), ties broken by unit id then service."""
    keys = []
    localities = gaps.hogares["localidad"].to_numpy() if len(gaps.hogares) else np.array([])
    for k, (s, rows, house, _, _, km_) in enumerate(gaps.parts):
        ids = _ids(gaps, s, rows)
        if orden == "nombre":
            first = [names[i][2] if i in names else "~" + i for i in ids]
        elif orden == "localidad":
            first = [fold(x) for x in localities[house]]
        else:
            first = [float(x) if np.isfinite(x) else float("inf") for x in km_]
        keys.extend((f, i, s.codigo, k, j) for j, (f, i) in enumerate(zip(first, ids)))
    keys.sort()
    chosen = keys[desde : desde + limite]
    page_parts = [(gaps.parts[k][0], *(a[j : j + 1] for a in gaps.parts[k][1:])) for *_, k, j in chosen]
    return replace(gaps, parts=page_parts).rows(0, None)


# ----------------------------------------------------------------------------- household on the map
@router.get("/mesa/hogar/{hogar_id}")
def household_on_map(hogar_id: str, sesion: Sesion | None = Depends(optional_session)) -> Response:
    """The Mesa's link from a gap row to its household on the map: the viewer centred on the
    household's H3 resolution-8 cell (about 0.7 km², never the dwelling's point), carried in
    the URL fragment, which no server receives: the public routes and their logs never see
    it. Read under RLS (own district only; any other id is the same 404 page) and audited."""
    refused = gate(sesion, Rol.MESA_DISTRITAL, "/mesa")
    if refused:
        return refused
    with nominal_tx(sesion) as conn:
        found = conn.execute("SELECT h3_8 FROM nominal.hogar WHERE hogar_id = %s", (hogar_id[:64],)).fetchone()
        audit(conn, sesion, "ver_hogar_en_mapa", sesion.usuario.distrito, 1 if found else 0, "derivacion")
    if found is None:
        answer = page(
            "aviso.html", "Hogar no encontrado", sesion, texto="No existe o no está en su distrito.", error=True
        )
        answer.status_code = 404
        return answer
    lat, lon = h3i.cell_to_latlng(int(found[0]))
    return RedirectResponse(f"/#hogar={lat:.4f},{lon:.4f}", status_code=303)


# ----------------------------------------------------------------------------- confirmation
@router.get("/mesa/confirmar")
def confirm_referral(
    unidad: str = "",
    unidad_id: str = "",
    servicio: str = "",
    volver: str = "",
    sesion: Sesion | None = Depends(optional_session),
) -> Response:
    refused = gate(sesion, Rol.MESA_DISTRITAL, "/mesa")
    if refused:
        return refused
    title = "Confirmar la derivación"
    catalog = default_catalog()
    try:
        s = catalog.servicio(servicio[:64])
    except KeyError:
        return page("aviso.html", title, sesion, texto="Servicio desconocido.", error=True)
    if unidad not in ("persona", "hogar") or s.unidad != unidad:
        return page("aviso.html", title, sesion, texto="Datos de la derivación no válidos.", error=True)
    distrito = sesion.usuario.distrito
    with nominal_tx(sesion) as conn:
        gap = nominal.gaps(
            conn,
            distrito,
            nominal.FiltrosLista(servicio=s.codigo, paquete=None),
            fecha_corte=get_settings().fecha_corte,
        ).find(s.codigo, unidad_id[:64])
        if gap is None:
            audit(conn, sesion, "confirmar_derivacion", distrito, 0, "derivacion", servicio=s.codigo)
            return page(
                "aviso.html",
                title,
                sesion,
                error=True,
                texto="Esta unidad ya no tiene esa brecha (ya cubierta, derivada o fuera de su distrito).",
            )
        home = conn.execute(
            "SELECT lon, lat, zona, localidad FROM nominal.hogar WHERE hogar_id = %s", (gap["hogar_id"],)
        ).fetchone()
        who = nominal.person_names(conn, [gap["unidad_id"]]) if unidad == "persona" else {}
        audit(conn, sesion, "confirmar_derivacion", distrito, 1, "derivacion", servicio=s.codigo)
    points = []
    if s.punto_tipo and home:
        radius = s.radio_km.urbana if home[2] == "urbana" else s.radio_km.rural
        with nominal_tx(sesion) as conn:
            points = engine.points_in_reach(conn, home[0], home[1], s.punto_tipo, radius)
        points = [
            {**p, "texto": f"{p['nombre']} — {km(p['km'])} km{'' if p['alcance'] else ' (fuera del alcance)'}"}
            for p in points
        ]
    if gap["brecha"] == "inversion":
        return page(
            "aviso.html",
            title,
            sesion,
            error=True,
            texto=f"No hay un punto de {s.nombre} al alcance de esta unidad: es una necesidad de inversión, "
            "no se deriva.",
        )
    person = who.get(gap["unidad_id"], {})
    name = f"{person.get('nombres', '')} {person.get('apellidos', '')}".strip() or f"Hogar {gap['hogar_id']}"
    chosen = next((p["punto_id"] for p in points if p["alcance"]), points[0]["punto_id"] if points else "")
    return page(
        "confirmar.html",
        title,
        sesion,
        quien=name,
        servicio=s,
        institucion=catalog.instituciones.get(s.institucion, s.institucion),
        localidad=home[3] if home else "",
        unidad=unidad,
        unidad_id=gap["unidad_id"],
        puntos=points,
        elegido=chosen,
        volver=volver,
    )


# ----------------------------------------------------------------------------- referrals
def referrals_with_details(sesion: Sesion) -> tuple[list[dict], dict[int, dict]]:
    """The referrals addressed to the institution (``derivaciones.visible_referrals``, logged)
    and what a health worker needs to find each person (age, sex, locality, nearest named
    place; the FIPS address reference and a child's guardian): read under the same RLS
    scope or through ``nominal.ficha_derivaciones`` (its own referrals only), and logged."""
    from api.institucional import derivaciones

    referrals = derivaciones.visible_referrals(sesion, finalidad="seguimiento")
    if not referrals:
        return [], {}
    with nominal_tx(sesion) as conn:
        details = engine.referral_details(conn, referrals)
        audit(conn, sesion, "ver_detalle_derivaciones", ",".join(sesion.usuario.distritos), len(details), "seguimiento")
        # address reference and a child's guardian: the audited SECURITY DEFINER card (own referrals only)
        cards = engine.referral_cards(conn, [r["derivacion_id"] for r in referrals])
    for ref_id, card in cards.items():
        details.setdefault(ref_id, {}).update(direccion=card["direccion"], responsable=card["responsable"])
    return referrals, details


REFERRAL_COLUMNS = {
    "derivacion_id": "N.º",
    "quien": "Persona / hogar",
    "localidad": "Localidad",
    "servicio_nombre": "Servicio",
    "institucion": "Institución",
    "punto": "Punto de entrega",
    "estado_texto": "Estado",
    "creada": "Derivada el",
    "actualizada": "Último cambio",
    "nota": "Nota",
}


def _date(iso: str) -> str:
    year, month, day = iso[:10].split("-")
    return f"{day}/{month}/{year}"


def mesa_referrals(
    sesion: Sesion, *, estado: str, servicio: str, institucion: str, desde: str, hasta: str, exportar: bool
) -> tuple[list[dict], str]:
    """The Mesa's referrals, every state, filtered; logged as a referral listing or export."""
    catalog = default_catalog()
    names = {s.codigo: s.nombre for s in catalog.servicios}
    where, params = [], []
    for column, value in (("d.estado", estado), ("d.servicio", servicio), ("d.institucion", institucion)):
        if value:
            where.append(f"{column} = %s")
            params.append(value)
    if desde:
        where.append("d.creada::date >= %s")
        params.append(desde)
    if hasta:
        where.append("d.creada::date <= %s")
        params.append(hasta)
    query = (
        "SELECT d.derivacion_id, d.unidad, d.unidad_id, d.hogar_id, d.servicio, d.institucion, d.estado,"
        " d.creada, d.actualizada, d.nota, p.nombres, p.apellidos, h.localidad, pe.nombre"
        " FROM nominal.derivacion d LEFT JOIN nominal.persona p ON d.unidad = 'persona' AND p.persona_id = d.unidad_id"
        " LEFT JOIN nominal.hogar h ON h.hogar_id = d.hogar_id LEFT JOIN oferta.punto_entrega pe ON pe.punto_id = d.punto_id"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY d.creada DESC, d.derivacion_id DESC"
    )
    with nominal_tx(sesion) as conn:
        found = conn.execute(query, params).fetchall()
        audit(
            conn,
            sesion,
            "exportar_derivaciones" if exportar else "listar_derivaciones",
            sesion.usuario.distrito,
            len(found),
            "seguimiento",
        )
        nombre = district_name(conn, sesion.usuario.distrito)
    rows = [
        {
            "derivacion_id": r[0],
            "quien": f"{r[10] or ''} {r[11] or ''}".strip() or f"Hogar {r[3]}",
            "localidad": r[12] or "",
            "servicio": r[4],
            "servicio_nombre": names.get(r[4], r[4]),
            "institucion": r[5],
            "punto": r[13] or "—",
            "estado": r[6],
            "estado_texto": ESTADOS.get(r[6], r[6]),
            "creada": _date(r[7].isoformat()),
            "actualizada": _date(r[8].isoformat()) if r[6] != "referida" else "",
            "nota": r[9],
        }
        for r in found
    ]
    return rows, nombre


@router.get("/mesa/derivaciones")
def mesa_referrals_page(
    estado: str = "",
    servicio: str = "",
    institucion: str = "",
    desde: str = "",
    hasta: str = "",
    formato: str = "html",
    sesion: Sesion | None = Depends(optional_session),
) -> Response:
    refused = gate(sesion, Rol.MESA_DISTRITAL, "/mesa/derivaciones")
    if refused:
        return refused
    title = "Derivaciones de la Mesa"
    catalog = default_catalog()
    estado = estado if estado in ESTADOS else ""
    servicio = servicio if servicio in {s.codigo for s in catalog.servicios} else ""
    institucion = institucion if institucion in catalog.instituciones else ""
    try:
        desde = date.fromisoformat(desde).isoformat() if desde else ""
        hasta = date.fromisoformat(hasta).isoformat() if hasta else ""
    except ValueError:
        return page("aviso.html", title, sesion, texto="Fecha no válida (AAAA-MM-DD).", error=True)
    rows, nombre = mesa_referrals(
        sesion,
        estado=estado,
        servicio=servicio,
        institucion=institucion,
        desde=desde,
        hasta=hasta,
        exportar=formato == "csv",
    )
    if formato == "csv":
        body = csv_document(REFERRAL_COLUMNS.values(), ([r[k] for k in REFERRAL_COLUMNS] for r in rows))
        return Response(
            body.encode(),
            media_type=MEDIA_TYPE,
            headers={
                "Content-Disposition": f"attachment; filename=derivaciones_{sesion.usuario.distrito}.csv",
                "Cache-Control": "no-store",
            },
        )
    filters = {
        k: v
        for k, v in {
            "estado": estado,
            "servicio": servicio,
            "institucion": institucion,
            "desde": desde,
            "hasta": hasta,
        }.items()
        if v
    }
    counts = {e: sum(r["estado"] == e for r in rows) for e in ESTADOS}
    return page(
        "mesa_derivaciones.html",
        title,
        sesion,
        filas=rows,
        distrito=nombre,
        estados=ESTADOS,
        estado=estado,
        servicios=[s for s in catalog.servicios if s.unidad != "entorno"],
        servicio=servicio,
        instituciones=catalog.instituciones,
        institucion=institucion,
        desde=desde,
        hasta=hasta,
        conteos=counts,
        csv="/mesa/derivaciones?" + urlencode({**filters, "formato": "csv"}),
    )


# ----------------------------------------------------------------------------- effect
@router.get("/mesa/efecto")
def mesa_effect(sesion: Sesion | None = Depends(optional_session)) -> Response:
    refused = gate(sesion, Rol.MESA_DISTRITAL, "/mesa/efecto")
    if refused:
        return refused
    catalog = default_catalog()
    with nominal_tx(sesion) as conn:
        version, since = engine.last_release(conn)
        closed = engine.closed_gaps(conn, since, catalog)
        audit(conn, sesion, "efecto_entregas", sesion.usuario.distrito, closed["total"], "seguimiento")
        nombre = district_name(conn, sesion.usuario.distrito)
    logros = {c.logro: c.nombre for c in catalog.categorias}
    return page(
        "mesa_efecto.html",
        "Efecto de las entregas",
        sesion,
        distrito=nombre,
        efecto=closed,
        logros=logros,
        desde=since.strftime("%d/%m/%Y %H:%M") if since else None,
        version=version,
    )
