"""What-if (simulación): add or remove delivery points in one district, without saving.

``simulate`` computes, for the households and persons of ONE 2022 district, the same
measures as ``geoportal calcular`` twice: with the stored delivery points (*antes*) and
with a modified set (*después*: the points of ``agregar`` added with synthetic ids
``simulado:1``, ``simulado:2``…, the points of ``quitar`` removed). It reads inside a
read-only transaction that is always rolled back, so nothing is ever written.

What a point can change, and what it cannot:

- **Reach** (*alcance*): whether a point of the service's type lies within the
  catchment (``radio_km``). A person or household with a gap (the service applies and is
  not covered) is *sin oferta* (an investment case) without a point in reach and *con
  oferta* (a referral case) with one. A new point moves gaps from *sin oferta* to *con
  oferta*; removing the only point in reach moves them back.
- **Accessibility** (2SFCA index of ``geoportal.accesibilidad``) and the distance to the nearest
  point of the type.
- **Entorno services** of ``origen_estatus: oferta`` (``ENT_USF``, ``ENT_ESCUELA``): their
  status *is* supply (a point within the catchment of the localidad's centre), so their
  ``cubiertos`` and the Logro 10 (entorno) protected count can change.
- Coverage of persons and households (``cubiertos``) does **not** change: it is what the
  FIPS recorded (or the latest administrative record / contrarreferencia). A new USF does
  not adscribe anybody by itself; it turns an investment case into a referral case.

Step 1 of the 2SFCA (each point's ratio ``R_j = capacity_j / demand in its catchment``)
depends on the demand of every household within the catchment, whatever its district.
The simulation therefore uses the ratios stored by the last national run
(``calculo.punto_ratio``) for the points that have one, exactly as ``geoportal calcular
--distrito`` does, so *antes* matches the published figures while those ratios are
current. For the points that have none (the added ones, or points loaded after the last
national run) step 1 is recomputed from the demand of **all** households within their
catchment, including those of neighbouring districts: the demand locations that national
run stored (``calculo.demanda_lugar``: households by H3 cell and zone, their demand per
point type), the very demand the stored ratios came from, so a new point twin of an
existing one gets its ratio exactly. In 2SFCA a point's ratio depends only on its own
capacity and demand, so adding or removing a point leaves the ratio of the others
unchanged and this is exact (limitations: stored ratios and demand are as stale as the
last national run, and the demand ages are those of its cut-off date). Without a stored
demand (no national run yet) it is computed from the households around the points.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from geoportal import aggregate as agg
from geoportal.accesibilidad import demand_cells, two_step_fca, type_radius
from geoportal.audit import log_access
from geoportal.catalog import Catalogo, default_catalog
from geoportal.coverage import Units, person_status
from geoportal.dbcopy import copy_out
from geoportal.geodesia import nearest_km, nearest_km_xyz, unit_vectors
from geoportal.pipeline import ages_reference, demand_by_type, unit_measures
from geoportal.settings import get_settings

PREFIJO = "simulado:"
ORIGEN = "simulado"
# Margin (km) added to catchments when selecting households and points near a point: demand
# is located at H3 res-9 cell centres (cells are about 0.35 km across), not at households.
_MARGEN_KM = 2.0

COLUMNAS = [
    "servicio",
    "nombre",
    "unidad",
    "punto_tipo",
    "aplica",
    "cubiertos",
    "cubiertos_despues",
    "brecha_sin_oferta_antes",
    "brecha_sin_oferta_despues",
    "brecha_con_oferta_antes",
    "brecha_con_oferta_despues",
    "acceso_medio_antes",
    "acceso_medio_despues",
    "distancia_media_km_antes",
    "distancia_media_km_despues",
    "cambio",
]
_CONTEOS = COLUMNAS[4:11]
_PALABRA = {"persona": ("persona", "personas"), "hogar": ("hogar", "hogares"), "entorno": ("entorno", "entornos")}


@dataclass
class PuntoNuevo:
    """A delivery point to add in a simulation (WGS84 degrees)."""

    tipo: str
    lon: float
    lat: float
    capacidad: int
    zona: str = "rural"

    @classmethod
    def desde_texto(cls, texto: str) -> PuntoNuevo:
        """Parse ``tipo:lon,lat:capacidad[:zona]``, e.g. ``usf:-57.60,-25.71:300``."""
        formato = "use tipo:lon,lat:capacidad[:zona], p. ej. usf:-57.60,-25.71:300"
        partes = [p.strip() for p in texto.split(":")]
        if len(partes) not in (3, 4) or "," not in partes[1]:
            raise ValueError(f"Punto nuevo mal escrito: '{texto}' ({formato}).")
        lon_txt, _, lat_txt = partes[1].partition(",")
        try:
            lon, lat = float(lon_txt), float(lat_txt)
        except ValueError:
            raise ValueError(
                f"Coordenadas no válidas en '{texto}': longitud y latitud en grados con punto decimal ({formato})."
            ) from None
        try:
            capacidad = int(partes[2])
        except ValueError:
            raise ValueError(f"Capacidad no válida en '{texto}': debe ser un número entero ({formato}).") from None
        zona = partes[3].lower() if len(partes) == 4 else "rural"
        return cls(partes[0].lower(), lon, lat, capacidad, zona)


# ----------------------------------------------------------------------------- reading
@contextmanager
def _solo_lectura(conn: psycopg.Connection) -> Iterator[None]:
    """A transaction (or savepoint) that is always rolled back; read-only when it is a new one."""
    nueva = conn.info.transaction_status == TransactionStatus.IDLE
    with conn.transaction(force_rollback=True):
        if nueva:
            conn.execute("SET TRANSACTION READ ONLY")
        yield


def _distrito(conn, distrito: str) -> dict:
    codigo = str(distrito).strip()
    codigo = codigo.zfill(4) if codigo.isdigit() else codigo
    row = conn.execute(
        "SELECT codigo, nombre, codigo_2012, dpto FROM territorio.distrito WHERE codigo = %s", (codigo,)
    ).fetchone()
    if row is None:
        raise ValueError(
            f"Distrito desconocido: '{distrito}'. Use el código 2022 de 4 dígitos "
            "(p. ej. 1116 para Villeta); la lista está en territorio.distrito."
        )
    return dict(zip(("codigo", "nombre", "codigo_2012", "dpto"), row))


def _validar_nuevos(conn, catalog: Catalogo, agregar: list[PuntoNuevo], info: dict) -> None:
    validos = ", ".join(sorted(catalog.tipos_punto))
    tolerancia = get_settings().tolerancia_distrito_m / 1000
    for n, p in enumerate(agregar, start=1):
        donde = f"punto nuevo n.º {n} ({p.tipo} en lon {p.lon:g}, lat {p.lat:g})"
        if p.tipo not in catalog.tipos_punto:
            raise ValueError(f"Tipo de punto desconocido '{p.tipo}' (punto nuevo n.º {n}). Tipos válidos: {validos}.")
        if not (isinstance(p.capacidad, (int, np.integer)) and p.capacidad > 0):
            raise ValueError(f"Capacidad no válida en el {donde}: debe ser un entero mayor que 0.")
        if p.zona not in ("urbana", "rural"):
            raise ValueError(f"Zona no válida en el {donde}: debe ser urbana o rural.")
        if not (math.isfinite(p.lon) and math.isfinite(p.lat)):
            raise ValueError(f"Coordenadas no válidas en el punto nuevo n.º {n}.")
        dentro, invertido = conn.execute(
            "SELECT bool_or(ST_Intersects(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326))),"
            " bool_or(ST_Intersects(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326))) FROM territorio.departamento",
            (p.lon, p.lat, p.lat, p.lon),
        ).fetchone()
        if not dentro:
            pista = " ¿Latitud y longitud invertidas? (se escribe lon,lat)" if invertido else ""
            raise ValueError(f"El {donde} cae fuera de Paraguay.{pista}")
        if info["codigo_2012"]:
            query = (
                "SELECT ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography)"
                " FROM territorio.distrito_cartografico WHERE codigo_2012 = %s"
            )
            zona_ref = f"del distrito {info['codigo']} ({info['nombre']})"
            clave = info["codigo_2012"]
        else:  # 2022 district without a 2012 polygon: its department is the nearest known shape
            query = (
                "SELECT ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography)"
                " FROM territorio.departamento WHERE codigo = %s"
            )
            zona_ref = f"del departamento del distrito {info['codigo']} ({info['nombre']}, sin polígono propio)"
            clave = info["dpto"]
        km = conn.execute(query, (p.lon, p.lat, clave)).fetchone()[0] / 1000
        radio = type_radius(catalog, p.tipo)[1]
        if km > radio + tolerancia:
            raise ValueError(
                f"El {donde} está a {km:.1f} km {zona_ref}: más allá del radio máximo de un punto "
                f"{p.tipo} ({radio:g} km) no alcanzaría a ningún hogar del distrito."
            )


def _ratios_guardados(conn) -> dict[str, pd.Series]:
    rows = conn.execute("SELECT punto_id, tipo, ratio FROM calculo.punto_ratio").fetchall()
    frame = pd.DataFrame(rows, columns=["punto_id", "tipo", "ratio"])
    return {t: g.set_index("punto_id")["ratio"].astype(float) for t, g in frame.groupby("tipo")}


def demanda(
    catalog: Catalogo, hogares: pd.DataFrame, personas: pd.DataFrame, eventos: pd.DataFrame, fecha_corte: date | None
) -> dict[str, np.ndarray]:
    """2SFCA demand per household and point type, exactly as ``pipeline.unit_measures`` counts it."""
    hh = hogares.reset_index(drop=True)
    of_person = pd.Index(hh["hogar_id"]).get_indexer(personas["hogar_id"])
    at = ages_reference(fecha_corte, hh, np.maximum(of_person, 0))
    interviewed = hh["fecha_relevamiento"].astype(str).to_numpy()[np.maximum(of_person, 0)]
    estado = person_status(catalog, personas.reset_index(drop=True), eventos, at, interviewed)
    return demand_by_type(catalog, estado, of_person, len(hh))


def _hogares_cerca(
    conn, puntos: pd.DataFrame, radio_km: float, aparte: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Households (any district) within ``radio_km`` of any of ``puntos``, and their persons
    (hundreds of thousands near a city: ``aparte`` reads them by binary COPY on a second
    session, see ``simulate``)."""
    caja = _caja(puntos, radio_km)
    hogares = copy_out(
        conn,
        "SELECT h.hogar_id, h.zona, h.fecha_relevamiento, h.lon, h.lat FROM nominal.hogar h"
        " WHERE h.lon BETWEEN {} AND {} AND h.lat BETWEEN {} AND {} ORDER BY h.hogar_id",
        caja,
        apart=aparte,
    )
    if len(hogares):
        dist = nearest_km(
            hogares["lon"].to_numpy(float),
            hogares["lat"].to_numpy(float),
            puntos["lon"].to_numpy(float),
            puntos["lat"].to_numpy(float),
        )[0]
        hogares = hogares[dist <= radio_km].reset_index(drop=True)
    # The persons of those households only, by the index on their household (a join on the
    # box scanned every person of the country).
    personas = copy_out(
        conn,
        "SELECT p.persona_id, p.hogar_id, p.sexo, p.fecha_nacimiento, p.embarazada, p.discapacidad, p.indigena,"
        " array_to_string(p.servicios, ';') AS servicios"
        " FROM unnest({}::text[]) AS k (hogar_id) JOIN nominal.persona p USING (hogar_id) ORDER BY p.persona_id",
        (hogares["hogar_id"].astype(str).tolist(),),
        apart=aparte,
    )
    return hogares, personas


def _completar_ratios(
    conn, catalog: Catalogo, units: Units, puntos: pd.DataFrame, guardados: dict[str, pd.Series], aparte: bool
) -> tuple[dict[str, pd.Series], list[str]]:
    """Stored ratios plus step 1 recomputed (with neighbours' demand) for relevant points lacking one.

    A point is relevant when it is within its type's widest catchment of some household
    of the district; the others cannot reach any of them.
    """
    ratios = {t: s.copy() for t, s in guardados.items()}
    faltan = []
    for tipo in catalog.tipos_punto:
        sub = puntos[puntos["tipo"] == tipo]
        sub = sub[~sub["punto_id"].isin(ratios.get(tipo, pd.Series(dtype=float)).index)]
        if sub.empty:
            continue
        radio = type_radius(catalog, tipo)[1] + _MARGEN_KM
        cerca = (
            nearest_km_xyz(
                unit_vectors(sub["lon"].to_numpy(float), sub["lat"].to_numpy(float)),
                units.hogares["lon"].to_numpy(float),
                units.hogares["lat"].to_numpy(float),
            )[0]
            <= radio
        )
        if cerca.any():
            faltan.append(sub[cerca])
    if not faltan:
        return ratios, []
    faltan = pd.concat(faltan, ignore_index=True)
    guardada = _demanda_guardada(conn)
    if guardada and set(faltan["tipo"]) <= guardada:
        for tipo, sub in faltan.groupby("tipo"):
            nuevos = _ratios_con_demanda_guardada(conn, catalog, tipo, sub)
            ratios[tipo] = pd.concat([ratios[tipo], nuevos]) if tipo in ratios else nuevos
        return ratios, sorted(faltan["punto_id"])
    # No national computation stored its demand: from the households around the points.
    radio_max = max(type_radius(catalog, t)[1] for t in faltan["tipo"].unique()) + _MARGEN_KM
    hogares, personas = _hogares_cerca(conn, faltan, radio_max, aparte)
    urbana = (hogares["zona"] == "urbana").to_numpy()
    lon, lat = hogares["lon"].to_numpy(float), hogares["lat"].to_numpy(float)
    quiere = demanda(catalog, hogares, personas, units.eventos, units.fecha_corte)
    grupo, lugares = (
        demand_cells(lon, lat, urbana)
        if len(hogares)
        else (np.zeros(0, np.int64), pd.DataFrame({"lon": [], "lat": [], "urbana": []}))
    )
    for tipo, sub in faltan.groupby("tipo"):
        carga = np.bincount(grupo, weights=quiere[tipo], minlength=len(lugares)) if len(hogares) else np.zeros(0)
        _, ratio = two_step_fca(
            lugares["lon"].to_numpy(float),
            lugares["lat"].to_numpy(float),
            carga,
            lugares["urbana"].to_numpy(bool),
            sub["lon"].to_numpy(float),
            sub["lat"].to_numpy(float),
            sub["capacidad"].to_numpy(float),
            type_radius(catalog, tipo),
        )
        nuevos = pd.Series(ratio, index=sub["punto_id"].to_numpy())
        ratios[tipo] = pd.concat([ratios[tipo], nuevos]) if tipo in ratios else nuevos
    return ratios, sorted(faltan["punto_id"])


def _ratios_con_demanda_guardada(conn, catalog: Catalogo, tipo: str, sub: pd.DataFrame) -> pd.Series:
    """Step 1 of the 2SFCA for the points ``sub`` of ``tipo``, from the demand locations the
    last national computation stored (calculo.demanda_lugar): the same demand, at the same
    places, its ratios came from (thousands of rows instead of the persons around)."""
    radio = type_radius(catalog, tipo)
    caja = _caja(sub, max(radio) + _MARGEN_KM)
    filas = conn.execute(
        sql.SQL(
            "SELECT lon, lat, urbana, {tipo} FROM calculo.demanda_lugar"
            " WHERE {tipo} > 0 AND lon BETWEEN %s AND %s AND lat BETWEEN %s AND %s"
        ).format(tipo=sql.Identifier(tipo)),
        caja,
    ).fetchall()
    lugares = pd.DataFrame(filas, columns=["lon", "lat", "urbana", "demanda"])
    _, ratio = two_step_fca(
        lugares["lon"].to_numpy(float),
        lugares["lat"].to_numpy(float),
        lugares["demanda"].to_numpy(float),
        lugares["urbana"].to_numpy(bool),
        sub["lon"].to_numpy(float),
        sub["lat"].to_numpy(float),
        sub["capacidad"].to_numpy(float),
        radio,
    )
    return pd.Series(ratio, index=sub["punto_id"].to_numpy())


def _demanda_guardada(conn) -> set[str]:
    """The point types whose demand the last national computation stored (none before one)."""
    if not conn.execute("SELECT EXISTS (SELECT 1 FROM calculo.demanda_lugar)").fetchone()[0]:
        return set()
    filas = conn.execute(
        "SELECT attname::text FROM pg_attribute WHERE attrelid = 'calculo.demanda_lugar'::regclass"
        " AND attnum > 0 AND NOT attisdropped AND attname NOT IN ('urbana', 'lon', 'lat')"
    ).fetchall()
    return {f[0] for f in filas}


def _caja(puntos: pd.DataFrame, radio_km: float) -> tuple[float, float, float, float]:
    """(lon_min, lon_max, lat_min, lat_max) of ``puntos`` padded by ``radio_km`` on the ground."""
    lat_pad = radio_km / 110.0
    lon_pad = radio_km / (111.0 * math.cos(math.radians(min(abs(puntos["lat"]).max() + lat_pad, 89.0))))
    return (
        float(puntos["lon"].min() - lon_pad),
        float(puntos["lon"].max() + lon_pad),
        float(puntos["lat"].min() - lat_pad),
        float(puntos["lat"].max() + lat_pad),
    )


# ----------------------------------------------------------------------------- simulation
def _plural(n: int, unidad: str) -> str:
    singular, plural = _PALABRA[unidad]
    return f"{n} {singular if n == 1 else plural}"


def _num(x: float) -> str:
    return "—" if x is None or not np.isfinite(x) else f"{x:.3f}".replace(".", ",")


def _texto_cambio(unidad: str, entra: int, sale: int, acceso: tuple[float, float], lugar: str) -> str:
    partes = []
    if unidad == "entorno":
        if entra:
            verbo = "pasa" if entra == 1 else "pasan"
            partes.append(f"{_plural(entra, unidad)} {verbo} a tener {lugar} al alcance (cubiertos)")
        if sale:
            verbo = "deja" if sale == 1 else "dejan"
            partes.append(f"{_plural(sale, unidad)} {verbo} de tener {lugar} al alcance")
    else:
        if entra:
            verbo = "pasa" if entra == 1 else "pasan"
            partes.append(f"{_plural(entra, unidad)} {verbo} de 'sin oferta' a 'con oferta' (casos de derivación)")
        if sale:
            verbo = "pasa" if sale == 1 else "pasan"
            partes.append(f"{_plural(sale, unidad)} {verbo} de 'con oferta' a 'sin oferta' (casos de inversión)")
    antes, despues = acceso
    if not np.isclose(antes, despues, rtol=1e-9, atol=1e-12):
        partes.append(f"accesibilidad media de {_num(antes)} a {_num(despues)}")
    return "; ".join(partes) if partes else "sin cambios"


def simulate(
    conn: psycopg.Connection,
    distrito: str,
    agregar: Iterable[PuntoNuevo] = (),
    quitar: Iterable[str] = (),
    fecha_corte: date | None = None,
    catalog: Catalogo | None = None,
) -> pd.DataFrame:
    """Measures of one district with the stored points (antes) and a modified set (después).

    Nothing is written but one audit-log row: everything is read in a read-only transaction
    that is rolled back.
    Returns one row per place-based service of the catalog (services with ``punto_tipo``)
    and one per entorno Logro (``LOGRO_10``: entornos in concurrent protection), with
    columns ``COLUMNAS``. For persons and households ``cubiertos`` is the same before and
    after: a new point changes reach and accessibility, not what the FIPS (or a later
    administrative record) says was received; it turns *sin oferta* gaps (investment
    cases) into *con oferta* ones (referral cases). Only supply-based entorno services
    (``ENT_USF``, ``ENT_ESCUELA``) and therefore Logro 10 change their coverage.

    ``acceso_medio_*`` is the 2SFCA index of the service's point type averaged over the
    district's households; ``distancia_media_km_*`` the mean distance to the nearest point
    of the type. See the module docstring for how step 1 of the 2SFCA uses neighbours'
    demand. ``df.attrs`` holds the district, the ids of the added and removed points and
    the ids whose ratio was recomputed.

    Raises ``ValueError`` (Spanish message) for an unknown district or point type, a point
    outside Paraguay or too far from the district, an unknown id in ``quitar``, or a
    district without surveyed households.
    """
    catalog = catalog or default_catalog()
    agregar = list(agregar)
    quitar = list(dict.fromkeys(str(q).strip() for q in quitar))
    # Begun on an idle connection, the read-only transaction below writes nothing and sets
    # no scope (the portal's scopes are transaction-local): the neighbours' households, the
    # largest read, can then come by binary COPY on a second session of the same role.
    aparte = conn.info.transaction_status == TransactionStatus.IDLE
    with _solo_lectura(conn):
        info = _distrito(conn, distrito)
        _validar_nuevos(conn, catalog, agregar, info)
        units = Units.from_db(conn, fecha_corte, distrito=info["codigo"])
        desconocidos = [q for q in quitar if q not in set(units.puntos["punto_id"])]
        if desconocidos:
            raise ValueError(
                "Punto(s) desconocido(s) en quitar: "
                + ", ".join(desconocidos)
                + ". Use el punto_id de oferta.punto_entrega."
            )
        if units.hogares.empty:
            raise ValueError(
                f"El distrito {info['codigo']} ({info['nombre']}) no tiene hogares relevados: no hay nada que simular."
            )
        nuevos = pd.DataFrame(
            {
                "punto_id": [f"{PREFIJO}{i}" for i in range(1, len(agregar) + 1)],
                "tipo": [p.tipo for p in agregar],
                "zona": [p.zona for p in agregar],
                "capacidad": [float(p.capacidad) for p in agregar],
                "lon": [float(p.lon) for p in agregar],
                "lat": [float(p.lat) for p in agregar],
                "origen": ORIGEN,
            }
        )
        antes_puntos = units.puntos.reset_index(drop=True)
        despues_puntos = pd.concat(
            [
                antes_puntos[~antes_puntos["punto_id"].isin(quitar)],
                nuevos.astype({c: antes_puntos[c].dtype for c in nuevos.columns if c in antes_puntos}),
            ],
            ignore_index=True,
        )
        todos = pd.concat([antes_puntos, nuevos], ignore_index=True)
        ratios, recalculados = _completar_ratios(conn, catalog, units, todos, _ratios_guardados(conn), aparte)

    antes = replace(units, puntos=antes_puntos)
    despues = replace(units, puntos=despues_puntos)
    fine_a, _, st_a = unit_measures(catalog, antes, ratios)
    fine_d, _, st_d = unit_measures(catalog, despues, ratios)
    counts, sums = agg.measure_names(catalog)
    tot_a = fine_a[counts + sums].sum()
    tot_d = fine_d[counts + sums].sum()
    hogares = float(tot_a["hogares"])

    # Per-unit reach before and after, to count transitions (not just net changes).
    hh = units.hogares.reset_index(drop=True)
    urban = (hh["zona"] == "urbana").to_numpy()
    of_person = pd.Index(hh["hogar_id"]).get_indexer(units.personas["hogar_id"])
    xyz = unit_vectors(hh["lon"].to_numpy(float), hh["lat"].to_numpy(float))
    tipos = sorted({s.punto_tipo for s in catalog.servicios if s.punto_tipo})
    dist = {}
    for nombre, puntos in (("antes", antes_puntos), ("despues", despues_puntos)):
        dist[nombre] = {
            t: nearest_km_xyz(
                xyz,
                puntos.loc[puntos["tipo"] == t, "lon"].to_numpy(float),
                puntos.loc[puntos["tipo"] == t, "lat"].to_numpy(float),
            )[0]
            for t in tipos
        }

    rows = []
    for s in catalog.servicios:
        if not s.punto_tipo:
            continue
        c, t = s.codigo.lower(), s.punto_tipo
        acceso = tuple(tot[f"acceso_{t}_suma"] / hogares for tot in (tot_a, tot_d))
        dmedia = tuple(
            float(np.mean(dist[k][t])) if np.isfinite(dist[k][t]).all() else float("nan") for k in ("antes", "despues")
        )
        if s.unidad == "entorno":
            j = st_a["entorno"].codes.index(s.codigo)
            cub_a, cub_d = st_a["entorno"].cubierto[:, j], st_d["entorno"].cubierto[:, j]
            entra, sale = int((~cub_a & cub_d).sum()), int((cub_a & ~cub_d).sum())
        else:
            estado = st_a[s.unidad]
            j = estado.codes.index(s.codigo)
            brecha = estado.aplica[:, j] & ~estado.cubierto[:, j]
            radio = s.radius_km(urban)
            alcance = {k: dist[k][t] <= radio for k in ("antes", "despues")}
            if s.unidad == "persona":
                alcance = {k: v[of_person] for k, v in alcance.items()}
            entra = int((brecha & ~alcance["antes"] & alcance["despues"]).sum())
            sale = int((brecha & alcance["antes"] & ~alcance["despues"]).sum())
        rows.append(
            {
                "servicio": s.codigo,
                "nombre": s.nombre,
                "unidad": s.unidad,
                "punto_tipo": t,
                "aplica": tot_a[f"{c}_aplica"],
                "cubiertos": tot_a[f"{c}_cubiertos"],
                "cubiertos_despues": tot_d[f"{c}_cubiertos"],
                "brecha_sin_oferta_antes": tot_a[f"{c}_sin_oferta"],
                "brecha_sin_oferta_despues": tot_d[f"{c}_sin_oferta"],
                "brecha_con_oferta_antes": tot_a[f"{c}_con_oferta"],
                "brecha_con_oferta_despues": tot_d[f"{c}_con_oferta"],
                "acceso_medio_antes": acceso[0],
                "acceso_medio_despues": acceso[1],
                "distancia_media_km_antes": dmedia[0],
                "distancia_media_km_despues": dmedia[1],
                "cambio": _texto_cambio(s.unidad, entra, sale, acceso, f"un punto {t}"),
            }
        )
    for cat in sorted(catalog.categorias, key=lambda k: k.logro):
        if cat.universo != "entorno":
            continue
        n = cat.logro
        prot_a, prot_d = st_a["entorno"].protegido[n], st_d["entorno"].protegido[n]
        entra, sale = int((~prot_a & prot_d).sum()), int((prot_a & ~prot_d).sum())
        partes = []
        if entra:
            partes.append(
                f"{_plural(entra, 'entorno')} {'pasa' if entra == 1 else 'pasan'} a estar protegido"
                + ("" if entra == 1 else "s")
            )
        if sale:
            partes.append(
                f"{_plural(sale, 'entorno')} {'deja' if sale == 1 else 'dejan'} de estar protegido"
                + ("" if sale == 1 else "s")
            )
        rows.append(
            {
                "servicio": f"LOGRO_{n}",
                "nombre": f"Logro {n}: {cat.nombre}, en protección concurrente (núcleo)",
                "unidad": "entorno",
                "punto_tipo": None,
                "aplica": tot_a[f"l{n}_universo"],
                "cubiertos": tot_a[f"l{n}_protegidos"],
                "cubiertos_despues": tot_d[f"l{n}_protegidos"],
                "cambio": "; ".join(partes) if partes else "sin cambios",
            }
        )
    out = pd.DataFrame(rows, columns=COLUMNAS)
    for column in _CONTEOS:
        out[column] = pd.array(out[column].round().astype("Int64"), dtype="Int64")
    for column in COLUMNAS[11:15]:
        out[column] = out[column].astype(float)
    out["punto_tipo"] = out["punto_tipo"].astype(object).where(out["punto_tipo"].notna(), None)
    out.attrs.update(
        {
            "distrito": info["codigo"],
            "nombre": info["nombre"],
            "hogares": int(tot_a["hogares"]),
            "personas": int(tot_a["personas"]),
            "entornos": int(tot_a["entornos"]),
            "agregados": nuevos["punto_id"].tolist(),
            "quitados": quitar,
            "ratios_recalculados": recalculados,
            "fecha_corte": units.fecha_corte.isoformat()
            if units.fecha_corte
            else "fecha de relevamiento de cada hogar",
        }
    )
    # The simulation read nominal households and persons: leave it in the audit log.
    with conn.transaction():
        log_access(conn, "simular", info["codigo"], {"agregar": len(agregar), "quitar": quitar})
    return out
