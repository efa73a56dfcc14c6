"""The one router aggregator: every route of the API, in matching order. No route module
includes another; a new router is added here and nowhere else."""

from __future__ import annotations

from fastapi import APIRouter

from api.institucional import cifras, contrarreferencias, derivaciones, ingreso, paginas
from api.institucional import gabinete, seguimiento
from api.publico import capas, descargas, estado, indicadores, ogc, servicios, visor
from tiles import router as teselas

PUBLICOS = [capas.router, teselas.router, ogc.router, descargas.router, indicadores.router, servicios.router,
            visor.router, estado.router]
# Bulk contrarreferencias (POST /api/derivaciones/contrarreferencias) before the referral
# routes, whose /api/derivaciones/{derivacion_id} would otherwise be tried first.
INSTITUCIONALES = [ingreso.router, contrarreferencias.router, derivaciones.router, cifras.router, paginas.router,
                   seguimiento.router, gabinete.router]

router = APIRouter()
for _router in PUBLICOS + INSTITUCIONALES:
    router.include_router(_router)
