"""``geoportal usuarios …`` and ``geoportal alertas``: institutional users and the alerts
of the protected figures (``geoportal.alertas``). User-facing text is Spanish."""

from __future__ import annotations

import secrets
from pathlib import Path

import typer

from geoportal.cli_comun import console
from geoportal.cli_comun import fail as _fail

# The demo's users: the pilot district of Villeta (Mesa and its USF) and the Gabinete.
USUARIOS_DEMO = (
    ("demo.mesa", "mesa_distrital", {"distrito": "1116"}, "Mesa de Protección Social de Villeta"),
    ("demo.usf", "institucion", {"institucion": "MSPBS", "distritos": ["1116"]}, "USF de Villeta (MSPBS)"),
    ("demo.gabinete", "gabinete", {}, "Gabinete Social (nacional)"),
)


usuarios_app = typer.Typer(
    help="Usuarios institucionales y sus roles (gabinete, mesas, instituciones, admin).", no_args_is_help=True
)


def _usuarios_conn():
    import psycopg

    from geoportal.db import database_url

    return psycopg.connect(database_url())


def _lista(texto: str | None) -> list[str]:
    return [t.strip() for t in (texto or "").split(",") if t.strip()]


def _mostrar_usuario(u) -> None:
    estado = "activo" if u.activo else "desactivado"
    console.print(
        f"{u.nombre}: {u.rol}, territorio {u.territorio or '—'}"
        f"{', institución ' + u.institucion if u.institucion else ''} ({estado})"
    )


@usuarios_app.command("crear")
def usuarios_crear(
    nombre: str = typer.Argument(..., help="Nombre de usuario (minúsculas, cifras, punto, guion)."),
    rol: str = typer.Option(..., help="gabinete | mesa_departamental | mesa_distrital | institucion | admin"),
    departamento: str = typer.Option(None, help="Código de departamento (mesa_departamental)."),
    distrito: str = typer.Option(None, help="Código 2022 del distrito (mesa_distrital)."),
    institucion: str = typer.Option(None, help="Sigla de la institución del catálogo (institucion)."),
    distritos: str = typer.Option(None, help="Distritos asignados, separados por comas (institucion)."),
    nombre_completo: str = typer.Option("", help="Nombre y apellido de la persona."),
    clave: str = typer.Option(
        ...,
        prompt="Contraseña",
        hide_input=True,
        confirmation_prompt=True,
        envvar="GEOPORTAL_CLAVE_NUEVA",
        help="Se pide sin mostrarla si no se da.",
    ),
) -> None:
    """Crea un usuario con su rol y territorio (contraseña guardada con argon2)."""
    from geoportal.usuarios import UsuarioError, create_user

    with _usuarios_conn() as conn:
        try:
            user = create_user(
                conn,
                nombre,
                clave,
                rol,
                nombre_completo=nombre_completo,
                departamento=departamento,
                distrito=distrito,
                institucion=institucion,
                distritos=_lista(distritos),
            )
        except UsuarioError as exc:
            _fail(str(exc))
    console.print("[green]Usuario creado[/]:", end=" ")
    _mostrar_usuario(user)


@usuarios_app.command("listar")
def usuarios_listar() -> None:
    """Lista los usuarios, su rol, su territorio y si están activos."""
    from rich.table import Table

    from geoportal.usuarios import list_users

    with _usuarios_conn() as conn:
        users = list_users(conn)
    table = Table("Usuario", "Nombre", "Rol", "Territorio", "Institución", "Estado")
    for u in users:
        table.add_row(
            u.nombre,
            u.nombre_completo,
            u.rol,
            u.territorio or "—",
            u.institucion or "—",
            "activo" if u.activo else "desactivado",
        )
    console.print(table)


@usuarios_app.command("desactivar")
def usuarios_desactivar(nombre: str = typer.Argument(..., help="Nombre de usuario.")) -> None:
    """Desactiva un usuario y cierra sus sesiones abiertas (no se borra: la auditoría lo nombra)."""
    from geoportal.usuarios import UsuarioError, deactivate_user

    with _usuarios_conn() as conn:
        try:
            user = deactivate_user(conn, nombre)
        except UsuarioError as exc:
            _fail(str(exc))
    console.print("Usuario desactivado:", end=" ")
    _mostrar_usuario(user)


@usuarios_app.command("rol")
def usuarios_rol(
    nombre: str = typer.Argument(..., help="Nombre de usuario."),
    rol: str = typer.Argument(..., help="Nuevo rol."),
    departamento: str = typer.Option(None, help="Código de departamento (mesa_departamental)."),
    distrito: str = typer.Option(None, help="Código 2022 del distrito (mesa_distrital)."),
    institucion: str = typer.Option(None, help="Sigla de la institución (institucion)."),
    distritos: str = typer.Option(None, help="Distritos asignados, separados por comas (institucion)."),
) -> None:
    """Cambia el rol y el territorio de un usuario; sus sesiones abiertas se cierran."""
    from geoportal.usuarios import UsuarioError, change_role

    with _usuarios_conn() as conn:
        try:
            user = change_role(
                conn,
                nombre,
                rol,
                departamento=departamento,
                distrito=distrito,
                institucion=institucion,
                distritos=_lista(distritos),
            )
        except UsuarioError as exc:
            _fail(str(exc))
    console.print("Rol cambiado:", end=" ")
    _mostrar_usuario(user)


@usuarios_app.command("desbloquear")
def usuarios_desbloquear(nombre: str = typer.Argument(..., help="Nombre de usuario.")) -> None:
    """Termina ya la espera por intentos fallidos de un usuario (sus intentos quedan registrados)."""
    from geoportal.usuarios import UsuarioError, unlock_user

    with _usuarios_conn() as conn:
        try:
            n = unlock_user(conn, nombre)
        except UsuarioError as exc:
            _fail(str(exc))
    console.print(f"Usuario {nombre.strip().lower()} desbloqueado ({n} intentos fallidos dejan de contar).")


def _leer_clave(archivo: Path | None) -> str:
    """The new password from a file (its first line), from standard input when it is not a
    terminal (first line), or asked twice without echo. Never from the command line."""
    import getpass
    import sys

    if archivo is not None:
        try:
            return archivo.read_text(encoding="utf-8").split("\n", 1)[0].rstrip("\r")
        except OSError as exc:
            _fail(f"No se pudo leer {archivo}: {exc.strerror}.")
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Nueva contraseña: ")
    if getpass.getpass("Repita la contraseña: ") != first:
        _fail("Las contraseñas no coinciden.")
    return first


@usuarios_app.command("clave")
def usuarios_clave(
    nombre: str = typer.Argument(..., help="Nombre de usuario."),
    clave_archivo: Path = typer.Option(
        None,
        "--clave-archivo",
        help="Archivo cuya primera línea es la nueva "
        "contraseña (si no, se lee de la entrada estándar o se pide sin mostrarla).",
    ),
) -> None:
    """Cambia la contraseña de un usuario; cierra sus sesiones y termina su bloqueo.

    La contraseña nunca va en la línea de comandos (quedaría en el historial y en la lista de
    procesos): se pide sin mostrarla, o se lee de la entrada estándar o de --clave-archivo."""
    from geoportal.usuarios import UsuarioError, set_password

    clave = _leer_clave(clave_archivo)
    with _usuarios_conn() as conn:
        try:
            set_password(conn, nombre, clave)
        except UsuarioError as exc:
            _fail(str(exc))
    console.print(f"Contraseña de {nombre.strip().lower()} cambiada; sus sesiones abiertas se cerraron.")


def alertas(
    umbral: float = typer.Option(5.0, help="Caída (puntos porcentuales) respecto de la versión anterior que alerta."),
    territorio: str = typer.Option(None, help="Solo este código (departamento o polígono de distrito)."),
) -> None:
    """Logros bajo su meta y coberturas que empeoran, por territorio (cifras protegidas en vivo)."""
    import psycopg
    from rich.table import Table

    from geoportal.alertas import compute_alerts, record_snapshot
    from geoportal.db import database_url

    with psycopg.connect(database_url()) as conn:
        record_snapshot(conn)
        found = [a for a in compute_alerts(conn, umbral) if territorio in (None, a["codigo"])]
    if not found:
        console.print("Sin alertas.")
        return
    table = Table("Tipo", "Nivel", "Código", "Territorio", "Indicador", "Valor", "Referencia", "Diferencia")
    for a in found:
        table.add_row(
            "bajo la meta" if a["tipo"] == "bajo_meta" else "empeora",
            a["nivel"],
            a["codigo"],
            a["nombre"] or "",
            a["etiqueta"],
            f"{a['valor']:.1f}",
            f"{a['referencia']:.1f}",
            f"{a['diferencia']:+.1f}",
        )
    console.print(table)
    console.print(f"{len(found)} alertas (umbral de empeoramiento: {umbral:g} puntos).")


@usuarios_app.command("demo")
def crear_usuarios_demo() -> None:
    """Crea (una vez) los usuarios de prueba de la demostración y muestra sus claves.

    Claves al azar guardadas en ``usuarios_demo.txt`` (modo 0600) junto a ``secretos.json``;
    ``geoportal demo`` lo hace solo (``--sin-usuarios-demo`` para no)."""
    from rich.table import Table

    from geoportal.db import secrets_file
    from geoportal.usuarios import UsuarioError, create_user, list_users

    path = secrets_file().parent / "usuarios_demo.txt"
    known = {}
    if path.exists():
        known = dict(line.split(" ", 1) for line in path.read_text(encoding="utf-8").split("\n") if " " in line)
    with _usuarios_conn() as conn:
        existing = {u.nombre for u in list_users(conn)}
        for nombre, rol, scope, descripcion in USUARIOS_DEMO:
            if nombre in existing:
                continue
            known[nombre] = secrets.token_urlsafe(12)
            try:
                create_user(conn, nombre, known[nombre], rol, nombre_completo=descripcion, **scope)
            except UsuarioError as exc:
                console.print(f"[yellow]No se creó {nombre}:[/] {exc}")
                known.pop(nombre)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text("".join(f"{n} {k}\n" for n, k in known.items()), encoding="utf-8")
    table = Table("Usuario", "Clave", "Para probar", title="Usuarios de la demostración (datos sintéticos)")
    for nombre, _, _, descripcion in USUARIOS_DEMO:
        table.add_row(nombre, known.get(nombre, "(creado antes; clave no guardada aquí)"), descripcion)
    console.print(table)
    console.print(
        f"Ingrese en /ingresar; las claves quedan en {path} (solo su dueño las lee). "
        "Quite estos usuarios con `geoportal usuarios desactivar NOMBRE` si la base deja de ser de demostración."
    )
