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

4. clearing the "district pending" markers it covers (``calculo.distrito_pendiente``,
   migration 0012): a district update its own, a national computation every marker read
   before it started, a publication recomputes the pending districts first.

A delivered contrarreferencia does not recompute inside the request: it records its event
and marks the district pending in one transaction and answers at once. The API's
background worker (``atender_pendientes``, started by the app's lifespan) then runs
``drain_pending``: each pending district once, however many events wait on it. A marker
is deleted only if no event came after the recompute read it, so nothing is lost between
two drains, and it outlives any crash: start-up drains what a killed process left.

Example::

    with connect() as conn:
        result = recompute_district(conn, "1116", al_publicar=preparar_publicacion)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import date

import psycopg

from geoportal.actualizacion import compute_district
from geoportal.alertas import record_snapshot
from geoportal.pipeline import EN_VIGOR, compute_all
from geoportal.publicacion import publish, writers_lock

AlPublicar = Callable[[psycopg.Connection], dict]
CANAL = "geoportal_distrito_pendiente"  # NOTIFY channel of nominal.marcar_distrito_pendiente
TODOS = None  # markers covered: every one
log = logging.getLogger("geoportal.operaciones")


def _markers(conn: psycopg.Connection, distritos: list[str] | None) -> list[tuple[str, int]]:
    """(district, marca) of the pending markers a change covers, read before it reads the data."""
    if distritos is TODOS:
        return conn.execute("SELECT distrito, marca FROM calculo.distrito_pendiente ORDER BY distrito").fetchall()
    return conn.execute(
        "SELECT distrito, marca FROM calculo.distrito_pendiente WHERE distrito = ANY(%s) ORDER BY distrito",
        (list(distritos),),
    ).fetchall()


def _clear(conn: psycopg.Connection, markers: list[tuple[str, int]]) -> None:
    """Delete the markers the change covered, unless an event came since (marca moved on)."""
    with conn.cursor() as cur:
        cur.executemany("DELETE FROM calculo.distrito_pendiente WHERE distrito = %s AND marca = %s", markers)
    conn.commit()


def _changing(
    conn: psycopg.Connection,
    change: Callable[[], dict],
    al_publicar: AlPublicar | None,
    cubre: list[str] | None,
    solo_si_pendiente: bool = False,
) -> dict:
    with writers_lock(conn):
        markers = _markers(conn, cubre)
        if solo_si_pendiente and not markers:  # another drain (or `calcular`) did it meanwhile
            conn.commit()
            return {"omitido": True}
        record_snapshot(conn)  # the figures before, for the alerts' comparison
        result = change()
        record_snapshot(conn)
        _clear(conn, markers)
        if result.get("publicada") and al_publicar is not None:
            result["capas"] = al_publicar(conn)
    return result


def recompute_district(
    conn: psycopg.Connection,
    distrito: str,
    *,
    fecha_corte: date | None | str = EN_VIGOR,
    al_publicar: AlPublicar | None = None,
    solo_si_pendiente: bool = False,
) -> dict:
    """Incremental recompute of one 2022 district (``geoportal.actualizacion.compute_district``), at
    the cut-off of the computation in force unless another is asked (then ``CorteDistinto``).
    ``solo_si_pendiente``: only if the district is still marked pending (the worker's drain)."""
    return _changing(
        conn,
        lambda: compute_district(conn, distrito, fecha_corte=fecha_corte),
        al_publicar,
        [distrito],
        solo_si_pendiente,
    )


def recompute_country(
    conn: psycopg.Connection, *, fecha_corte: date | None = None, progress=None, al_publicar: AlPublicar | None = None
) -> dict:
    """The national computation and its public release (``geoportal.pipeline.compute_all``)."""
    return _changing(conn, lambda: compute_all(conn, fecha_corte=fecha_corte, progress=progress), al_publicar, TODOS)


def publish_pending(conn: psycopg.Connection, *, forzar: bool = False, al_publicar: AlPublicar | None = None) -> dict:
    """A batched public release when one is due or ``forzar`` (``geoportal.publicacion.publish``),
    after recomputing the districts still pending (so the release carries every event)."""

    def change() -> dict:
        failed = []
        for (distrito,) in conn.execute("SELECT distrito FROM calculo.distrito_pendiente ORDER BY distrito").fetchall():
            try:
                compute_district(conn, distrito)
            except Exception as exc:
                if conn.broken:
                    raise
                conn.rollback()
                _failed(conn, distrito, exc)
                failed.append(distrito)
        result = publish(conn, forzar=forzar)
        return {**result, "pendientes_fallidos": failed} if failed else result

    return _changing(conn, change, al_publicar, TODOS)


def _failed(conn: psycopg.Connection, distrito: str, exc: Exception) -> None:
    """Keep the marker, back off (2, 4, ... up to 60 minutes) and say why (the class, no data)."""
    conn.execute(
        "UPDATE calculo.distrito_pendiente SET intentos = intentos + 1, error = %s,"
        " reintentar = now() + make_interval(mins => least(power(2, intentos + 1), 60)::int) WHERE distrito = %s",
        (type(exc).__name__, distrito),
    )
    conn.commit()
    log.warning("recálculo pendiente del distrito %s falló (%s); se reintentará", distrito, type(exc).__name__)


# ----------------------------------------------------------------------------- pending districts
def drain_pending(conn: psycopg.Connection, *, al_publicar: AlPublicar | None = None) -> list[dict]:
    """Recompute every district marked pending (and due), once each: the background worker's
    step, also callable by hand. Returns one entry per district tried."""
    due = [
        d
        for (d,) in conn.execute(
            "SELECT distrito FROM calculo.distrito_pendiente WHERE reintentar <= now() ORDER BY desde, distrito"
        ).fetchall()
    ]
    conn.commit()
    done = []
    for distrito in due:
        try:
            result = recompute_district(conn, distrito, al_publicar=al_publicar, solo_si_pendiente=True)
        except Exception as exc:
            if conn.broken:
                raise
            conn.rollback()
            _failed(conn, distrito, exc)
            result = {"error": type(exc).__name__}
        done.append({"distrito": distrito, **result})
    return done


def _drain_on_own_connection(url: str, al_publicar: AlPublicar | None) -> list[dict]:
    with psycopg.connect(url, connect_timeout=10) as conn:
        return drain_pending(conn, al_publicar=al_publicar)


async def atender_pendientes(url: str, *, al_publicar: AlPublicar | None = None, intervalo: float = 30.0) -> None:
    """The background worker of an API process (an asyncio task of the app's lifespan): drain
    at start-up (what a killed process left), then whenever a district is marked pending
    (LISTEN on ``CANAL``, delivered at the event's commit) and every ``intervalo`` seconds.
    The recompute runs in a thread: the event loop never blocks. Several API processes may
    each run one: the writers' lock and the markers make the second one a no-op."""
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=10) as escucha:
                await escucha.execute(f"LISTEN {CANAL}")
                while True:
                    await asyncio.to_thread(_drain_on_own_connection, url, al_publicar)
                    async for _ in escucha.notifies(timeout=intervalo, stop_after=1):
                        pass
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 -- database down or restarting: try again later
            log.warning("recálculos pendientes: %s; nuevo intento en %.0f s", type(exc).__name__, intervalo)
            await asyncio.sleep(intervalo)
