"""Shared plumbing of the web: settings (``ajustes``), database pools (``conexiones``),
the error family (``errores``), the access log (``registro``), HTML pages
(``plantilla``), the CSV writer (``hojas``) and what is published (``publicado``).

Imports neither wing (``api.publico``, ``api.institucional``).
"""
