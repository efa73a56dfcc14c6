"""Spanish HTML pages of the cycle: the Mesa's list (``/mesa``: searched, filtered, sorted;
"Derivar" opens the confirmation step of ``api.institucional.seguimiento``) and the
institution's referrals (``/institucion``: one card per referral, grouped by delivery point,
with what a health worker needs to find the person). Plain forms, server-rendered from
templates (``api/base/templates``); the only script is the institution page's few lines
that disable a sent form and say «Registrando…». They call the same plain functions as the
JSON routes (``api.institucional.derivaciones``: the same role checks, RLS and audit apply)
and every form carries the session's CSRF token."""

from __future__ import annotations

from datetime import date
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.base.conexiones import PoolPublico, conexion
from api.base.errores import AccesoError
from api.base.plantilla import km, pagina
from api.base.registro import RutaInstitucional
from api.institucional import derivaciones, seguimiento
from api.institucional.acceso import Sesion, optional_session
from geoportal import lista_nominal as nominal
from geoportal.catalog import default_catalog
from geoportal.usuarios import Rol, nombre_rol

router = APIRouter(include_in_schema=False, route_class=RutaInstitucional)


def _page(plantilla: str, title: str, sesion: Sesion | None = None, **datos) -> HTMLResponse:
    return HTMLResponse(pagina(plantilla, title, sesion, **datos), headers={"Cache-Control": "no-store"})


BRECHAS = {"derivacion": "derivación", "inversion": "inversión"}
TIPOS_DE_BRECHA = (("", "todas"), ("derivacion", "derivación (hay oferta)"), ("inversion", "inversión (sin oferta)"))
POR_PAGINA = 50


def _gate(sesion: Sesion | None, rol: str, here: str) -> Response | None:
    if sesion is None:
        return RedirectResponse(f"/ingresar?{urlencode({'siguiente': here})}", status_code=303)
    if sesion.rol != rol:
        return _page("aviso.html", "Sin acceso", sesion, texto=f"Esta página es para el rol {nombre_rol(rol)}.")
    return None


@router.get("/mesa")
def mesa_page(
    servicio: str = "",
    brecha: str = "",
    categoria: str = "",
    localidad: str = "",
    buscar: str = "",
    orden: str = "servicio",
    desde: int = 0,
    mensaje: str | None = None,
    sesion: Sesion | None = Depends(optional_session),
) -> Response:
    refused = _gate(sesion, Rol.MESA_DISTRITAL, "/mesa")
    if refused:
        return refused
    catalog = default_catalog()
    services = [s for s in catalog.servicios if s.unidad != "entorno"]
    desde = max(0, desde)
    brecha = brecha if brecha in BRECHAS else ""
    orden = orden if orden in seguimiento.ORDENES else "servicio"
    buscar = buscar.strip()[:80]
    title = "Personas y hogares sin protección"
    try:
        data = seguimiento.gap_page(
            sesion,
            servicio=servicio or None,
            categoria=categoria or None,
            brecha=brecha or None,
            localidad=localidad[:120] or None,
            buscar=buscar,
            orden=orden,
            desde=desde,
            limite=POR_PAGINA,
        )
    except AccesoError as exc:
        return _page("aviso.html", title, sesion, texto=exc.detail, error=True)
    names = {s.codigo: s.nombre for s in services}
    filters = {
        k: v
        for k, v in {
            "servicio": servicio,
            "brecha": brecha,
            "categoria": categoria,
            "localidad": localidad,
            "buscar": buscar,
            "orden": orden if orden != "servicio" else "",
        }.items()
        if v
    }
    volver = urlencode({**filters, "desde": desde})
    rows = [
        {
            **r,
            "quien": f"{r.get('nombres', '')} {r.get('apellidos', '')}".strip() or f"Hogar {r['hogar_id']}",
            "categorias": r["categorias"].replace(",", ", "),
            "inversion": r["brecha"] == "inversion",
            "brecha": BRECHAS.get(r["brecha"], r["brecha"]),
            "confirmar": "/mesa/confirmar?"
            + urlencode(
                {"unidad": r["unidad"], "unidad_id": r["unidad_id"], "servicio": r["servicio"], "volver": volver}
            ),
            "punto": r["punto_nombre"] or "—",
            "km": km(r["distancia_km"]),
            "mapa": f"/mesa/hogar/{quote(r['hogar_id'], safe='')}",
        }
        for r in data["filas"]
    ]
    shown = f"{desde + 1}–{desde + len(rows)}" if rows else "ninguna"
    previous = f"/mesa?{urlencode({**filters, 'desde': max(0, desde - POR_PAGINA)})}" if desde > 0 else None
    following = (
        f"/mesa?{urlencode({**filters, 'desde': desde + POR_PAGINA})}" if desde + len(rows) < data["total"] else None
    )
    api_filters = {k: v for k, v in filters.items() if k in ("servicio", "brecha", "categoria", "localidad")}
    csv = f"/api/nominal/brechas?{urlencode(api_filters | {'paquete': 'todos', 'formato': 'csv'})}"
    sort_links = [
        (clave_, texto, f"/mesa?{urlencode({**filters, 'orden': clave_})}", clave_ == orden)
        for clave_, texto in seguimiento.ORDENES.items()
    ]
    return _page(
        "mesa.html",
        title,
        sesion,
        mensaje=mensaje,
        distrito=data["distrito"],
        nombre_distrito=data["nombre_distrito"],
        servicios=services,
        servicio=servicio,
        brecha=brecha,
        brechas=TIPOS_DE_BRECHA,
        categorias=catalog.categorias,
        categoria=categoria,
        localidades=data["localidades"],
        localidad=localidad,
        buscar=buscar,
        orden=orden,
        ordenes=sort_links,
        total=data["total"],
        mostradas=shown,
        csv=csv,
        resumen=[{**r, "nombre": names.get(r["servicio"], r["servicio"])} for r in data["resumen"]],
        filas=rows,
        volver=volver,
        anteriores=previous,
        siguientes=following,
    )


@router.post("/mesa/derivar")
def mesa_refer(
    unidad: str = Form(...),
    unidad_id: str = Form(...),
    servicio: str = Form(...),
    volver: str = Form(""),
    punto_id: str = Form(""),
    nota: str = Form(""),
    sesion: Sesion | None = Depends(optional_session),
) -> Response:
    refused = _gate(sesion, Rol.MESA_DISTRITAL, "/mesa")
    if refused:
        return refused
    try:
        created = derivaciones.refer(
            derivaciones.DerivacionNueva(
                unidad=unidad, unidad_id=unidad_id, servicio=servicio, punto_id=punto_id or None, nota=nota.strip()
            ),
            "derivacion",
            sesion,
        )
        message = f"Derivación n.º {created['derivacion_id']} enviada a {created['institucion']}."
    except AccesoError as exc:
        message = exc.detail
    except ValueError:
        message = "Datos del formulario no válidos."
    return RedirectResponse(f"/mesa?{volver}&{urlencode({'mensaje': message})}", status_code=303)


@router.get("/institucion")
def institution_page(
    publico: PoolPublico, mensaje: str | None = None, punto: str = "", sesion: Sesion | None = Depends(optional_session)
) -> Response:
    refused = _gate(sesion, Rol.INSTITUCION, "/institucion")
    if refused:
        return refused
    catalog = default_catalog()
    names = {s.codigo: s.nombre for s in catalog.servicios}
    referrals, details = seguimiento.referrals_with_details(sesion)
    points = _point_names(publico, [r["punto_id"] for r in referrals])
    alternatives = _points_for(
        publico,
        sesion,
        {
            catalog.servicio(r["servicio"]).punto_tipo
            for r in referrals
            if r["estado"] == "referida" and r["servicio"] in names
        },
    )
    states = {
        "referida": "pendiente",
        "entregada": "entregada",
        "no_entregada": "no entregada",
        "no_localizada": "no localizada",
    }
    rows = []
    for r in referrals:
        d = details.get(r["derivacion_id"], {})
        s = catalog.servicio(r["servicio"]) if r["servicio"] in names else None
        rows.append(
            {
                "derivacion_id": r["derivacion_id"],
                "quien": f"{r['nombres'] or ''} {r['apellidos'] or ''}".strip() or f"Hogar {r['hogar_id']}",
                "persona": ", ".join(x for x in (d.get("sexo"), d.get("edad_texto")) if x),
                "localidad": r["localidad"] or "",
                "cercania": d.get("cercania") or "",
                "direccion": d.get("direccion") or "",
                "responsable": d.get("responsable") or "",
                "zona": d.get("zona") or "",
                "servicio": names.get(r["servicio"], r["servicio"]),
                "punto_id": r["punto_id"] or "",
                "punto": points.get(r["punto_id"], r["punto_id"] or "sin punto"),
                "puntos": alternatives.get(s.punto_tipo if s else None, []),
                "nota": r["nota"],
                "creada": _fecha(r["creada"]),
                "minima": r["creada"][:10],
                "pendiente": r["estado"] == "referida",
                "estado": states.get(r["estado"], r["estado"]),
            }
        )
    groups: dict[str, list] = {}
    for r in sorted(rows, key=lambda r: (not r["pendiente"], r["derivacion_id"])):  # pending first
        groups.setdefault(r["punto"], []).append(r)
    chosen = [
        (name, items)
        for name, items in sorted(groups.items(), key=lambda g: (seguimiento.fold(g[0]), g[0]))
        if not punto or name == punto
    ]
    return _page(
        "institucion.html",
        "Derivaciones recibidas",
        sesion,
        mensaje=mensaje,
        grupos=chosen,
        puntos=sorted(groups, key=seguimiento.fold),
        punto=punto,
        total=len(rows),
        pendientes=sum(r["pendiente"] for r in rows),
        hoy=date.today().isoformat(),
    )


def _fecha(iso: str) -> str:
    """2026-12-02 → 02/12/2026, as dates are written in Paraguay."""
    year, month, day = iso[:10].split("-")
    return f"{day}/{month}/{year}"


def _point_names(pool, ids) -> dict[str, str]:
    """Delivery points are public: their names come through the public role."""
    if not any(ids):
        return {}
    with conexion(pool) as conn:
        return nominal.point_names(conn, ids)


def _points_for(pool, sesion: Sesion, tipos) -> dict[str, list[tuple[str, str]]]:
    """Delivery points of each type in the institution's districts (public data), by name."""
    tipos = sorted(t for t in tipos if t)
    if not tipos:
        return {}
    with conexion(pool) as conn:
        found = conn.execute(
            "SELECT p.tipo, p.punto_id, p.nombre FROM oferta.punto_entrega p WHERE p.tipo = ANY(%s) AND p.codigo_2012 IN"
            " (SELECT coalesce(d.codigo_2012, '') FROM territorio.distrito d WHERE d.codigo = ANY(%s))"
            " ORDER BY p.nombre, p.punto_id",
            (tipos, list(sesion.usuario.distritos)),
        ).fetchall()
    out: dict[str, list] = {}
    for tipo, punto_id, nombre in found:
        out.setdefault(tipo, []).append((punto_id, nombre))
    return out


@router.post("/institucion/contrarreferencia")
def institution_counter(
    derivacion_id: int = Form(...),
    resultado: str = Form(""),
    fecha: str = Form(...),
    punto_id: str = Form(""),
    nota: str = Form(""),
    sesion: Sesion | None = Depends(optional_session),
) -> Response:
    refused = _gate(sesion, Rol.INSTITUCION, "/institucion")
    if refused:
        return refused
    if not resultado:
        message = "Elija el resultado de la contrarreferencia (entregada, no entregada o no localizada)."
        return RedirectResponse(f"/institucion?{urlencode({'mensaje': message})}", status_code=303)
    try:
        body = derivaciones.Contrarreferencia(
            resultado=resultado, fecha=fecha, punto_id=punto_id or None, nota=nota.strip()
        )
        done = derivaciones.counter_refer(derivacion_id, body, "seguimiento", sesion)
        message = (
            f"Contrarreferencia de la derivación n.º {derivacion_id} registrada: {done['estado'].replace('_', ' ')}."
        )
        if done.get("actualizando"):
            message += " Las cifras del distrito se están actualizando."
    except AccesoError as exc:
        message = exc.detail
    except ValueError:
        message = "Datos del formulario no válidos."
    return RedirectResponse(f"/institucion?{urlencode({'mensaje': message})}", status_code=303)
