"""Bulk contrarreferencias under hostile files (issue 21, item 16): every row read is
counted (applied, unchanged or quarantined with its reason code), punto_id is checked as
the single route checks it, a NUL or an already closed referral is one quarantined row
(never a 500 for the whole batch), and a file of mostly invalid rows is refused whole."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest

from tests.institucional import Server, clone_database, login, make_users

HOY = date.today().isoformat()


@pytest.fixture(scope="module")
def ciclo(pilotos):
    url = clone_database(pilotos["url"], "masivas")
    make_users(url)
    with psycopg.connect(url) as conn:
        people = [
            p
            for (p,) in conn.execute(
                "SELECT p.persona_id FROM nominal.persona p JOIN nominal.hogar h USING (hogar_id)"
                " WHERE h.codigo_distrito = '1116' AND p.embarazada AND NOT ('CPN' = ANY (p.servicios))"
                " ORDER BY p.persona_id LIMIT 12"
            ).fetchall()
        ]
        # Referrals as the Mesa writes them (the route's checks are tested elsewhere).
        ids = [
            conn.execute(
                "INSERT INTO nominal.derivacion (unidad, unidad_id, servicio, estado, usuario, hogar_id, distrito, institucion)"
                " SELECT 'persona', p.persona_id, 'CPN', 'referida', 'mesa1116', p.hogar_id, '1116', 'MSPBS'"
                " FROM nominal.persona p WHERE p.persona_id = %s RETURNING derivacion_id",
                (p,),
            ).fetchone()[0]
            for p in people
        ]
        usf = conn.execute(
            "SELECT punto_id FROM oferta.punto_entrega WHERE tipo = 'usf' ORDER BY punto_id LIMIT 1"
        ).fetchone()[0]
        school = conn.execute("SELECT punto_id FROM oferta.punto_entrega WHERE tipo = 'escuela' LIMIT 1").fetchone()[0]
    server = Server(url)
    yield {
        "server": server,
        "url": url,
        "ids": ids,
        "usf_punto": usf,
        "escuela": school,
        "usf": login(server.base, "usf1116"),
    }
    server.stop()


def _upload(client, text: str, name: str = "contrarreferencias.csv"):
    return client.post("/api/derivaciones/contrarreferencias", files={"archivo": (name, text.encode("utf-8"))})


def test_every_row_read_is_applied_unchanged_or_quarantined_with_its_reason(ciclo):
    ids, usf = ciclo["ids"], ciclo["usf"]
    closed = ids[5]
    assert (
        usf.post(
            f"/api/derivaciones/{closed}/contrarreferencia", json={"resultado": "no_localizada", "fecha": HOY}
        ).status_code
        == 200
    )
    text = (
        "derivacion_id,resultado,fecha,punto_id,nota\n"
        f"{ids[0]},entregada,{HOY},{ciclo['usf_punto']},vacunada\n"  # applied, with a valid point
        f"{ids[1]},no_entregada,{HOY},,\n"  # applied
        f"{ids[2]},entregada,{HOY},,uno,dos,tres\n"  # more columns than the header
        f"{ids[3]},entregada,{HOY},,nota con \x00 NUL\n"  # a NUL: a 500 before
        f"{ids[4]},entregada,{HOY},NO-EXISTE,\n"  # a point that does not exist
        f"{ids[6]},entregada,{HOY},{ciclo['escuela']},\n"  # a school does not give CPN
        f"{closed},entregada,{HOY},,\n"  # closed with another outcome
        f"{closed},no_localizada,{HOY},,\n"  # the same outcome: unchanged
        f"{ids[7]},entregada,{HOY},,{'n' * 600}\n"  # an over-long note
        f"{ids[8]},entregada"
    )  # truncated last line
    answer = _upload(ciclo["usf"], text)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["leidas"] == 10
    assert report["leidas"] == report["nuevas"] + report["sin_cambio"] + report["cuarentena"]
    assert (report["nuevas"], report["sin_cambio"], report["cuarentena"]) == (2, 1, 7)
    assert report["motivos"] == {
        "fila_mal_formada": 2,
        "caracteres_invalidos": 1,
        "punto_invalido": 2,
        "ya_tiene_contrarreferencia": 1,
        "texto_demasiado_largo": 1,
    }
    with psycopg.connect(ciclo["url"]) as conn:
        stored = conn.execute(
            "SELECT fila, motivo FROM nominal.cuarentena WHERE lote_id = %s ORDER BY fila", (report["lote_id"],)
        ).fetchall()
        states = dict(
            conn.execute(
                "SELECT derivacion_id, estado FROM nominal.derivacion WHERE derivacion_id = ANY(%s)", (ids[:9],)
            ).fetchall()
        )
    assert stored == [
        (3, "fila_mal_formada"),
        (4, "caracteres_invalidos"),
        (5, "punto_invalido"),
        (6, "punto_invalido"),
        (7, "ya_tiene_contrarreferencia"),
        (9, "texto_demasiado_largo"),
        (10, "fila_mal_formada"),
    ]
    assert states[ids[0]] == "entregada" and states[ids[1]] == "no_entregada" and states[closed] == "no_localizada"
    assert all(states[i] == "referida" for i in (ids[2], ids[3], ids[4], ids[6], ids[7], ids[8]))


def test_a_file_of_mostly_invalid_rows_is_refused_whole_in_spanish(ciclo):
    ids = ciclo["ids"]
    garbage = "".join(f"{900000 + i},talvez,{HOY}\n" for i in range(150))
    text = f"derivacion_id,resultado,fecha\n{ids[9]},entregada,{HOY}\n" + garbage
    with psycopg.connect(ciclo["url"]) as conn:
        batches = conn.execute("SELECT count(*) FROM nominal.lote_ingesta").fetchone()[0]
        quarantined = conn.execute("SELECT count(*) FROM nominal.cuarentena").fetchone()[0]
    answer = _upload(ciclo["usf"], text, "otro.csv")
    assert answer.status_code == 422 and answer.headers["content-type"].startswith("application/problem+json")
    assert "150 de sus 151 filas no son válidas" in answer.json()["detail"]
    with psycopg.connect(ciclo["url"]) as conn:
        assert conn.execute("SELECT count(*) FROM nominal.lote_ingesta").fetchone()[0] == batches
        assert conn.execute("SELECT count(*) FROM nominal.cuarentena").fetchone()[0] == quarantined
        assert (
            conn.execute("SELECT estado FROM nominal.derivacion WHERE derivacion_id = %s", (ids[9],)).fetchone()[0]
            == "referida"
        )
    # Below the rule (100 invalid rows at most, or not the majority): quarantined row by row.
    few = f"derivacion_id,resultado,fecha\n{ids[9]},entregada,{HOY}\n" + garbage[: garbage.index(f"{900000 + 100},")]
    loaded = _upload(ciclo["usf"], few, "pocas.csv").json()
    assert (loaded["leidas"], loaded["nuevas"], loaded["cuarentena"]) == (101, 1, 100)
    assert loaded["motivos"] == {"resultado_invalido": 100}
