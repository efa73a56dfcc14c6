"""Bulk transfer between pandas frames and PostgreSQL with COPY (never row by row).

Frames are written as CSV by pyarrow's multithreaded writer; empty cells are NULL,
so callers turn '' into None only where NULL is meant.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql
from psycopg.pq import TransactionStatus

NUMERIC = {"lon": float, "lat": float, "capacidad": float, "ratio": float}
INTEGER = ("h3_8",)
BOOLEAN = ("embarazada", "discapacidad", "indigena", "cubierto")
CHUNK_ROWS = 1_000_000


def copy_in(cur: psycopg.Cursor, table: str, frame: pd.DataFrame) -> None:
    """COPY ``frame`` into ``table`` (schema-qualified name, trusted) by column name."""
    columns = sql.SQL(", ").join(map(sql.Identifier, frame.columns))
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(sql.SQL(table), columns)
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    with cur.copy(statement) as copy:
        for start in range(0, len(frame), CHUNK_ROWS):
            buffer = io.BytesIO()
            chunk = pa.Table.from_pandas(frame.iloc[start : start + CHUNK_ROWS], preserve_index=False)
            pacsv.write_csv(chunk, buffer, options)
            copy.write(buffer.getbuffer())


def copy_out(conn: psycopg.Connection, query: str, params: tuple = (), typed: bool = False) -> pd.DataFrame:
    """Run ``query`` through COPY ... TO STDOUT and parse it with Arrow (fast for millions).

    Every column is text (codes keep their leading zeros) except the known numeric and
    boolean ones; ``typed`` (for the wide tables of figures) takes each column's type
    from the query's own result types instead (integers, floats, booleans, text).
    ``query`` uses ``{}`` placeholders for ``params`` (bound as literals).
    psycopg hands a COPY TO over one row per Python call; when ``psql`` is installed and
    ``conn`` holds no open transaction (so a second session sees the same data), psql
    streams it instead, several times faster at national scale.
    """
    statement = sql.SQL(query).format(*map(sql.Literal, params)) if params else sql.SQL(query)
    result_types = _result_types(conn, statement) if typed else None
    copy_sql = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv, HEADER true)").format(statement).as_string(conn)
    psql = shutil.which("psql")
    if psql and conn.info.transaction_status == TransactionStatus.IDLE:
        info = conn.info
        env = {**os.environ, "PGPASSWORD": info.password or "", "PGCONNECT_TIMEOUT": "10"}
        args = [
            psql,
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            info.host,
            "-p",
            str(info.port),
            "-U",
            info.user,
            "-d",
            info.dbname,
            "-c",
            copy_sql,
        ]
        done = subprocess.run(args, capture_output=True, env=env, check=False)
        if done.returncode != 0:
            raise psycopg.OperationalError(done.stderr.decode(errors="replace").strip())
        data = done.stdout
    else:
        buffer = io.BytesIO()
        with conn.cursor().copy(copy_sql) as copy:
            for block in copy:
                buffer.write(block)
        data = buffer.getvalue()
    types = result_types
    if types is None:
        header = data[: data.find(b"\n")].decode().split(",")
        types = {
            c: pa.float64()
            if c in NUMERIC
            else pa.bool_()
            if c in BOOLEAN
            else pa.int64()
            if c in INTEGER
            else pa.string()
            for c in header
        }
    # Typed reads keep NULL text as None (codes are never empty); the others keep '' as ''.
    table = pacsv.read_csv(
        io.BytesIO(data),
        convert_options=pacsv.ConvertOptions(
            column_types=types,
            strings_can_be_null=typed,
            quoted_strings_can_be_null=False,
            true_values=["t", "true"],
            false_values=["f", "false"],
        ),
    )
    return table.to_pandas()


PG_TO_ARROW = {
    "int2": pa.int64(),
    "int4": pa.int64(),
    "int8": pa.int64(),
    "float4": pa.float64(),
    "float8": pa.float64(),
    "numeric": pa.float64(),
    "bool": pa.bool_(),
}


def _result_types(conn: psycopg.Connection, statement: sql.Composable) -> dict[str, pa.DataType]:
    """Arrow type of each result column of ``statement`` (LIMIT 0: planned, no rows read)."""
    idle = conn.info.transaction_status == TransactionStatus.IDLE
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT * FROM ({}) t LIMIT 0").format(statement))
        description = cur.description
    if idle:
        conn.rollback()  # leave no transaction open (the psql path needs an idle connection)
    out = {}
    for d in description:
        info = conn.adapters.types.get(d.type_code)
        out[d.name] = PG_TO_ARROW.get(info.name if info else "", pa.string())
    return out


def connect_like(conn: psycopg.Connection) -> psycopg.Connection:
    """A new connection to the same database as ``conn``, with the same credentials."""
    params = conn.info.get_parameters()
    if conn.info.password:
        params["password"] = conn.info.password
    return psycopg.connect(**params)
