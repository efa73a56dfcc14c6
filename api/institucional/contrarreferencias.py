"""Bulk contrarreferencias: an institution uploads a CSV (``POST /api/derivaciones/
contrarreferencias``, field ``archivo``) with columns ``derivacion_id, resultado, fecha``
and optionally ``punto_id, nota``.

It follows the ingest rules (``geoportal.ingest``): the file is read by the same reader
(UTF-8, BOM, CP1252; separators), is one batch in ``nominal.lote_ingesta`` and one
transaction; every row is applied, unchanged (that referral already has this outcome) or
quarantined in ``nominal.cuarentena`` with its reason; the same bytes from the same
institution again change nothing. Delivered rows write status events and each affected
district is recomputed once, as for a single contrarreferencia. RLS still applies: a
referral not addressed to the institution is quarantined as not found.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from datetime import date
from pathlib import Path

from fastapi import APIRouter, Depends, UploadFile
from fastapi.concurrency import run_in_threadpool

from api.base.errores import AccesoError
from api.base.registro import RutaInstitucional
from api.institucional.acceso import Sesion, audit, nominal_tx, require
from api.institucional.derivaciones import recompute
from geoportal.ingest.readers import FileError, read_table
from geoportal.usuarios import Rol

router = APIRouter(tags=["derivaciones"], route_class=RutaInstitucional)
RESULTS = ("entregada", "no_entregada", "no_localizada")
MAX_BYTES = 5 * 1024 * 1024


def _apply(sesion: Sesion, frame, sha: str, filename: str) -> dict:
    missing = {"derivacion_id", "resultado", "fecha"} - set(frame.columns)
    if missing:
        raise AccesoError(422, f"Faltan columnas: {', '.join(sorted(missing))}.")
    today = date.today()
    with nominal_tx(sesion) as conn:
        done = conn.execute("SELECT lote_id, filas_leidas, filas_nuevas, filas_sin_cambio, filas_cuarentena"
                            " FROM nominal.lote_ingesta WHERE tipo = 'contrarreferencias' AND sha256 = %s", (sha,)).fetchone()
        if done:
            return {"lote_id": done[0], "ya_cargado": True, "leidas": done[1], "nuevas": done[2], "sin_cambio": done[3],
                    "cuarentena": done[4], "motivos": {}, "recalculo": []}
        visible = {r[0]: r[1:] for r in conn.execute(
            "SELECT derivacion_id, estado, creada::date, unidad, unidad_id, servicio, distrito, punto_id"
            " FROM nominal.derivacion").fetchall()}
        applied, unchanged, quarantine, seen, districts = [], 0, [], {}, set()
        for i, row in enumerate(frame.to_dict("records"), start=1):
            reason = None
            try:
                ref_id = int(row["derivacion_id"])
            except ValueError:
                ref_id, reason = None, "derivacion_id no es un número"
            result = row["resultado"].strip().lower()
            try:
                when = date.fromisoformat(row["fecha"])
            except ValueError:
                when = None
            if reason:
                pass
            elif result not in RESULTS:
                reason = "resultado no válido (entregada, no_entregada, no_localizada)"
            elif when is None or when > today:
                reason = "fecha no válida o futura (AAAA-MM-DD)"
            elif ref_id not in visible:
                reason = "derivación inexistente o no dirigida a su institución"
            elif when < visible[ref_id][1]:
                reason = "fecha anterior a la derivación"
            elif ref_id in seen:
                reason = None if seen[ref_id] == result else "derivación repetida en el archivo con otro resultado"
                if reason is None:
                    unchanged += 1
                    continue
            elif visible[ref_id][0] != "referida":
                reason = None if visible[ref_id][0] == result else f"ya tiene contrarreferencia ({visible[ref_id][0]})"
                if reason is None:
                    unchanged += 1
                    continue
            if reason:
                quarantine.append((i, reason, row))
                continue
            seen[ref_id] = result
            _, _, unidad, unidad_id, servicio, distrito, punto = visible[ref_id]
            conn.execute(
                "INSERT INTO nominal.derivacion_estado (derivacion_id, estado, fecha, punto_id, nota, usuario, rol)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (ref_id, result, when, row.get("punto_id") or punto, (row.get("nota") or "")[:500],
                 sesion.usuario.nombre, sesion.rol))
            if result == "entregada":
                conn.execute("INSERT INTO nominal.estatus_evento (unidad, unidad_id, servicio, cubierto, fecha, fuente)"
                             " VALUES (%s, %s, %s, true, %s, %s)",
                             (unidad, unidad_id, servicio, when, f"contrarreferencia:{ref_id}"))
                districts.add(distrito)
            applied.append(ref_id)
        lote_id = conn.execute(
            "INSERT INTO nominal.lote_ingesta (tipo, archivo, sha256, filas_leidas, filas_nuevas, filas_actualizadas,"
            " filas_sin_cambio, filas_cuarentena) VALUES ('contrarreferencias', %s, %s, %s, %s, 0, %s, %s) RETURNING lote_id",
            (filename[:200], sha, len(frame), len(applied), unchanged, len(quarantine))).fetchone()[0]
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO nominal.cuarentena (lote_id, fila, motivo, detalle, datos) VALUES (%s, %s, %s, %s, %s)",
                            [(lote_id, i, reason, reason, json.dumps(row, ensure_ascii=False)) for i, reason, row in quarantine])
        motivos: dict[str, int] = {}
        for _, reason, _ in quarantine:
            motivos[reason] = motivos.get(reason, 0) + 1
        audit(conn, sesion, "contrarreferencias_csv", ",".join(sesion.usuario.distritos), len(applied), "seguimiento",
              lote_id=lote_id, derivaciones=applied)
    return {"lote_id": lote_id, "ya_cargado": False, "leidas": len(frame), "nuevas": len(applied), "sin_cambio": unchanged,
            "cuarentena": len(quarantine), "motivos": motivos,
            "recalculo": [recompute(d) for d in sorted(districts)]}


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
            frame = read_table(path)
        except FileError as exc:
            raise AccesoError(422, str(exc).replace(str(path), name)) from None
    # the same bytes from another institution are another batch
    sha = hashlib.sha256(sesion.usuario.institucion.encode() + b"\0" + data).hexdigest()
    return await run_in_threadpool(_apply, sesion, frame, sha, name)
