"""Bulk transfer between pandas frames and PostgreSQL with COPY (never row by row).

Reads on an idle connection go through ADBC (``adbc-driver-postgresql``): a binary COPY
straight into Arrow, on a second session of the same role (it sees what ``conn`` sees
when ``conn`` holds no open transaction). Reads inside a transaction (temporary tables,
uncommitted rows, a role's session settings) go through ``conn`` itself, as CSV parsed
by Arrow. Either way each column comes out with the same type (``conform``).
Frames are written as CSV by pyarrow's multithreaded writer (``copy_in``, inside the
caller's transaction: empty cells are NULL, so callers turn '' into None only where NULL
is meant) or as binary COPY encoded by numpy (``copy_binary``, ``ingest``: the wide
tables of figures, where NULL is None or NaN and '' stays '').
"""

from __future__ import annotations

import contextlib
import io
import itertools
import threading

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.pq import TransactionStatus

NUMERIC = {"lon": float, "lat": float, "capacidad": float, "ratio": float}
INTEGER = ("h3_8", "huella")
BOOLEAN = ("embarazada", "discapacidad", "indigena", "cubierto")
CHUNK_ROWS = 1_000_000
SMALL = 10_000  # rows: a small frame goes to Arrow a block of columns at a time (``_small_table``)


def copy_in(cur: psycopg.Cursor, table: str, frame: pd.DataFrame) -> None:
    """COPY ``frame`` into ``table`` (schema-qualified name, trusted) by column name."""
    columns = sql.SQL(", ").join(map(sql.Identifier, frame.columns))
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(sql.SQL(table), columns)
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    with cur.copy(statement) as copy:
        for start in range(0, len(frame), CHUNK_ROWS):
            buffer = io.BytesIO()
            chunk = frame.iloc[start : start + CHUNK_ROWS]
            if len(chunk) < SMALL:
                chunk = _small_table(chunk)
            else:
                chunk = pa.Table.from_pandas(chunk, preserve_index=False)
            pacsv.write_csv(chunk, buffer, options)
            copy.write(buffer.getbuffer())


def _small_table(frame: pd.DataFrame) -> pa.Table:
    """``pa.Table.from_pandas(frame)`` (the same values and types, no pandas metadata) for a
    few rows of a wide frame: pandas' conversion costs ~40 µs per column whatever the
    rows (15 ms for the few rows of 400 columns a district update writes); here the rows
    come out as Python values in one pass, and each column is typed as its dtype says."""
    values = frame.to_numpy(dtype=object)
    arrays = []
    for j, dtype in enumerate(frame.dtypes):
        numeric = getattr(dtype, "numpy_dtype", dtype)  # a nullable dtype's NumPy one
        if isinstance(numeric, np.dtype) and numeric.kind in "biuf":
            arrays.append(pa.array(values[:, j], type=pa.from_numpy_dtype(numeric), from_pandas=True))
        else:
            arrays.append(pa.array(frame.iloc[:, j], from_pandas=True))
    return pa.Table.from_arrays(arrays, names=[str(c) for c in frame.columns])


def conninfo(conn: psycopg.Connection) -> str:
    """libpq connection string of ``conn``'s database and role (password included)."""
    params = conn.info.get_parameters()
    if conn.info.password:
        params["password"] = conn.info.password
    return make_conninfo(**params)


def adbc_connect(conn: psycopg.Connection):
    """An ADBC connection to the same database as ``conn``, with the same credentials."""
    import adbc_driver_postgresql.dbapi as adbc

    return adbc.connect(conninfo(conn))


def copy_out(
    conn: psycopg.Connection, query: str, params: tuple = (), typed: bool = False, apart: bool = False
) -> pd.DataFrame:
    """Run ``query`` and return its rows as a frame (fast for millions).

    Every column is text (codes keep their leading zeros) except the known numeric and
    boolean ones; ``typed`` (for the wide tables of figures) takes each column's type
    from the query's own result types instead (integers, floats, booleans, text).
    ``query`` uses ``{}`` placeholders for ``params`` (bound as literals).
    On an idle ``conn`` the rows come by binary COPY through ADBC, else through ``conn``;
    ``apart`` takes the binary path inside a transaction too, for a caller whose
    transaction has written nothing and set nothing the read depends on (a second session
    of the same role then sees what ``conn`` sees, up to commits since its snapshot).
    """
    statement = sql.SQL(query).format(*map(sql.Literal, params)) if params else sql.SQL(query)
    if apart or conn.info.transaction_status == TransactionStatus.IDLE:
        conformed = conform(_read_arrow(conn, statement.as_string(conn)), typed)
        if conformed is not None:
            return conformed.to_pandas(split_blocks=True, self_destruct=True)  # frees Arrow memory as it goes
    return _copy_out_csv(conn, statement, typed)


# ADBC sessions kept open by ``binary_session`` blocks, by (psycopg connection, thread).
# Opening one reads PostgreSQL's type catalogue (tenths of a second): a district update
# reads several times and cannot pay it each time.
_KEPT: dict[tuple[int, int], object] = {}
_KEPT_LOCK = threading.Lock()


@contextlib.contextmanager
def binary_session(conn: psycopg.Connection):
    """Within the block, this thread's binary reads and writes on ``conn`` share one ADBC
    session, closed at the block's end (outside a block each opens and closes its own)."""
    key = (id(conn), threading.get_ident())
    with _KEPT_LOCK:
        if key in _KEPT:  # nested: the outer block owns it
            yield
            return
        _KEPT[key] = None
    try:
        yield
    finally:
        with _KEPT_LOCK:
            session = _KEPT.pop(key, None)
        if session is not None:
            _discard(session)


def _session(conn: psycopg.Connection):
    key = (id(conn), threading.get_ident())
    with _KEPT_LOCK:
        session = _KEPT.get(key)
    return session if session is not None else adbc_connect(conn)


def _release(conn: psycopg.Connection, session) -> None:
    key = (id(conn), threading.get_ident())
    with _KEPT_LOCK:
        if key in _KEPT:
            _KEPT[key] = session
            return
    _discard(session)


def _forget(conn: psycopg.Connection, session) -> None:
    """A session that failed is closed, and not reused."""
    key = (id(conn), threading.get_ident())
    with _KEPT_LOCK:
        if _KEPT.get(key) is session:
            _KEPT[key] = None
    _discard(session)


def _discard(session) -> None:
    with contextlib.suppress(Exception):
        session.close()


def _read_arrow(conn: psycopg.Connection, text: str) -> pa.Table:
    """Rows of ``text`` by binary COPY on an ADBC session of ``conn``'s role and database."""
    session = _session(conn)
    try:
        with session.cursor() as cur:
            cur.execute(text)
            table = cur.fetch_arrow_table()
        session.rollback()  # no snapshot held between reads
    except Exception:
        _forget(conn, session)
        raise
    _release(conn, session)
    return table


def ingest(conn: psycopg.Connection, table: str, frame: pd.DataFrame, before: tuple = (), after: tuple = ()) -> int:
    """Binary COPY of ``frame`` into ``table`` ("schema.name", trusted), by column name, on
    ``conn`` (idle), in one transaction with the SQL statements ``before`` (creating the
    table there, say: with ``wal_level = minimal`` a table filled in the transaction that
    created it writes no WAL) and ``after``; returns the rows written."""
    with conn.transaction(), conn.cursor() as cur:
        for statement in before:
            cur.execute(statement)
        copy_binary(cur, table, frame)
        for statement in after:
            cur.execute(statement)
    return len(frame)


# PostgreSQL's binary COPY: a header, then per row the number of fields and each field as
# its length (-1: NULL) and its bytes in network order; a trailer.
_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_TRAILER = (-1).to_bytes(2, "big", signed=True)
_FIXED = {
    "integer": ">i4",
    "bigint": ">i8",
    "smallint": ">i2",
    "double precision": ">f8",
    "real": ">f4",
    "boolean": "u1",
}
_BLOCK_ROWS = 20_000  # rows encoded at a time (the encoding of a wide table is as large as the table)


def copy_binary(cur: psycopg.Cursor, table: str, frame: pd.DataFrame) -> None:
    """COPY ``frame`` into ``table`` (schema-qualified, trusted) in PostgreSQL's binary
    format, encoded column by column with numpy (a wide table of figures has tens of
    millions of fields: per-field encoding costs seconds). Text, integer, real, boolean and
    geometry (EWKB bytes) columns; NULL where pandas has None or NaN; each value cast to the column's type."""
    cur.execute(
        "SELECT attname::text, format_type(atttypid, NULL) FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
        (table,),
    )
    types = dict(cur.fetchall())
    columns = sql.SQL(", ").join(map(sql.Identifier, frame.columns))
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(sql.SQL(table), columns)
    with cur.copy(statement) as copy:
        copy.write(_HEADER)
        for start in range(0, len(frame), _BLOCK_ROWS):
            block = frame.iloc[start : start + _BLOCK_ROWS]
            for encoded in _encode(block, [types[c] for c in frame.columns]):
                copy.write(encoded)
        copy.write(_TRAILER)


def _field(values, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Each row's byte length (-1: NULL) and the values: in the column's big-endian type,
    or for text as fixed-width bytes of the longest value."""
    arr = pa.array(values, from_pandas=True)
    valid = None if arr.null_count == 0 else arr.is_valid().to_numpy(zero_copy_only=False)
    if kind in _FIXED:
        dtype = np.dtype(_FIXED[kind])
        if kind == "boolean":
            out = arr.cast(pa.bool_()).fill_null(False).to_numpy(zero_copy_only=False).astype(dtype)
        else:
            out = arr.fill_null(0).to_numpy(zero_copy_only=False)
            if dtype.kind == "i" and out.dtype.kind == "f":
                out = np.rint(out)
            out = out.astype(dtype)
        lengths = np.full(len(arr), dtype.itemsize, np.int32)
    elif kind in ("text", "geometry"):  # a geometry as its EWKB bytes (PostGIS's binary form)
        arr = arr.cast(pa.binary()) if kind == "geometry" else arr.cast(pa.string()).cast(pa.binary())
        lengths = pc.binary_length(arr).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int32)
        widest = max(int(lengths.max(initial=0)), 1)
        out = np.asarray(arr.fill_null(b"").to_numpy(zero_copy_only=False), dtype=f"S{widest}")
    else:
        raise ValueError(f"copy_binary: columna de tipo {kind} no admitida")
    if valid is not None:
        lengths = np.where(valid, lengths, -1).astype(np.int32)
    return lengths, out


def _encode(frame: pd.DataFrame, kinds: list[str]):
    """The rows of ``frame`` in binary COPY format, a bytes object per layout: rows whose
    fields have the same lengths are laid out as one numpy record array."""
    fields = [_field(frame[c].array, k) for c, k in zip(frame.columns, kinds, strict=True)]
    varying = [j for j, (lengths, _) in enumerate(fields) if lengths.min(initial=0) != lengths.max(initial=0)]
    lengths = np.ascontiguousarray(
        np.column_stack([fields[j][0] for j in varying]) if varying else np.zeros((len(frame), 0))
    )
    layout, _ = pd.factorize(np.fromiter((row.tobytes() for row in lengths), dtype=object, count=len(frame)))
    order = np.argsort(layout, kind="stable")
    bounds = np.r_[0, np.flatnonzero(np.diff(layout[order])) + 1, len(frame)]
    for start, end in itertools.pairwise(bounds):
        rows = order[start:end]
        if not len(rows):
            continue
        spec, parts = [("n", ">i2")], {"n": len(fields)}
        for j, (lengths, values) in enumerate(fields):
            size = int(lengths[rows[0]])
            spec.append((f"l{j}", ">i4"))
            parts[f"l{j}"] = size
            if size > 0:
                spec.append((f"v{j}", values.dtype if values.dtype.kind != "S" else f"S{size}"))
                parts[f"v{j}"] = values[rows]
        record = np.empty(len(rows), dtype=np.dtype(spec))
        for name, value in parts.items():
            record[name] = value
        yield record.tobytes()


_INTEGERS = (pa.int16(), pa.int32(), pa.int64())


def conform(table: pa.Table, typed: bool) -> pa.Table | None:
    """The column types the CSV read gives (None: a column type it cannot match)."""
    columns = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind = column.type
        if isinstance(kind, pa.ExtensionType):  # numeric (text storage) and other PostgreSQL types
            if kind.extension_name != "arrow.opaque" or kind.type_name != "numeric":
                return None
            column = pa.chunked_array([c.storage for c in column.chunks], type=kind.storage_type)
            kind = pa.float64() if typed or name in NUMERIC else pa.string()
            columns.append(column.cast(kind))
            continue
        if typed:
            target = (
                pa.int64()
                if kind in _INTEGERS
                else pa.float64()
                if kind == pa.float64()
                else kind
                if kind in (pa.bool_(), pa.string())
                else pa.string()
                if kind == pa.date32()
                else None
            )
        elif name in NUMERIC:
            target = pa.float64() if kind in (*_INTEGERS, pa.float64()) else None  # float4: as its text
        elif name in BOOLEAN:
            target = pa.bool_() if kind == pa.bool_() else None
        elif name in INTEGER:
            target = pa.int64() if kind in _INTEGERS else None
        else:
            target = pa.string() if kind in (*_INTEGERS, pa.string(), pa.date32()) else None
        if target is None:
            return None
        column = column.cast(target)
        if not typed and target == pa.string():
            column = pc.fill_null(column, "")  # the CSV read keeps NULL text as ''
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def _copy_out_csv(conn: psycopg.Connection, statement: sql.Composable, typed: bool) -> pd.DataFrame:
    result_types = _result_types(conn, statement) if typed else None
    copy_sql = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv, HEADER true)").format(statement).as_string(conn)
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
        conn.rollback()  # leave no transaction open, as found
    out = {}
    for d in description:
        info = conn.adapters.types.get(d.type_code)
        out[d.name] = PG_TO_ARROW.get(info.name if info else "", pa.string())
    return out


def connect_like(conn: psycopg.Connection) -> psycopg.Connection:
    """A new connection to the same database as ``conn``, with the same credentials."""
    return psycopg.connect(conninfo(conn))
