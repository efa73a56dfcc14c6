"""Bulk contrarreferencias: an institution uploads a CSV (``POST /api/derivaciones/
contrarreferencias``, field ``archivo``) with columns ``derivacion_id, resultado, fecha``
and optionally ``punto_id, nota`` (docs/FORMATOS.md).

It follows the ingest rules (``geoportal.ingest``): the file is read by the same reader
(UTF-8, BOM, CP1252; separators), is one batch in ``nominal.lote_ingesta`` and one
transaction. **Every row read is counted**: applied, unchanged (that referral already has
this outcome) or quarantined in ``nominal.cuarentena`` with a reason code
(``geoportal.ingest.contrarreferencias.MOTIVOS``: ``fila_mal_formada``,
``caracteres_invalidos``, ``ya_tiene_contrarreferencia``...), so ``leidas = nuevas +
sin_cambio + cuarentena``. A file of mostly invalid rows is refused whole (422, nothing
written; ``refusal``). The same bytes from the same institution again change nothing.
Delivered rows write status events and mark each affected district pending once (the
background worker recomputes it, as for a single contrarreferencia). RLS still applies: a
referral not addressed to the institution is quarantined as not found.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections import Counter
from datetime import date
from pathlib import Path

import psycopg
from fastapi import APIRouter, Depends, UploadFile
from fastapi.concurrency import run_in_threadpool

from api.base.errores import AccesoError
from api.base.registro import RutaInstitucional
from api.institucional.acceso import Sesion, audit, nominal_tx, require
from api.institucional.derivaciones import mark_pending
from geoportal.catalog import default_catalog
from geoportal.ingest import contrarreferencias as cr
from geoportal.ingest.readers import FileError, Reading, read_rows
from geoportal.usuarios import Rol

router = APIRouter(tags=["derivaciones"], route_class=RutaInstitucional)
MAX_BYTES = 5 * 1024 * 1024


def _punto_ok(conn, punto_id: str, servicio: str, cache: dict) -> bool:
    """As the single route: the point exists and is of the type the service is delivered at."""
    if (punto_id, servicio) not in cache:
        tipo = default_catalog().servicio(servicio).punto_tipo
        found = conn.execute("SELECT tipo FROM oferta.punto_entrega WHERE punto_id = %s", (punto_id,)).fetchone()
        cache[(punto_id, servicio)] = found is not None and (not tipo or found[0] == tipo)
    return cache[(punto_id, servicio)]


def _apply(sesion: Sesion, reading: Reading, sha: str, filename: str) -> dict:
    frame = reading.frame
    missing = set(cr.COLUMNS) - set(frame.columns)
    if missing:
        raise AccesoError(422, f"Faltan columnas: {', '.join(sorted(missing))}.")
    rows, checked = cr.check_rows(frame, date.today())
    numbers = reading.row_numbers()
    with nominal_tx(sesion) as conn:
        done = conn.execute(
            "SELECT lote_id, filas_leidas, filas_nuevas, filas_sin_cambio, filas_cuarentena"
            " FROM nominal.lote_ingesta WHERE tipo = 'contrarreferencias' AND sha256 = %s",
            (sha,),
        ).fetchone()
        if done:
            return {
                "lote_id": done[0],
                "ya_cargado": True,
                "leidas": done[1],
                "nuevas": done[2],
                "sin_cambio": done[3],
                "cuarentena": done[4],
                "motivos": {},
                "actualizando": False,
                "recalculo": [],
            }
        visible = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT derivacion_id, estado, creada::date, unidad, unidad_id, servicio, distrito, punto_id"
                " FROM nominal.derivacion"
            ).fetchall()
        }
        # (file row, code, detail, raw row) of every quarantined row; malformed ones first
        quarantine = [(m.fila, "fila_mal_formada", m.detalle, {"texto": m.texto[:2000]}) for m in reading.malformed]
        todo, unchanged, seen, points = [], 0, {}, {}
        for i, row in enumerate(rows.itertuples(index=False)):
            reason = None if checked.ok[i] else checked.motivo[i]
            ref = visible.get(row.derivacion_id) if reason is None else None
            if reason is None and ref is None:
                reason = "derivacion_inexistente"
            elif reason is None and row.fecha < ref[1]:
                reason = "fecha_anterior_a_la_derivacion"
            elif reason is None and row.punto_id and not _punto_ok(conn, row.punto_id, ref[4], points):
                reason = "punto_invalido"
            elif reason is None and row.derivacion_id in seen:
                if seen[row.derivacion_id] == row.resultado:
                    unchanged += 1
                    continue
                reason = "repetida_con_otro_resultado"
            elif reason is None and ref[0] != "referida":
                if ref[0] == row.resultado:
                    unchanged += 1
                    continue
                reason = "ya_tiene_contrarreferencia"
            if reason is not None:
                detail = checked.detalle[i] if not checked.ok[i] else cr.MOTIVOS[reason]
                quarantine.append((int(numbers[i]), reason, detail, frame.iloc[i].to_dict()))
                continue
            seen[row.derivacion_id] = row.resultado
            todo.append((int(numbers[i]), row, ref, frame.iloc[i].to_dict()))
        refused = cr.refusal(len(quarantine), reading.rows)
        if refused:
            raise AccesoError(422, refused)
        applied, districts = [], set()
        for fila, row, ref, raw in todo:
            _, _, unidad, unidad_id, servicio, distrito, punto = ref
            try:
                with conn.transaction():  # a savepoint: one row refused by the database is one row
                    conn.execute(
                        "INSERT INTO nominal.derivacion_estado (derivacion_id, estado, fecha, punto_id, nota, usuario, rol)"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                        (
                            row.derivacion_id,
                            row.resultado,
                            row.fecha,
                            row.punto_id or punto,
                            row.nota,
                            sesion.usuario.nombre,
                            sesion.rol,
                        ),
                    )
                    if row.resultado == "entregada":
                        conn.execute(
                            "INSERT INTO nominal.estatus_evento (unidad, unidad_id, servicio, cubierto, fecha, fuente)"
                            " VALUES (%s, %s, %s, true, %s, %s)",
                            (unidad, unidad_id, servicio, row.fecha, f"contrarreferencia:{row.derivacion_id}"),
                        )
            except psycopg.Error as exc:
                if exc.sqlstate != "GP409":  # closed meanwhile by another upload or the form
                    raise
                quarantine.append((fila, "ya_tiene_contrarreferencia", cr.MOTIVOS["ya_tiene_contrarreferencia"], raw))
                continue
            if row.resultado == "entregada":
                districts.add(distrito)
            applied.append(row.derivacion_id)
        lote_id = conn.execute(
            "INSERT INTO nominal.lote_ingesta (tipo, archivo, sha256, filas_leidas, filas_nuevas, filas_actualizadas,"
            " filas_sin_cambio, filas_cuarentena) VALUES ('contrarreferencias', %s, %s, %s, %s, 0, %s, %s) RETURNING lote_id",
            (filename[:200], sha, reading.rows, len(applied), unchanged, len(quarantine)),
        ).fetchone()[0]
        quarantine.sort(key=lambda q: q[0])
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO nominal.cuarentena (lote_id, fila, motivo, detalle, datos) VALUES (%s, %s, %s, %s, %s)",
                [
                    (lote_id, fila, code, detail, json.dumps(_storable(raw), ensure_ascii=False))
                    for fila, code, detail, raw in quarantine
                ],
            )
        motivos = dict(sorted(Counter(code for _, code, _, _ in quarantine).items()))
        pending = [mark_pending(conn, d) for d in sorted(districts)]
        audit(
            conn,
            sesion,
            "contrarreferencias_csv",
            ",".join(sesion.usuario.distritos),
            len(applied),
            "seguimiento",
            lote_id=lote_id,
            derivaciones=applied,
        )
    return {
        "lote_id": lote_id,
        "ya_cargado": False,
        "leidas": reading.rows,
        "nuevas": len(applied),
        "sin_cambio": unchanged,
        "cuarentena": len(quarantine),
        "motivos": motivos,
        "actualizando": bool(pending),
        "recalculo": pending,
    }


def _storable(raw: dict) -> dict:
    """A quarantined row as stored: text PostgreSQL can hold (no NUL), over-long values cut."""
    return {str(k): str(v).replace("\x00", "")[:2000] for k, v in raw.items()}


@router.post("/api/derivaciones/contrarreferencias")
async def bulk_counter_referrals(archivo: UploadFile, sesion: Sesion = Depends(require(Rol.INSTITUCION))) -> dict:
    """Contrarreferencias by CSV: applied, unchanged or quarantined row by row; idempotent."""
    data = await archivo.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise AccesoError(422, "El archivo supera 5 MB; divídalo en partes.")
    name = Path(archivo.filename or "contrarreferencias.csv").name
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("archivo" + (Path(name).suffix.lower() or ".csv"))
        path.write_bytes(data)
        try:
            reading = await run_in_threadpool(read_rows, path)
        except FileError as exc:
            raise AccesoError(422, str(exc).replace(str(path), name).replace(path.name, name)) from None
    # the same bytes from another institution are another batch
    sha = hashlib.sha256(sesion.usuario.institucion.encode() + b"\0" + data).hexdigest()
    return await run_in_threadpool(_apply, sesion, reading, sha, name)
