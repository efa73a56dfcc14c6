"""Every error of the API, answered once and the same way: RFC 9457 problem details.

``application/problem+json`` with ``type``, ``title``, ``status``, ``detail`` (Spanish, for
people) and ``instance`` (the path asked for). Handlers raise **typed domain errors**
(:class:`SolicitudIncorrecta`, :class:`NoEncontrado`, :class:`BaseNoDisponible`,
:class:`AccesoError`…); only this module knows their HTTP status and title (``TITULOS``),
and one handler factory (:func:`manejador`) answers them all. What the user reads
(``detalle``) is kept apart from what the server logs (``registro``): a nominal value
may go to neither, and the log never receives the user's text by accident.

Request validation errors become 400 with a detail that names the parameter; a database
that cannot be reached (``psycopg.OperationalError``, on any route) is 503 with
``Retry-After``; anything unexpected is 500 with a generic detail, logged on the server as
its type, route and stack, never the exception's text (``api.base.registro.error_report``;
the last resort is ``api.base.guardia``), and never shown to the client. ``HTTPException`` raised by the tile service (``tiles/``, which
does not import the web) is answered the same way.
"""

from __future__ import annotations

import logging
from typing import ClassVar

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.base.registro import error_report, logged_path

log = logging.getLogger("geoportal.api")

PROBLEM_JSON = "application/problem+json"

TITULOS = {
    400: "Solicitud incorrecta",
    401: "No autenticado",
    403: "Prohibido",
    404: "No encontrado",
    405: "Método no permitido",
    406: "Formato no aceptable",
    409: "Conflicto",
    413: "Solicitud demasiado grande",
    415: "Tipo de contenido no soportado",
    422: "Solicitud no válida",
    429: "Demasiados intentos",
    500: "Error interno",
    503: "Servicio no disponible",
}


class ErrorApi(Exception):
    """A typed error of the web. ``detalle``: what the user reads (Spanish, never a nominal
    value). ``registro``: what the server log adds, if anything (never the user's text)."""

    status: ClassVar[int] = 500
    nivel_registro: ClassVar[int | None] = None  # logging level, None: not logged
    formato_registro: ClassVar[str] = "error de la API en %s: %s"  # (path, registro or cause)
    con_instancia: ClassVar[bool] = True  # the body names the path asked for

    def __init__(
        self, detalle: str, *, titulo: str | None = None, headers: dict | None = None, registro: str | None = None
    ):
        super().__init__(detalle)
        self.detalle, self.headers, self.registro = detalle, headers or {}, registro
        self.titulo = titulo or TITULOS.get(self.status, "Error")

    def detalle_usuario(self) -> str:
        return self.detalle


class SolicitudIncorrecta(ErrorApi):
    """A parameter the API cannot use (400)."""

    status = 400


class NoEncontrado(ErrorApi):
    """The resource asked for does not exist (404)."""

    status = 404


class BaseNoDisponible(ErrorApi):
    """The database cannot be reached or has nothing published yet (503, retry later).
    The log keeps the cause (the driver's error); the user reads only what to do."""

    status = 503
    nivel_registro = logging.WARNING
    formato_registro = "base de datos no disponible en %s: %s"

    def __init__(self, detalle: str):
        super().__init__(detalle, headers={"Retry-After": "10"})

    def detalle_usuario(self) -> str:
        return f"Servicio no disponible: {self.detalle}. Intente de nuevo en unos minutos."


class AccesoError(ErrorApi):
    """An institutional refusal (401, 403, 404, 409, 422, 429), or a login page's message.

    Its body names no path: "not in your territory" and "does not exist" must read the
    same, byte for byte, whichever id was asked for."""

    con_instancia = False

    def __init__(self, status: int, detail: str, title: str | None = None, headers: dict | None = None):
        self.status = status  # per instance: one class for every refusal of the access rules
        super().__init__(detail, titulo=title, headers=headers)

    @property
    def detail(self) -> str:
        return self.detalle

    @property
    def title(self) -> str:
        return self.titulo


# Starlette's default details (English) for errors no handler raised itself.
_DETALLES_POR_DEFECTO = {
    404: "No existe el recurso pedido. Vea /ogc, /docs o /openapi.json para las rutas disponibles.",
    405: "Este recurso no admite el método pedido; la API pública solo admite GET.",
}

_MOTIVOS_VALIDACION = {
    "missing": "falta y es obligatorio",
    "float_parsing": "debe ser un número",
    "float_type": "debe ser un número",
    "finite_number": "debe ser un número finito",
    "int_parsing": "debe ser un número entero",
    "int_type": "debe ser un número entero",
    "int_from_float": "debe ser un número entero",
    "bool_parsing": "debe ser verdadero o falso (true/false)",
    "string_too_short": "es demasiado corto",
    "string_too_long": "es demasiado largo",
    "string_pattern_mismatch": "no tiene el formato esperado",
    "literal_error": "no es un valor admitido",
    "enum": "no es un valor admitido",
    "too_long": "tiene demasiados elementos",
}


def problem(
    status: int, detail: str, instance: str | None, headers: dict | None = None, title: str | None = None
) -> JSONResponse:
    body = {"type": "about:blank", "title": title or TITULOS.get(status, "Error"), "status": status, "detail": detail}
    if instance is not None:
        body["instance"] = instance
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers or None)


def _instance(request: Request) -> str:
    return request.url.path


def _motivo(error: dict) -> str:
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind in ("greater_than_equal", "greater_than"):
        return f"debe ser mayor{' o igual' if kind.endswith('equal') else ''} que {ctx.get('ge', ctx.get('gt'))}"
    if kind in ("less_than_equal", "less_than"):
        return f"debe ser menor{' o igual' if kind.endswith('equal') else ''} que {ctx.get('le', ctx.get('lt'))}"
    if kind in ("literal_error", "enum") and ctx.get("expected"):
        return f"no es un valor admitido (use {ctx['expected'].replace(' or ', ' o ')})"
    if kind == "string_too_short" and "min_length" in ctx:
        return f"debe tener al menos {ctx['min_length']} caracteres"
    if kind == "string_too_long" and "max_length" in ctx:
        return f"debe tener como máximo {ctx['max_length']} caracteres"
    return _MOTIVOS_VALIDACION.get(kind, "no es válido")


def detalle_validacion(exc: RequestValidationError) -> str:
    partes = []
    for error in exc.errors():
        loc = [str(x) for x in error.get("loc", ()) if x not in ("query", "path", "header", "body")]
        nombre = ".".join(loc) or "solicitud"
        partes.append(f"el parámetro '{nombre}' {_motivo(error)}")
    texto = "; ".join(dict.fromkeys(partes)) or "parámetros inválidos"
    return texto[0].upper() + texto[1:] + "."


def manejador(request: Request, exc: ErrorApi) -> JSONResponse:
    """The one answer of every typed error: its status and title, the user's detail, and a
    log line (path as ``api.base.registro`` renders it, plus ``registro`` or the cause)."""
    if exc.nivel_registro is not None:
        log.log(
            exc.nivel_registro, exc.formato_registro, logged_path(request), exc.registro or exc.__cause__ or exc.detalle
        )
    return problem(
        exc.status,
        exc.detalle_usuario(),
        _instance(request) if exc.con_instancia else None,
        headers=exc.headers,
        title=exc.titulo,
    )


# Machine routes answer problem+json whatever the Accept header says.
RUTAS_DE_DATOS = ("/api/", "/tiles/", "/ogc", "/descargas/", "/visor/", "/salud", "/listo", "/openapi", "/docs")


def wants_page(request: Request) -> bool:
    """A browser asking for a page (not a data route): it gets HTML, not raw JSON."""
    path = request.url.path
    return "text/html" in request.headers.get("accept", "") and not path.startswith(RUTAS_DE_DATOS)


def pagina_no_encontrada(request: Request) -> HTMLResponse:
    from api.base.plantilla import pagina

    texto = (
        "No existe una página en esta dirección. Vuelva al mapa, o busque un departamento, "
        "distrito o localidad en el panel del mapa."
    )
    return HTMLResponse(pagina("aviso.html", "Página no encontrada", texto=texto), status_code=404)


def install(app: FastAPI) -> None:
    """Register the handlers (call once, in the application factory)."""

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404 and wants_page(request):
            return pagina_no_encontrada(request)
        detail = exc.detail if isinstance(exc.detail, str) else None
        if not detail or exc.status_code in _DETALLES_POR_DEFECTO and detail in ("Not Found", "Method Not Allowed"):
            detail = _DETALLES_POR_DEFECTO.get(exc.status_code, TITULOS.get(exc.status_code, "Error"))
        return problem(exc.status_code, detail, _instance(request), headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        return problem(400, detalle_validacion(exc), _instance(request))

    @app.exception_handler(ErrorApi)
    async def _typed(request: Request, exc: ErrorApi):
        return manejador(request, exc)

    @app.exception_handler(psycopg.OperationalError)
    async def _base_caida(request: Request, exc: psycopg.OperationalError):
        # A connection refused, a backend terminated, a pool that waited too long: on any
        # route (public or institutional) the database is down, not the request wrong.
        caida = BaseNoDisponible("se perdió la conexión con la base de datos")
        caida.registro = f"{type(exc).__name__} SQLSTATE {getattr(exc, 'sqlstate', None) or '—'}"
        return manejador(request, caida)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        message, args, _ = error_report(request, exc)
        log.error(message, *args)
        return problem(
            500,
            "Error interno del servidor. El problema quedó registrado; intente de nuevo más tarde.",
            _instance(request),
        )
