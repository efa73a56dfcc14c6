"""Bulk transfer between pandas frames and PostgreSQL with COPY (never row by row).

Frames are written as CSV by pyarrow's multithreaded writer; empty cells are NULL,
so callers turn '' into None only where NULL is meant.
"""

from __future__ import annotations

import io

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

NUMERIC = {"lon": float, "lat": float, "capacidad": float, "ratio": float}
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
            chunk = pa.Table.from_pandas(frame.iloc[start:start + CHUNK_ROWS], preserve_index=False)
            pacsv.write_csv(chunk, buffer, options)
            copy.write(buffer.getbuffer())


def copy_out(conn: psycopg.Connection, query: str, params: tuple = ()) -> pd.DataFrame:
    """Run ``query`` through COPY ... TO STDOUT and parse it with pandas (fast for millions).

    Every column is text (codes keep their leading zeros) except the known numeric and
    boolean ones. ``query`` uses ``{}`` placeholders for ``params`` (bound as literals).
    """
    statement = sql.SQL(query).format(*map(sql.Literal, params)) if params else sql.SQL(query)
    buffer = io.BytesIO()
    with conn.cursor().copy(sql.SQL("COPY ({}) TO STDOUT (FORMAT csv, HEADER true)").format(statement)) as copy:
        for block in copy:
            buffer.write(block)
    buffer.seek(0)
    header = buffer.readline().decode().strip().split(",")
    buffer.seek(0)
    dtypes = {c: NUMERIC.get(c, str) for c in header}
    frame = pd.read_csv(buffer, dtype=dtypes, keep_default_na=False, na_values={c: [""] for c in NUMERIC})
    for column in BOOLEAN:
        if column in frame:
            frame[column] = frame[column].to_numpy() == "t"
    return frame
