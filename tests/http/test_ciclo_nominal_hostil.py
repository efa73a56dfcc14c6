"""The referral cycle against hostile input and probes (issue 21, items 14, 17 and 18):

- a refused (403) or not-found (404) nominal request leaves an audit row naming who, the
  route's template and the territory, never the probed id;
- names and notes that would be spreadsheet formulas leave every nominal CSV as text, in
  the public downloads' dialect (BOM, ``;``);
- a referral's point must be within the service's catchment of the unit (distance by an
  independent haversine here), and the Mesa of a district published under a shared 2012
  polygon (Mcal. Estigarribia 1602, with Boquerón 1606) sees that area's figures and
  alerts, labelled shared, while its nominal list stays its own district's.
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import psycopg
import pytest
import yaml

from tests.institucional import Server, clone_database, login, make_users

FORMULAS = ['=HYPERLINK("http://x")', "+cmd|' /C calc'!A0", "@SUM(A1)", "-2+3", "\tTAB", "\rCR"]


@pytest.fixture(scope="module")
def ciclo(pilotos):
    from geoportal.usuarios import create_user

    url = clone_database(pilotos["url"], "hostil")
    make_users(url)
    with psycopg.connect(url) as conn:
        create_user(conn, "mesa1602", "clave-de-prueba-larga", "mesa_distrital", distrito="1602")
        # Names typed by someone else, which a spreadsheet would run as formulas.
        people = [
            p
            for (p,) in conn.execute(
                "SELECT p.persona_id FROM nominal.persona p JOIN nominal.hogar h USING (hogar_id)"
                " WHERE h.codigo_distrito = '1116' AND p.embarazada AND NOT ('CPN' = ANY (p.servicios))"
                " ORDER BY p.persona_id LIMIT %s",
                (len(FORMULAS),),
            ).fetchall()
        ]
        for person, formula in zip(people, FORMULAS):
            conn.execute(
                "UPDATE nominal.persona SET nombres = %s, apellidos = %s WHERE persona_id = %s",
                (formula, formula, person),
            )
    server = Server(url)
    yield {"server": server, "url": url, "people": people, "mesa": login(server.base, "mesa1116")}
    server.stop()


def _last_audit(url: str, usuario: str) -> tuple:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT usuario, rol, accion, territorio, detalle FROM nominal.auditoria WHERE usuario = %s"
            " ORDER BY auditoria_id DESC LIMIT 1",
            (usuario,),
        ).fetchone()


# ----------------------------------------------------------------------------- item 14
def test_a_not_found_or_foreign_nominal_probe_leaves_the_same_audit_row_without_the_id(ciclo):
    url, mesa = ciclo["url"], ciclo["mesa"]
    with psycopg.connect(url) as conn:
        foreign = conn.execute("SELECT hogar_id FROM nominal.hogar WHERE codigo_distrito = '0607' LIMIT 1").fetchone()[
            0
        ]
    rows = []
    for probed in (foreign, "NO-EXISTE-123"):
        answer = mesa.get(f"/api/nominal/hogares/{probed}")
        assert answer.status_code == 404
        rows.append(_last_audit(url, "mesa1116"))
        assert probed not in json.dumps(rows[-1], default=str)
    assert (
        rows[0]
        == rows[1]
        == (
            "mesa1116",
            "mesa_distrital",
            "no_encontrado",
            "1116",
            {"ruta": "/api/nominal/hogares/{hogar_id}", "estado": 404},
        )
    )
    usf = login(ciclo["server"].base, "usf1116")
    assert usf.get("/api/derivaciones/987654").status_code == 404
    assert _last_audit(url, "usf1116")[2:] == (
        "no_encontrado",
        "1116",
        {"ruta": "/api/derivaciones/{derivacion_id}", "estado": 404},
    )


def test_a_role_refused_on_a_nominal_route_leaves_an_audit_row(ciclo):
    url = ciclo["url"]
    for who, path, route, territory in (
        ("gabinete1", "/api/nominal/brechas", "/api/nominal/brechas", None),
        ("depto11", "/api/derivaciones", "/api/derivaciones", "11"),
        ("mesa1116", "/api/derivaciones/contrarreferencias", "/api/derivaciones/contrarreferencias", "1116"),
    ):
        client = login(ciclo["server"].base, who)
        answer = (
            client.post(path, files={"archivo": ("a.csv", b"derivacion_id,resultado,fecha\n")})
            if path.endswith("contrarreferencias")
            else client.get(path)
        )
        assert answer.status_code == 403, (who, answer.text)
        row = _last_audit(url, who)
        assert row[2:] == ("acceso_denegado", territory, {"ruta": route, "estado": 403}), who


# ----------------------------------------------------------------------------- item 17
def _sheet(answer) -> list[list[str]]:
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.content.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(answer.content.decode("utf-8")[1:], newline=""), delimiter=";"))


def _no_live_formula(sheet: list[list[str]]) -> None:
    for row in sheet:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


def test_nominal_csvs_carry_formulas_as_text_in_the_public_downloads_dialect(ciclo):
    mesa, people = ciclo["mesa"], ciclo["people"]
    gaps = _sheet(mesa.get("/api/nominal/brechas", params={"servicio": "CPN", "formato": "csv", "limite": 50_000}))
    header = gaps[0]
    names = {r[header.index("unidad_id")]: r[header.index("nombres")] for r in gaps[1:]}
    shown = {p: f for p, f in zip(people, FORMULAS) if p in names}
    assert len(shown) >= 3 and all(names[p] == "'" + f for p, f in shown.items())  # the text, never run
    _no_live_formula(gaps)

    with psycopg.connect(ciclo["url"]) as conn:  # referrals whose note and names are formulas
        for person, formula in zip(people[:3], FORMULAS):
            conn.execute(
                "INSERT INTO nominal.derivacion (unidad, unidad_id, servicio, estado, usuario, hogar_id, distrito,"
                " institucion, nota) SELECT 'persona', persona_id, 'CPN', 'referida', 'mesa1116', hogar_id, '1116',"
                " 'MSPBS', %s FROM nominal.persona WHERE persona_id = %s",
                (formula, person),
            )
    report = _sheet(login(ciclo["server"].base, "usf1116").get("/api/derivaciones/reporte"))
    notes = [r[report[0].index("nota")] for r in report[1:]]
    assert set(notes) >= {"'" + f for f in FORMULAS[:3]}
    _no_live_formula(report)

    audit = _sheet(login(ciclo["server"].base, "admin1").get("/api/auditoria", params={"formato": "csv"}))
    assert len(audit) > 1
    _no_live_formula(audit)
    public = httpx_get(ciclo["server"].base + "/descargas/cobertura.csv?nivel=distrito")
    assert public.content.startswith("\ufeff".encode()) and ";" in public.text.splitlines()[0]


def httpx_get(url: str):
    import httpx

    return httpx.get(url, timeout=60)


# ----------------------------------------------------------------------------- item 18
def _haversine_km(lon1, lat1, lon2, lat2) -> float:
    lon1, lat1, lon2, lat2 = map(np.radians, (lon1, lat1, lon2, lat2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return float(2 * 6371.0088 * np.arcsin(np.sqrt(a)))


def test_a_referral_to_a_point_out_of_the_units_reach_is_refused_naming_distance_and_reach(ciclo):
    from geoportal.settings import get_settings

    mesa = ciclo["mesa"]
    radius = next(s for s in yaml.safe_load(get_settings().catalogo.read_text())["servicios"] if s["codigo"] == "CPN")[
        "radio_km"
    ]
    row = next(
        r
        for r in mesa.get(
            "/api/nominal/brechas", params={"servicio": "CPN", "brecha": "derivacion", "limite": 500}
        ).json()["filas"]
        if not r["derivacion_abierta"] and r["unidad_id"] not in ciclo["people"]
    )
    with psycopg.connect(ciclo["url"]) as conn:
        lon, lat = conn.execute("SELECT lon, lat FROM nominal.hogar WHERE hogar_id = %s", (row["hogar_id"],)).fetchone()
        points = conn.execute("SELECT punto_id, lon, lat FROM oferta.punto_entrega WHERE tipo = 'usf'").fetchall()
    far_id, far_lon, far_lat = max(points, key=lambda p: _haversine_km(lon, lat, p[1], p[2]))
    far_km = _haversine_km(lon, lat, far_lon, far_lat)
    limit = radius[row["zona"]]
    assert far_km > 300 > limit
    refused = mesa.post(
        "/api/derivaciones",
        json={"unidad": "persona", "unidad_id": row["unidad_id"], "servicio": "CPN", "punto_id": far_id},
    )
    assert refused.status_code == 422 and refused.headers["content-type"].startswith("application/problem+json")
    detail = refused.json()["detail"]
    assert f"{far_km:.1f}".replace(".", ",") + " km" in detail and f"es de {limit:g}".replace(".", ",") in detail
    # An investment gap (no point in reach) is not referred to the nearest one far away.
    inversion = next(
        r
        for r in mesa.get(
            "/api/nominal/brechas", params={"servicio": "CPN", "brecha": "inversion", "limite": 500}
        ).json()["filas"]
        if not r["derivacion_abierta"]
    )
    answer = mesa.post(
        "/api/derivaciones", json={"unidad": "persona", "unidad_id": inversion["unidad_id"], "servicio": "CPN"}
    )
    assert answer.status_code == 422 and "brecha de inversión" in answer.json()["detail"]
    # The nearest point, in reach, is accepted.
    near = mesa.post(
        "/api/derivaciones",
        json={"unidad": "persona", "unidad_id": row["unidad_id"], "servicio": "CPN", "punto_id": row["punto_id"]},
    )
    assert near.status_code == 201, near.text


def test_the_mesa_of_a_district_under_a_shared_polygon_sees_its_area_labelled_shared(ciclo):
    base, url = ciclo["server"].base, ciclo["url"]
    mesa = login(base, "mesa1602")
    with psycopg.connect(url) as conn:
        members = [
            c
            for (c,) in conn.execute(
                "SELECT codigo FROM territorio.distrito WHERE codigo_2012 = '1602' ORDER BY codigo"
            ).fetchall()
        ]
        stored = conn.execute(
            "SELECT hogares FROM calculo.cobertura_viva WHERE nivel = 'distrito' AND codigo = '1602'"
        ).fetchone()[0]
    assert members == ["1602", "1606"]
    figures = mesa.get("/api/cifras/distrito/1602")
    assert figures.status_code == 200, figures.text  # 403 before: the polygon is not 1602's alone
    assert figures.json()["compartida_con"] == ["1606"]
    assert figures.json()["cifras"]["codigo"] == "1602" and figures.json()["cifras"]["hogares"] == stored
    assert mesa.get("/api/cifras/distrito/1606").json()["cifras"]["codigo"] == "1602"  # the same published area
    assert login(base, "mesa1116").get("/api/cifras/distrito/1602").status_code == 403
    own = ciclo["mesa"].get("/api/cifras/distrito/1116").json()
    assert own["compartida_con"] == []

    everyone = login(base, "gabinete1").get("/api/alertas", params={"umbral": 0}).json()["alertas"]
    expected = sorted((a["tipo"], a["columna"]) for a in everyone if (a["nivel"], a["codigo"]) == ("distrito", "1602"))
    alerts = mesa.get("/api/alertas", params={"umbral": 0}).json()["alertas"]
    assert expected and sorted((a["tipo"], a["columna"]) for a in alerts) == expected
    assert all(a["compartida_con"] == ["1606"] for a in alerts)

    # The nominal list stays the district's own.
    listed = mesa.get("/api/nominal/brechas", params={"paquete": "todos", "limite": 50_000}).json()["filas"]
    with psycopg.connect(url) as conn:
        districts = {
            d
            for (d,) in conn.execute(
                "SELECT DISTINCT codigo_distrito FROM nominal.hogar WHERE hogar_id = ANY(%s)",
                ([r["hogar_id"] for r in listed],),
            ).fetchall()
        }
    assert listed and districts == {"1602"}
