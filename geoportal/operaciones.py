"""The use cases that change the figures: recompute (the country or one district) and publish.

Both doors call these functions: the CLI (``geoportal calcular``, ``geoportal publicar``)
and the API (a delivered contrarreferencia recomputes its district). So a change goes the
same way whoever asked for it:

1. under the writers' lock (``geoportal.publicacion.writers_lock``), one writer at a time;
2. between two snapshots of the live protected figures (``geoportal.alertas``): the
   "empeora" alerts compare the figures after this change with those right before it,
   whichever door triggered it;
3. followed, when a public release fell due, by the post-release hook ``al_publicar``
   (the map layers' legends and tile geometries, ``tiles.publicacion.preparar_publicacion``).
   The hook is passed in because the engine does not import the map service; its
   answer is returned as ``result["capas"]``.

Example::

    with connect() as conn:
        result = recompute_district(conn, "1116", al_publicar=preparar_publicacion)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import psycopg

from geoportal.alertas import record_snapshot
from geoportal.pipeline import EN_VIGOR, compute_all, compute_district
from geoportal.publicacion import publish, writers_lock

AlPublicar = Callable[[psycopg.Connection], dict]


def _changing(conn: psycopg.Connection, change: Callable[[], dict], al_publicar: AlPublicar | None) -> dict:
    with writers_lock(conn):
        record_snapshot(conn)  # the figures before, for the alerts' comparison
        result = change()
        record_snapshot(conn)
        if result.get("publicada") and al_publicar is not None:
            result["capas"] = al_publicar(conn)
    return result


def recompute_district(conn: psycopg.Connection, distrito: str, *, fecha_corte: date | None | str = EN_VIGOR,
                       al_publicar: AlPublicar | None = None) -> dict:
    """Incremental recompute of one 2022 district (``geoportal.pipeline.compute_district``), at
    the cut-off of the computation in force unless another is asked (then ``CorteDistinto``)."""
    return _changing(conn, lambda: compute_district(conn, distrito, fecha_corte=fecha_corte), al_publicar)


def recompute_country(conn: psycopg.Connection, *, fecha_corte: date | None = None, progress=None,
                      al_publicar: AlPublicar | None = None) -> dict:
    """The national computation and its public release (``geoportal.pipeline.compute_all``)."""
    return _changing(conn, lambda: compute_all(conn, fecha_corte=fecha_corte, progress=progress), al_publicar)


def publish_pending(conn: psycopg.Connection, *, forzar: bool = False, al_publicar: AlPublicar | None = None) -> dict:
    """A batched public release when one is due or ``forzar`` (``geoportal.publicacion.publish``)."""
    return _changing(conn, lambda: publish(conn, forzar=forzar), al_publicar)
