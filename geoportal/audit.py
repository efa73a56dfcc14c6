"""The audit log of nominal access (``nominal.auditoria``).

Every read or write of nominal data (persons, households, referrals) by a person or a
batch process leaves one row: who, in which role, what, on which territory. The row is
written in the same transaction as the access it records, so one cannot happen without
the other.
"""

from __future__ import annotations

import getpass
import json

import psycopg


def log_access(
    conn: psycopg.Connection,
    accion: str,
    territorio: str | None = None,
    detalle: dict | None = None,
    usuario: str | None = None,
    rol: str = "sistema",
) -> None:
    conn.execute(
        "INSERT INTO nominal.auditoria (usuario, rol, accion, territorio, detalle) VALUES (%s, %s, %s, %s, %s)",
        (usuario or getpass.getuser(), rol, accion, territorio, json.dumps(detalle or {}, ensure_ascii=False)),
    )
