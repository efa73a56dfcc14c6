"""What the server's logs say about a request: never a household, person or referral id.

uvicorn's access log writes each request line as it came (``GET /api/nominal/hogares/H…``,
``?unidad_id=…``), so without this module nominal ids would end up in every log file and
log collector. ``install`` (called by ``api.app.create_app``, so it works for
``geoportal servir`` and for ``uvicorn api.app:create_app --factory`` alike) puts a filter
on the ``uvicorn.access`` logger that rewrites the logged path; client address, method,
HTTP version and status are kept.

- **Public routes** (tiles, layers, OGC API, downloads, indicators, service guide, viewer,
  health): logged as they came. Operators need the exact tile or query, and nothing
  nominal is served there.
- **Institutional routes**, i.e. every route built by :class:`RutaInstitucional` (the
  ``route_class`` of every router of the institutional wing, the login routes included)
  and, as a safety net, any route with a dependency marked by :func:`redactar` (the
  session dependencies are): logged as the route's template, ``/api/nominal/hogares/{hogar_id}``,
  ``/api/derivaciones/{derivacion_id}/contrarreferencia``. Only the territory parameters
  ``nivel`` and ``codigo`` (``/api/cifras/distrito/1116``) keep their value. The query
  string keeps only the keys of ``QUERY_KEPT`` (filters, paging, format: codes and numbers)
  and only when the value is a short code; every other key is dropped (``unidad_id``,
  ``localidad``, ``mensaje``, ``siguiente``, anything unknown).
- **A path under an institutional prefix that matches no route** (a typo, a probe): every
  segment that is not a literal word of an institutional route becomes ``{id}``; the query
  string is dropped.

The marker is explicit, attached to the route, never inferred from the module that
defines it (a file moved to another package must not silently stop being redacted); a
route that asks for a session is redacted even if its router forgot the marker. If rewriting ever fails, the line is logged with the path cut to its
prefix (fail closed), never verbatim. ``logged_path`` gives the same rendering to other log
lines that name a request (``api.base.errores``).
"""

from __future__ import annotations

import logging
import re
import traceback
from urllib.parse import parse_qsl, unquote

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute

ACCESS_LOGGER = "uvicorn.access"
ERROR_LOGGER = "uvicorn.error"
# Query keys whose values identify nobody: filters, paging, format, purpose, threshold, version.
QUERY_KEPT = frozenset(
    {
        "servicio",
        "categoria",
        "brecha",
        "paquete",
        "formato",
        "limite",
        "desde",
        "estado",
        "finalidad",
        "umbral",
        "data_version",
    }
)
# Path parameters of institutional routes that are territory codes, not people.
PARAMS_KEPT = frozenset({"nivel", "codigo"})
_SHORT = re.compile(r"[A-Za-z0-9_.:,-]{1,40}")


MARCA = "__redactar_en_registro__"


class RutaInstitucional(APIRoute):
    """Route class of the institutional routers: their paths are logged redacted."""


def redactar(dependency):
    """Mark a dependency (e.g. the session's): every route that uses it is logged redacted."""
    setattr(dependency, MARCA, True)
    return dependency


def _prefix(path: str) -> str:
    """``/api/nominal/hogares/x`` -> ``/api/nominal``; ``/mesa/derivar`` -> ``/mesa``."""
    parts = path.strip("/").split("/")
    return "/" + "/".join(parts[:2] if parts[0] == "api" and len(parts) > 1 else parts[:1])


def _routes(app: FastAPI) -> list:
    """Every route in matching order (FastAPI >= 0.16x keeps included routers unflattened)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is already flat
        return list(app.routes)
    return list(iter_route_contexts(app.routes))


def _param(name: str, value: str | None) -> str:
    return value if name in PARAMS_KEPT and value and _SHORT.fullmatch(value) else "{" + name + "}"


def _uses_marked(dependant) -> bool:
    return any(getattr(d.call, MARCA, False) or _uses_marked(d) for d in dependant.dependencies)


def institutional_route(route) -> bool:
    """Whether ``route`` (a route, or FastAPI's context of an included one) is logged redacted."""
    original = getattr(route, "original_route", route)
    dependant = getattr(route, "dependant", None)
    return isinstance(original, RutaInstitucional) or (dependant is not None and _uses_marked(dependant))


class Redactor:
    """The log rendering of request paths, built from the application's routes."""

    def __init__(self, routes) -> None:
        self.routes = [r for r in routes if getattr(r, "path_regex", None) is not None and institutional_route(r)]
        self.prefixes = {_prefix(r.path) for r in self.routes}
        self.words = {part for r in self.routes for part in r.path.strip("/").split("/") if "{" not in part}

    def institutional(self, path: str) -> bool:
        return _prefix(path) in self.prefixes

    def path(self, path: str) -> str:
        """An institutional path as its route template (or with every unknown segment as ``{id}``)."""
        for route in self.routes:
            found = route.path_regex.match(path)
            if found:
                return route.path_format.format(**{k: _param(k, v) for k, v in found.groupdict().items()})
        return "/".join(p if not p or p in self.words else "{id}" for p in path.split("/"))

    @staticmethod
    def query(query: str) -> str:
        kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k in QUERY_KEPT and _SHORT.fullmatch(v)]
        return "&".join(f"{k}={v}" for k, v in kept)

    def target(self, target: str) -> str:
        """The logged request target (path and query string as uvicorn writes them)."""
        raw, _, query = target.partition("?")
        path = unquote(raw)
        if not self.institutional(path):
            return target
        matched = any(route.path_regex.match(path) for route in self.routes)
        out = self.path(path)
        kept = self.query(query) if matched else ""
        return f"{out}?{kept}" if kept else out


class AccessLogFilter(logging.Filter):
    """Rewrites the path of uvicorn's access-log records (``client, method, path, http, status``)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            try:
                target = self.redactor.target(args[2])
            except Exception:  # noqa: BLE001 -- never verbatim, never an exception into the server
                target = _prefix(args[2].partition("?")[0]) + "/{id}"
            record.args = (args[0], args[1], target, args[3], args[4])
        return True


def install(app: FastAPI) -> None:
    """Redact the access log for ``app``'s routes (call once all routers are included)."""
    redactor = Redactor(_routes(app))
    app.state.registro = redactor
    logger = logging.getLogger(ACCESS_LOGGER)
    for old in [f for f in logger.filters if isinstance(f, AccessLogFilter)]:  # another app built in this process
        logger.removeFilter(old)
    logger.addFilter(AccessLogFilter(redactor))
    errores = logging.getLogger(ERROR_LOGGER)
    if not any(isinstance(f, ErrorLogFilter) for f in errores.filters):
        errores.addFilter(ErrorLogFilter())


def logged_path(request: Request) -> str:
    """The request's path as any log line may name it (no query string)."""
    redactor = getattr(request.app.state, "registro", None)
    path = request.url.path
    if redactor is None:
        return _prefix(path) + "/…"
    return redactor.path(path) if redactor.institutional(path) else path


def error_report(request: Request, exc: BaseException) -> tuple[str, tuple, None]:
    """(message, args, exc_info) to log an unexpected error of ``request``: its type, its
    SQLSTATE, the route (as ``logged_path`` renders it) and the stack; never the
    exception's own text, on any route (a database error's detail quotes the offending row,
    ``Key (unidad_id)=(…)``; a KeyError its key; a planted note its name and cédula).
    ``exc_info`` is always None: the traceback module would print the text."""
    return (
        "error inesperado en %s: %s%s (texto omitido)\n%s",
        (logged_path(request), type(exc).__name__, _sqlstate(exc), _pila(exc)),
        None,
    )


def _sqlstate(exc: BaseException) -> str:
    state = getattr(exc, "sqlstate", None)
    return f" SQLSTATE {state}" if state else ""


def _pila(exc: BaseException) -> str:
    """The stack as file, line and function only: a frame's source line may be a template's
    text or quote a value, so it is left out as the exception's text is."""
    return "".join(f"  {f.filename}:{f.lineno} en {f.name}\n" for f in traceback.extract_tb(exc.__traceback__))


class ErrorLogFilter(logging.Filter):
    """On ``uvicorn.error``: a record with an exception (``Exception in ASGI application``)
    keeps its line, the exception's type and stack, never its text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.msg = f"{record.getMessage()}: {type(exc).__name__}{_sqlstate(exc)} (texto omitido)\n{_pila(exc)}"
            record.args, record.exc_info, record.exc_text = (), None, None
        return True
