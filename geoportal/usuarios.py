"""Users of the institutional geoportal and their roles (``acceso.usuario``).

A role decides what a user may see; its territory decides where:

| rol | territorio | ve |
|---|---|---|
| ``gabinete`` | el país | cifras protegidas vigentes (en vivo) de todo el país, alertas, pérdida de información exacta; nada nominal |
| ``mesa_departamental`` | su departamento | lo mismo, solo de su departamento y sus distritos; nada nominal |
| ``mesa_distrital`` | su distrito | lo anterior de su distrito, y la lista nominal de personas y hogares sin protección; deriva |
| ``institucion`` | sus distritos asignados | solo las derivaciones dirigidas a su institución, con sus personas; registra la contrarreferencia |
| ``admin`` | — | usuarios y registro de auditoría; nada nominal |

Passwords are hashed with argon2id (argon2-cffi, its default parameters); the clear
password is never stored or logged. Users are deactivated, never deleted, so the audit
log keeps naming who did what.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Rol(StrEnum):
    """The roles, one name each everywhere (database, sessions, gates, pages)."""

    GABINETE = "gabinete"
    MESA_DEPARTAMENTAL = "mesa_departamental"
    MESA_DISTRITAL = "mesa_distrital"
    INSTITUCION = "institucion"
    ADMIN = "admin"


ROLES = tuple(r.value for r in Rol)
# The role as a page says it (Spanish, with its accents): never the code "institucion".
NOMBRE_ROL = {
    Rol.GABINETE: "Gabinete Social",
    Rol.MESA_DEPARTAMENTAL: "Mesa departamental",
    Rol.MESA_DISTRITAL: "Mesa distrital",
    Rol.INSTITUCION: "institución",
    Rol.ADMIN: "administración",
}


def nombre_rol(rol: str) -> str:
    return NOMBRE_ROL.get(rol, rol)


MIN_PASSWORD = 12

_hasher = PasswordHasher()
# Verified when the user name is unknown, so a failed login costs the same either way.
_DUMMY_HASH = _hasher.hash("contraseña-que-no-es-de-nadie")


class UsuarioError(ValueError):
    """A request about users that cannot be honoured; the message is Spanish."""


@dataclass(frozen=True)
class Usuario:
    usuario_id: int
    nombre: str
    nombre_completo: str
    rol: str
    departamento: str | None
    distrito: str | None
    institucion: str | None
    distritos: tuple[str, ...] = field(default_factory=tuple)
    activo: bool = True

    @property
    def territorio(self) -> str:
        if self.rol == "mesa_distrital":
            return self.distrito or ""
        if self.rol == "mesa_departamental":
            return self.departamento or ""
        if self.rol == "institucion":
            return ",".join(self.distritos)
        return "PY" if self.rol == "gabinete" else ""


COLUMNS = "usuario_id, nombre, nombre_completo, rol, departamento, distrito, institucion, distritos, activo"


def _row(row) -> Usuario:
    return Usuario(*row[:7], tuple(row[7] or ()), row[8])


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise UsuarioError(f"La contraseña debe tener al menos {MIN_PASSWORD} caracteres.")
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def _check_scope(conn: psycopg.Connection, rol: str, departamento, distrito, institucion, distritos) -> None:
    if rol not in ROLES:
        raise UsuarioError(f"Rol desconocido: {rol!r}. Roles: {', '.join(ROLES)}.")
    needs = {
        "mesa_departamental": bool(departamento),
        "mesa_distrital": bool(distrito),
        "institucion": bool(institucion) and bool(distritos),
    }
    if not needs.get(rol, True):
        what = {
            "mesa_departamental": "--departamento",
            "mesa_distrital": "--distrito",
            "institucion": "--institucion y --distritos",
        }[rol]
        raise UsuarioError(f"El rol {rol} necesita {what}.")
    if (
        departamento
        and not conn.execute("SELECT 1 FROM territorio.departamento WHERE codigo = %s", (departamento,)).fetchone()
    ):
        raise UsuarioError(f"Departamento desconocido: {departamento}.")
    for code in ([distrito] if distrito else []) + list(distritos or []):
        if not conn.execute("SELECT 1 FROM territorio.distrito WHERE codigo = %s", (code,)).fetchone():
            raise UsuarioError(f"Distrito desconocido: {code} (use el código 2022 de cuatro cifras).")
    if institucion:
        from geoportal.catalog import default_catalog

        known = {s.institucion for s in default_catalog().servicios}
        if institucion not in known:
            raise UsuarioError(
                f"Institución desconocida: {institucion}. Instituciones del catálogo: {', '.join(sorted(known))}."
            )


def create_user(
    conn: psycopg.Connection,
    nombre: str,
    password: str,
    rol: str,
    *,
    nombre_completo: str = "",
    departamento: str | None = None,
    distrito: str | None = None,
    institucion: str | None = None,
    distritos: list[str] | None = None,
) -> Usuario:
    """Add a user; the territory fields not used by ``rol`` are ignored."""
    nombre = nombre.strip().lower()
    keep = {"mesa_departamental": "departamento", "mesa_distrital": "distrito", "institucion": "institucion"}.get(rol)
    departamento = departamento if keep == "departamento" else None
    distrito = distrito if keep == "distrito" else None
    institucion, distritos = (institucion, list(distritos or [])) if keep == "institucion" else (None, [])
    _check_scope(conn, rol, departamento, distrito, institucion, distritos)
    digest = hash_password(password)
    try:
        row = conn.execute(
            f"INSERT INTO acceso.usuario (nombre, nombre_completo, rol, departamento, distrito, institucion, distritos,"
            f" clave_hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING {COLUMNS}",
            (nombre, nombre_completo, rol, departamento, distrito, institucion, distritos, digest),
        ).fetchone()
    except psycopg.errors.UniqueViolation:
        conn.rollback()
        raise UsuarioError(f"Ya existe el usuario {nombre!r}.") from None
    except psycopg.errors.CheckViolation:
        conn.rollback()
        raise UsuarioError("Nombre de usuario no válido: 3 a 64 letras minúsculas, cifras, punto, guion.") from None
    conn.commit()
    return _row(row)


def list_users(conn: psycopg.Connection) -> list[Usuario]:
    return [_row(r) for r in conn.execute(f"SELECT {COLUMNS} FROM acceso.usuario ORDER BY nombre").fetchall()]


def get_user(conn: psycopg.Connection, nombre: str) -> Usuario:
    row = conn.execute(f"SELECT {COLUMNS} FROM acceso.usuario WHERE nombre = %s", (nombre.strip().lower(),)).fetchone()
    if row is None:
        raise UsuarioError(f"No existe el usuario {nombre!r}.")
    return _row(row)


def deactivate_user(conn: psycopg.Connection, nombre: str) -> Usuario:
    """Deactivate and close every open session at once (a live session stops working)."""
    user = get_user(conn, nombre)
    conn.execute(
        "UPDATE acceso.usuario SET activo = false, modificado = now() WHERE usuario_id = %s", (user.usuario_id,)
    )
    conn.execute(
        "UPDATE acceso.sesion SET cerrada = now() WHERE usuario_id = %s AND cerrada IS NULL", (user.usuario_id,)
    )
    conn.commit()
    return get_user(conn, nombre)


def change_role(
    conn: psycopg.Connection,
    nombre: str,
    rol: str,
    *,
    departamento: str | None = None,
    distrito: str | None = None,
    institucion: str | None = None,
    distritos: list[str] | None = None,
) -> Usuario:
    """New role and territory; open sessions are closed (they carried the old scope)."""
    user = get_user(conn, nombre)
    keep = {"mesa_departamental": "departamento", "mesa_distrital": "distrito", "institucion": "institucion"}.get(rol)
    departamento = departamento if keep == "departamento" else None
    distrito = distrito if keep == "distrito" else None
    institucion, distritos = (institucion, list(distritos or [])) if keep == "institucion" else (None, [])
    _check_scope(conn, rol, departamento, distrito, institucion, distritos)
    conn.execute(
        "UPDATE acceso.usuario SET rol = %s, departamento = %s, distrito = %s, institucion = %s, distritos = %s,"
        " modificado = now() WHERE usuario_id = %s",
        (rol, departamento, distrito, institucion, distritos, user.usuario_id),
    )
    conn.execute(
        "UPDATE acceso.sesion SET cerrada = now() WHERE usuario_id = %s AND cerrada IS NULL", (user.usuario_id,)
    )
    conn.commit()
    return get_user(conn, nombre)


def set_password(conn: psycopg.Connection, nombre: str, password: str) -> None:
    """A new password (an admin's reset): open sessions are closed and the name's failed
    attempts stop counting (the lockout ends)."""
    user = get_user(conn, nombre)
    conn.execute(
        "UPDATE acceso.usuario SET clave_hash = %s, modificado = now() WHERE usuario_id = %s",
        (hash_password(password), user.usuario_id),
    )
    conn.execute(
        "UPDATE acceso.sesion SET cerrada = now() WHERE usuario_id = %s AND cerrada IS NULL", (user.usuario_id,)
    )
    _unlock(conn, user.nombre)
    conn.commit()


def _unlock(conn: psycopg.Connection, nombre: str) -> None:
    conn.execute(
        "INSERT INTO acceso.intento_ingreso (nombre, ip, exito, tipo) VALUES (%s, 'administracion', false,"
        " 'desbloqueo')",
        (nombre,),
    )


def unlock_user(conn: psycopg.Connection, nombre: str) -> int:
    """End a name's lockout now: its earlier failed attempts stop counting (they stay in
    ``acceso.intento_ingreso``). Returns how many failures stopped counting."""
    user = get_user(conn, nombre)
    row = conn.execute(
        "SELECT count(*) FROM acceso.intento_ingreso WHERE nombre = %(n)s AND tipo = 'intento' AND NOT exito"
        " AND momento > (SELECT coalesce(max(momento), '-infinity') FROM acceso.intento_ingreso"
        "                 WHERE nombre = %(n)s AND (exito OR tipo = 'desbloqueo'))",
        {"n": user.nombre},
    ).fetchone()
    _unlock(conn, user.nombre)
    conn.commit()
    return row[0]
