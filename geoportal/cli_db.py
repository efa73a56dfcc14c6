"""``geoportal db …``: the PostGIS database (the embedded cluster or GEOPORTAL_DATABASE_URL):
start and migrate, stop, status, reset, and the public role's password. User-facing text
is Spanish."""

from __future__ import annotations

import typer

from geoportal.cli_comun import console
from geoportal.cli_comun import fail as _fail
from geoportal.cli_comun import quiet_psycopg as _quiet_psycopg
from geoportal.settings import get_settings

db_app = typer.Typer(help="Base de datos PostGIS (clúster embebido o GEOPORTAL_DATABASE_URL).", no_args_is_help=True)


@db_app.command("up")
def db_up() -> None:
    """Inicia el clúster embebido (si corresponde) y aplica las migraciones."""
    import psycopg

    from geoportal import migrate
    from geoportal.cluster import PUBLIC_ROLE, ClusterError
    from geoportal.db import embedded_cluster

    settings = get_settings()
    _quiet_psycopg()
    try:
        role = migrate.upgrade(settings)
    except ClusterError as exc:
        _fail(str(exc))
    except psycopg.OperationalError:
        _fail("No se pudo conectar a la base de datos. Revise GEOPORTAL_DATABASE_URL (servidor, usuario y clave).")
    where = (
        "GEOPORTAL_DATABASE_URL"
        if settings.database_url
        else f"clúster embebido en 127.0.0.1:{embedded_cluster(settings).port}"
    )
    console.print(f"[green]Base de datos lista[/] ({where}).")
    if role.guardada_en:
        console.print(f"Rol público {PUBLIC_ROLE} habilitado; su clave quedó en {role.guardada_en}.")
    elif role.estado == "sin_permiso":
        console.print(
            f"[yellow]Aviso:[/] el usuario de GEOPORTAL_DATABASE_URL no puede crear roles: pida al "
            f"administrador que dé LOGIN y una clave al rol {PUBLIC_ROLE} y defina GEOPORTAL_PUBLIC_PASSWORD."
        )
    elif not role.clave_conocida:
        console.print(
            f"[yellow]Aviso:[/] el rol {PUBLIC_ROLE} ya existe en este servidor (lo comparten todas sus bases) "
            "y esta copia no conoce su clave; no se la cambió, para no cortar la API pública de las otras bases. "
            "Defina GEOPORTAL_PUBLIC_PASSWORD con la clave vigente (o GEOPORTAL_PUBLIC_DATABASE_URL), o "
            "ejecute `geoportal db rotar-clave` (cambia la clave para todas las bases del servidor)."
        )


@db_app.command("rotar-clave")
def db_rotar_clave(si: bool = typer.Option(False, "--si", help="Confirma sin preguntar.")) -> None:
    """Cambia la clave del rol público geoportal_publico y la guarda en la carpeta de estado."""
    import psycopg

    from geoportal import migrate
    from geoportal.cluster import PUBLIC_ROLE, ClusterError

    settings = get_settings()
    if settings.public_password or settings.public_database_url:
        _fail(
            "GEOPORTAL_PUBLIC_PASSWORD o GEOPORTAL_PUBLIC_DATABASE_URL fija la clave del rol público: "
            "cámbiela allí (y en el servidor con su administrador), o quítela para rotarla desde aquí."
        )
    if not si and not typer.confirm(
        f"El rol {PUBLIC_ROLE} es del servidor entero: toda otra base de este servidor que lo use necesitará "
        "la clave nueva. ¿Continuar?"
    ):
        raise typer.Exit(code=1)
    _quiet_psycopg()
    try:
        path = migrate.rotate_public_password(settings)
    except ClusterError as exc:
        _fail(str(exc))
    except psycopg.Error:
        _fail(f"No se pudo cambiar la clave de {PUBLIC_ROLE} (¿el usuario de la base puede modificar roles?).")
    from geoportal.db import public_secret_key

    console.print(
        f"[green]Clave del rol {PUBLIC_ROLE} cambiada.[/] La nueva está en {path} "
        f"(clave «{public_secret_key(settings)}», solo legible por su dueño). Reinicie `geoportal servir`; "
        "las demás bases de este servidor que usen el rol necesitan la clave nueva."
    )


@db_app.command("down")
def db_down() -> None:
    """Detiene el clúster embebido."""
    from geoportal.db import embedded_cluster

    if get_settings().database_url:
        _fail("GEOPORTAL_DATABASE_URL está definida: el geoportal no administra ese servidor.")
    embedded_cluster().stop()
    console.print("Clúster embebido detenido.")


@db_app.command("status")
def db_status() -> None:
    """Muestra el estado de la base de datos y cuántas filas tiene cada tabla principal."""
    import psycopg

    from geoportal.db import database_url, embedded_cluster

    settings = get_settings()
    if not settings.database_url:
        cluster = embedded_cluster(settings)
        state = "en marcha" if cluster.running() else ("detenido" if cluster.initialized() else "sin crear")
        console.print(f"Clúster embebido: {state} (datos en {cluster.data_dir}, puerto {cluster.port})")
        if state != "en marcha":
            return
    try:
        with psycopg.connect(database_url(settings, start=False)) as conn:
            for table in ("territorio.distrito", "oferta.punto_entrega", "nominal.hogar", "nominal.persona"):
                try:
                    n = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                    console.print(f"  {table}: {n:,}".replace(",", "."))
                except psycopg.errors.UndefinedTable:
                    conn.rollback()
                    console.print(f"  {table}: (sin migrar; ejecute `geoportal db up`)")
    except psycopg.OperationalError as exc:
        _fail(f"No se pudo conectar a la base de datos: {exc}")


@db_app.command("reset")
def db_reset(si: bool = typer.Option(False, "--si", help="Confirma sin preguntar.")) -> None:
    """Borra TODOS los datos y recrea el esquema vacío."""
    from geoportal import migrate

    if not si and not typer.confirm("Se borrarán todos los datos del geoportal. ¿Continuar?"):
        raise typer.Exit(code=1)
    migrate.downgrade_all()
    migrate.upgrade()
    console.print("[green]Esquema recreado vacío.[/]")
