"""Institutional access against a real uvicorn and a real PostGIS: who may call what, on
which territory; sessions, CSRF, lockout; Row-Level Security and the append-only audit log."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.institucional import CLAVE, Server, clone_database, login, login_form, make_users

ANON = "anonimo"
ROLES = [ANON, "gabinete1", "depto11", "mesa1116", "usf1116", "mec1116", "usf0607", "admin1"]


@pytest.fixture(scope="module")
def mundo(pilotos):
    url = clone_database(pilotos["url"], "acceso")
    make_users(url)
    server = Server(url)
    clients = {name: login(server.base, name) for name in ROLES if name != ANON}
    clients[ANON] = httpx.Client(base_url=server.base, timeout=60)
    mesa0607 = login(server.base, "mesa0607")

    def cpn_gaps(client):
        rows = client.get(
            "/api/nominal/brechas", params={"servicio": "CPN", "brecha": "derivacion", "limite": 10}
        ).json()
        return [r for r in rows["filas"] if r["unidad"] == "persona"]

    own, other = cpn_gaps(clients["mesa1116"]), cpn_gaps(mesa0607)

    def refer(client, row):
        answer = client.post(
            "/api/derivaciones", json={"unidad": "persona", "unidad_id": row["unidad_id"], "servicio": "CPN"}
        )
        assert answer.status_code == 201, answer.text
        return answer.json()["derivacion_id"]

    ids = {
        "ref_own": refer(clients["mesa1116"], own[0]),
        "ref_own_2": refer(clients["mesa1116"], own[1]),
        "ref_other": refer(mesa0607, other[0]),
        "persona_libre": own[2]["unidad_id"],
        "persona_otra": other[1]["unidad_id"],
    }
    with psycopg.connect(url) as conn:
        ids["hogar_own"] = conn.execute(
            "SELECT hogar_id FROM nominal.hogar WHERE codigo_distrito = '1116' AND hogar_id NOT IN"
            " (SELECT hogar_id FROM nominal.derivacion) ORDER BY hogar_id LIMIT 1"
        ).fetchone()[0]
        ids["hogar_other"] = conn.execute(
            "SELECT hogar_id FROM nominal.hogar WHERE codigo_distrito = '0607' ORDER BY hogar_id LIMIT 1"
        ).fetchone()[0]
    yield {"server": server, "url": url, "clients": clients, "ids": ids, "mesa0607": mesa0607}
    server.stop()


# Expected status per caller. "*": everyone not listed. 404 = not in the caller's territory
# (never 403, which would confirm the id exists).
HOY = date.today().isoformat()
MATRIX = [
    ("GET", "/api/sesion", None, {ANON: 401, "*": 200}),
    ("GET", "/api/sesion/estado", None, {"*": 200}),  # the public viewer asks it: null when anonymous
    ("GET", "/api/nominal/brechas", None, {ANON: 401, "mesa1116": 200, "*": 403}),
    (
        "GET",
        "/api/nominal/hogares/{hogar_own}",
        None,
        {ANON: 401, "mesa1116": 200, "usf1116": 404, "mec1116": 404, "usf0607": 404, "*": 403},
    ),
    (
        "GET",
        "/api/nominal/hogares/{hogar_other}",
        None,
        {ANON: 401, "mesa1116": 404, "usf1116": 404, "mec1116": 404, "usf0607": 404, "*": 403},
    ),
    (
        "GET",
        "/api/derivaciones",
        None,
        {ANON: 401, "mesa1116": 200, "usf1116": 200, "mec1116": 200, "usf0607": 200, "*": 403},
    ),
    (
        "GET",
        "/api/derivaciones/reporte",
        None,
        {ANON: 401, "mesa1116": 200, "usf1116": 200, "mec1116": 200, "usf0607": 200, "*": 403},
    ),
    (
        "GET",
        "/api/derivaciones/{ref_own}",
        None,
        {ANON: 401, "mesa1116": 200, "usf1116": 200, "mec1116": 404, "usf0607": 404, "*": 403},
    ),
    (
        "GET",
        "/api/derivaciones/{ref_other}",
        None,
        {ANON: 401, "mesa1116": 404, "usf1116": 404, "mec1116": 404, "usf0607": 200, "*": 403},
    ),
    (
        "POST",
        "/api/derivaciones",
        {"unidad": "persona", "unidad_id": "{persona_otra}", "servicio": "CPN"},
        {ANON: 401, "mesa1116": 404, "*": 403},
    ),
    (
        "POST",
        "/api/derivaciones",
        {"unidad": "persona", "unidad_id": "{persona_libre}", "servicio": "CPN"},
        {ANON: 401, "mesa1116": 201, "*": 403},
    ),
    (
        "POST",
        "/api/derivaciones/{ref_other}/contrarreferencia",
        {"resultado": "no_localizada", "fecha": HOY},
        {ANON: 401, "mesa1116": 403, "usf1116": 404, "mec1116": 404, "usf0607": 200, "*": 403},
    ),
    (
        "POST",
        "/api/derivaciones/{ref_own_2}/contrarreferencia",
        {"resultado": "no_entregada", "fecha": HOY},
        {ANON: 401, "mesa1116": 403, "mec1116": 404, "usf0607": 404, "usf1116": 200, "*": 403},
    ),
    ("GET", "/api/auditoria", None, {ANON: 401, "admin1": 200, "*": 403}),
    (
        "GET",
        "/api/cifras/distrito/1116",
        None,
        {ANON: 401, "gabinete1": 200, "depto11": 200, "mesa1116": 200, "usf1116": 200, "mec1116": 200, "*": 403},
    ),
    ("GET", "/api/cifras/distrito/0607", None, {ANON: 401, "gabinete1": 200, "usf0607": 200, "*": 403}),
    ("GET", "/api/cifras/departamento/11", None, {ANON: 401, "gabinete1": 200, "depto11": 200, "*": 403}),
    ("GET", "/api/cifras/pais/PY", None, {ANON: 401, "gabinete1": 200, "*": 403}),
    ("GET", "/api/alertas", None, {ANON: 401, "admin1": 403, "*": 200}),
    ("GET", "/api/perdida", None, {ANON: 401, "gabinete1": 200, "depto11": 200, "mesa1116": 200, "*": 403}),
]


def _fill(value, ids):
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value.format(**ids) if isinstance(value, str) else value


def test_endpoint_role_matrix(mundo):
    """Every endpoint as anonymous and as each role, own and other territory (OWASP API1/API5)."""
    failures = []
    for method, path, body, expected in MATRIX:
        # callers that must be refused go first, so the one allowed write happens last
        for name in sorted(ROLES, key=lambda n: expected.get(n, expected["*"]) < 300):
            want = expected.get(name, expected["*"])
            answer = mundo["clients"][name].request(method, _fill(path, mundo["ids"]), json=_fill(body, mundo["ids"]))
            if answer.status_code != want:
                failures.append(f"{method} {path} como {name}: {answer.status_code} (esperado {want})")
            if answer.status_code >= 400:
                assert answer.headers["content-type"].startswith("application/problem+json"), (path, name)
                assert answer.json()["detail"]
    assert failures == []


def test_other_districts_ids_look_exactly_like_ids_that_do_not_exist(mundo):
    mesa = mundo["clients"]["mesa1116"]
    other = mesa.get(f"/api/nominal/hogares/{mundo['ids']['hogar_other']}")
    missing = mesa.get("/api/nominal/hogares/H0000000000")
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()
    assert mundo["ids"]["hogar_other"] not in other.text
    other_ref = mesa.get(f"/api/derivaciones/{mundo['ids']['ref_other']}")
    assert other_ref.json() == mesa.get("/api/derivaciones/999999").json()


def test_mesa_list_holds_only_its_own_district(mundo):
    rows = (
        mundo["clients"]["mesa1116"].get("/api/nominal/brechas", params={"limite": 50_000, "paquete": "todos"}).json()
    )
    with psycopg.connect(mundo["url"]) as conn:
        own = {r[0] for r in conn.execute("SELECT hogar_id FROM nominal.hogar WHERE codigo_distrito = '1116'")}
    assert rows["total"] > 1000
    assert {r["hogar_id"] for r in rows["filas"]} <= own


def test_login_page_is_spanish_and_wrong_password_is_refused(mundo):
    client = httpx.Client(base_url=mundo["server"].base)
    page = client.get("/ingresar")
    assert "<html lang='es-PY'>" in page.text and "Contraseña" in page.text
    token = login_form(client)
    answer = client.post("/ingresar", data={"usuario": "mesa0607", "clave": "otra-clave-equivocada", "csrf": token})
    assert answer.status_code == 401
    assert "Usuario o contraseña incorrectos" in answer.text
    assert "geoportal_sesion" not in answer.headers.get("set-cookie", "")


def test_session_cookie_is_httponly_samesite_and_secure_behind_tls(mundo):
    client = httpx.Client(base_url=mundo["server"].base)
    token = login_form(client)
    plain = client.post("/ingresar", data={"usuario": "mesa0607", "clave": CLAVE, "csrf": token})
    cookie = next(c for c in plain.headers.get_list("set-cookie") if c.startswith("geoportal_sesion="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    # Behind a TLS proxy on the same host (uvicorn trusts X-Forwarded-Proto from loopback).
    tls = httpx.Client(base_url=mundo["server"].base, headers={"X-Forwarded-Proto": "https"})
    form = tls.get("/ingresar")
    login_cookie = next(c for c in form.headers.get_list("set-cookie") if c.startswith("geoportal_ingreso="))
    assert "Secure" in login_cookie
    token = login_cookie.split(";")[0].split("=", 1)[1]  # a client over plain http would not send a Secure cookie
    answer = tls.post(
        "/ingresar",
        data={"usuario": "mesa0607", "clave": CLAVE, "csrf": token},
        headers={"Cookie": f"geoportal_ingreso={token}"},
    )
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("geoportal_sesion="))
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_a_planted_session_id_is_never_adopted_and_login_rotates_the_id(mundo):
    base = mundo["server"].base
    client = httpx.Client(base_url=base)
    client.cookies.set("geoportal_sesion", "valor-elegido-por-el-atacante", domain="127.0.0.1", path="/")
    token = login_form(client)
    answer = client.post("/ingresar", data={"usuario": "mesa0607", "clave": CLAVE, "csrf": token})
    assert answer.status_code == 303
    issued = client.cookies.get("geoportal_sesion")
    assert issued and issued != "valor-elegido-por-el-atacante"
    attacker = httpx.Client(base_url=base, cookies={"geoportal_sesion": "valor-elegido-por-el-atacante"})
    assert attacker.get("/api/sesion").status_code == 401
    # Logging in again from a browser with a live session closes the old id.
    before = issued
    token = login_form(client)
    client.post("/ingresar", data={"usuario": "mesa0607", "clave": CLAVE, "csrf": token})
    assert client.cookies.get("geoportal_sesion") != before
    assert httpx.get(f"{base}/api/sesion", cookies={"geoportal_sesion": before}).status_code == 401
    assert client.get("/api/sesion").status_code == 200


STATE_CHANGING = [
    ("/api/derivaciones", {"unidad": "persona", "unidad_id": "{persona_libre}", "servicio": "CPN"}, "mesa1116"),
    ("/api/derivaciones/{ref_own}/contrarreferencia", {"resultado": "entregada", "fecha": HOY}, "usf1116"),
    ("/salir", None, "mesa1116"),
    ("/api/derivaciones/contrarreferencias", None, "usf1116"),
    ("/mesa/derivar", {"unidad": "persona", "unidad_id": "{persona_libre}", "servicio": "CPN"}, "mesa1116"),
    (
        "/institucion/contrarreferencia",
        {"derivacion_id": "{ref_own}", "resultado": "entregada", "fecha": HOY},
        "usf1116",
    ),
]


def test_every_post_of_a_session_needs_its_csrf_token(mundo):
    from api.app import create_app

    mine = ("/api/derivaciones", "/api/nominal", "/api/auditoria", "/api/alertas", "/api/cifras", "/api/sesion")
    declared = {
        p
        for p, ops in create_app().openapi()["paths"].items()
        if set(ops) & {"post", "put", "patch", "delete"} and p.startswith(mine)
    }
    assert declared <= {p.replace("{ref_own}", "{derivacion_id}") for p, _, _ in STATE_CHANGING}
    for path, body, who in STATE_CHANGING:
        good = mundo["clients"][who]
        jar = httpx.Client(base_url=mundo["server"].base, cookies=good.cookies)
        url, payload = _fill(path, mundo["ids"]), _fill(body, mundo["ids"])
        for headers in (
            {},
            {"X-CSRF-Token": "token-equivocado"},
            {"X-CSRF-Token": good.headers["X-CSRF-Token"], "Origin": "https://otro-sitio.example"},
        ):
            if path.endswith("/contrarreferencias"):  # a file upload
                answer = jar.post(
                    url,
                    files={"archivo": ("c.csv", f"derivacion_id,resultado,fecha\n1,entregada,{HOY}\n")},
                    headers=headers,
                )
            elif path.startswith(("/mesa", "/institucion")):  # HTML forms
                answer = jar.post(url, data=payload, headers=headers)
            else:
                answer = jar.post(url, json=payload, headers=headers)
            assert answer.status_code == 403, (path, headers, answer.text)
            assert "CSRF" in answer.json()["title"]
        assert good.get("/api/sesion").status_code == 200  # nothing happened, the session lives
    # The login form itself carries a double-submit token.
    fresh = httpx.Client(base_url=mundo["server"].base)
    assert fresh.post("/ingresar", data={"usuario": "mesa0607", "clave": CLAVE}).status_code == 403


def test_repeated_failures_lock_the_name_even_for_the_right_password(mundo):
    from geoportal.usuarios import create_user

    with psycopg.connect(mundo["url"]) as conn:
        create_user(conn, "victima", CLAVE, "gabinete")
    client = httpx.Client(base_url=mundo["server"].base)
    for _ in range(5):
        token = login_form(client)
        assert (
            client.post("/ingresar", data={"usuario": "victima", "clave": "no-es-la-clave", "csrf": token}).status_code
            == 401
        )
    token = login_form(client)
    locked = client.post("/ingresar", data={"usuario": "victima", "clave": CLAVE, "csrf": token})
    assert locked.status_code == 429 and "Demasiados intentos" in locked.text
    assert 0 < int(locked.headers["Retry-After"]) <= 30  # the first wait (GEOPORTAL_BLOQUEO_BASE_SEGUNDOS)
    # A name that does not exist is locked the same way (no user enumeration) ...
    for _ in range(5):
        token = login_form(client)
        client.post("/ingresar", data={"usuario": "nadie-con-este-nombre", "clave": "x" * 12, "csrf": token})
    token = login_form(client)
    assert (
        client.post(
            "/ingresar", data={"usuario": "nadie-con-este-nombre", "clave": "x" * 12, "csrf": token}
        ).status_code
        == 429
    )
    # ... and other users are not locked out by it.
    assert login(mundo["server"].base, "gabinete1").get("/api/sesion").status_code == 200


def test_failures_from_one_address_lock_it_even_for_another_users_right_password(mundo):
    """The per-address rule: GEOPORTAL_INTENTOS_IP_MAX failures under different names lock the
    address, not the names. A second server on the same database with a limit of 4; the
    address is set by X-Forwarded-For, which uvicorn trusts from loopback (a TLS proxy on the
    same host), so the loopback address the other tests share is never counted here."""
    from geoportal.usuarios import create_user

    attacker, elsewhere = "192.0.2.41", "192.0.2.42"  # TEST-NET-1 (RFC 5737)
    with psycopg.connect(mundo["url"]) as conn:
        create_user(conn, "bloqueo.ip", CLAVE, "gabinete")
    server = Server(mundo["url"], env={"GEOPORTAL_INTENTOS_IP_MAX": "4"})
    names = [f"intento{i}" for i in range(4)]
    try:
        client = httpx.Client(base_url=server.base, headers={"X-Forwarded-For": attacker, "Accept": "application/json"})
        for name in names:
            token = login_form(client)
            answer = client.post("/ingresar", data={"usuario": name, "clave": "no-es-la-clave", "csrf": token})
            assert answer.status_code == 401, answer.text
        token = login_form(client)
        locked = client.post("/ingresar", data={"usuario": "bloqueo.ip", "clave": CLAVE, "csrf": token})
        assert locked.status_code == 429
        assert locked.headers["content-type"].startswith("application/problem+json")
        assert "Demasiados intentos fallidos" in locked.json()["detail"]
        assert 0 < int(locked.headers["Retry-After"]) <= 30
        assert "geoportal_sesion" not in locked.headers.get("set-cookie", "")
        # The same user and password from another address get in: the address was locked, not the name.
        other = httpx.Client(base_url=server.base, headers={"X-Forwarded-For": elsewhere})
        token = login_form(other)
        assert other.post("/ingresar", data={"usuario": "bloqueo.ip", "clave": CLAVE, "csrf": token}).status_code == 303
        with psycopg.connect(mundo["url"]) as conn:
            failures = dict(
                conn.execute(
                    "SELECT nombre, count(*) FROM acceso.intento_ingreso WHERE ip = %s AND NOT exito AND tipo = 'intento'"
                    " GROUP BY nombre",
                    (attacker,),
                ).fetchall()
            )
        # one failure per name, far below the per-name limit (5); the refused right password is
        # kept as refused unchecked ('bloqueado'), never as a failure
        assert failures == dict.fromkeys(names, 1)
        with psycopg.connect(mundo["url"]) as conn:
            kinds = conn.execute(
                "SELECT tipo, count(*) FROM acceso.intento_ingreso WHERE ip = %s AND nombre = 'bloqueo.ip'"
                " GROUP BY tipo",
                (attacker,),
            ).fetchall()
        assert kinds == [("bloqueado", 1)]
    finally:
        server.stop()
        with psycopg.connect(mundo["url"]) as conn:  # leave no trace for the tests sharing the database
            conn.execute("DELETE FROM acceso.intento_ingreso WHERE ip = ANY(%s)", ([attacker, elsewhere],))


def test_expired_and_idle_sessions_stop_working(mundo):
    import hashlib

    for column, value in (("expira", "now() - interval '1 second'"), ("ultima", "now() - interval '31 minutes'")):
        client = login(mundo["server"].base, "mesa0607")
        assert client.get("/api/sesion").status_code == 200
        digest = hashlib.sha256(client.cookies.get("geoportal_sesion").encode()).hexdigest()
        with psycopg.connect(mundo["url"]) as conn:
            conn.execute(f"UPDATE acceso.sesion SET {column} = {value} WHERE token_hash = %s", (digest,))
        assert client.get("/api/sesion").status_code == 401
        assert client.get("/api/nominal/brechas").status_code == 401


def test_a_deactivated_users_live_session_ends_at_once(mundo):
    from geoportal.usuarios import create_user, deactivate_user

    with psycopg.connect(mundo["url"]) as conn:
        create_user(conn, "temporal", CLAVE, "mesa_distrital", distrito="1116")
    client = login(mundo["server"].base, "temporal")
    assert client.get("/api/nominal/brechas", params={"limite": 1}).status_code == 200
    with psycopg.connect(mundo["url"]) as conn:
        deactivate_user(conn, "temporal")
    assert client.get("/api/nominal/brechas", params={"limite": 1}).status_code == 401
    fresh = httpx.Client(base_url=mundo["server"].base)
    token = login_form(fresh)
    assert fresh.post("/ingresar", data={"usuario": "temporal", "clave": CLAVE, "csrf": token}).status_code == 401


def _as_role(url: str, role: str, password: str | None = None) -> str:
    from geoportal.roles import role_password

    return (
        make_url(url).set(username=role, password=password or role_password(role)).render_as_string(hide_password=False)
    )


def test_row_level_security_hides_other_districts_even_to_a_raw_query(mundo):
    with psycopg.connect(mundo["url"]) as admin:
        truth = dict(admin.execute("SELECT codigo_distrito, count(*) FROM nominal.hogar GROUP BY 1").fetchall())
        persons_1116 = admin.execute(
            "SELECT count(*) FROM nominal.persona p JOIN nominal.hogar h USING (hogar_id)"
            " WHERE h.codigo_distrito = '1116'"
        ).fetchone()[0]
    with psycopg.connect(_as_role(mundo["url"], "geoportal_nominal")) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "geoportal_nominal"
        # nothing set: nothing visible
        assert conn.execute("SELECT count(*) FROM nominal.hogar").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM nominal.persona").fetchone()[0] == 0
        conn.execute(
            "SELECT set_config('geoportal.distritos', '1116', true), set_config('geoportal.institucion', '*', true)"
        )
        assert conn.execute("SELECT count(*) FROM nominal.hogar WHERE codigo_distrito = '0607'").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM nominal.hogar").fetchone()[0] == truth["1116"]
        assert conn.execute("SELECT count(*) FROM nominal.persona").fetchone()[0] == persons_1116
        assert conn.execute("SELECT count(*) FROM nominal.derivacion WHERE distrito <> '1116'").fetchone()[0] == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # RLS: a Mesa cannot refer outside its district
            conn.execute(
                "INSERT INTO nominal.derivacion (unidad, unidad_id, servicio, estado, usuario, hogar_id,"
                " distrito, institucion) VALUES ('hogar', 'x', 'AGUA', 'referida', 'y', 'x', '0607', 'SENASA')"
            )
        conn.rollback()
        # the setting lasts one transaction only
        assert conn.execute("SELECT count(*) FROM nominal.hogar").fetchone()[0] == 0
        conn.rollback()
        # an institution sees only the households of referrals addressed to it
        conn.execute(
            "SELECT set_config('geoportal.distritos', '1116', true), set_config('geoportal.institucion', 'MEC', true)"
        )
        assert conn.execute("SELECT count(*) FROM nominal.hogar").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM nominal.derivacion").fetchone()[0] == 0
        for forbidden in (
            "SELECT * FROM acceso.usuario",
            "SELECT * FROM calculo.agregado",
            "SELECT * FROM nominal.auditoria",
        ):
            conn.rollback()
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(forbidden)


LOSS = ["areas", "areas_reservadas_pct", "hogares_en_reservadas_pct", "cifras_cambiadas_pct", "cambio_absoluto_medio"]


def test_exact_loss_is_calculo_sdc_perdida_for_aggregate_roles_while_the_public_keeps_whole_percents(mundo):
    import csv
    import io

    from geoportal.cluster import PUBLIC_ROLE
    from geoportal.db import public_password

    with psycopg.connect(mundo["url"]) as owner:
        version = owner.execute("SELECT data_version FROM publico.version WHERE vigente").fetchone()[0]
        exact = {
            (r[0], r[1]): tuple(r[2:])
            for r in owner.execute(
                f"SELECT nivel, zona, {', '.join(LOSS)} FROM calculo.sdc_perdida WHERE data_version = %s", (version,)
            )
        }
    assert len(exact) >= 6
    # exact: some shares are not whole percents (else this test could not tell exact from coarse)
    assert any(v[1] != round(v[1]) or v[2] != round(v[2]) for v in exact.values())

    answer = mundo["clients"]["gabinete1"].get("/api/perdida")
    assert answer.status_code == 200 and answer.headers["cache-control"] == "private, no-store"
    body = answer.json()
    assert body["data_version"] == body["publicacion_vigente"] == version
    assert {(r["nivel"], r["zona"]): tuple(r[c] for c in LOSS) for r in body["perdida"]} == exact
    assert body["perdida"][0]["nivel"] == "pais"
    # the loss is national (no area is named): a district Mesa gets the very same table
    assert mundo["clients"]["mesa1116"].get("/api/perdida").json() == body
    assert mundo["clients"]["depto11"].get("/api/perdida", params={"data_version": version}).json() == body

    sheet = mundo["clients"]["depto11"].get("/api/perdida", params={"formato": "csv"})
    assert sheet.headers["content-type"].startswith("text/csv") and sheet.text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(sheet.text.lstrip("\ufeff")), delimiter=";"))
    assert rows[0][:4] == ["Versión de datos", "Nivel", "Zona", "Áreas"]
    got = {(r[1], r[2]): (int(r[3]), *(float(x.replace(",", ".")) for x in r[4:])) for r in rows[1:]}
    assert got == exact and {r[0] for r in rows[1:]} == {version}

    unknown = mundo["clients"]["gabinete1"].get("/api/perdida", params={"data_version": "0000000000000000"})
    assert unknown.status_code == 404 and unknown.headers["content-type"].startswith("application/problem+json")
    assert "No hay pérdida de información" in unknown.json()["detail"]
    bad = mundo["clients"]["gabinete1"].get("/api/perdida", params={"data_version": "x' OR '1'='1"})
    assert bad.status_code == 400 and "data_version" in bad.json()["detail"]
    refused = mundo["clients"][ANON].get("/api/perdida")
    assert refused.status_code == 401 and "areas_reservadas_pct" not in refused.text

    # The public role (every public route) reads only whole percents of reserved areas and
    # households, and neither the exact table nor the function; nor does the session role
    # read the table except through the function.
    with psycopg.connect(_as_role(mundo["url"], PUBLIC_ROLE, public_password())) as public:
        coarse = public.execute(
            "SELECT nivel, zona, areas_reservadas_pct, hogares_en_reservadas_pct"
            " FROM publico.sdc_perdida WHERE data_version = %s",
            (version,),
        ).fetchall()
        assert {(n, z) for n, z, _, _ in coarse} == set(exact)
        for nivel, zona, areas_pct, households_pct in coarse:
            assert type(areas_pct) is int and type(households_pct) is int
            assert abs(areas_pct - exact[nivel, zona][1]) <= 0.5 and abs(households_pct - exact[nivel, zona][2]) <= 0.5
        for forbidden in ("SELECT * FROM calculo.sdc_perdida", "SELECT * FROM acceso.perdida_exacta()"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                public.execute(forbidden)
            public.rollback()
    with (
        psycopg.connect(_as_role(mundo["url"], "geoportal_acceso")) as session_role,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        session_role.execute("SELECT * FROM calculo.sdc_perdida")


def test_audit_log_is_append_only_for_the_api_and_a_mesa_cannot_read_it(mundo):
    with psycopg.connect(_as_role(mundo["url"], "geoportal_nominal")) as conn:
        conn.execute("INSERT INTO nominal.auditoria (usuario, rol, accion) VALUES ('prueba', 'sistema', 'prueba')")
        for statement in (
            "UPDATE nominal.auditoria SET usuario = 'otro'",
            "DELETE FROM nominal.auditoria",
            "SELECT count(*) FROM nominal.auditoria",
            "TRUNCATE nominal.auditoria",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
            conn.rollback()
    with psycopg.connect(_as_role(mundo["url"], "geoportal_acceso")) as conn:
        assert conn.execute("SELECT count(*) FROM acceso.auditoria").fetchone()[0] > 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM nominal.auditoria")
    with psycopg.connect(mundo["url"]) as owner:  # not even the owner rewrites history (trigger)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            owner.execute("UPDATE nominal.auditoria SET usuario = 'otro'")
    assert mundo["clients"]["mesa1116"].get("/api/auditoria").status_code == 403


def test_nominal_reads_are_logged_with_who_role_territory_purpose_and_rows(mundo):
    mesa = mundo["clients"]["mesa1116"]
    rows = mesa.get(
        "/api/nominal/brechas", params={"servicio": "CPN", "limite": 7, "finalidad": "planificacion"}
    ).json()
    log = mundo["clients"]["admin1"].get("/api/auditoria", params={"limite": 5}).json()["registros"]
    entry = next(r for r in log if r["accion"] == "lista_nominal")
    assert (entry["usuario"], entry["rol"], entry["territorio"], entry["finalidad"], entry["filas"]) == (
        "mesa1116",
        "mesa_distrital",
        "1116",
        "planificacion",
        len(rows["filas"]),
    )
    csv_log = mundo["clients"]["admin1"].get("/api/auditoria", params={"formato": "csv", "limite": 3})
    assert csv_log.headers["content-type"].startswith("text/csv")
    assert csv_log.text.splitlines()[0].startswith("\ufeffauditoria_id;momento;usuario;rol;accion")  # api.base.hojas


def test_passwords_are_stored_as_argon2id_hashes(mundo):
    with psycopg.connect(mundo["url"]) as conn:
        hashes = [r[0] for r in conn.execute("SELECT clave_hash FROM acceso.usuario")]
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)
    assert not any(CLAVE in h for h in hashes)


def test_cli_creates_lists_changes_and_deactivates_users(mundo):
    env = {"GEOPORTAL_DATABASE_URL": mundo["url"], "GEOPORTAL_CLAVE_NUEVA": "una-clave-suficientemente-larga"}
    import os

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "geoportal.cli", "usuarios", *args],
            capture_output=True,
            text=True,
            env={**os.environ, **env, "COLUMNS": "200"},
            timeout=120,
        )

    made = cli(
        "crear", "mesa.caazapa", "--rol", "mesa_distrital", "--distrito", "0607", "--nombre-completo", "Ana Pérez"
    )
    assert made.returncode == 0, made.stdout + made.stderr
    assert "mesa.caazapa" in cli("listar").stdout
    bad = cli("crear", "otra.mesa", "--rol", "mesa_distrital", "--distrito", "9999")
    assert (
        bad.returncode == 1
        and "Distrito desconocido: 9999" in bad.stdout
        and "Traceback" not in bad.stdout + bad.stderr
    )
    missing = cli("crear", "otra.mesa", "--rol", "institucion", "--institucion", "MEC")
    assert missing.returncode == 1 and "necesita --institucion y --distritos" in missing.stdout
    assert cli("rol", "mesa.caazapa", "institucion", "--institucion", "MEC", "--distritos", "0607,1116").returncode == 0
    assert cli("desactivar", "mesa.caazapa").returncode == 0
    with psycopg.connect(mundo["url"]) as conn:
        rol, inst, districts, active = conn.execute(
            "SELECT rol, institucion, distritos, activo FROM acceso.usuario WHERE nombre = 'mesa.caazapa'"
        ).fetchone()
    assert (rol, inst, districts, active) == ("institucion", "MEC", ["0607", "1116"], False)


def test_demo_users_are_created_once_with_private_random_passwords_that_log_in(mundo, tmp_path):
    import os
    import stat

    env = {**os.environ, "GEOPORTAL_DATABASE_URL": mundo["url"], "GEOPORTAL_HOME": str(tmp_path), "COLUMNS": "200"}
    first = subprocess.run(
        [sys.executable, "-m", "geoportal.cli", "usuarios", "demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert first.returncode == 0, first.stdout + first.stderr
    saved = dict(line.split(" ", 1) for line in (tmp_path / "usuarios_demo.txt").read_text().splitlines())
    assert set(saved) == {"demo.mesa", "demo.usf", "demo.gabinete"}
    assert stat.S_IMODE((tmp_path / "usuarios_demo.txt").stat().st_mode) == 0o600
    assert len(set(saved.values())) == 3 and all(len(k) >= 16 and k in first.stdout for k in saved.values())
    mesa = login(mundo["server"].base, "demo.mesa", saved["demo.mesa"]).get("/api/sesion").json()
    assert (mesa["rol"], mesa["territorio"]) == ("mesa_distrital", "1116")
    again = subprocess.run(
        [sys.executable, "-m", "geoportal.cli", "usuarios", "demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert again.returncode == 0
    assert dict(line.split(" ", 1) for line in (tmp_path / "usuarios_demo.txt").read_text().splitlines()) == saved


def test_institutional_roles_borrow_from_the_lifespans_pools(mundo):
    """Login/session and nominal transactions come from one pool per role opened by the
    application's lifespan: after a burst of requests the server keeps a bounded set of
    connections of each role open, and sequential requests reuse the same backends."""
    mesa = mundo["clients"]["mesa1116"]

    def backends() -> dict[str, set[int]]:
        with psycopg.connect(mundo["url"]) as conn:
            rows = conn.execute(
                "SELECT usename, pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND usename IN ('geoportal_nominal', 'geoportal_acceso')"
            ).fetchall()
        found: dict[str, set[int]] = {"geoportal_nominal": set(), "geoportal_acceso": set()}
        for user, pid in rows:
            found[user].add(pid)
        return found

    for _ in range(10):
        assert mesa.get("/api/nominal/brechas", params={"limite": 5}).status_code == 200
    before = backends()
    assert 1 <= len(before["geoportal_nominal"]) <= 6 and 1 <= len(before["geoportal_acceso"]) <= 4
    for _ in range(10):
        assert mesa.get("/api/nominal/brechas", params={"limite": 5}).status_code == 200
    assert backends() == before
