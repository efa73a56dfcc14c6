"""The door every request passes first: one pure ASGI middleware (``Guardia``) that decides
what can be refused before any route code runs, and what every answer carries.

Before the route (nothing of the body is read yet):

- **Null bytes** (``%00``) in the query string or the path: 400 naming the parameter
  (PostgreSQL cannot store them; they used to surface as 500).
- **Session first**: a state-changing request (POST, PUT, PATCH, DELETE) to a route that
  requires a session (``session_required`` anywhere among its dependencies) is refused with
  401 unless its session cookie names a live session, checked in a worker thread. An
  anonymous 300 MB body is answered without reading it.
- **Body cap per route**: ``Content-Length`` above the route's limit is a 413 at once; a
  body without length (chunked) is counted while it is read and stopped at the limit
  (413). Routes that take a file (``UploadFile``) may receive ``GEOPORTAL_ARCHIVO_MAX_MB``;
  every other request ``GEOPORTAL_CUERPO_MAX_KB``.

On every answer (``cabeceras``): ``X-Content-Type-Options: nosniff``, frame protection
(``Content-Security-Policy: frame-ancestors 'none'`` and ``X-Frame-Options: DENY``; the
policy says nothing else, so the viewer and the OGC pages load as before), and
``Cache-Control: no-store`` on every answer of an institutional route (sessions, audit,
nominal data, the Mesa's and institutions' pages) and on any answer that sets a cookie.

Last resort: an exception no handler answered becomes the generic 500 problem here and
is logged as one redacted line (type, SQLSTATE, route template and stack; never the
exception's text: ``api.base.registro.error_report``), so uvicorn never prints it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

import anyio
import psycopg
from fastapi import params
from starlette.exceptions import HTTPException
from starlette.requests import Request

from api.base.conexiones import ROLES, URLS
from api.base.errores import TITULOS, BaseNoDisponible, problem
from api.base.registro import _routes, error_report

log = logging.getLogger("geoportal.api")

METODOS_SEGUROS = frozenset({"GET", "HEAD", "OPTIONS"})
NO_AUTENTICADO = "Inicie sesión para acceder (/ingresar); la sesión pudo haber vencido o cerrado."
ERROR_INTERNO = "Error interno del servidor. El problema quedó registrado; intente de nuevo más tarde."
CABECERAS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
]


class CuerpoDemasiadoGrande(HTTPException):
    """Raised while the body is read past its route's limit; FastAPI lets an HTTPException
    through its body parsing, and the one error handler answers it (413 problem+json)."""

    def __init__(self, limite: int):
        super().__init__(413, f"El cuerpo de la solicitud supera el máximo de esta ruta ({_tamano(limite)}).")


def _tamano(n: int) -> str:
    return f"{n // (1024 * 1024)} MB" if n >= 1024 * 1024 else f"{n // 1024} KB"


@dataclass(frozen=True)
class Ruta:
    regex: object
    metodos: frozenset
    parametros: tuple[str, ...]
    con_sesion: bool
    con_archivo: bool


def _usa(dependant, llamada) -> bool:
    return any(d.call is llamada or _usa(d, llamada) for d in dependant.dependencies)


def _con_archivo(dependant) -> bool:
    campos = list(getattr(dependant, "body_params", ())) + [
        p for d in dependant.dependencies for p in getattr(d, "body_params", ())
    ]
    return any(isinstance(getattr(c, "field_info", None), params.File) for c in campos)


class Guardia:
    """See the module's docstring. ``requiere_sesion``: the dependency that makes a route
    need a session; ``sesion_vigente(token) -> bool``: whether a cookie names a live session
    (blocking, run in a thread); ``cookie``: the session cookie's name."""

    def __init__(
        self,
        app,
        *,
        requiere_sesion: Callable | None = None,
        sesion_vigente: Callable[[str], bool] | None = None,
        cookie: str = "",
        cuerpo_max: int = 64 * 1024,
        archivo_max: int = 8 * 1024 * 1024,
    ) -> None:
        self.app = app
        self.requiere_sesion, self.sesion_vigente, self.cookie = requiere_sesion, sesion_vigente, cookie
        self.cuerpo_max, self.archivo_max = cuerpo_max, archivo_max
        self._tabla: list[Ruta] | None = None

    # ------------------------------------------------------------------ the route table
    def tabla(self, app) -> list[Ruta]:
        if self._tabla is None:
            tabla = []
            for r in _routes(app):
                regex, dependant = getattr(r, "path_regex", None), getattr(r, "dependant", None)
                if regex is None:
                    continue
                con_sesion = (
                    dependant is not None and self.requiere_sesion is not None and _usa(dependant, self.requiere_sesion)
                )
                tabla.append(
                    Ruta(
                        regex,
                        frozenset(r.methods or ()),
                        tuple(regex.groupindex),
                        con_sesion,
                        dependant is not None and _con_archivo(dependant),
                    )
                )
            self._tabla = tabla
        return self._tabla

    def ruta(self, app, path: str, metodo: str) -> Ruta | None:
        for r in self.tabla(app):
            if metodo in r.metodos and r.regex.match(path):
                return r
        return None

    # ------------------------------------------------------------------ the middleware
    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        app = scope.get("app")
        state = getattr(app, "state", None)
        token_urls = URLS.set(getattr(state, "urls", None))
        token_roles = ROLES.set(getattr(state, "roles", None))
        try:
            await self._http(scope, receive, send, app, state)
        finally:
            ROLES.reset(token_roles)
            URLS.reset(token_urls)

    async def _http(self, scope, receive, send, app, state) -> None:
        path, metodo = scope["path"], scope["method"]
        redactor = getattr(state, "registro", None)
        institucional = redactor is not None and redactor.institutional(path)
        iniciado = False

        async def enviar(message) -> None:
            nonlocal iniciado
            if message["type"] == "http.response.start":
                iniciado = True
                headers = list(message.get("headers", ()))
                nombres = {k.lower() for k, _ in headers}
                headers += [h for h in CABECERAS if h[0] not in nombres]
                if institucional or b"set-cookie" in nombres:  # a route's own "private, no-store" stays
                    cache = [v for k, v in headers if k.lower() == b"cache-control"]
                    if not cache or b"no-store" not in cache[0]:
                        headers = [h for h in headers if h[0].lower() != b"cache-control"]
                        headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        refused = self._nulos(scope, app, path, metodo)
        ruta = None
        if refused is None and metodo not in METODOS_SEGUROS:
            ruta = self.ruta(app, path, metodo)
            if ruta is not None and ruta.con_sesion:
                refused = await self._sin_sesion(scope)
        limite = self.archivo_max if ruta is not None and ruta.con_archivo else self.cuerpo_max
        if refused is None:
            refused = self._largo(scope, limite)
        if refused is not None:
            await refused(scope, receive, enviar)
            return

        leidos = 0

        async def recibir():
            nonlocal leidos
            message = await receive()
            if message["type"] == "http.request":
                leidos += len(message.get("body", b""))
                if leidos > limite:
                    raise CuerpoDemasiadoGrande(limite)
            return message

        try:
            await self.app(scope, recibir, enviar)
        except Exception as exc:  # noqa: BLE001 -- the last resort: a 500 problem, one redacted log line
            request = Request(scope)
            message, args, _ = error_report(request, exc)
            log.error(message, *args)
            if not iniciado:
                await problem(500, ERROR_INTERNO, path)(scope, receive, enviar)

    # ------------------------------------------------------------------ the checks
    def _nulos(self, scope, app, path: str, metodo: str):
        """400 naming the parameter that carries a null byte (query string or path)."""
        query = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query:
            for clave, valor in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                if "\x00" in clave or "\x00" in valor:
                    nombre = clave.replace("\x00", "") or "(sin nombre)"
                    return _nulo(nombre, path)
            return _nulo("(consulta)", path)
        if "\x00" in path:
            for r in self.tabla(app):
                found = r.regex.match(path)
                if found:
                    for nombre, valor in found.groupdict().items():
                        if valor and "\x00" in valor:
                            return _nulo(nombre, path)
            return _nulo("ruta", path)
        return None

    async def _sin_sesion(self, scope):
        token = None
        for clave, valor in scope.get("headers", ()):
            if clave == b"cookie":
                for parte in valor.decode("latin-1").split(";"):
                    nombre, _, contenido = parte.strip().partition("=")
                    if nombre == self.cookie and contenido:
                        token = contenido
        if token is not None and self.sesion_vigente is not None:
            try:
                if await anyio.to_thread.run_sync(self.sesion_vigente, token):
                    return None
            except (psycopg.OperationalError, BaseNoDisponible):  # no database: retry later, like every route
                return problem(
                    503,
                    "Servicio no disponible: la base de datos no responde. Intente de nuevo en unos minutos.",
                    scope["path"],
                    headers={"Retry-After": "10"},
                )
        return problem(401, NO_AUTENTICADO, None, title=TITULOS[401])

    def _largo(self, scope, limite: int):
        for clave, valor in scope.get("headers", ()):
            if clave == b"content-length":
                try:
                    largo = int(valor)
                except ValueError:
                    return problem(400, "La cabecera Content-Length no es un número.", scope["path"])
                if largo > limite:
                    return problem(
                        413, CuerpoDemasiadoGrande(limite).detail, scope["path"], headers={"Connection": "close"}
                    )
        return None


def _nulo(nombre: str, path: str):
    return problem(
        400, f"El parámetro '{nombre}' contiene un carácter nulo (%00), que no se admite.", path.replace("\x00", "%00")
    )
