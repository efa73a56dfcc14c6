"""``geoportal db reset --si`` works from any state: a computed and
published database with users, a referral, its history, audit rows and batches of every
kind (a contrarreferencias batch made migration 0007's downgrade fail with a
CheckViolation)."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg

from tests.institucional import clone_database, make_users


def test_reset_works_from_a_computed_state_with_every_kind_of_batch(pilotos):
    url = clone_database(pilotos["url"], "reset")
    make_users(url)
    with psycopg.connect(url) as conn:
        persona = conn.execute("SELECT persona_id FROM nominal.persona ORDER BY persona_id LIMIT 1").fetchone()[0]
        derivacion = conn.execute(
            "INSERT INTO nominal.derivacion (unidad, unidad_id, servicio, estado, usuario, hogar_id, distrito, institucion)"
            " SELECT 'persona', p.persona_id, 'CPN', 'referida', 'mesa1116', p.hogar_id, h.codigo_distrito, 'MSPBS'"
            " FROM nominal.persona p JOIN nominal.hogar h USING (hogar_id) WHERE p.persona_id = %s"
            " RETURNING derivacion_id",
            (persona,),
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO nominal.derivacion_estado (derivacion_id, estado, fecha, usuario, rol)"
            " VALUES (%s, 'entregada', current_date, 'usf1116', 'institucion')",
            (derivacion,),
        )
        conn.execute(
            "INSERT INTO nominal.estatus_evento (unidad, unidad_id, servicio, cubierto, fecha, fuente)"
            " VALUES ('persona', %s, 'CPN', true, current_date, %s)",
            (persona, f"contrarreferencia:{derivacion}"),
        )
        for tipo in ("contrarreferencias", "registros"):
            lote = conn.execute(
                "INSERT INTO nominal.lote_ingesta (tipo, archivo, sha256, filas_leidas, filas_nuevas, filas_actualizadas,"
                " filas_sin_cambio, filas_cuarentena) VALUES (%s, 'x.csv', %s, 2, 1, 0, 0, 1) RETURNING lote_id",
                (tipo, tipo),
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO nominal.cuarentena (lote_id, fila, motivo, detalle, datos)"
                " VALUES (%s, 2, 'fila_mal_formada', 'x', '{}')",
                (lote,),
            )
        conn.execute("INSERT INTO nominal.auditoria (usuario, rol, accion) VALUES ('usf1116', 'institucion', 'prueba')")
    env = {**os.environ, "GEOPORTAL_DATABASE_URL": url}
    result = subprocess.run(
        [sys.executable, "-m", "geoportal.cli", "db", "reset", "--si"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Esquema recreado vacío" in result.stdout
    with psycopg.connect(url) as conn:
        for table in (
            "nominal.lote_ingesta",
            "nominal.hogar",
            "nominal.estatus_evento",
            "nominal.derivacion",
            "acceso.usuario",
            "publico.version",
        ):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table
        head = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    from geoportal.migrate import MIGRATIONS

    newest = max(p.name.split("_")[0] for p in (MIGRATIONS / "versions").glob("0*.py"))
    assert head == newest
    # And again from the empty state.
    again = subprocess.run(
        [sys.executable, "-m", "geoportal.cli", "db", "reset", "--si"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert again.returncode == 0, again.stdout + again.stderr
