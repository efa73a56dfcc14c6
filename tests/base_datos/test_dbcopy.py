"""Arrow <-> PostgreSQL bridge: the binary path (ADBC) gives the frames the CSV path gives.

Hand-built rows with what tends to go wrong: codes with leading zeros, NULL and empty
text, dates, numeric, int4/int8, float4 (read as its text), booleans, an array.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from psycopg import sql

from geoportal import dbcopy

ROWS = """
    ('0101', NULL, '', DATE '2020-02-29', 1.25::numeric, 7::int4, 9007199254740993::int8, 0.1::float4, 2.5::float8,
     true, ARRAY['a','b']),
    ('0002', 'x', 'y', DATE '1999-12-31', NULL, NULL, NULL, NULL, NULL, NULL, NULL)
"""
COLUMNS = "codigo, nombre, vacio, fecha, capacidad, n4, h3_8, f4, lon, cubierto, lista"


@pytest.fixture
def tabla(conn):
    conn.execute("DROP TABLE IF EXISTS public.copia_prueba")
    conn.execute(
        "CREATE TABLE public.copia_prueba (codigo text, nombre text, vacio text, fecha date, capacidad numeric,"
        " n4 int4, h3_8 int8, f4 float4, lon float8, cubierto boolean, lista text[])"
    )
    conn.execute(f"INSERT INTO public.copia_prueba ({COLUMNS}) VALUES {ROWS}")
    conn.commit()
    yield "public.copia_prueba"
    conn.execute("DROP TABLE public.copia_prueba")
    conn.commit()


@pytest.mark.parametrize("typed", [False, True])
@pytest.mark.parametrize(
    "columns", ["codigo, nombre, vacio, fecha, capacidad, n4, h3_8, lon, cubierto", COLUMNS, "codigo, f4"]
)
def test_binary_read_equals_csv_read(conn, tabla, typed, columns):
    query = f"SELECT {columns} FROM {tabla} ORDER BY codigo"
    binary = dbcopy.copy_out(conn, query, typed=typed)  # idle: ADBC
    csv = dbcopy._copy_out_csv(conn, sql.SQL(query), typed)
    conn.rollback()
    pd.testing.assert_frame_equal(binary, csv)


def test_values_by_hand(conn, tabla):
    untyped = dbcopy.copy_out(conn, f"SELECT {COLUMNS} FROM {tabla} ORDER BY codigo")
    assert untyped["codigo"].tolist() == ["0002", "0101"]  # leading zeros kept, text
    assert untyped["nombre"].tolist() == ["x", ""]  # untyped: NULL text is ''
    assert untyped["fecha"].tolist() == ["1999-12-31", "2020-02-29"]
    assert untyped["capacidad"].iloc[1] == 1.25 and math.isnan(untyped["capacidad"].iloc[0])
    assert untyped["n4"].tolist() == ["", "7"]  # an integer outside the known columns stays text
    assert untyped["h3_8"].iloc[1] == 9007199254740993  # exact beyond 2**53 in int64
    assert untyped["lista"].tolist() == ["", "{a,b}"]
    typed = dbcopy.copy_out(conn, f"SELECT {COLUMNS} FROM {tabla} ORDER BY codigo", typed=True)
    assert typed["nombre"].iloc[0] == "x" and pd.isna(typed["nombre"].iloc[1])  # typed: NULL is missing, '' stays ''
    assert typed["vacio"].tolist() == ["y", ""]
    assert typed["n4"].iloc[1] == 7 and np.isnan(typed["n4"].iloc[0])
    assert typed["f4"].iloc[1] == 0.1  # float4 as its shortest text, not 0.10000000149...
    assert pd.isna(typed["cubierto"].iloc[0]) and typed["cubierto"].iloc[1] == True


def test_read_inside_a_transaction_sees_its_own_rows(conn, tabla):
    conn.execute(f"INSERT INTO {tabla} (codigo) VALUES ('9999')")  # uncommitted: only this session sees it
    frame = dbcopy.copy_out(conn, f"SELECT codigo FROM {tabla} ORDER BY codigo")
    assert frame["codigo"].tolist() == ["0002", "0101", "9999"]
    conn.rollback()
    assert dbcopy.copy_out(conn, f"SELECT codigo FROM {tabla} ORDER BY codigo")["codigo"].tolist() == ["0002", "0101"]


def test_binary_write_by_hand(conn):
    """``ingest`` (numpy-encoded binary COPY): every type it writes, NULL from None and NaN,
    '' kept, multi-byte text, int8 beyond 2**53, rows of different layouts, more rows
    than one encoding block; read back by psycopg, row by row, against values written here."""
    conn.commit()
    frame = pd.DataFrame(
        {
            "codigo": ["0101", None, "", "Ñemby añá"],
            "n4": [7, 0, -2_147_483_648, 2_147_483_647],
            "n8": [9007199254740993, -1, 0, 2**62],
            "n2": [1, -1, 32767, 0],
            "f8": [2.5, np.nan, -0.0, 1e300],
            "f4": [0.1, 3.0, np.nan, -1.5],
            "si": [True, False, True, False],
            "entero_o_nulo": [1.0, np.nan, 3.0, np.nan],  # an integer column held as floats by pandas
        }
    )
    many = pd.concat([frame] * 6_000, ignore_index=True)  # 24,000 rows: two blocks
    many["fila"] = np.arange(len(many))
    create = (
        "DROP TABLE IF EXISTS public.escritura_prueba",
        (
            "CREATE TABLE public.escritura_prueba (fila int4, codigo text, n4 int4, n8 int8, n2 int2, f8 float8,"
            " f4 float4, si boolean, entero_o_nulo int4)"
        ),
    )
    try:
        assert dbcopy.ingest(conn, "public.escritura_prueba", many, before=create) == 24_000
        rows = conn.execute(
            "SELECT codigo, n4, n8, n2, f8, f4, si, entero_o_nulo FROM public.escritura_prueba WHERE fila < 4 ORDER BY fila"
        ).fetchall()
        assert rows[0] == ("0101", 7, 9007199254740993, 1, 2.5, pytest.approx(0.1), True, 1)
        assert rows[1] == (None, 0, -1, -1, None, 3.0, False, None)
        assert rows[2][:3] == ("", -2_147_483_648, 0) and rows[2][4] == 0.0 and rows[2][5] is None
        assert rows[3] == ("Ñemby añá", 2_147_483_647, 2**62, 0, 1e300, -1.5, False, None)
        counts = conn.execute(
            "SELECT count(*), count(codigo), sum(n4::int8), count(f8), bool_and(si = (fila % 2 = 0))"
            " FROM public.escritura_prueba"
        ).fetchone()
        assert counts == (24_000, 18_000, 6_000 * (7 + 0 - 2_147_483_648 + 2_147_483_647), 18_000, True)
    finally:
        conn.rollback()
        conn.execute("DROP TABLE IF EXISTS public.escritura_prueba")
        conn.commit()
