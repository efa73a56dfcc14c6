"""The institutional, role-gated wing: login and sessions (``ingreso``), the one module
that checks the role, scopes the territory and writes the audit log (``acceso``), the
referral cycle (``derivaciones``, ``contrarreferencias``), live protected figures, alerts
and exact information loss (``cifras``), and the Mesa's and the institution's pages
(``paginas``).

Every router here is built with ``route_class=RutaInstitucional``, so its paths are
logged redacted (``api.base.registro``).
"""
