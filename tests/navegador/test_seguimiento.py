"""The jobs of the Mesa, the institution and the Gabinete in a real Chromium (desktop
1366×768 and phone 390×844) against a real uvicorn and PostGIS (issue 22, items 8–16).

Expected values are read straight from the database (names, ages, distances by
haversine, referral states, live protected rows), never from the pages under test. Every
page is looked at in a screenshot under ``tests/artefactos/`` (``seguimiento-*.png``).
Role limits are checked over HTTP.
"""

from __future__ import annotations

import os
import tempfile
import time
import unicodedata
from datetime import date
from pathlib import Path

import httpx
import numpy as np
import psycopg
import pytest
import yaml

from tests.institucional import CLAVE, Server, clone_database, login, login_form, make_users
from tests.rutas import ARTEFACTOS, CHROMIUM, CHROMIUM_ARGS

ESCRITORIO = {"width": 1366, "height": 768}
TELEFONO = {"width": 390, "height": 844}
HOY = date.today().isoformat()


@pytest.fixture(scope="module")
def mundo(pilotos):
    from geoportal.pipeline import compute_all
    from tiles.publicacion import preparar_publicacion

    url = clone_database(pilotos["url"], "seguimiento")
    with psycopg.connect(url) as conn:  # live figures without a cut-off, as in test_derivaciones
        compute_all(conn)
        preparar_publicacion(conn)
    make_users(url)
    server = Server(url)
    yield {
        "server": server,
        "url": url,
        "base": server.base,
        "mesa": login(server.base, "mesa1116"),
        "usf": login(server.base, "usf1116"),
    }
    server.stop()


@pytest.fixture(scope="module")
def navegador(mundo):
    """One Chromium profile per user (fresh user-data dirs), logged in through the form."""
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail("Falta /usr/bin/chromium.")
    with tempfile.TemporaryDirectory() as root, sync_playwright() as pw:
        contexts = {}

        def como(usuario: str):
            if usuario not in contexts:
                ctx = pw.chromium.launch_persistent_context(
                    str(Path(root) / usuario),
                    executable_path=CHROMIUM,
                    args=CHROMIUM_ARGS,
                    headless=True,
                    locale="es-PY",
                    viewport=ESCRITORIO,
                    accept_downloads=True,
                )
                page = ctx.new_page()
                page.goto(mundo["base"] + "/ingresar")
                page.fill("input[name=usuario]", usuario)
                page.fill("input[name=clave]", CLAVE)
                page.click("button[type=submit]")
                page.wait_for_load_state()
                ctx.aterrizaje = page.url
                page.close()
                contexts[usuario] = ctx
            return contexts[usuario]

        yield como
        for ctx in contexts.values():
            ctx.close()


class Vista:
    """A page of one user's browser that records console errors and every request."""

    def __init__(self, context, base: str, viewport: dict):
        self.base = base
        self.page = context.new_page()
        self.page.set_viewport_size(viewport)
        self.errores: list[str] = []
        self.pedidos: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errores.append(m.text))
        self.page.on("pageerror", lambda e: self.errores.append(str(e)))
        self.page.on("request", lambda r: self.pedidos.append(r.url))

    def abrir(self, path: str):
        self.page.goto(self.base + path)
        self.page.wait_for_load_state()
        return self.page

    def captura(self, nombre: str, entera: bool = False) -> Path:
        ARTEFACTOS.mkdir(parents=True, exist_ok=True)
        path = ARTEFACTOS / nombre
        self.page.screenshot(path=str(path), full_page=entera)
        return path

    def cerrar(self):
        self.page.close()
        assert self.errores == [], self.errores
        fuera = [u for u in self.pedidos if not u.startswith(("http://127.0.0.1:", "data:"))]
        assert fuera == [], fuera


def _rows(url: str, query: str, params=()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def _fold(text: str) -> str:
    """Case, accents and ñ folded, independently of the code under test."""
    plain = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in plain if not unicodedata.combining(c)).split())


def _num(text: str) -> float:
    """A number as written in Paraguay (1.234,5; a leading + allowed)."""
    return float(text.strip().replace(".", "").replace(",", ".").replace("+", ""))


def _haversine_km(lon1, lat1, lon2, lat2):
    lon1, lat1, lon2, lat2 = map(np.radians, (lon1, lat1, lon2, lat2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * np.arcsin(np.sqrt(a))


def _catalog() -> dict:
    from geoportal.settings import get_settings

    return yaml.safe_load(get_settings().catalogo.read_text())


def _both(context, base, path, name, check=None, entera=False):
    """Open ``path`` on a desktop and on a phone, run ``check(page, viewport)``, screenshot both."""
    for viewport, suffix in ((ESCRITORIO, "escritorio"), (TELEFONO, "telefono")):
        vista = Vista(context, base, viewport)
        try:
            page = vista.abrir(path)
            if check:
                check(page, viewport)
            vista.captura(f"seguimiento-{name}-{suffix}.png", entera=entera)
        finally:
            vista.cerrar()


def _no_horizontal_overflow(page, viewport):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"] + 1, f"the page is {width} px wide on a {viewport['width']} px screen"


def _cpn_rows(mundo, **params) -> list[dict]:
    return (
        mundo["mesa"]
        .get("/api/nominal/brechas", params={"servicio": "CPN", "limite": 50_000, "paquete": "todos", **params})
        .json()["filas"]
    )


# ----------------------------------------------------------------------------- 8: landing
def test_8_a_mesa_lands_on_the_map_of_its_district_with_its_name(mundo, navegador):
    base = mundo["base"]
    for who, asked, expected in (
        ("mesa1116", None, "/?t=1116"),
        ("mesa1116", "/mesa", "/mesa"),
        ("gabinete1", None, "/cuenta"),
        ("usf1116", None, "/cuenta"),
    ):
        client = httpx.Client(base_url=base)
        token = login_form(client)
        answer = client.post(
            "/ingresar", data={"usuario": who, "clave": CLAVE, "csrf": token, **({"siguiente": asked} if asked else {})}
        )
        assert answer.status_code == 303 and answer.headers["location"] == expected, (who, answer.headers)
    official = _rows(mundo["url"], "SELECT nombre FROM territorio.distrito WHERE codigo = '1116'")[0][0]
    context = navegador("mesa1116")
    assert context.aterrizaje.endswith("/?t=1116"), context.aterrizaje

    def on_the_map(page, viewport):
        page.wait_for_selector("body[data-listo=si]", timeout=30_000)
        page.wait_for_selector("body[data-cuenta=si]", timeout=30_000)
        page.wait_for_function(
            "() => document.querySelector('#territorio-nombre')?.textContent !== '1116'", timeout=30_000
        )
        assert _fold(page.inner_text("#territorio-nombre")) == _fold(official)
        page.wait_for_timeout(1500)
        assert "t=1116" in page.url

    _both(context, base, "/?t=1116", "8-mapa", on_the_map)

    def account(page, viewport):
        assert page.locator("a[href='/?t=1116']").count() == 1
        assert page.locator("a[href='/perdida']").count() == 1
        _no_horizontal_overflow(page, viewport)

    _both(context, base, "/cuenta", "8-cuenta", account)

    def named(page, viewport):
        shown = page.inner_text("#distrito")
        assert shown != "1116" and _fold(shown) == _fold(official), shown

    _both(context, base, "/mesa?servicio=CPN", "8-mesa", named)


# ----------------------------------------------------------------------------- 11: the gap list and the referral form
def test_11_gap_list_is_searchable_filterable_sortable_and_inversion_rows_are_not_referred(mundo, navegador):
    base, context = mundo["base"], navegador("mesa1116")
    rows = _cpn_rows(mundo)
    persons = {r["unidad_id"]: r for r in rows}
    # search: a surname typed without accents and in lower case
    target = next(r for r in rows if r.get("apellidos"))
    word = _fold(target["apellidos"].split()[0])
    expected = {pid for pid, r in persons.items() if word in _fold(f"{r['nombres']} {r['apellidos']}")}
    vista = Vista(context, base, ESCRITORIO)
    try:
        page = vista.abrir("/mesa?servicio=CPN")
        page.fill("input[name=buscar]", word)
        page.click("form.filtros button")
        page.wait_for_load_state()
        assert int(page.inner_text("#total")) == len(expected)
        shown = page.eval_on_selector_all("#lista td.quien", "els => els.map(e => e.textContent)")
        assert sorted(shown) == sorted(f"{persons[p]['nombres']} {persons[p]['apellidos']}" for p in expected)
        vista.captura("seguimiento-11-busqueda-escritorio.png")
        # locality filter: every row of the chosen locality, and their number
        locality = rows[0]["localidad"]
        page.goto(base + "/mesa?servicio=CPN")
        page.select_option("select[name=localidad]", locality)
        page.click("form.filtros button")
        page.wait_for_load_state()
        assert int(page.inner_text("#total")) == sum(r["localidad"] == locality for r in rows)
        cells = page.eval_on_selector_all("#lista tr td:nth-child(3)", "els => els.map(e => e.textContent)")
        assert cells and set(cells) == {locality}
        # sorted by name (surname, then given names; by id on a tie)
        page.goto(base + "/mesa?servicio=CPN&orden=nombre")
        order = sorted(rows, key=lambda r: (_fold(f"{r['apellidos']} {r['nombres']}"), r["unidad_id"]))
        shown = page.eval_on_selector_all("#lista td.quien", "els => els.map(e => e.textContent)")
        assert shown == [f"{r['nombres']} {r['apellidos']}" for r in order[: len(shown)]] and len(shown) == min(
            50, len(rows)
        )
        # inversion rows: no "Derivar", the investment need instead
        page.goto(base + "/mesa?servicio=CPN&brecha=inversion")
        investment = [r for r in rows if r["brecha"] == "inversion"]
        assert investment, "the pilots have CPN gaps with no USF in reach"
        assert page.locator("#lista a.derivar").count() == 0
        assert page.locator("#lista .inversion", has_text="necesidad de inversión").count() == min(50, len(investment))
        vista.captura("seguimiento-11-inversion-escritorio.png")
    finally:
        vista.cerrar()


def test_11_referral_has_a_confirmation_step_with_the_nearest_point_in_reach_and_a_note(mundo, navegador):
    base, context = mundo["base"], navegador("mesa1116")
    rows = [r for r in _cpn_rows(mundo, brecha="derivacion") if not r["derivacion_abierta"]]
    cpn = next(s for s in _catalog()["servicios"] if s["codigo"] == "CPN")
    vista = Vista(context, base, TELEFONO)
    try:
        page = vista.abrir("/mesa?servicio=CPN&brecha=derivacion")
        # on a phone the action is next to the name, on the first screen
        first = page.locator("#lista tr", has=page.locator("a.derivar")).first
        first.scroll_into_view_if_needed()
        name_box = first.locator("td.quien").bounding_box()
        action = first.locator("a.derivar").bounding_box()
        assert action["x"] + action["width"] <= TELEFONO["width"], action
        assert abs(action["y"] - name_box["y"]) < name_box["height"], (action, name_box)
        assert action["height"] >= 24
        vista.captura("seguimiento-11-lista-telefono.png")
        who = first.locator("td.quien").inner_text()
        row = next(r for r in rows if f"{r['nombres']} {r['apellidos']}" == who)
        first.locator("a.derivar").click()
        page.wait_for_selector("form.confirmar")
        assert page.inner_text("#quien") == who
        home = _rows(
            mundo["url"], "SELECT h.lon, h.lat, h.zona FROM nominal.hogar h WHERE h.hogar_id = %s", (row["hogar_id"],)
        )[0]
        usf = _rows(mundo["url"], "SELECT punto_id, lon, lat FROM oferta.punto_entrega WHERE tipo = 'usf'")
        km = _haversine_km(home[0], home[1], np.array([u[1] for u in usf]), np.array([u[2] for u in usf]))
        nearest = usf[int(np.argmin(km))][0]
        assert km.min() <= cpn["radio_km"][home[2]]
        assert page.eval_on_selector("#punto", "s => s.value") == nearest
        options = page.eval_on_selector_all("#punto option", "os => os.map(o => o.value)")
        assert options == [usf[i][0] for i in np.argsort(km, kind="stable")[: len(options)]]
        page.fill("#nota", "Acompañar a la primera consulta")
        vista.captura("seguimiento-11-confirmar-telefono.png")
        page.click("button.confirmar")
        page.wait_for_selector("#mensaje")
        assert "enviada a MSPBS" in page.inner_text("#mensaje")
        saved = _rows(
            mundo["url"],
            "SELECT punto_id, nota, estado FROM nominal.derivacion WHERE unidad_id = %s AND servicio = 'CPN'",
            (row["unidad_id"],),
        )
        assert saved == [(nearest, "Acompañar a la primera consulta", "referida")]
    finally:
        vista.cerrar()
    desktop = Vista(context, base, ESCRITORIO)
    try:
        desktop.abrir("/mesa?servicio=CPN&brecha=derivacion")
        desktop.captura("seguimiento-11-lista-escritorio.png")
    finally:
        desktop.cerrar()
    # an inversion row cannot be referred by typing its address either
    investment = next(r for r in _cpn_rows(mundo, brecha="inversion"))
    answer = mundo["mesa"].get(
        "/mesa/confirmar", params={"unidad": "persona", "unidad_id": investment["unidad_id"], "servicio": "CPN"}
    )
    assert (
        "necesidad de inversión" in answer.text and "button" not in answer.text.split("<main>")[1].split("confirmar")[0]
    )
    # another district's Mesa cannot open this district's unit
    stranger = login(base, "mesa0607").get(
        "/mesa/confirmar", params={"unidad": "persona", "servicio": "CPN", "unidad_id": rows[-1]["unidad_id"]}
    )
    assert "fuera de su distrito" in stranger.text and rows[-1]["apellidos"] not in stranger.text


# ----------------------------------------------------------------------------- 9: the Mesa's referrals
def _refer(mundo, n: int) -> list[int]:
    rows = [r for r in _cpn_rows(mundo, brecha="derivacion") if not r["derivacion_abierta"]][:n]
    out = []
    for r in rows:
        answer = mundo["mesa"].post(
            "/api/derivaciones", json={"unidad": "persona", "unidad_id": r["unidad_id"], "servicio": "CPN"}
        )
        assert answer.status_code == 201, answer.text
        out.append(answer.json()["derivacion_id"])
    return out


def test_9_the_mesa_lists_its_referrals_with_their_states_filters_and_csv(mundo, navegador):
    base, usf = mundo["base"], mundo["usf"]
    delivered, lost, waiting = _refer(mundo, 3)
    for ref, result in ((delivered, "entregada"), (lost, "no_localizada")):
        answer = usf.post(f"/api/derivaciones/{ref}/contrarreferencia", json={"resultado": result, "fecha": HOY})
        assert answer.status_code == 200, answer.text
    states = dict(_rows(mundo["url"], "SELECT derivacion_id, estado FROM nominal.derivacion WHERE distrito = '1116'"))
    assert (states[delivered], states[lost], states[waiting]) == ("entregada", "no_localizada", "referida")
    context = navegador("mesa1116")

    def listing(page, viewport):
        assert int(page.inner_text("#total")) == len(states)
        ids = [
            int(x)
            for x in page.eval_on_selector_all("#derivaciones tr td:first-child", "els => els.map(e => e.textContent)")
        ]
        assert sorted(ids) == sorted(states)
        row = page.locator("#derivaciones tr", has=page.locator("td:first-child", has_text=str(delivered))).first
        assert "entregada" in row.inner_text() and "MSPBS" in row.inner_text()
        row = page.locator("#derivaciones tr", has=page.locator("td:first-child", has_text=str(lost))).first
        assert "no localizada" in row.inner_text()
        counts = page.inner_text("#conteos")
        assert f"{sum(v == 'entregada' for v in states.values())} entregada" in counts

    _both(context, base, "/mesa/derivaciones", "9-derivaciones", listing)

    def delivered_only(page, viewport):
        ids = [
            int(x)
            for x in page.eval_on_selector_all("#derivaciones tr td:first-child", "els => els.map(e => e.textContent)")
        ]
        assert ids == sorted((k for k, v in states.items() if v == "entregada"), reverse=True)

    _both(context, base, "/mesa/derivaciones?estado=entregada", "9-entregadas", delivered_only)
    sheet = mundo["mesa"].get("/mesa/derivaciones", params={"formato": "csv", "estado": "no_localizada"})
    assert sheet.headers["content-type"].startswith("text/csv") and sheet.text.startswith("\ufeff")
    lines = sheet.text.lstrip("\ufeff").strip().split("\r\n")
    assert lines[0].split(";")[:3] == ["N.º", "Persona / hogar", "Localidad"]
    assert sorted(int(line.split(";")[0]) for line in lines[1:]) == sorted(
        k for k, v in states.items() if v == "no_localizada"
    )
    # roles: another district's Mesa sees none of these; an institution is refused
    other = login(base, "mesa0607").get("/mesa/derivaciones")
    assert "<b id='total'>0</b>" in other.text
    refused = usf.get("/mesa/derivaciones")
    assert "Esta página es para el rol Mesa distrital" in refused.text and "derivaciones'" not in refused.text


# ----------------------------------------------------------------------------- 10: the effect of its deliveries
def test_10_the_mesa_sees_the_gaps_its_deliveries_closed_apart_from_the_protected_figures(mundo, navegador):
    (ref,) = _refer(mundo, 1)
    assert (
        mundo["usf"]
        .post(f"/api/derivaciones/{ref}/contrarreferencia", json={"resultado": "entregada", "fecha": HOY})
        .status_code
        == 200
    )
    closed = _rows(
        mundo["url"],
        "SELECT e.servicio, count(DISTINCT (e.unidad, e.unidad_id)) FROM nominal.estatus_evento e"
        " JOIN nominal.derivacion d ON e.fuente = 'contrarreferencia:' || d.derivacion_id"
        " WHERE e.cubierto AND d.distrito = '1116'"
        " AND e.registrado > (SELECT calculado_en FROM publico.version WHERE vigente) GROUP BY e.servicio",
    )
    assert closed and dict(closed)["CPN"] >= 1
    gestantes = next(c for c in _catalog()["categorias"] if c["codigo"] == "gestante")

    def effect(page, viewport):
        assert int(page.inner_text("#cerradas")) == sum(n for _, n in closed)
        table = page.inner_text("#por_servicio")
        assert "Control prenatal" in table and "CPN" not in table
        logro = page.locator("#por_logro tr", has_text=f"Logro {gestantes['logro']}").inner_text()
        assert logro.split()[-1] == str(dict(closed)["CPN"])
        assert "No son cifras publicadas" in page.inner_text("#nominal")

    _both(navegador("mesa1116"), mundo["base"], "/mesa/efecto", "10-efecto", effect)
    assert "<b id='cerradas'>0</b>" in login(mundo["base"], "mesa0607").get("/mesa/efecto").text


# ----------------------------------------------------------------------------- 12-13: the institution
def test_12_13_the_institution_sees_who_to_serve_by_point_and_reports_without_a_default(mundo, navegador):
    _refer(mundo, 2)
    catalog = {s["codigo"]: s["nombre"] for s in _catalog()["servicios"]}
    pending = _rows(
        mundo["url"],
        "SELECT d.derivacion_id, p.nombres || ' ' || p.apellidos, p.sexo, p.fecha_nacimiento, h.localidad,"
        " pe.nombre FROM nominal.derivacion d JOIN nominal.persona p ON p.persona_id = d.unidad_id"
        " JOIN nominal.hogar h ON h.hogar_id = d.hogar_id JOIN oferta.punto_entrega pe ON pe.punto_id = d.punto_id"
        " WHERE d.estado = 'referida' AND d.institucion = 'MSPBS' AND d.distrito = '1116'",
    )
    assert pending
    today = date.today()
    context = navegador("usf1116")

    def cards(page, viewport):
        for ref, name, sex, born, locality, point in pending:
            card = page.locator(f"#d{ref}")
            text = card.inner_text()
            age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
            assert name in text and f"{age} años" in text and {"F": "mujer", "M": "varón"}[sex] in text, text
            assert locality in text and catalog["CPN"] in text and "CPN" not in text.replace(catalog["CPN"], "")
            section = page.locator("section.punto", has=page.locator(f"#d{ref}"))
            assert section.locator("h2").inner_text().startswith(point)
            assert card.locator("select[name=resultado]").evaluate("s => s.value") == ""
        _no_horizontal_overflow(page, viewport)

    _both(context, mundo["base"], "/institucion", "12-institucion", cards)
    ref, name = pending[0][:2]
    vista = Vista(context, mundo["base"], TELEFONO)
    try:
        page = vista.abrir("/institucion")
        card = page.locator(f"#d{ref}")
        card.locator("button.registrar").click()  # no result chosen: the browser does not send it
        page.wait_for_timeout(500)
        assert page.locator("#mensaje").count() == 0
        assert (
            _rows(mundo["url"], "SELECT estado FROM nominal.derivacion WHERE derivacion_id = %s", (ref,))[0][0]
            == "referida"
        )
        card.locator("select[name=resultado]").select_option("no_entregada")
        card.locator("input[name=nota]").fill("No asistió al turno")
        assert card.locator(".progreso").count() == 1
        started = time.monotonic()
        card.locator("button.registrar").click()
        page.wait_for_selector("#mensaje", timeout=60_000)
        assert time.monotonic() - started < 60
        assert "registrada: no entregada" in page.inner_text("#mensaje")
        vista.captura("seguimiento-13-contrarreferencia-telefono.png")
    finally:
        vista.cerrar()
    assert _rows(
        mundo["url"],
        "SELECT estado, nota FROM nominal.derivacion_estado WHERE derivacion_id = %s AND estado <> 'referida'",
        (ref,),
    ) == [("no_entregada", "No asistió al turno")]
    # without a result over HTTP: told to choose, nothing recorded
    (other,) = _refer(mundo, 1)
    answer = mundo["usf"].post(
        "/institucion/contrarreferencia", data={"derivacion_id": other, "fecha": HOY}, follow_redirects=True
    )
    assert "Elija el resultado" in answer.text
    assert (
        _rows(mundo["url"], "SELECT estado FROM nominal.derivacion WHERE derivacion_id = %s", (other,))[0][0]
        == "referida"
    )
    # roles: another district's institution, another institution: none of these persons
    for who in ("usf0607", "mec1116"):
        text = login(mundo["base"], who).get("/institucion").text
        assert name not in text and f"id='d{ref}'" not in text


# ----------------------------------------------------------------------------- 14: alerts as a dashboard
def _live(url: str) -> dict:
    with psycopg.connect(url) as conn:
        return {
            (r[0]["nivel"], r[0]["codigo"]): r[0]
            for r in conn.execute(
                "SELECT * FROM acceso.cifras_vivas(ARRAY['pais', 'departamento', 'distrito'], NULL)"
            ).fetchall()
        }


def test_14_gabinete_alerts_are_a_dashboard_grouped_ranked_and_small_samples_held_back(mundo, navegador):
    gabinete = login(mundo["base"], "gabinete1")
    alerts = gabinete.get("/api/alertas").json()["alertas"]
    assert alerts
    live = _live(mundo["url"])
    medida = {c: (n, sv) for c, n, sv in _rows(mundo["url"], "SELECT columna, logro, servicio FROM publico.medida")}
    catalog = _catalog()
    logro_of_category = {c["codigo"]: c["logro"] for c in catalog["categorias"]}
    of_service = {s["codigo"]: sorted({logro_of_category[c] for c in s["categorias"]}) for s in catalog["servicios"]}
    small = 0
    per_logro: dict = {}
    for a in alerts:
        n, service = medida[a["columna"]]
        logros = [n] if n else of_service.get(service, [])
        sizes = [live[(a["nivel"], a["codigo"])].get(f"l{k}_universo") for k in logros]
        sizes = [x for x in sizes if x is not None]
        universe = max(sizes) if sizes else None
        assert a["universo"] == universe and a["pequena"] == (universe is not None and universe < 20), a
        if a["pequena"]:
            small += 1
        else:
            key = logros[0] if logros else 0
            per_logro[key] = per_logro.get(key, 0) + 1
    context = navegador("gabinete1")

    def dashboard(page, viewport):
        assert int(page.inner_text("#total")) == sum(not a["pequena"] for a in alerts)
        if small:
            assert str(small) in page.inner_text("#retenidas")
        for n, count in per_logro.items():
            row = page.locator("#conteos tr", has=page.locator(f"a[href='#logro{n}']"))
            assert row.locator("td").last.inner_text() == str(count)
            values = [
                _num(x)
                for x in page.eval_on_selector_all(
                    f"#alertas{n} tr td:nth-child(7)", "els => els.map(e => e.textContent)"
                )
            ]
            assert values == sorted(values)  # ranked, worst first
        assert page.locator("tr.pequena").count() == 0
        assert page.evaluate("document.documentElement.scrollHeight") < 40 * viewport["height"]

    _both(context, mundo["base"], "/gabinete", "14-tablero", dashboard)
    dept = next(a["departamento"] for a in alerts if a["nivel"] == "distrito")

    def filtered(page, viewport):
        shown = [a for a in alerts if a["departamento"] == dept and 1 in a["logros"]]
        assert int(page.inner_text("#total")) == len(shown)
        if len(shown) <= 15:
            assert page.locator("tr.pequena").count() == sum(a["pequena"] for a in shown)

    _both(context, mundo["base"], f"/gabinete?departamento={dept}&logro=1&pequenas=si", "14-filtrado", filtered)

    def panel(page, viewport):
        page.wait_for_selector("body[data-cuenta=si]", timeout=30_000)
        box = page.locator("#alertas").bounding_box()
        assert box["height"] <= viewport["height"] * 0.5 + 1, box
        assert page.locator("#alertas li.alerta").count() <= 4
        assert page.locator("#alertas a[href='/gabinete']").count() == 1
        assert page.locator("#alertas a[href='/perdida']").count() == 1
        page.locator("#alertas").scroll_into_view_if_needed()

    _both(context, mundo["base"], "/", "14-visor", panel)
    # a district's Mesa reads the dashboard of its own district only
    mesa = mundo["mesa"]
    own = mesa.get("/api/alertas").json()["alertas"]
    assert {a["codigo"] for a in own} == {
        _rows(
            mundo["url"], "SELECT coalesce(codigo_2012, 'D' || codigo) FROM territorio.distrito WHERE codigo = '1116'"
        )[0][0]
    }
    assert f"<b id='total'>{sum(not a['pequena'] for a in own)}</b>" in mesa.get("/gabinete").text


# ----------------------------------------------------------------------------- 15: compare territories
def test_15_compare_departments_and_districts_by_logro_with_metas_change_and_csv(mundo, navegador):
    live = _live(mundo["url"])
    before = {
        r[0]: r[1]
        for r in _rows(
            mundo["url"], "SELECT codigo, l3_pct FROM publico.cobertura_anterior WHERE nivel = 'departamento'"
        )
    }
    depts = {c: r for (nivel, c), r in live.items() if nivel == "departamento"}
    context = navegador("gabinete1")

    def table(page, viewport):
        assert page.inner_text("#nivel") == "Departamento"
        names = page.eval_on_selector_all("#comparar tr td:first-child", "els => els.map(e => e.textContent)")
        assert len(names) == len(depts)
        values = page.eval_on_selector_all("#comparar tr td:nth-child(2)", "els => els.map(e => e.textContent)")
        numbers = [_num(v) for v in values if v != "reservado"]
        assert numbers == sorted(numbers)
        for code, r in depts.items():
            if r.get("reservado") or r.get("l3_pct") is None:
                continue
            row = page.locator("#comparar tr", has=page.locator("td:first-child", has_text=r["nombre"])).first
            cells = row.locator("td").all_inner_texts()
            assert _num(cells[1]) == round(r["l3_pct"], 1) and _num(cells[3]) == round(r["l3_meta"], 1)
            if before.get(code) is not None:
                change = round(r["l3_pct"] - before[code], 1)
                assert _num(cells[4]) == change
            width = row.locator(".barra").evaluate("e => e.style.width")
            assert width.endswith("%") and float(width[:-1]) == min(r["l3_pct"], 100)

    _both(context, mundo["base"], "/gabinete/comparar?logro=3&orden=pct", "15-departamentos", table)
    polygons = dict(
        _rows(mundo["url"], "SELECT DISTINCT coalesce(codigo_2012, 'D' || codigo), dpto FROM territorio.distrito")
    )
    in_11 = [c for (nivel, c) in live if nivel == "distrito" and polygons.get(c) == "11"]

    def districts(page, viewport):
        assert page.inner_text("#nivel") == "Distrito"
        assert page.locator("#comparar tr td:first-child").count() == len(in_11)

    _both(context, mundo["base"], "/gabinete/comparar?departamento=11&logro=3", "15-distritos", districts)
    sheet = login(mundo["base"], "gabinete1").get("/gabinete/comparar", params={"formato": "csv"})
    lines = sheet.text.lstrip("\ufeff").strip().split("\r\n")
    assert len(lines) == 1 + 10 * len(depts)
    # roles: a department's Mesa sees its districts only; district Mesas and institutions do not compare
    mine = login(mundo["base"], "depto11").get("/gabinete/comparar").text
    assert mine.count("<tr><td>") >= len(in_11) and "Distrito" in mine
    for who in ("mesa1116", "usf1116"):
        assert "Su rol no tiene acceso" in login(mundo["base"], who).get("/gabinete/comparar").text


# ----------------------------------------------------------------------------- 16: information loss
def test_16_the_information_loss_is_a_readable_table_linked_from_the_account(mundo, navegador):
    expected = _rows(mundo["url"], "SELECT nivel, zona, areas FROM acceso.perdida_exacta(NULL)")
    assert expected

    def loss(page, viewport):
        cells = page.eval_on_selector_all("#perdida tr td:nth-child(3)", "els => els.map(e => e.textContent)")
        assert sorted(int(_num(c)) for c in cells) == sorted(a for _, _, a in expected)
        assert "Hexágono H3" in page.inner_text("#perdida") or all(
            n in ("pais", "departamento", "distrito") for n, _, _ in expected
        )

    context = navegador("gabinete1")
    _both(context, mundo["base"], "/perdida", "16-perdida", loss)
    vista = Vista(context, mundo["base"], ESCRITORIO)
    try:
        page = vista.abrir("/cuenta")
        page.click("a[href='/perdida']")
        page.wait_for_selector("#perdida")
    finally:
        vista.cerrar()
    assert "Su rol no tiene acceso" in mundo["usf"].get("/perdida").text


def test_every_page_renders_in_a_reasonable_time(mundo):
    """Every page answers 200 within a generous bound; the times (second request, the
    district's state cached as in use) are kept beside the screenshots."""
    gabinete = login(mundo["base"], "gabinete1")
    pages = [
        (mundo["mesa"], p)
        for p in (
            "/mesa",
            "/mesa?orden=nombre",
            "/mesa?buscar=maria",
            "/mesa?servicio=CPN",
            "/mesa/derivaciones",
            "/mesa/efecto",
            "/cuenta",
        )
    ]
    pages += [(mundo["usf"], "/institucion")]
    pages += [
        (gabinete, p) for p in ("/gabinete", "/gabinete/comparar", "/gabinete/comparar?departamento=11", "/perdida")
    ]
    lines = []
    for client, path in pages:
        client.get(path)
        started = time.perf_counter()
        answer = client.get(path)
        spent = time.perf_counter() - started
        assert answer.status_code == 200 and "<main>" in answer.text, (path, answer.text[-500:])
        assert spent < 20, (path, spent)
        lines.append(f"{path}\t{spent:.2f} s")
    ARTEFACTOS.mkdir(parents=True, exist_ok=True)
    (ARTEFACTOS / "seguimiento-tiempos.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_ages_are_written_as_a_health_worker_counts_them():
    from geoportal.seguimiento import age_text

    today = date(2026, 12, 3)
    assert age_text(date(2001, 12, 3), today) == "25 años"
    assert age_text(date(2001, 12, 4), today) == "24 años"
    assert age_text(date(2026, 5, 3), today) == "7 meses"
    assert age_text(date(2026, 5, 4), today) == "6 meses"
    assert age_text(date(2025, 11, 3), today) == "13 meses"
    assert age_text(date(2026, 11, 3), today) == "1 mes"
    assert age_text(date(2026, 11, 20), today) == "0 meses"
