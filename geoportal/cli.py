"""The ``geoportal`` command line (typer). User-facing text is Spanish."""

from __future__ import annotations

from pathlib import Path

import typer

from geoportal.cli_comun import Aplicacion, console
from geoportal.cli_comun import fail as _fail
from geoportal.cli_comun import run_with_bar as _run_with_bar
from geoportal.cli_db import db_app, db_up
from geoportal.cli_ingesta import ingest as _ingest
from geoportal.cli_ingesta import ingestar_app
from geoportal.settings import get_settings

app = Aplicacion(help="Geoportal del Sistema de Protección Social «Vamos!».", no_args_is_help=True)
app.add_typer(db_app, name="db")
territorio_app = typer.Typer(help="Territorio real: departamentos, distritos, censo 2022.", no_args_is_help=True)
app.add_typer(territorio_app, name="territorio")
oferta_app = typer.Typer(help="Puntos de entrega de servicios (reales y sintéticos).", no_args_is_help=True)
app.add_typer(oferta_app, name="oferta")
catalogo_app = typer.Typer(help="Catálogo de servicios (datos editables en YAML).", no_args_is_help=True)
app.add_typer(catalogo_app, name="catalogo")
capas_app = typer.Typer(help="Capas del mapa (capas/*.yaml) y teselas vectoriales.", no_args_is_help=True)
app.add_typer(capas_app, name="capas")
app.add_typer(ingestar_app, name="ingestar")


@territorio_app.command("cargar")
def territorio_cargar() -> None:
    """Carga departamentos, distritos (polígonos 2012 + censo 2022) y localidades reales."""
    from geoportal.db import connect
    from geoportal.territory import load_territory

    with connect() as conn:
        counts = load_territory(conn)
    for table, n in counts.items():
        console.print(f"  {table}: {n}")
    console.print("[green]Territorio cargado.[/] Fuente: DGEEC/INE Paraguay (ver geoportal/datos/FUENTES.md).")


@oferta_app.command("cargar")
def oferta_cargar(semilla: int = typer.Option(1, help="Semilla de los puntos sintéticos.")) -> None:
    """Genera el archivo de puntos (escuelas MEC y salud reales + sintéticos) y lo ingesta."""
    from geoportal.puntos import write_points

    path = get_settings().home / "datos" / f"puntos-s{semilla}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    n = write_points(path, semilla=semilla)
    console.print(f"Archivo de puntos: {path} ({n} filas)")
    _ingest(path, "puntos")


@catalogo_app.command("validar")
def catalogo_validar(archivo: Path = typer.Argument(None, help="Catálogo YAML (por defecto el configurado).")) -> None:
    """Valida un catálogo; los errores nombran archivo, entrada y campo."""
    from geoportal.catalog import CatalogError, load_catalog

    try:
        catalog = load_catalog(archivo)
    except CatalogError as exc:
        _fail(str(exc))
    console.print(
        f"[green]Catálogo válido:[/] {len(catalog.servicios)} servicios, "
        f"{len(catalog.categorias)} categorías, {len(catalog.tipos_punto)} tipos de punto."
    )


@catalogo_app.command("mostrar")
def catalogo_mostrar(archivo: Path = typer.Argument(None, help="Catálogo YAML (por defecto el configurado).")) -> None:
    """Muestra los paquetes núcleo / ampliado / diferenciado por categoría."""
    from rich.table import Table

    from geoportal.catalog import CatalogError, load_catalog

    try:
        catalog = load_catalog(archivo)
    except CatalogError as exc:
        _fail(str(exc))
    table = Table(title="Catálogo de servicios (por defecto documentado, editable)")
    for column in ("Logro", "Categoría", "Código", "Servicio", "Paquete", "Institución", "Punto", "Radio km (u/r)"):
        table.add_column(column)
    for cat in catalog.categorias:
        for s in (s for s in catalog.servicios if cat.codigo in s.categorias):
            radius = f"{s.radio_km.urbana:g}/{s.radio_km.rural:g}" if s.radio_km else "—"
            table.add_row(
                str(cat.logro), cat.codigo, s.codigo, s.nombre, s.paquete, s.institucion, s.punto_tipo or "—", radius
            )
    console.print(table)


@capas_app.command("validar")
def capas_validar(
    carpeta: Path = typer.Argument(None, help="Carpeta de capas (por defecto GEOPORTAL_CAPAS o capas/)."),
    sin_base: bool = typer.Option(False, "--sin-base", help="No contrastar las medidas con publico.medida."),
) -> None:
    """Valida las capas; los errores nombran archivo, capa y campo. Con base, también las medidas."""
    import psycopg

    from capas import CapaError, load_capas, validate_against_db
    from geoportal.db import connect

    try:
        capas = load_capas(carpeta)
        if not sin_base:
            with connect() as conn:
                if conn.execute("SELECT to_regclass('publico.medida') IS NOT NULL").fetchone()[0]:
                    validate_against_db(conn, capas)
    except CapaError as exc:
        _fail(str(exc))
    except psycopg.OperationalError:
        _fail("No se pudo conectar a la base para contrastar las medidas (use --sin-base).")
    console.print(f"[green]Capas válidas:[/] {', '.join(capas)}.")


@capas_app.command("preparar")
def capas_preparar() -> None:
    """Leyendas y geometrías de teselas de la versión publicada (lo hace `calcular` al publicar)."""
    from geoportal.db import connect
    from tiles.publicacion import preparar_publicacion

    with connect() as conn:
        result = preparar_publicacion(conn)
    if result["data_version"] is None:
        _fail("Todavía no hay cifras publicadas: ejecute `geoportal calcular`.")
    console.print(
        f"[green]Preparada data_version {result['data_version']}[/]: {result['leyendas']} leyendas, "
        f"{result['geometrias']} geometrías ({result['nuevas']} nuevas) en {result['segundos']:.2f} s."
    )


def _prepare_layers(conn) -> dict:
    """The post-release hook of ``geoportal.operaciones``: legends and tile geometries of a
    new public release (the map service reads them)."""
    from capas import CapaError
    from tiles.publicacion import preparar_publicacion

    try:
        done = preparar_publicacion(conn)
    except CapaError as exc:
        _fail(f"Se publicó, pero las capas no coinciden con la publicación: {exc}")
    console.print(
        f"Capas preparadas: {done['leyendas']} leyendas, {done['geometrias']} geometrías de teselas "
        f"({done['nuevas']} nuevas) en {done['segundos']:.1f} s."
    )
    # Accessibility surfaces are built on demand (`geoportal superficies`, or the map
    # service's first request, in the background): after a release only the files of
    # versions no published version refers to go. Building all fourteen after every
    # district update would hold the release for minutes.
    from geoportal.superficies import limpiar

    published = {r[0] for r in conn.execute("SELECT data_version FROM publico.version").fetchall()}
    done["superficies"] = {"quitadas": limpiar(get_settings().home, published)}
    return done


def _build_surfaces(conn, tipo: str | None = None) -> dict:
    """Accessibility surfaces (COG) of the current release: ``geoportal.superficies``."""
    from geoportal.catalog import default_catalog
    from geoportal.superficies import tras_publicar

    tipos = list(default_catalog().tipos_punto)
    if tipo is not None and tipo not in tipos:
        _fail(f"Tipo de punto desconocido: {tipo}. Tipos: {', '.join(sorted(tipos))}.")
    # No progress bar of its own: the hook runs inside the national computation's bar.
    result = tras_publicar(
        conn,
        get_settings().home,
        tipos,
        tipo=tipo,
        progreso=lambda t, f: console.print(f"  superficies de {t} listas ({f:.0%})"),
    )
    hechas = result["superficies"]
    console.print(
        f"Superficies de la versión {result['data_version']}: "
        f"{sum(v == 'construida' for v in hechas.values())} construidas, "
        f"{sum(v != 'construida' for v in hechas.values())} reutilizadas o vigentes."
    )
    return result


@app.command("superficies")
def superficies(
    tipo: str = typer.Option(None, "--tipo", help="Un tipo de punto (p. ej. usf); por defecto todos."),
) -> None:
    """Construye las superficies de distancia y tiempo a cada tipo de punto (COG) de la versión vigente."""
    from geoportal.db import connect

    with connect() as conn:
        result = _build_surfaces(conn, tipo)
    if result["data_version"] is None:
        _fail("Todavía no hay cifras publicadas: ejecute `geoportal calcular`.")


@app.command("sintetico")
def sintetico(
    ambito: str = typer.Option("pilotos", help="pilotos, pais o códigos de distrito 2022 separados por coma."),
    semilla: int = typer.Option(1, help="Semilla: la misma semilla da los mismos archivos."),
    salida: Path = typer.Option(None, help="Carpeta de salida (por defecto .geoportal/datos/sintetico-...)."),
    cargar: bool = typer.Option(True, help="Ingestar los archivos generados por la vía normal de ingesta."),
    cobertura_relevamiento: float = typer.Option(
        None,
        min=0.0,
        max=1.0,
        help="Cuota de hogares relevados en todos los distritos (1.0 = todo el censo). "
        "Por defecto, el modelo de geoportal/catalogo/cobertura_relevamiento.csv.",
    ),
    cobertura_archivo: Path = typer.Option(
        None, help="Otro archivo de cobertura del relevamiento (mismas columnas que el incluido)."
    ),
) -> None:
    """Genera hogares y personas FIPS SINTÉTICOS calibrados al censo 2022 y (por defecto) los carga.

    La población sintética completa coincide con el censo; se escribe solo la parte
    relevada (cobertura por distrito, agrupada por localidad)."""
    import pandas as pd

    from geoportal.db import connect
    from geoportal.synthetic import generate

    scope = ambito if ambito in ("pilotos", "pais") else [c.strip() for c in ambito.split(",")]
    salida = salida or get_settings().home / "datos" / f"sintetico-{ambito.replace(',', '_')}-s{semilla}"
    salida.mkdir(parents=True, exist_ok=True)
    with connect() as conn:
        puntos = pd.DataFrame(
            conn.execute("SELECT punto_id, tipo, zona, capacidad, lat, lon FROM oferta.punto_entrega").fetchall(),
            columns=["punto_id", "tipo", "zona", "capacidad", "lat", "lon"],
        )
    if puntos.empty:
        _fail("No hay puntos de entrega cargados. Ejecute `geoportal oferta cargar` primero.")
    if cobertura_relevamiento is not None and cobertura_archivo is not None:
        _fail("Use --cobertura-relevamiento o --cobertura-archivo, no ambos.")
    cobertura = cobertura_relevamiento if cobertura_relevamiento is not None else cobertura_archivo
    try:
        counts = _run_with_bar(
            "Generando datos sintéticos",
            lambda cb: generate(scope, semilla, salida, puntos=puntos, progreso=cb, cobertura=cobertura),
        )
    except ValueError as exc:
        _fail(str(exc))
    console.print(f"Archivos sintéticos en {salida}: {counts}")
    if cargar:
        _ingest(salida / "hogares.csv", "hogares")
        _ingest(salida / "personas.csv", "personas")


@app.command("calcular")
def calcular(
    distrito: str = typer.Option(
        None, help="Recalcular solo este distrito (código 2022), p. ej. tras una contrarreferencia."
    ),
    fecha_corte: str = typer.Option(
        None,
        help="Fecha de corte, AAAA-MM-DD: las edades se cuentan a esa fecha y solo valen las entrevistas, "
        "nacimientos, registros administrativos y contrarreferencias hasta ella. Por defecto, la fecha de la entrevista FIPS de cada "
        "hogar (y todos los registros); con --distrito, la del cálculo nacional vigente (otra se rechaza).",
    ),
) -> None:
    """Calcula estatus, acceso, Logros, brechas y publica los agregados protegidos."""
    from datetime import date

    from geoportal.db import connect
    from geoportal.operaciones import recompute_country, recompute_district
    from geoportal.pipeline import EN_VIGOR, CorteDistinto

    try:
        corte = date.fromisoformat(fecha_corte) if fecha_corte else None
    except ValueError:
        _fail(f"Fecha de corte no válida: '{fecha_corte}' (use AAAA-MM-DD).")
    with connect() as conn:
        if distrito:
            try:
                result = recompute_district(
                    conn, distrito.zfill(4), fecha_corte=corte if fecha_corte else EN_VIGOR, al_publicar=_prepare_layers
                )
            except (LookupError, CorteDistinto) as exc:
                _fail(str(exc))
        else:
            result = _run_with_bar(
                "Cálculo nacional",
                lambda cb: recompute_country(conn, fecha_corte=corte, progress=cb, al_publicar=_prepare_layers),
            )
    fmt = lambda n: f"{n:,}".replace(",", ".")
    verb = "Publicado" if result.get("publicada") else "Calculado (interno, sin publicar aún)"
    console.print(
        f"[green]{verb} data_version {result['data_version']}[/]: "
        f"{fmt(result['hogares'])} hogares, {fmt(result['personas'])} personas; fecha de corte: {result['fecha_corte']}."
    )
    console.print("Segundos por etapa: " + ", ".join(f"{k} {v:.2f}" for k, v in result["segundos"].items()))
    if "perdida" in result:
        from rich.table import Table

        table = Table(title="Pérdida de información por el control de divulgación")
        for column in result["perdida"].columns:
            table.add_column(column)
        for row in result["perdida"].itertuples(index=False):
            table.add_row(*(str(x) for x in row))
        console.print(table)


@app.command("publicar")
def publicar(
    forzar: bool = typer.Option(
        False, "--forzar", help="Publicar ya, aunque no se cumplan la cadencia ni el mínimo de cambios."
    ),
) -> None:
    """Publica las actualizaciones pendientes (por lotes: cadencia y mínimo de registros cambiados)."""
    from geoportal.db import connect
    from geoportal.operaciones import publish_pending

    with connect() as conn:
        try:
            result = publish_pending(conn, forzar=forzar, al_publicar=_prepare_layers)
        except LookupError as exc:
            _fail(str(exc))
    if result["publicada"]:
        console.print(f"[green]Publicado data_version {result['data_version']}[/].")
    else:
        console.print(
            f"Nada que publicar todavía; sigue vigente data_version {result['data_version']} "
            "(vea GEOPORTAL_PUBLICACION_CADENCIA_HORAS y GEOPORTAL_PUBLICACION_MIN_CAMBIOS)."
        )


@app.command("simular")
def simular(
    distrito: str = typer.Option(..., help="Distrito 2022 (código de 4 dígitos), p. ej. 1116."),
    agregar: list[str] = typer.Option(
        None, "--agregar", help="Punto nuevo tipo:lon,lat:capacidad[:zona], p. ej. usf:-57.60,-25.71:300 (repetible)."
    ),
    quitar: list[str] = typer.Option(None, "--quitar", help="punto_id de oferta.punto_entrega a quitar (repetible)."),
    fecha_corte: str = typer.Option(
        None,
        help="Fecha de corte, AAAA-MM-DD: las edades se cuentan a esa fecha y solo valen los registros "
        "administrativos y contrarreferencias hasta ella. Por defecto, la fecha de la entrevista FIPS de cada hogar "
        "(y todos los registros).",
    ),
) -> None:
    """Simula agregar o quitar puntos de entrega en un distrito, SIN guardar nada."""
    from datetime import date

    import pandas as pd
    from rich.table import Table

    from geoportal.db import connect
    from geoportal.whatif import PuntoNuevo, simulate

    if not agregar and not quitar:
        _fail("Indique al menos un --agregar tipo:lon,lat:capacidad o un --quitar PUNTO_ID.")
    try:
        corte = date.fromisoformat(fecha_corte) if fecha_corte else None
    except ValueError:
        _fail(f"Fecha de corte no válida: '{fecha_corte}' (use AAAA-MM-DD).")
    try:
        nuevos = [PuntoNuevo.desde_texto(t) for t in agregar or []]
        with connect() as conn:
            result = simulate(conn, distrito, agregar=nuevos, quitar=quitar or [], fecha_corte=corte)
    except ValueError as exc:
        _fail(str(exc))
    fmt = lambda n: "—" if pd.isna(n) else f"{int(n):,}".replace(",", ".")
    num = lambda x: "—" if pd.isna(x) else f"{x:.3f}".replace(".", ",")
    a = result.attrs
    console.print(
        f"[bold]Simulación: no se guardó nada en la base de datos.[/] Distrito {a['distrito']} "
        f"({a['nombre']}): {fmt(a['hogares'])} hogares, {fmt(a['personas'])} personas, "
        f"{fmt(a['entornos'])} entornos; fecha de corte {a['fecha_corte']}."
    )
    for punto_id, p in zip(a["agregados"], nuevos):
        console.print(f"  + {punto_id}: {p.tipo} en lon {p.lon:g}, lat {p.lat:g}, capacidad {fmt(p.capacidad)}")
    for punto_id in a["quitados"]:
        console.print(f"  − {punto_id}")
    table = Table(title="Antes → después (la cobertura registrada de personas y hogares no cambia)")
    for column in ("Servicio", "Punto", "Aplica", "Cubiertos", "Sin oferta", "Con oferta", "Acceso 2SFCA", "Cambio"):
        table.add_column(column)

    def arrow(before, after, show=fmt) -> str:
        return "—" if pd.isna(before) and pd.isna(after) else f"{show(before)} → {show(after)}"

    for r in result.itertuples(index=False):
        cubiertos = fmt(r.cubiertos) if r.cubiertos == r.cubiertos_despues else arrow(r.cubiertos, r.cubiertos_despues)
        table.add_row(
            r.servicio,
            r.punto_tipo if isinstance(r.punto_tipo, str) else "—",
            fmt(r.aplica),
            cubiertos,
            arrow(r.brecha_sin_oferta_antes, r.brecha_sin_oferta_despues),
            arrow(r.brecha_con_oferta_antes, r.brecha_con_oferta_despues),
            arrow(r.acceso_medio_antes, r.acceso_medio_despues, num),
            r.cambio,
        )
    console.print(table)


@app.command("brechas")
def brechas(
    distrito: str = typer.Option(..., help="Código del distrito (polígono), p. ej. 1116."),
    paquete: str = typer.Option("nucleo", help="nucleo, ampliado, diferenciado o todos."),
) -> None:
    """Lista priorizada de brechas del distrito: qué servicio falta, cuántos y dónde (cifras públicas)."""
    import pandas as pd
    from rich.table import Table

    from geoportal.brechas import ranked_gaps
    from geoportal.db import connect

    with connect() as conn:
        try:
            gaps = ranked_gaps(conn, distrito.zfill(4), None if paquete == "todos" else paquete)
        except LookupError as exc:
            _fail(str(exc))
    table = Table(title=f"Brechas de {gaps.attrs['distrito']} ({paquete}); cifras protegidas (múltiplos de 5)")
    for column in (
        "Servicio",
        "Unidad",
        "Brecha",
        "Sin oferta (inversión)",
        "Con oferta (derivación)",
        "Cobertura %",
        "Dónde (H3 res. 7)",
    ):
        table.add_column(column)
    shown = lambda x: "reservado" if x is None or pd.isna(x) else str(x)
    for row in gaps.itertuples():
        table.add_row(
            row.nombre,
            row.unidad,
            shown(row.brecha),
            shown(row.sin_oferta),
            shown(row.con_oferta),
            shown(row.cobertura_pct),
            row.donde or "—",
        )
    console.print(table)


@app.command("demo")
def demo(
    ambito: str = typer.Option("pais", help="pais (los 263 distritos, cobertura parcial) o pilotos."),
    servir_api: bool = typer.Option(True, "--servir/--no-servir", help="Servir la API al terminar."),
    port: int = typer.Option(None, help="Puerto de la API (por defecto 8000)."),
    usuarios_demo: bool = typer.Option(
        True,
        "--usuarios-demo/--sin-usuarios-demo",
        help="Crear usuarios de prueba (Mesa e institución de Villeta, Gabinete).",
    ),
    registro_accesos: bool = typer.Option(
        False,
        "--registro-accesos/--sin-registro-accesos",
        envvar="GEOPORTAL_REGISTRO_ACCESOS",
        help="Registrar cada solicitud (redactada) en la salida del servidor.",
    ),
) -> None:
    """Prepara todo (base, territorio, catálogo, datos sintéticos) y sirve el geoportal.

    Con --ambito pais (por defecto) carga el país entero con el modelo de cobertura del
    relevamiento (pilotos y distritos con Mesa más relevados, muchos con poco o nada)."""
    if ambito not in ("pais", "pilotos"):
        _fail("--ambito debe ser pais o pilotos.")
    db_up()
    territorio_cargar()
    oferta_cargar(semilla=1)
    sintetico(ambito=ambito, semilla=1, salida=None, cargar=True, cobertura_relevamiento=None, cobertura_archivo=None)
    calcular(distrito=None, fecha_corte=None)
    if usuarios_demo:
        crear_usuarios_demo()
    if servir_api:
        servir(host=None, port=port, registro_accesos=registro_accesos)


@app.command("servir")
def servir(
    host: str = typer.Option(None, help="Dirección de escucha (por defecto 127.0.0.1)."),
    port: int = typer.Option(None, help="Puerto (por defecto 8000)."),
    registro_accesos: bool = typer.Option(
        False,
        "--registro-accesos/--sin-registro-accesos",
        envvar="GEOPORTAL_REGISTRO_ACCESOS",
        help="Registrar cada solicitud en la salida (rutas institucionales "
        "redactadas, api/base/registro.py). Apagado por defecto.",
    ),
) -> None:
    """Inicia la API y el visor web, como se mide en bench/teselas.py: un proceso, uvloop y
    httptools (extra uvicorn[standard]) y sin registro de accesos salvo --registro-accesos.
    En producción, varios procesos: vea «Servir en producción» en el README."""
    import uvicorn

    from geoportal.db import database_url

    settings = get_settings()
    try:
        database_url()  # the embedded cluster starts here, never on a web request
    except Exception as exc:  # noqa: BLE001 -- the API still starts and answers 503 until the database is back
        console.print(
            f"[yellow]Aviso:[/] la base de datos no está disponible ({exc}); la API responderá 503 "
            "hasta que lo esté (`geoportal db up`)."
        )
    # uvloop and httptools when installed (pyproject: uvicorn[standard]); a line per request
    # written to the terminal costs a third of the tile throughput, so it is off unless asked.
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host or settings.api_host,
        port=port or settings.api_port,
        loop="auto",
        http="auto",
        access_log=registro_accesos,
    )


# ----------------------------------------------------------------------------- usuarios y alertas
from geoportal.cli_acceso import alertas, crear_usuarios_demo, usuarios_app

app.add_typer(usuarios_app, name="usuarios")
app.command("alertas")(alertas)
from geoportal.cli_planes import planificar

app.command("planificar")(planificar)


if __name__ == "__main__":
    app()
