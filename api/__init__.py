"""The web face of the geoportal, in three wings:

- ``api.base``: shared plumbing (settings, pools, errors, access log, pages, CSV);
- ``api.publico``: the anonymous, read-only routes (protected figures only);
- ``api.institucional``: the role-gated routes (sessions, referrals, live figures).

``api.rutas`` includes every router (the one aggregator); ``api.app`` builds the
application (lifespan, error handlers, access-log redaction). The public wing never
imports the institutional one (import-linter contracts in ``pyproject.toml``).
"""
