"""Geoportal del Sistema de Protección Social «Vamos!» (Paraguay).

The data flows one way: ``ingest`` -> nominal tables -> ``coverage`` -> ``aggregate``
(+ ``disclosure``) -> public tables -> ``tiles`` / ``api`` -> web.
"""

__version__ = "0.1.0"
