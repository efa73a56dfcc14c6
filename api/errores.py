"""Every error of the API, answered once and the same way: RFC 9457 problem details.

``application/problem+json`` with ``type``, ``title``, ``status``, ``detail`` (Spanish, for
people) and ``instance`` (the path asked for). Routers raise
``fastapi.HTTPException(status, detail="<texto en español>")``; request validation errors
become 400 with a detail that names the parameter; an unreachable database (or nothing
published yet) is 503; anything unexpected is 500 with a generic detail, logged on the
server with its traceback and never shown to the client.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.base import BaseNoDisponible
from api.registro import error_report, logged_path

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
    422: "Solicitud no procesable",
    429: "Demasiadas solicitudes",
    500: "Error interno",
    503: "Servicio no disponible",
}

# Starlette's default details (English) for errors no router raised itself.
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


def problem(status: int, detail: str, instance: str, headers: dict | None = None, **extra) -> JSONResponse:
    body = {"type": "about:blank", "title": TITULOS.get(status, "Error"), "status": status,
            "detail": detail, "instance": instance, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


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


def install(app: FastAPI) -> None:
    """Register the handlers (call once, in the application factory)."""

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else None
        if not detail or exc.status_code in _DETALLES_POR_DEFECTO and detail in ("Not Found", "Method Not Allowed"):
            detail = _DETALLES_POR_DEFECTO.get(exc.status_code, TITULOS.get(exc.status_code, "Error"))
        return problem(exc.status_code, detail, _instance(request), headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        return problem(400, detalle_validacion(exc), _instance(request))

    @app.exception_handler(BaseNoDisponible)
    async def _db(request: Request, exc: BaseNoDisponible):
        log.warning("base de datos no disponible en %s: %s", logged_path(request), exc.__cause__ or exc)
        return problem(503, f"Servicio no disponible: {exc}. Intente de nuevo en unos minutos.",
                       _instance(request), headers={"Retry-After": "10"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        message, args, exc_info = error_report(request, exc)
        log.error(message, *args, exc_info=exc_info)
        return problem(500, "Error interno del servidor. El problema quedó registrado; intente de nuevo más tarde.",
                       _instance(request))
