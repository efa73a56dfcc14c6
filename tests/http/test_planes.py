"""Plans against a real uvicorn and PostGIS: the planner API (aggregates only, protected),
the role × action matrix under Row-Level Security, bad input as Spanish 4xx with nothing
half-written, the audit log, the expected effect and the release history."""

from __future__ import annotations

import psycopg
import pytest

from tests.institucional import Server, clone_database, login, make_users

PLAN = {
    "titulo": "Plan de salud de Villeta",
    "distrito": "1116",
    "periodo_desde": "2027-01-01",
    "periodo_hasta": "2027-12-31",
}


@pytest.fixture(scope="module")
def ent(pilotos):
    url = clone_database(pilotos["url"], "planes")
    make_users(url)
    server = Server(url)
    clients = {
        n: login(server.base, n)
        for n in ("mesa1116", "mesa0607", "gabinete1", "depto11", "usf1116", "mec1116", "usf0607", "admin1")
    }
    yield {"server": server, "url": url, **clients}
    server.stop()


def _counts(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT (SELECT count(*) FROM planes.plan), (SELECT count(*) FROM planes.accion)"
        ).fetchone()


def _problem(r, status: int, words: str):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert words in r.json()["detail"], r.json()


@pytest.fixture(scope="module")
def sitio(ent):
    r = ent["mesa1116"].post("/api/planificador", json={"codigo": "1116", "tipo": "usf", "k": 2})
    assert r.status_code == 200, r.text
    return r.json()


def test_planner_api_gives_protected_aggregates_only(ent, sitio):
    assert len(sitio["sitios"]) == 2
    assert sitio["tamano"]["celdas_demanda"] > 0 and sitio["tamano"]["candidatos"] > 0
    for value in [
        sitio["optimo"],
        sitio["codicioso"],
        sitio["demanda_sin_oferta"],
        *(s["unidades"] for s in sitio["sitios"]),
    ]:
        assert value is None or value % 5 == 0
    assert sitio["optimo"] >= sitio["codicioso"]
    text = str(sitio)
    for nominal in ("hogar_id", "persona_id", "nombres", "cedula"):
        assert nominal not in text
    with psycopg.connect(ent["url"]) as conn:
        ids = [r[0] for r in conn.execute("SELECT hogar_id FROM nominal.hogar WHERE codigo_distrito = '1116' LIMIT 50")]
        logged = conn.execute("SELECT usuario, rol FROM nominal.auditoria WHERE accion = 'planificar'").fetchall()
    assert not any(i in text for i in ids)
    assert ("mesa1116", "mesa_distrital") in logged


def test_aggregate_roles_see_no_small_cell_of_the_planners_reach(ent, sitio):
    """The Mesa of the district sees every cell a proposed site reaches (it reads its own
    nominal list); the Gabinete, for the same question, only the cells holding at least
    the disclosure threshold (10) of units: a subset, and smaller in the pilot district."""
    r = ent["gabinete1"].post("/api/planificador", json={"codigo": "1116", "tipo": "usf", "k": 2})
    assert r.status_code == 200, r.text
    gab = r.json()
    assert [(s["lon"], s["lat"]) for s in gab["sitios"]] == [(s["lon"], s["lat"]) for s in sitio["sitios"]]
    mesa_cells = {c for s in sitio["sitios"] for c in s["celdas_al_alcance"]}
    gab_cells = {c for s in gab["sitios"] for c in s["celdas_al_alcance"]}
    assert gab_cells < mesa_cells
    assert {f["properties"]["celda"] for f in gab["celdas"]["features"]} == gab_cells
    assert "peso_celdas" not in str(gab)


def test_planner_api_territory_and_roles(ent):
    _problem(ent["mesa1116"].post("/api/planificador", json={"codigo": "0607", "tipo": "usf"}), 403, "territorio")
    _problem(ent["usf1116"].post("/api/planificador", json={"codigo": "1116", "tipo": "usf"}), 403, "rol")
    _problem(
        ent["mesa1116"].post("/api/planificador", json={"codigo": "1116", "tipo": "hospitalito"}),
        422,
        "Tipo de punto desconocido",
    )
    r = ent["gabinete1"].post(
        "/api/planificador", json={"nivel": "departamento", "codigo": "11", "tipo": "usf", "k": 1}
    )
    assert r.status_code == 200 and len(r.json()["sitios"]) == 1


def test_role_action_matrix(ent, sitio):
    mesa, otra, gab, depto = ent["mesa1116"], ent["mesa0607"], ent["gabinete1"], ent["depto11"]
    r = mesa.post("/api/planes", json=PLAN)
    assert r.status_code == 201, r.text
    plan_id = r.json()["plan_id"]
    s = sitio["sitios"][0]
    nuevo = {
        "tipo": "punto_nuevo",
        "punto_tipo": "usf",
        "lon": s["lon"],
        "lat": s["lat"],
        "capacidad": 300,
        "institucion": "MSPBS",
        "desde": "2027-02-01",
        "hasta": "2027-06-30",
    }
    campana = {
        "tipo": "campana_derivacion",
        "servicio": "ESCOLAR_BASICA",
        "meta": 40,
        "institucion": "MEC",
        "desde": "2027-03-01",
        "hasta": "2027-04-30",
        "localidad": "Centro",
    }
    assert mesa.post(f"/api/planes/{plan_id}/acciones", json=nuevo).status_code == 201
    assert gab.post(f"/api/planes/{plan_id}/acciones", json=campana).status_code == 201  # the Gabinete writes anywhere
    assert depto.get(f"/api/planes/{plan_id}").status_code == 200  # department 11 holds Villeta
    # Another district's Mesa: as if the plan did not exist, for reading and writing alike.
    before = _counts(ent["url"])
    _problem(otra.get(f"/api/planes/{plan_id}"), 404, "no existe")
    _problem(otra.post(f"/api/planes/{plan_id}/acciones", json=nuevo), 404, "no existe")
    _problem(otra.delete(f"/api/planes/{plan_id}"), 404, "no existe")
    _problem(otra.post("/api/planes", json=PLAN), 403, "no puede escribir")
    assert plan_id not in [p["plan_id"] for p in otra.get("/api/planes").json()["planes"]]
    accion = gab.get(f"/api/planes/{plan_id}").json()["acciones"][0]["accion_id"]
    _problem(otra.patch(f"/api/acciones/{accion}", json={"estado": "cumplida"}), 404, "no existe")
    assert _counts(ent["url"]) == before
    # Institutions: only the actions assigned to them, and they write nothing.
    usf = ent["usf1116"].get(f"/api/planes/{plan_id}").json()
    assert [a["institucion"] for a in usf["acciones"]] == ["MSPBS"]
    mec = ent["mec1116"].get(f"/api/planes/{plan_id}").json()
    assert [a["institucion"] for a in mec["acciones"]] == ["MEC"]
    _problem(ent["usf0607"].get(f"/api/planes/{plan_id}"), 404, "no existe")
    _problem(ent["usf1116"].post(f"/api/planes/{plan_id}/acciones", json=nuevo), 403, "rol")
    _problem(ent["admin1"].get("/api/planes"), 403, "rol")
    assert mesa.patch(f"/api/acciones/{accion}", json={"estado": "en_curso"}).status_code == 200
    with psycopg.connect(ent["url"]) as conn:
        logged = conn.execute(
            "SELECT accion, usuario FROM nominal.auditoria WHERE accion LIKE 'plan%%' ORDER BY 1, 2"
        ).fetchall()
    assert ("plan_crear", "mesa1116") in logged and ("plan_accion", "gabinete1") in logged
    assert ("plan_accion_estado", "mesa1116") in logged


def test_bad_input_is_spanish_4xx_and_writes_nothing(ent, sitio):
    mesa = ent["mesa1116"]
    plan_id = mesa.post("/api/planes", json={**PLAN, "titulo": "Plan de prueba de errores"}).json()["plan_id"]
    before = _counts(ent["url"])
    _problem(
        mesa.post("/api/planes", json={**PLAN, "periodo_desde": "2027-12-31", "periodo_hasta": "2027-01-01"}),
        422,
        "Fechas invertidas",
    )
    base = {
        "tipo": "punto_nuevo",
        "punto_tipo": "usf",
        "lon": sitio["sitios"][0]["lon"],
        "lat": sitio["sitios"][0]["lat"],
        "capacidad": 100,
        "institucion": "MSPBS",
        "desde": "2027-02-01",
        "hasta": "2027-03-01",
    }
    url = f"/api/planes/{plan_id}/acciones"
    _problem(mesa.post(url, json={**base, "desde": "2027-05-01"}), 422, "Fechas invertidas")
    _problem(
        mesa.post(url, json={**base, "lon": -55.90, "lat": -22.55}), 422, "fuera del distrito"
    )  # Pedro Juan Caballero
    _problem(mesa.post(url, json={**base, "punto_tipo": "farmacia"}), 422, "Tipo de punto desconocido")
    _problem(mesa.post(url, json={**base, "tipo": "fiesta"}), 422, "no es un tipo de acción")
    _problem(mesa.post(url, json={**base, "institucion": "NASA"}), 422, "no está en el catálogo")
    _problem(mesa.post(url, json={**base, "hasta": "2028-06-01"}), 422, "período del plan")
    _problem(
        mesa.post(url, json={**base, "tipo": "campana_derivacion", "servicio": "NADA", "meta": 3}), 422, "servicio"
    )
    r = mesa.post(url, json={**base, "desde": "no-fecha"})
    assert r.status_code == 422 and "fecha" in r.json()["detail"]
    assert _counts(ent["url"]) == before


def test_expected_effect_against_metas_and_history(ent, sitio):
    from geoportal.planes import proteger
    from geoportal.whatif import PuntoNuevo, simulate

    mesa = ent["mesa1116"]
    plan_id = mesa.post("/api/planes", json={**PLAN, "titulo": "Plan con dos sitios"}).json()["plan_id"]
    for s in sitio["sitios"]:
        r = mesa.post(
            f"/api/planes/{plan_id}/acciones",
            json={
                "tipo": "punto_nuevo",
                "punto_tipo": "usf",
                "lon": s["lon"],
                "lat": s["lat"],
                "capacidad": 200,
                "institucion": "MSPBS",
                "desde": "2027-02-01",
                "hasta": "2027-06-30",
            },
        )
        assert r.status_code == 201
    r = mesa.get(f"/api/planes/{plan_id}/efecto")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["puntos_nuevos"] == 2 and out["costo_total"] == 2 * 1_500_000_000
    with psycopg.connect(ent["url"]) as conn:
        tabla = simulate(conn, "1116", [PuntoNuevo("usf", s["lon"], s["lat"], 200) for s in sitio["sitios"]])
        live = dict(
            zip(
                *zip(
                    *conn.execute(
                        "SELECT columna, valor FROM publico.cifra_historia WHERE nivel = 'distrito' AND codigo = '1116'"
                    ).fetchall()
                )
            )
        )
        l1 = conn.execute(
            "SELECT l1_pct, l1_meta FROM publico.cobertura WHERE nivel = 'distrito' AND codigo = '1116'"
        ).fetchone()
    usf = tabla.set_index("servicio").loc["USF_ADSCRIPCION"]
    got = {s["servicio"]: s for s in out["servicios"]}["USF_ADSCRIPCION"]
    assert got["pasan_a_con_oferta"] == proteger(int(usf["brecha_sin_oferta_antes"] - usf["brecha_sin_oferta_despues"]))
    logros = {n["logro"]: n for n in out["logros"]}
    assert sorted(logros) == list(range(1, 11))
    assert (logros[1]["actual_pct"], logros[1]["meta_pct"]) == pytest.approx(l1)
    assert logros[1]["esperado_pct"] == logros[1]["actual_pct"]  # a point does not change recorded coverage
    # the release history holds the published share: one point in Logro 1's series
    assert out["series"]["l1"][-1]["valor"] == pytest.approx(live["l1_pct"]) == pytest.approx(l1[0])
    assert [a["texto"] for a in out["avance"]] == ["todavía no está en la red"] * 2


def test_action_past_its_date_is_an_alert_for_who_covers_the_district(ent):
    mesa = ent["mesa1116"]
    plan_id = mesa.post(
        "/api/planes",
        json={**PLAN, "titulo": "Plan del año pasado", "periodo_desde": "2025-01-01", "periodo_hasta": "2025-12-31"},
    ).json()["plan_id"]
    r = mesa.post(
        f"/api/planes/{plan_id}/acciones",
        json={
            "tipo": "operativo_registro",
            "institucion": "REGISTRO_CIVIL",
            "desde": "2025-03-01",
            "hasta": "2025-03-31",
            "localidad": "Centro",
        },
    )
    assert r.status_code == 201, r.text
    accion = r.json()["accion_id"]

    def vencidas(client):
        return [
            a
            for a in client.get("/api/alertas").json()["alertas"]
            if a["tipo"] == "accion_vencida" and a.get("accion_id") == accion
        ]

    assert len(vencidas(mesa)) == 1 and len(vencidas(ent["gabinete1"])) == 1
    assert vencidas(ent["mesa0607"]) == []
    avance = mesa.get(f"/api/planes/{plan_id}/efecto").json()["avance"]
    assert avance[0]["vencida"] is True
    assert mesa.patch(f"/api/acciones/{accion}", json={"estado": "cumplida"}).status_code == 200
    assert vencidas(mesa) == []


def test_the_bar_of_each_role_links_pages_that_open_for_it(ent):
    import re

    expected = {
        "mesa1116": ["/", "/mesa", "/mesa/derivaciones", "/planes", "/cuenta"],
        "depto11": ["/", "/gabinete/comparar", "/planes", "/cuenta"],
        "gabinete1": ["/", "/gabinete", "/gabinete/comparar", "/planes", "/cuenta"],
        "usf1116": ["/", "/institucion", "/planes", "/cuenta"],
    }
    for name, links in expected.items():
        page = ent[name].get("/cuenta")
        assert page.status_code == 200, (name, page.text[:200])
        bar = re.search(r"<nav class='barra'.*?</nav>", page.text, re.DOTALL).group(0)
        assert re.findall(r"<a href='([^']+)'", bar) == links, name
        for href in links[1:]:
            assert ent[name].get(href).status_code == 200, (name, href)


# ----------------------------------------------------------------------------- what-if of clicked points
def test_candidate_point_whatif_is_role_gated_own_district_and_protected(ent, sitio):
    from geoportal.planes import proteger
    from geoportal.whatif import PuntoNuevo, simulate

    s = sitio["sitios"][0]
    body = {"distrito": "1116", "tipo": "usf", "puntos": [{"lon": s["lon"], "lat": s["lat"], "capacidad": 150}]}
    r = ent["mesa1116"].post("/api/planificador/efecto", json=body)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "private, no-store"
    out = r.json()
    with psycopg.connect(ent["url"]) as conn:
        tabla = simulate(conn, "1116", [PuntoNuevo("usf", s["lon"], s["lat"], 150)])
    tabla = tabla[tabla["unidad"] != "entorno"].set_index("servicio")
    pasan = {
        c: proteger(int(r["brecha_sin_oferta_antes"] - r["brecha_sin_oferta_despues"])) for c, r in tabla.iterrows()
    }
    assert {x["servicio"]: x["pasan_a_con_oferta"] for x in out["servicios"]} == {c: v for c, v in pasan.items() if v}
    assert out["pasan_a_con_oferta"] == sum(v or 0 for v in pasan.values()) > 0
    for x in out["servicios"]:  # every count protected: a multiple of the base, none under the threshold
        assert x["pasan_a_con_oferta"] is None or x["pasan_a_con_oferta"] % 5 == 0
    _problem(ent["mesa0607"].post("/api/planificador/efecto", json=body), 403, "distrito")
    _problem(ent["usf1116"].post("/api/planificador/efecto", json=body), 403, "")
    far = {**body, "puntos": [{"lon": -60.0, "lat": -22.0}]}
    _problem(ent["mesa1116"].post("/api/planificador/efecto", json=far), 422, "fuera del distrito")
    _problem(ent["mesa1116"].post("/api/planificador/efecto", json={**body, "tipo": "castillo"}), 422, "Tipo de punto")
    r = ent["mesa1116"].post("/api/planificador/efecto", json={**body, "puntos": []})
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")
    ambito = ent["mesa1116"].get("/api/planificador/ambito").json()
    assert [d["codigo"] for d in ambito["distritos"]] == ["1116"] and "usf" in {t["codigo"] for t in ambito["tipos"]}
    assert len(ent["depto11"].get("/api/planificador/ambito").json()["distritos"]) > 1
    assert ent["usf1116"].get("/api/planificador/ambito").status_code == 403


def test_planner_cells_are_the_reached_cells_outlined(ent, sitio):
    import h3

    r = ent["mesa1116"].post("/api/planificador", json={"codigo": "1116", "tipo": "usf", "k": 2})
    out = r.json()
    feats = out["celdas"]["features"]
    assert [f["properties"]["celda"] for f in feats] == [c for s in out["sitios"] for c in s["celdas_al_alcance"]]
    for f in feats:  # outline only: the cell's own boundary, no count
        assert set(f["properties"]) == {"sitio", "celda"}
        lat, lng = h3.cell_to_latlng(f["properties"]["celda"])
        ring = f["geometry"]["coordinates"][0]
        assert ring[0] == ring[-1] and len(ring) == 7
        assert abs(sum(p[0] for p in ring[:-1]) / 6 - lng) < 0.01 and abs(sum(p[1] for p in ring[:-1]) / 6 - lat) < 0.01


# ----------------------------------------------------------------------------- campaigns as target counts
def _live_1116(conn) -> dict:
    """Villeta's live protected row (the figures a role sees), read as the admin."""
    (row,) = conn.execute(
        "SELECT r FROM acceso.cifras_vivas(ARRAY['distrito'], NULL) r WHERE r ->> 'codigo' ="
        " (SELECT coalesce(codigo_2012, 'D' || codigo) FROM territorio.distrito WHERE codigo = '1116')"
    ).fetchone()
    return row


def test_campaign_target_counts_in_the_expected_effect_by_hand(ent, sitio):
    from geoportal.whatif import PuntoNuevo, simulate

    mesa = ent["mesa1116"]
    with psycopg.connect(ent["url"]) as conn:
        row = _live_1116(conn)
    pct, con_oferta, aplica = row["cpn_pct"], row["cpn_con_oferta"], row["cpn_aplica"]
    assert aplica > 0 and con_oferta is not None
    campana = {
        "tipo": "campana_derivacion",
        "servicio": "CPN",
        "institucion": "MSPBS",
        "desde": "2027-01-01",
        "hasta": "2027-03-31",
    }

    def esperado(plan_id):
        out = mesa.get(f"/api/planes/{plan_id}/efecto").json()
        return {s["servicio"]: s for s in out["servicios"]}["CPN"]

    # a small campaign: its whole target counts
    plan_id = mesa.post("/api/planes", json={**PLAN, "titulo": "Campaña CPN"}).json()["plan_id"]
    assert mesa.post(f"/api/planes/{plan_id}/acciones", json={**campana, "meta": 3}).status_code == 201
    got = esperado(plan_id)
    assert got["meta_campana"] == 3 and got["cobertura_pct"] == pytest.approx(pct)
    assert got["cobertura_esperada_pct"] == round(min(100.0, pct + 100.0 * min(3, con_oferta) / aplica), 1)
    # a second campaign on the same service adds up; a huge target stops at the referral cases
    assert mesa.post(f"/api/planes/{plan_id}/acciones", json={**campana, "meta": 10**6}).status_code == 201
    assert esperado(plan_id)["cobertura_esperada_pct"] == round(min(100.0, pct + 100.0 * con_oferta / aplica), 1)
    # with a new USF the referral cases grow by the units it brings within reach
    s = sitio["sitios"][0]
    r = mesa.post(
        f"/api/planes/{plan_id}/acciones",
        json={
            "tipo": "punto_nuevo",
            "punto_tipo": "usf",
            "lon": s["lon"],
            "lat": s["lat"],
            "capacidad": 200,
            "institucion": "MSPBS",
            "desde": "2027-01-01",
            "hasta": "2027-03-31",
        },
    )
    assert r.status_code == 201
    with psycopg.connect(ent["url"]) as conn:
        r = simulate(conn, "1116", [PuntoNuevo("usf", s["lon"], s["lat"], 200)]).set_index("servicio").loc["CPN"]
    pasan = int(r["brecha_sin_oferta_antes"] - r["brecha_sin_oferta_despues"])
    assert esperado(plan_id)["cobertura_esperada_pct"] == round(
        min(100.0, pct + 100.0 * (con_oferta + pasan) / aplica), 1
    )


# ----------------------------------------------------------------------------- Logro moving away
def test_moving_away_over_hand_built_releases():
    from datetime import date

    from geoportal.alertas import moving_away

    d = date.fromisoformat
    serie = [(d("2026-01-10"), 58.0), (d("2026-04-10"), 57.5), (d("2026-08-10"), 54.0)]
    # start = last release on or before the plan's day: 58 -> 54, under the meta 60
    assert moving_away(serie, 60.0, d("2026-03-01")) == (d("2026-01-10"), 58.0, 54.0)
    assert moving_away(serie, 60.0, d("2026-05-01")) == (d("2026-04-10"), 57.5, 54.0)
    assert moving_away(serie, 60.0, d("2025-01-01")) == (d("2026-01-10"), 58.0, 54.0)  # plan before the history
    assert moving_away(serie, 60.0, d("2026-09-01")) is None  # the fall came before the plan
    assert moving_away(serie, 54.0, d("2026-03-01")) is None  # at its meta: not away
    assert moving_away(serie, None, d("2026-03-01")) is None
    assert moving_away(serie[:1], 60.0, d("2025-01-01")) is None
    small = [(d("2026-01-10"), 58.0), (d("2026-08-10"), 57.0)]
    assert moving_away(small, 60.0, d("2026-03-01")) is None  # exactly 1 point: within the noise
    assert moving_away(small, 60.0, d("2026-03-01"), umbral=0.5) == (d("2026-01-10"), 58.0, 57.0)
    assert moving_away([(d("2026-01-10"), 50.0), (d("2026-08-10"), 52.0)], 60.0, d("2026-03-01")) is None  # nearer


def test_a_logro_moving_away_while_a_plan_targets_it_is_an_alert_in_scope(ent):
    mesa = ent["mesa1116"]
    with psycopg.connect(ent["url"]) as conn:
        row = _live_1116(conn)
        poligono, meta = row["codigo"], row["l1_meta"]
        assert meta is not None
        conn.execute(
            "DELETE FROM publico.cifra_historia WHERE nivel = 'distrito' AND codigo = %s AND columna = 'l1_pct'",
            (poligono,),
        )
        for version, fecha, valor in (("h1", "2026-01-10", meta - 2), ("h2", "2026-04-10", meta - 2.5)):
            conn.execute(
                "INSERT INTO publico.cifra_historia VALUES (%s, %s, 'distrito', %s, 'l1_pct', %s)",
                (version, fecha, poligono, valor),
            )
        conn.execute(
            "INSERT INTO publico.cifra_historia VALUES ('h3', '2026-08-10', 'distrito', %s, 'l1_pct', %s)",
            (poligono, meta - 6),
        )
    plan_id = mesa.post("/api/planes", json={**PLAN, "titulo": "Plan de control prenatal"}).json()["plan_id"]
    r = mesa.post(
        f"/api/planes/{plan_id}/acciones",
        json={
            "tipo": "campana_derivacion",
            "servicio": "CPN",
            "meta": 20,
            "institucion": "MSPBS",
            "desde": "2027-01-01",
            "hasta": "2027-06-30",
        },
    )
    assert r.status_code == 201
    accion = r.json()["accion_id"]

    def aleja(client):
        return [a for a in client.get("/api/alertas").json()["alertas"] if a["tipo"] == "se_aleja"]

    assert aleja(mesa) == []  # written today: its start is the latest release, nothing since
    with psycopg.connect(ent["url"]) as conn:
        conn.execute("UPDATE planes.plan SET creado = '2026-03-01' WHERE plan_id = %s", (plan_id,))
    (a,) = aleja(mesa)
    assert (a["plan_id"], a["columna"], a["codigo"]) == (plan_id, "l1_pct", poligono)
    assert a["valor"] == pytest.approx(meta - 6, abs=0.051) and a["referencia"] == pytest.approx(meta - 2, abs=0.051)
    assert a["diferencia"] == pytest.approx(-4, abs=0.11) and "2026-01-10" in a["etiqueta"]
    assert len(aleja(ent["gabinete1"])) == 1 and aleja(ent["mesa0607"]) == []
    with psycopg.connect(ent["url"]) as conn:  # the plan written after the fall: not its course
        conn.execute("UPDATE planes.plan SET creado = '2026-09-01' WHERE plan_id = %s", (plan_id,))
    assert aleja(mesa) == []
    with psycopg.connect(ent["url"]) as conn:
        conn.execute("UPDATE planes.plan SET creado = '2026-03-01' WHERE plan_id = %s", (plan_id,))
    assert mesa.patch(f"/api/acciones/{accion}", json={"estado": "cancelada"}).status_code == 200
    assert aleja(mesa) == []  # nothing in course targets Logro 1 any more


def test_public_profile_shows_each_logros_course_over_the_releases(ent):
    import httpx

    with psycopg.connect(ent["url"]) as conn:
        poligono = _live_1116(conn)["codigo"]
        conn.execute(
            "INSERT INTO publico.cifra_historia VALUES ('anterior-a-mano', '2025-06-30', 'distrito', %s, 'l2_pct', 12.5)"
            " ON CONFLICT DO NOTHING",
            (poligono,),
        )
        rows = conn.execute(
            "SELECT columna, fecha, valor FROM publico.cifra_historia WHERE nivel = 'distrito' AND codigo = %s"
            " AND columna IN ('l1_pct', 'l2_pct', 'l10_pct') ORDER BY fecha",
            (poligono,),
        ).fetchall()
    perfil = httpx.get(f"{ent['server'].base}/api/territorios/{poligono}", timeout=60).json()
    for n in (1, 2, 10):
        mine = [(f, round(v, 1)) for c, f, v in rows if c == f"l{n}_pct"]
        assert [(p["fecha"], p["valor"]) for p in perfil["evolucion"][str(n)]] == [(f.isoformat(), v) for f, v in mine]
    assert perfil["evolucion"]["2"][0] == {"fecha": "2025-06-30", "data_version": "anterior-a-mano", "valor": 12.5}
    assert len(perfil["evolucion"]["2"]) >= 2  # the hand-built older release, then the pilot's
    assert not any(k.endswith("ampliado") for k in perfil["evolucion"])
