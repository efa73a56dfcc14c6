"""The referral cycle against a real uvicorn and PostGIS: the Mesa's list (checked against
a plain pandas recomputation), a referral, the institution's contrarreferencia, the
district recomputed at once, the history kept, nothing nominal leaking."""

from __future__ import annotations

import re
import time
from datetime import date

import httpx
import numpy as np
import pandas as pd
import psycopg
import pytest
import yaml

from tests.institucional import Server, clone_database, login, make_users, wait_for_figures
from tests.rutas import ARTEFACTOS

HOY = date.today().isoformat()


@pytest.fixture(scope="module")
def ciclo(pilotos):
    from geoportal.pipeline import compute_all

    url = clone_database(pilotos["url"], "ciclo")
    # The referral cycle runs on live figures: a national computation without a cut-off (the
    # pilots are computed at 2026-01-01, and a district update keeps the cut-off in force,
    # so a contrarreferencia dated today would not count there; test_corte.py).
    with psycopg.connect(url) as conn:
        compute_all(conn)
    make_users(url)
    server = Server(url)
    yield {
        "server": server,
        "url": url,
        "mesa": login(server.base, "mesa1116"),
        "usf": login(server.base, "usf1116"),
        "mec": login(server.base, "mec1116"),
    }
    server.stop()


def _polygon(conn, codigo):
    return conn.execute(
        "SELECT coalesce(codigo_2012, 'D' || codigo) FROM territorio.distrito WHERE codigo = %s", (codigo,)
    ).fetchone()[0]


def _haversine_km(lon1, lat1, lon2, lat2):
    lon1, lat1, lon2, lat2 = map(np.radians, (lon1, lat1, lon2, lat2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * np.arcsin(np.sqrt(a))


def test_mesa_list_of_prenatal_care_gaps_matches_an_independent_recomputation(ciclo):
    """Pregnant women of Villeta without CPN; nearest USF by brute-force haversine; reach by the catalog radius."""
    from geoportal.settings import get_settings

    radius = next(s for s in yaml.safe_load(get_settings().catalogo.read_text())["servicios"] if s["codigo"] == "CPN")[
        "radio_km"
    ]
    with psycopg.connect(ciclo["url"]) as conn:
        people = pd.DataFrame(
            conn.execute(
                "SELECT p.persona_id, h.lon, h.lat, h.zona FROM nominal.persona p JOIN nominal.hogar h USING (hogar_id)"
                " WHERE h.codigo_distrito = '1116' AND p.embarazada AND NOT ('CPN' = ANY (p.servicios))"
            ).fetchall(),
            columns=["persona_id", "lon", "lat", "zona"],
        )
        usf = pd.DataFrame(
            conn.execute(
                "SELECT punto_id, lon, lat FROM oferta.punto_entrega WHERE tipo = 'usf' ORDER BY punto_id"
            ).fetchall(),
            columns=["punto_id", "lon", "lat"],
        )
        assert conn.execute("SELECT count(*) FROM nominal.estatus_evento").fetchone()[0] == 0  # FIPS answers only
    km = _haversine_km(
        people["lon"].to_numpy()[:, None],
        people["lat"].to_numpy()[:, None],
        usf["lon"].to_numpy()[None, :],
        usf["lat"].to_numpy()[None, :],
    )
    people["punto_id"] = usf["punto_id"].to_numpy()[km.argmin(axis=1)]
    limit = np.where(people["zona"] == "urbana", radius["urbana"], radius["rural"])
    people["brecha"] = np.where(km.min(axis=1) <= limit, "derivacion", "inversion")
    expected = set(people[["persona_id", "brecha", "punto_id"]].itertuples(index=False, name=None))

    answer = ciclo["mesa"].get("/api/nominal/brechas", params={"servicio": "CPN", "limite": 50_000})
    assert answer.status_code == 200
    got = {(r["unidad_id"], r["brecha"], r["punto_id"]) for r in answer.json()["filas"]}
    assert len(expected) > 20
    assert got == expected
    summary = next(r for r in answer.json()["resumen"] if r["servicio"] == "CPN")
    assert summary["derivacion"] == (people["brecha"] == "derivacion").sum()
    assert summary["inversion"] == (people["brecha"] == "inversion").sum()


def test_filters_by_category_and_gap_type_narrow_the_list(ciclo):
    mesa = ciclo["mesa"]
    everything = mesa.get("/api/nominal/brechas", params={"limite": 50_000}).json()["filas"]
    teens = mesa.get("/api/nominal/brechas", params={"categoria": "14-17", "limite": 50_000}).json()["filas"]
    investment = mesa.get("/api/nominal/brechas", params={"brecha": "inversion", "limite": 50_000}).json()["filas"]
    assert teens and all("14-17" in r["categorias"].split(",") for r in teens)
    assert investment and all(r["brecha"] == "inversion" for r in investment)
    assert {r["brecha"] for r in everything} == {"derivacion", "inversion"}
    assert len(investment) == sum(r["brecha"] == "inversion" for r in everything)
    bad = mesa.get("/api/nominal/brechas", params={"servicio": "NO_EXISTE"})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    assert "Servicio desconocido" in bad.json()["detail"]


def _district_counts(url, columns):
    with psycopg.connect(url) as conn:
        polygon = _polygon(conn, "1116")
        row = conn.execute(
            f"SELECT {', '.join(columns)} FROM calculo.agregado WHERE nivel = 'distrito' AND codigo = %s", (polygon,)
        ).fetchone()
    return dict(zip(columns, row))


def test_delivered_contrarreferencia_updates_the_status_and_the_district_at_once(ciclo):
    mesa, usf = ciclo["mesa"], ciclo["usf"]
    before = mesa.get(
        "/api/nominal/brechas", params={"servicio": "CPN", "brecha": "derivacion", "limite": 50_000}
    ).json()
    person = before["filas"][0]
    counts_before = _district_counts(ciclo["url"], ["cpn_cubiertos", "cpn_con_oferta", "l1_protegidos"])

    created = mesa.post(
        "/api/derivaciones",
        json={
            "unidad": "persona",
            "unidad_id": person["unidad_id"],
            "servicio": "CPN",
            "nota": "Derivada en la reunión de la Mesa",
        },
    )
    assert created.status_code == 201
    referral = created.json()
    assert (referral["institucion"], referral["punto_id"], referral["estado"]) == (
        "MSPBS",
        person["punto_id"],
        "referida",
    )
    received = usf.get("/api/derivaciones", params={"estado": "referida"}).json()["derivaciones"]
    assert [r["derivacion_id"] for r in received] == [referral["derivacion_id"]]
    assert received[0]["nombres"] == person["nombres"]
    assert ciclo["mec"].get("/api/derivaciones").json()["derivaciones"] == []  # addressed to MSPBS only

    answer = usf.post(
        f"/api/derivaciones/{referral['derivacion_id']}/contrarreferencia",
        json={"resultado": "entregada", "fecha": HOY, "punto_id": person["punto_id"]},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["actualizando"] is True and answer.json()["recalculo"]["distrito"] == "1116"
    wait_for_figures(mesa)  # the district is recomputed after the answer (item 15 of issue 21)

    after = mesa.get(
        "/api/nominal/brechas", params={"servicio": "CPN", "brecha": "derivacion", "limite": 50_000}
    ).json()
    assert after["total"] == before["total"] - 1
    assert person["unidad_id"] not in {r["unidad_id"] for r in after["filas"]}
    counts_after = _district_counts(ciclo["url"], ["cpn_cubiertos", "cpn_con_oferta", "l1_protegidos"])
    assert counts_after["cpn_cubiertos"] == counts_before["cpn_cubiertos"] + 1
    assert counts_after["cpn_con_oferta"] == counts_before["cpn_con_oferta"] - 1
    with psycopg.connect(ciclo["url"]) as conn:
        event = conn.execute(
            "SELECT unidad_id, servicio, cubierto, fecha::text FROM nominal.estatus_evento WHERE fuente = %s",
            (f"contrarreferencia:{referral['derivacion_id']}",),
        ).fetchall()
    assert event == [(person["unidad_id"], "CPN", True, HOY)]

    detail = usf.get(f"/api/derivaciones/{referral['derivacion_id']}").json()
    assert [h["estado"] for h in detail["historia"]] == ["referida", "entregada"]
    assert [h["usuario"] for h in detail["historia"]] == ["mesa1116", "usf1116"]
    again = usf.post(
        f"/api/derivaciones/{referral['derivacion_id']}/contrarreferencia",
        json={"resultado": "no_entregada", "fecha": HOY},
    )
    assert again.status_code == 409
    assert mesa.get(f"/api/derivaciones/{referral['derivacion_id']}").json()["estado"] == "entregada"


def test_not_located_keeps_the_gap_and_writes_no_status_event(ciclo):
    mesa, usf = ciclo["mesa"], ciclo["usf"]
    person = mesa.get("/api/nominal/brechas", params={"servicio": "CPN", "brecha": "derivacion"}).json()["filas"][0]
    referral = mesa.post(
        "/api/derivaciones", json={"unidad": "persona", "unidad_id": person["unidad_id"], "servicio": "CPN"}
    ).json()
    assert (
        mesa.post(
            "/api/derivaciones", json={"unidad": "persona", "unidad_id": person["unidad_id"], "servicio": "CPN"}
        ).status_code
        == 409
    )  # one open referral
    listed = mesa.get("/api/nominal/brechas", params={"servicio": "CPN", "brecha": "derivacion"}).json()["filas"]
    assert (
        next(r for r in listed if r["unidad_id"] == person["unidad_id"])["derivacion_abierta"]
        == referral["derivacion_id"]
    )
    answer = usf.post(
        f"/api/derivaciones/{referral['derivacion_id']}/contrarreferencia",
        json={"resultado": "no_localizada", "fecha": HOY, "nota": "Domicilio sin moradores"},
    )
    assert answer.json() == {
        "derivacion_id": referral["derivacion_id"],
        "estado": "no_localizada",
        "actualizando": False,
        "recalculo": None,
    }
    still = mesa.get(
        "/api/nominal/brechas", params={"servicio": "CPN", "brecha": "derivacion", "limite": 50_000}
    ).json()
    assert person["unidad_id"] in {r["unidad_id"] for r in still["filas"]}
    with psycopg.connect(ciclo["url"]) as conn:
        assert (
            conn.execute(
                "SELECT count(*) FROM nominal.estatus_evento WHERE fuente = %s",
                (f"contrarreferencia:{referral['derivacion_id']}",),
            ).fetchone()[0]
            == 0
        )
        # nothing is deleted: the referral and both states remain
        assert conn.execute(
            "SELECT estado FROM nominal.derivacion_estado WHERE derivacion_id = %s ORDER BY historia_id",
            (referral["derivacion_id"],),
        ).fetchall() == [("referida",), ("no_localizada",)]
    # A new referral may follow a closed one.
    assert (
        mesa.post(
            "/api/derivaciones", json={"unidad": "persona", "unidad_id": person["unidad_id"], "servicio": "CPN"}
        ).status_code
        == 201
    )


def test_referrals_that_make_no_sense_are_refused_with_a_reason(ciclo):
    mesa = ciclo["mesa"]
    with psycopg.connect(ciclo["url"]) as conn:
        covered = conn.execute(
            "SELECT p.persona_id FROM nominal.persona p JOIN nominal.hogar h USING (hogar_id)"
            " WHERE h.codigo_distrito = '1116' AND p.embarazada AND 'CPN' = ANY (p.servicios) LIMIT 1"
        ).fetchone()[0]
        school = conn.execute("SELECT punto_id FROM oferta.punto_entrega WHERE tipo = 'escuela' LIMIT 1").fetchone()[0]
    person = mesa.get("/api/nominal/brechas", params={"servicio": "CPN", "brecha": "derivacion", "limite": 50}).json()[
        "filas"
    ][-1]
    cases = [
        ({"unidad": "persona", "unidad_id": covered, "servicio": "CPN"}, 409, "no le falta"),
        (
            {"unidad": "persona", "unidad_id": person["unidad_id"], "servicio": "CPN", "punto_id": school},
            422,
            "no presta CPN",
        ),
        ({"unidad": "hogar", "unidad_id": person["hogar_id"], "servicio": "CPN"}, 422, "no se deriva"),
        ({"unidad": "persona", "unidad_id": person["unidad_id"], "servicio": "XYZ"}, 422, "Servicio desconocido"),
        ({"unidad": "vecino", "unidad_id": "x"}, 400, "falta y es obligatorio"),  # api/base/errores.py
    ]
    for body, status, words in cases:
        answer = mesa.post("/api/derivaciones", json=body)
        assert answer.status_code == status, (body, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert words in answer.json()["detail"]


def test_referral_report_exports_what_the_institution_may_see_and_is_logged(ciclo):
    usf = ciclo["usf"]
    visible = usf.get("/api/derivaciones").json()["derivaciones"]
    report = usf.get("/api/derivaciones/reporte")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/csv")
    assert "attachment" in report.headers["content-disposition"]
    # the product's one CSV dialect (api.base.hojas): Excel in Spanish, BOM and ';'
    assert report.text.startswith("\ufeff")
    rows = pd.read_csv(__import__("io").StringIO(report.text[1:]), sep=";", dtype=str)
    assert sorted(rows["derivacion_id"].astype(int)) == sorted(r["derivacion_id"] for r in visible)
    assert set(rows["institucion"]) == {"MSPBS"} and set(rows["distrito"]) == {"1116"}
    with psycopg.connect(ciclo["url"]) as conn:
        logged = conn.execute(
            "SELECT usuario, rol, territorio, (detalle->>'filas')::int FROM nominal.auditoria"
            " WHERE accion = 'exportar_derivaciones' ORDER BY auditoria_id DESC LIMIT 1"
        ).fetchone()
    assert logged == ("usf1116", "institucion", "1116", len(visible))


def test_bulk_contrarreferencias_by_csv_are_applied_quarantined_and_idempotent(ciclo):
    mesa, usf = ciclo["mesa"], ciclo["usf"]
    gaps = [
        r
        for r in mesa.get(
            "/api/nominal/brechas", params={"servicio": "CPN", "brecha": "derivacion", "limite": 500}
        ).json()["filas"]
        if not r["derivacion_abierta"]
    ][:2]
    ids = [
        mesa.post(
            "/api/derivaciones", json={"unidad": "persona", "unidad_id": g["unidad_id"], "servicio": "CPN"}
        ).json()["derivacion_id"]
        for g in gaps
    ]
    with psycopg.connect(ciclo["url"]) as conn:
        closed = conn.execute(
            "SELECT derivacion_id, estado FROM nominal.derivacion WHERE estado <> 'referida'"
            " AND institucion = 'MSPBS' ORDER BY derivacion_id LIMIT 1"
        ).fetchone()
    text = (
        "derivacion_id;resultado;fecha;nota\n"
        f"{ids[0]};entregada;{HOY};vacunada\n"
        f"{ids[1]};no_localizada;{HOY};\n"
        f"{closed[0]};{closed[1]};{HOY};ya registrada antes\n"
        f"{ids[0]};entregada;{HOY};repetida igual\n"
        "999999;entregada;2026-01-01;\n"
        f"{ids[1]};talvez;{HOY};\n"
        f"x;entregada;{HOY};\n"
        f"{ids[1]};entregada;2999-01-01;\n"
    )
    data = ("\ufeff" + text).encode("utf-8")
    first = usf.post("/api/derivaciones/contrarreferencias", files={"archivo": ("contrarreferencias.csv", data)})
    assert first.status_code == 200, first.text
    report = first.json()
    assert (report["leidas"], report["nuevas"], report["sin_cambio"], report["cuarentena"]) == (8, 2, 2, 4)
    assert report["motivos"] == {
        "derivacion_inexistente": 1,
        "resultado_invalido": 1,
        "derivacion_id_invalido": 1,
        "fecha_invalida": 1,
    }
    assert [r["distrito"] for r in report["recalculo"]] == ["1116"]  # the district of the delivered one, once
    assert report["actualizando"] is True
    wait_for_figures(usf)
    with psycopg.connect(ciclo["url"]) as conn:
        states = dict(
            conn.execute(
                "SELECT derivacion_id, estado FROM nominal.derivacion WHERE derivacion_id = ANY(%s)", (ids,)
            ).fetchall()
        )
        quarantined = conn.execute(
            "SELECT count(*) FROM nominal.cuarentena WHERE lote_id = %s", (report["lote_id"],)
        ).fetchone()[0]
        events = conn.execute(
            "SELECT count(*) FROM nominal.estatus_evento WHERE fuente = %s", (f"contrarreferencia:{ids[0]}",)
        ).fetchone()[0]
    assert states == {ids[0]: "entregada", ids[1]: "no_localizada"}
    assert quarantined == 4 and events == 1
    again = usf.post("/api/derivaciones/contrarreferencias", files={"archivo": ("otra-vez.csv", data)}).json()
    assert again["ya_cargado"] and again["lote_id"] == report["lote_id"]
    other_bytes = usf.post(
        "/api/derivaciones/contrarreferencias",
        files={"archivo": ("b.csv", f"derivacion_id,resultado,fecha\n{ids[0]},entregada,{HOY}\n".encode())},
    ).json()
    assert (other_bytes["nuevas"], other_bytes["sin_cambio"], other_bytes["cuarentena"]) == (0, 1, 0)
    missing = usf.post(
        "/api/derivaciones/contrarreferencias", files={"archivo": ("c.csv", b"derivacion_id,fecha\n1,2026-01-01\n")}
    )
    assert missing.status_code == 422 and "Faltan columnas: resultado" in missing.json()["detail"]
    assert mesa.post("/api/derivaciones/contrarreferencias", files={"archivo": ("c.csv", data)}).status_code == 403


def test_alerts_list_logros_below_meta_only_in_the_callers_territory(ciclo):
    mesa = ciclo["mesa"].get("/api/alertas").json()["alertas"]
    national = login(ciclo["server"].base, "gabinete1").get("/api/alertas").json()["alertas"]
    with psycopg.connect(ciclo["url"]) as conn:
        polygon = _polygon(conn, "1116")
        row = conn.execute(
            "SELECT l3_pct, l3_meta FROM publico.cobertura WHERE nivel = 'distrito' AND codigo = %s", (polygon,)
        ).fetchone()
    assert {(a["nivel"], a["codigo"]) for a in mesa} <= {("distrito", polygon)}
    assert {(a["nivel"], a["codigo"]) for a in mesa} < {(a["nivel"], a["codigo"]) for a in national}
    l3 = [a for a in mesa if a["tipo"] == "bajo_meta" and a["columna"] == "l3_pct"]
    assert bool(l3) == (row[0] is not None and row[0] < row[1])


def test_a_coverage_drop_beyond_the_threshold_is_alerted_by_api_and_cli(ciclo):
    import os
    import subprocess
    import sys

    env = {**os.environ, "GEOPORTAL_DATABASE_URL": ciclo["url"], "COLUMNS": "250"}

    def cli(*args):
        done = subprocess.run(
            [sys.executable, "-m", "geoportal.cli", *args], capture_output=True, text=True, env=env, timeout=300
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    cli("alertas")  # records the current figures
    with psycopg.connect(ciclo["url"]) as conn:
        polygon = _polygon(conn, "1116")
        before = conn.execute(
            "SELECT cpn_pct FROM publico.cobertura WHERE nivel = 'distrito' AND codigo = %s", (polygon,)
        ).fetchone()[0]
        # An administrative record: every pregnant woman of Villeta lost prenatal care.
        conn.execute(
            "INSERT INTO nominal.estatus_evento (unidad, unidad_id, servicio, cubierto, fecha, fuente)"
            " SELECT 'persona', p.persona_id, 'CPN', false, current_date, 'registro_administrativo'"
            " FROM nominal.persona p JOIN nominal.hogar h USING (hogar_id) WHERE h.codigo_distrito = '1116' AND p.embarazada"
        )
    assert before > 20
    cli("calcular", "--distrito", "1116")
    drops = [
        a
        for a in ciclo["mesa"].get("/api/alertas", params={"umbral": 20}).json()["alertas"]
        if a["tipo"] == "empeora" and a["columna"] == "cpn_pct"
    ]
    assert [(a["nivel"], a["codigo"], a["referencia"], a["valor"]) for a in drops] == [
        ("distrito", polygon, round(before, 1), 0.0)
    ]
    assert "empeora" in cli("alertas", "--umbral", "20", "--territorio", polygon)


def test_full_cycle_in_a_real_browser_mesa_refers_institution_delivers_mesa_sees_it(ciclo):
    import os
    import tempfile

    from playwright.sync_api import sync_playwright

    from tests.institucional import CLAVE

    chromium = "/usr/bin/chromium"
    args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]
    if not os.path.exists(chromium):
        pytest.fail("Falta /usr/bin/chromium: `make test` lo instala (paquete chromium de Debian).")
    base = ciclo["server"].base

    def log_in(page, who):
        page.fill("input[name=usuario]", who)
        page.fill("input[name=clave]", CLAVE)
        page.click("button[type=submit]")

    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two, sync_playwright() as pw:
        mesa = pw.chromium.launch_persistent_context(one, executable_path=chromium, args=args, headless=True)
        page = mesa.new_page()
        page.goto(base + "/mesa")
        assert "/ingresar" in page.url and "Ingreso institucional" in page.inner_text("h1")
        log_in(page, "mesa1116")
        page.wait_for_url("**/mesa")
        page.goto(base + "/mesa?servicio=CPN&brecha=derivacion")
        before = int(page.inner_text("#total"))
        artefactos = ARTEFACTOS
        artefactos.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(artefactos / "mesa_lista_nominal.png"))
        row = page.locator("#lista tr", has=page.locator("a.derivar")).first
        person = row.locator("td").first.inner_text()
        row.locator("a.derivar").click()
        page.click("button.confirmar")  # the confirmation step (point and note)
        page.wait_for_selector("#mensaje")
        assert "enviada a MSPBS" in page.inner_text("#mensaje")

        institution = pw.chromium.launch_persistent_context(two, executable_path=chromium, args=args, headless=True)
        other = institution.new_page()
        other.goto(base + "/institucion")
        log_in(other, "usf1116")
        other.wait_for_url("**/institucion")
        pending = other.locator("li.derivacion", has_text=person).filter(has=other.locator("button.registrar")).first
        pending.locator("select[name=resultado]").select_option("entregada")
        pending.locator("button.registrar").click()
        other.wait_for_selector("#mensaje")
        assert "registrada: entregada" in other.inner_text("#mensaje")
        other.screenshot(path=str(artefactos / "institucion_contrarreferencia.png"))

        page.goto(base + "/mesa?servicio=CPN&brecha=derivacion")
        assert int(page.inner_text("#total")) == before - 1
        mesa.close()
        institution.close()


def _cpn_referral_gap(profile: dict) -> int:
    return next(s["con_oferta"] for s in profile["brechas"] if s["servicio"] == "CPN")


def test_public_figures_follow_the_cycle_only_with_the_next_batched_release(ciclo):
    import subprocess
    import sys

    mesa, usf = ciclo["mesa"], ciclo["usf"]
    anonymous = httpx.Client(base_url=ciclo["server"].base, timeout=60)
    wait_for_figures(mesa)  # an earlier test's contrarreferencia (the browser's form) may still be recomputing
    public_before = anonymous.get("/api/territorios/1116").json()
    live_before = mesa.get("/api/cifras/distrito/1116").json()["cifras"]["cpn_con_oferta"]
    rows = [
        r
        for r in mesa.get(
            "/api/nominal/brechas", params={"servicio": "CPN", "brecha": "derivacion", "limite": 200}
        ).json()["filas"]
        if not r["derivacion_abierta"]
    ][:5]
    assert len(rows) == 5
    for row in rows:  # five deliveries: a change of 5 moves a count rounded to multiples of 5 by exactly 5
        created = mesa.post(
            "/api/derivaciones", json={"unidad": "persona", "unidad_id": row["unidad_id"], "servicio": "CPN"}
        )
        assert created.status_code == 201, created.text
        done = usf.post(
            f"/api/derivaciones/{created.json()['derivacion_id']}/contrarreferencia",
            json={"resultado": "entregada", "fecha": HOY},
        )
        assert done.status_code == 200, done.text
    wait_for_figures(mesa)
    live_after = mesa.get("/api/cifras/distrito/1116").json()["cifras"]["cpn_con_oferta"]
    assert live_after == live_before - 5  # the Mesa's (protected, live) figure moved at once
    unchanged = anonymous.get("/api/territorios/1116").json()
    assert unchanged["data_version"] == public_before["data_version"]
    assert _cpn_referral_gap(unchanged) == _cpn_referral_gap(public_before)  # no public release per event

    env = {**__import__("os").environ, "GEOPORTAL_DATABASE_URL": ciclo["url"]}
    released = subprocess.run(
        [sys.executable, "-m", "geoportal.cli", "publicar", "--forzar"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert released.returncode == 0, released.stdout + released.stderr
    public_after = anonymous.get("/api/territorios/1116").json()
    assert public_after["data_version"] != public_before["data_version"]
    # The release carries the live protected figure (with the earlier tests' pending changes too).
    assert _cpn_referral_gap(public_after) == live_after


def test_a_logged_in_mesa_sees_its_alerts_in_the_viewer_and_opens_a_profile_from_one(ciclo):
    import os
    import tempfile

    from playwright.sync_api import sync_playwright

    from tests.institucional import CLAVE

    expected = ciclo["mesa"].get("/api/alertas").json()["alertas"]
    assert expected, "the pilot district must have some Logro below its meta"
    args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]
    base = ciclo["server"].base
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            profile,
            executable_path="/usr/bin/chromium",
            args=args,
            headless=True,
            viewport={"width": 1280, "height": 800},
        )
        page = browser.new_page()
        page.goto(base + "/")
        page.wait_for_selector("body[data-cuenta=si]", timeout=30_000)
        assert "ingresar" in page.inner_text("#cuenta") and page.locator("#alertas").count() == 0  # anonymous
        page.click("#cuenta a[href^='/ingresar']")
        page.fill("input[name=usuario]", "mesa1116")
        page.fill("input[name=clave]", CLAVE)
        page.click("button[type=submit]")
        page.wait_for_selector("body[data-cuenta=si]", timeout=30_000)
        assert page.evaluate("document.body.dataset.alertas") == str(len(expected))
        block = page.inner_text("#cuenta")
        assert "Mesa distrital" in block and f"Alertas {len(expected)}" in block.replace("\n", " ")
        firm = [a for a in expected if not a["pequena"]]  # small-sample alerts are counted, not listed
        first = firm[0]
        assert first["etiqueta"] in block
        page.wait_for_selector("body[data-teselas=cargadas]", timeout=30_000)
        ARTEFACTOS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTEFACTOS / "visor_alertas_mesa.png"))
        district = next(a for a in firm if a["nivel"] == "distrito")
        page.locator(f"#alertas button[data-codigo='{district['codigo']}']").first.click()
        page.wait_for_selector("#perfil:not([hidden])", timeout=30_000)
        assert district["nombre"].split(" / ")[0] in page.inner_text("#perfil")
        browser.close()
        # The Gabinete reads the broadest territories first.
        national = login(base, "gabinete1").get("/api/alertas").json()["alertas"]
        levels = [a["nivel"] for a in national if not a["pequena"]]
        broadest = min(levels, key=["pais", "departamento", "distrito"].index)
        gabinete = pw.chromium.launch_persistent_context(
            profile + "-g", executable_path="/usr/bin/chromium", args=args, headless=True
        )
        page = gabinete.new_page()
        page.goto(base + "/ingresar?siguiente=/")
        page.fill("input[name=usuario]", "gabinete1")
        page.fill("input[name=clave]", CLAVE)
        page.click("button[type=submit]")
        page.wait_for_selector("body[data-cuenta=si]", timeout=30_000)
        first_shown = page.locator("#alertas li.alerta").first.inner_text()
        assert {"pais": "(País)", "departamento": "(Departamento)", "distrito": "(Distrito)"}[broadest] in first_shown
        assert page.evaluate("document.body.dataset.alertas") == str(len(national))
        gabinete.close()
    assert os.path.getsize(ARTEFACTOS / "visor_alertas_mesa.png") > 20_000


def test_nothing_nominal_reaches_logs_errors_or_public_endpoints_after_a_cycle(ciclo):
    with psycopg.connect(ciclo["url"]) as conn:
        referred = conn.execute(
            "SELECT p.persona_id, p.nombres, p.apellidos, p.fecha_nacimiento::text, h.lon, h.lat FROM nominal.derivacion d"
            " JOIN nominal.persona p ON p.persona_id = d.unidad_id JOIN nominal.hogar h ON h.hogar_id = p.hogar_id"
        ).fetchall()
    assert referred, "the cycle tests above must have referred someone"
    anonymous = httpx.Client(base_url=ciclo["server"].base)
    bodies = [
        anonymous.get(path).text
        for path in (
            "/",
            "/salud",
            "/api/derivaciones",
            "/api/nominal/brechas",
            "/api/derivaciones/1",
            "/api/alertas",
            "/api/cifras/distrito/1116",
        )
    ]
    bodies.append(ciclo["mec"].get("/api/derivaciones/1").text)  # another institution: 404
    for who, service in (("usf", "CPN"), ("mesa", "NO_EXISTE"), ("mesa", "AGUA")):  # refused: 403, 422, 422
        answer = ciclo[who].post(
            "/api/derivaciones", json={"unidad": "persona", "unidad_id": referred[0][0], "servicio": service}
        )
        assert answer.status_code in (403, 422)
        bodies.append(answer.text)
    # The Mesa opens households, a referral and its list with an id smuggled into the query:
    # uvicorn's access log must show these requests, but by route template only.
    with psycopg.connect(ciclo["url"]) as conn:
        public_tables = conn.execute(
            "SELECT string_agg(t::text, ' ') FROM (SELECT * FROM publico.cobertura WHERE nivel IN ('distrito', 'pais')) t"
        ).fetchone()[0]
        homes = [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT hogar_id FROM nominal.derivacion WHERE distrito = '1116' ORDER BY hogar_id LIMIT 3"
            )
        ]
        members = [
            r[0] for r in conn.execute("SELECT persona_id FROM nominal.persona WHERE hogar_id = ANY(%s)", (homes,))
        ]
        referral_ids = [r[0] for r in conn.execute("SELECT derivacion_id FROM nominal.derivacion ORDER BY 1")]
        point = conn.execute("SELECT punto_id FROM oferta.punto_entrega ORDER BY punto_id LIMIT 1").fetchone()[0]
    assert len(homes) == 3 and members
    for hogar_id in homes:
        detail = ciclo["mesa"].get(f"/api/nominal/hogares/{hogar_id}")
        assert detail.status_code == 200 and detail.json()["hogar_id"] == hogar_id
    assert ciclo["mesa"].get(f"/api/derivaciones/{referral_ids[0]}").status_code == 200
    assert (
        ciclo["mesa"]
        .get("/api/nominal/brechas", params={"servicio": "CPN", "limite": 5, "unidad_id": members[0]})
        .status_code
        == 200
    )
    public = anonymous.get(f"/api/servicios/{point}")  # public: logged as asked
    assert public.status_code == 200
    time.sleep(0.3)  # the access log is written as the response starts; let the file catch up
    server_log = ciclo["server"].output()
    assert server_log.count('"GET /api/nominal/hogares/{hogar_id} HTTP/1.1" 200') >= len(homes)
    assert '"GET /api/derivaciones/{derivacion_id} HTTP/1.1" 200' in server_log
    assert '"GET /api/nominal/brechas?servicio=CPN&limite=5 HTTP/1.1" 200' in server_log
    assert '"GET /api/cifras/distrito/1116 HTTP/1.1" 401' in server_log  # territory codes stay
    # what the client put on the wire, not a re-quoting of the id (':' may or may not be escaped)
    assert f'"GET {public.request.url.raw_path.decode()} HTTP/1.1" 200' in server_log
    assert re.search(r"/api/derivaciones/\d", server_log) is None
    assert "mensaje=" not in server_log and "unidad_id" not in server_log
    for secret in homes + members:
        assert secret not in server_log, secret
    # Single first names can be place names too ("Rosa" in Santa Rosa del Aguaray): look
    # for what identifies the person, the id, the full name, and the dwelling's coordinates.
    for persona_id, nombres, apellidos, born, lon, lat in referred:
        for secret in (persona_id, f"{nombres} {apellidos}", f"{lon:.5f}", f"{lat:.5f}"):
            assert all(secret not in body for body in bodies), secret
            assert secret not in server_log, secret
            assert secret not in public_tables, secret
