"""The anonymous, read-only wing: only protected figures, delivery points and territory.

Map layers and TileJSON (``capas``), OGC API Features (``ogc``), downloads
(``descargas``), indicators, profiles and search (``indicadores``), the service guide
(``servicios``), the viewer (``visor``), health (``estado``). Feature queries shared by
OGC and downloads: ``consultas``. Never imports ``api.institucional``.
"""
