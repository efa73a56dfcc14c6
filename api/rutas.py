"""The one router aggregator: every route of the API, in matching order. No route module
includes another; a new router is added here and nowhere else."""

from __future__ import annotations

from fastapi import APIRouter

from api.institucional import cifras, contrarreferencias, derivaciones, gabinete, ingreso, paginas, planes, seguimiento
from api.publico import capas, descargas, estado, indicadores, ogc, servicios, superficies, visor
from tiles import router as teselas

PUBLICOS = [
    capas.router,
    teselas.router,
    ogc.router,
    descargas.router,
    indicadores.router,
    servicios.router,
    visor.router,
    estado.router,
    superficies.router,
]
# Bulk contrarreferencias (POST /api/derivaciones/contrarreferencias) before the referral
# routes, whose /api/derivaciones/{derivacion_id} would otherwise be tried first.
INSTITUCIONALES = [
    ingreso.router,
    contrarreferencias.router,
    derivaciones.router,
    cifras.router,
    paginas.router,
    seguimiento.router,
    gabinete.router,
    planes.router,
]

router = APIRouter()
for _router in PUBLICOS + INSTITUCIONALES:
    router.include_router(_router)
