"""Issue 22, what each user still lacked, in a real Chromium (desktop 1366×768 and phone
390×844) against a real uvicorn and PostGIS:

- point 12: the institution's card of a referral (the household's address reference and a
  child's guardian), its own referrals only, read through the audited SECURITY DEFINER
  function ``nominal.ficha_derivaciones``; never on a public route;
- point 11: each gap row of the Mesa links to its household on the map (the H3 res-8 cell's
  centre, in the URL fragment: no server sees it), the action beside the name on a phone;
- point 6: a keyboard user opens an area's profile from a focusable list, no mouse;
- point 7: wording ("a la Unidad … más cercana", "1 derivación", "rol institución");
- point 3: on a phone the legend and the map are seen together;
- axe-core on every page (public, login, account, Mesa, institution, Gabinete, plans).

Expected values are read from the database or computed here (ages, the guardian rule,
haversine), never from the pages under test. Screenshots: ``tests/artefactos/usuarios-*.png``.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.institucional import Server, login, make_users
from tests.navegador.test_seguimiento import (  # noqa: F401  (navegador: fixture, built on this module's ``mundo``)
    ESCRITORIO,
    TELEFONO,
    Vista,
    _catalog,
    _fold,
    _haversine_km,
    _no_horizontal_overflow,
    _rows,
    navegador,
)
from tests.navegador.test_visor import published_copy
from tests.rutas import RAIZ

AXE = RAIZ / "web" / "node_modules" / "axe-core" / "axe.min.js"
TAMANOS = {"escritorio": ESCRITORIO, "telefono": TELEFONO}


@pytest.fixture(scope="module")
def mundo(pilotos):
    url = published_copy(pilotos, "usuarios")
    make_users(url)
    server = Server(url)
    yield {
        "server": server,
        "url": url,
        "base": server.base,
        "mesa": login(server.base, "mesa1116"),
        "usf": login(server.base, "usf1116"),
        "mec": login(server.base, "mec1116"),
    }
    server.stop()


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _guardian(url: str, hogar_id: str, child_id: str, today: date) -> str | None:
    """The documented rule, computed here: the eldest member aged 18 or more of the child's
    household (ties by persona_id), the child excluded."""
    members = _rows(
        url,
        "SELECT persona_id, nombres, apellidos, fecha_nacimiento FROM nominal.persona WHERE hogar_id = %s",
        (hogar_id,),
    )
    adults = [m for m in members if m[0] != child_id and _age(m[3], today) >= 18]
    if not adults:
        return None
    eldest = min(adults, key=lambda m: (m[3], m[0]))
    return f"{eldest[1]} {eldest[2]}"


def _refer_child(mundo, institucion: str) -> dict:
    """Refer (as the Mesa) a child of the district with an adult at home to a service of
    ``institucion``; returns the referral with the expected guardian and reference."""
    services = {s["codigo"]: s for s in _catalog()["servicios"]}
    today = date.today()
    rows = (
        mundo["mesa"]
        .get("/api/nominal/brechas", params={"limite": 50_000, "paquete": "todos", "brecha": "derivacion"})
        .json()["filas"]
    )
    born = dict(_rows(mundo["url"], "SELECT persona_id, fecha_nacimiento FROM nominal.persona"))
    for r in rows:
        s = services.get(r["servicio"])
        if r["unidad"] != "persona" or r["derivacion_abierta"] or not s or s["institucion"] != institucion:
            continue
        if _age(born[r["unidad_id"]], today) >= 18:
            continue
        guardian = _guardian(mundo["url"], r["hogar_id"], r["unidad_id"], today)
        if guardian is None:
            continue
        answer = mundo["mesa"].post(
            "/api/derivaciones", json={"unidad": "persona", "unidad_id": r["unidad_id"], "servicio": r["servicio"]}
        )
        assert answer.status_code == 201, answer.text
        ref = answer.json()
        assert ref["institucion"] == institucion
        home = _rows(
            mundo["url"], "SELECT referencia, localidad FROM nominal.hogar WHERE hogar_id = %s", (r["hogar_id"],)
        )
        return {
            **ref,
            "responsable": guardian,
            "direccion": home[0][0],
            "localidad_hogar": home[0][1],
            "nombre": f"{r['nombres']} {r['apellidos']}",
        }
    pytest.fail(f"no child of 1116 with an adult at home has a referable gap of {institucion}")


def _audit_rows(url: str, usuario: str, accion: str) -> list[dict]:
    return [
        r[0]
        for r in _rows(
            url,
            "SELECT detalle FROM nominal.auditoria WHERE usuario = %s AND accion = %s ORDER BY auditoria_id",
            (usuario, accion),
        )
    ]


def _both(context, base, path, name, check=None):
    for suffix, viewport in TAMANOS.items():
        vista = Vista(context, base, viewport)
        try:
            page = vista.abrir(path)
            if check:
                check(page, viewport)
            vista.captura(f"usuarios-{name}-{suffix}.png")
        finally:
            vista.cerrar()


# ----------------------------------------------------------------------------- 12: the referral's card
def test_12_the_institution_sees_the_guardian_and_reference_of_its_own_referrals_only(mundo, navegador):
    salud = _refer_child(mundo, "MSPBS")
    otra = _refer_child(mundo, "MEC")
    assert salud["direccion"].startswith("Ref. sintética: casa n.º ")  # the demo's reference, marked synthetic
    before = len(_audit_rows(mundo["url"], "usf1116", "ver_ficha_derivacion"))

    # its own referral: the card names the guardian and the address reference
    own = mundo["usf"].get(f"/api/derivaciones/{salud['derivacion_id']}")
    assert own.status_code == 200, own.text
    assert own.json()["ficha"] == {
        "localidad": salud["localidad_hogar"],
        "direccion": salud["direccion"],
        "responsable": salud["responsable"],
    }
    audited = _audit_rows(mundo["url"], "usf1116", "ver_ficha_derivacion")
    assert len(audited) == before + 1 and audited[-1]["filas"] == 1 and audited[-1]["finalidad"] == "seguimiento"

    # another institution's referral: not found, nothing of it in the answer
    other = mundo["usf"].get(f"/api/derivaciones/{otra['derivacion_id']}")
    assert other.status_code == 404
    assert otra["responsable"] not in other.text and otra["direccion"] not in other.text
    # ... which its own institution does see
    assert (
        mundo["mec"].get(f"/api/derivaciones/{otra['derivacion_id']}").json()["ficha"]["responsable"]
        == (otra["responsable"])
    )

    # in PostgreSQL itself, as the API's role: scoped by the session, refused to a Mesa
    with psycopg.connect(mundo["url"]) as conn:
        conn.execute("SET ROLE geoportal_nominal")
        conn.execute(
            "SELECT set_config('geoportal.distritos', '1116', true), set_config('geoportal.institucion', 'MSPBS', true),"
            " set_config('geoportal.usuario', 'prueba', true)"
        )
        found = conn.execute(
            "SELECT derivacion_id, responsable FROM nominal.ficha_derivaciones(%s)",
            ([salud["derivacion_id"], otra["derivacion_id"]],),
        ).fetchall()
        assert found == [(salud["derivacion_id"], salud["responsable"])]
        # the guardian is not readable around the function: RLS shows the referred child only
        members = conn.execute(
            "SELECT count(*) FROM nominal.persona WHERE hogar_id = %s", (salud["hogar_id"],)
        ).fetchone()[0]
        assert members == 1
        conn.commit()  # keep the call's audit row; the refused call below aborts its own transaction
        conn.execute(
            "SELECT set_config('geoportal.distritos', '1116', true), set_config('geoportal.institucion', '*', true)"
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM nominal.ficha_derivaciones(%s)", ([salud["derivacion_id"]],))
    assert _audit_rows(mundo["url"], "prueba", "ver_ficha_derivacion")[-1]["filas"] == 1

    # public routes never carry them (nor the child's name), and the API needs a session
    anonymous = httpx.Client(base_url=mundo["base"], timeout=60)
    secret = (salud["responsable"], salud["direccion"], salud["nombre"])
    for path in (
        "/api/territorios/1116",
        "/api/areas",
        "/api/buscar?q=capilla",
        f"/api/buscar?q={salud['localidad_hogar'][:20]}",
        "/api/sin-relevamiento",
        "/api/medidas",
        "/capas",
        "/descargas/cobertura.csv?nivel=distrito",
        "/ogc/collections",
        f"/api/derivaciones/{salud['derivacion_id']}",
    ):
        text = anonymous.get(path).text
        assert not any(s in text for s in secret), path
    assert anonymous.get(f"/api/derivaciones/{salud['derivacion_id']}").status_code == 401

    # the institution's page shows them on the card, on a desktop and on a phone
    def card(page, viewport):
        box = page.locator(f"#d{salud['derivacion_id']}")
        box.scroll_into_view_if_needed()
        text = box.inner_text()
        assert salud["responsable"] in text and "Responsable" in text, text
        assert salud["direccion"] in text and salud["localidad_hogar"] in text, text
        assert page.locator(f"#d{otra['derivacion_id']}").count() == 0
        _no_horizontal_overflow(page, viewport)

    _both(navegador("usf1116"), mundo["base"], "/institucion", "12-ficha", card)


# ----------------------------------------------------------------------------- 11: the household on the map
def test_11_each_gap_row_links_its_household_on_the_map_without_coordinates_reaching_a_server(mundo, navegador):
    base, mesa = mundo["base"], mundo["mesa"]
    page_html = mesa.get("/mesa?servicio=CPN").text
    links = re.findall(r"href='(/mesa/hogar/[^']+)'", page_html)
    assert links and len(links) == page_html.count("<tr><td class='quien'>")
    hogar_id = links[0].rsplit("/", 1)[1]
    lon, lat = _rows(mundo["url"], "SELECT lon, lat FROM nominal.hogar WHERE hogar_id = %s", (hogar_id,))[0]
    answer = mesa.get(links[0], follow_redirects=False)
    assert answer.status_code == 303
    target = answer.headers["location"]
    m = re.fullmatch(r"/#hogar=(-?\d+\.\d{4}),(-?\d+\.\d{4})", target)
    assert m, target  # only in the fragment: never in a query string a public route would log
    c_lat, c_lon = float(m[1]), float(m[2])
    # an H3 res-8 cell's centre: within its circumradius (~0.53 km) of the dwelling, not the dwelling itself
    assert _haversine_km(lon, lat, c_lon, c_lat) < 0.6 and (round(lat, 4), round(lon, 4)) != (c_lat, c_lon)
    assert _audit_rows(mundo["url"], "mesa1116", "ver_hogar_en_mapa")[-1]["filas"] == 1
    # another district's household, another role, no session: nothing
    other = _rows(mundo["url"], "SELECT hogar_id FROM nominal.hogar WHERE codigo_distrito = '0607' LIMIT 1")[0][0]
    refused = mesa.get(f"/mesa/hogar/{other}", follow_redirects=False)
    assert refused.status_code == 404 and "#hogar=" not in refused.text
    assert "#hogar=" not in mundo["usf"].get(links[0], follow_redirects=False).headers.get("location", "")
    assert "#hogar=" not in httpx.get(base + links[0], follow_redirects=False).headers.get("location", "")

    context = navegador("mesa1116")
    for suffix, viewport in TAMANOS.items():
        vista = Vista(context, base, viewport)
        try:
            page = vista.abrir("/mesa?servicio=CPN&brecha=derivacion")
            row = page.locator("#lista tr", has=page.locator("a.en-mapa")).first
            row.scroll_into_view_if_needed()
            name = row.locator("td.quien").bounding_box()
            for action in ("a.derivar", "a.en-mapa"):
                box = row.locator(action).bounding_box()
                assert box["x"] + box["width"] <= viewport["width"], (action, box)
                assert abs(box["y"] - name["y"]) < name["height"], (action, box, name)  # beside the name
                assert box["height"] >= 24
            vista.captura(f"usuarios-11-lista-mapa-{suffix}.png")
            href = row.locator("a.en-mapa").get_attribute("href")
            row.locator("a.en-mapa").click()
            page.wait_for_selector("body[data-hogar=si]", timeout=30_000)
            page.wait_for_timeout(800)
            center = page.evaluate("() => window.geoportal.mapa.getCenter()")
            home = _rows(
                mundo["url"], "SELECT lon, lat FROM nominal.hogar WHERE hogar_id = %s", (href.rsplit("/", 1)[1],)
            )[0]
            assert _haversine_km(home[0], home[1], center["lng"], center["lat"]) < 0.6
            assert page.evaluate("() => window.geoportal.mapa.getZoom()") >= 14
            assert "#hogar" not in page.url
            vista.captura(f"usuarios-11-hogar-en-mapa-{suffix}.png")
        finally:
            vista.cerrar()
    # the server never received the cell's coordinates (the fragment stays in the browser)
    log = Path(mundo["server"].log.name).read_text(errors="replace")
    assert f"{c_lat:.4f}" not in log and "hogar=" not in log


# ----------------------------------------------------------------------------- 6: areas by keyboard
def test_6_a_keyboard_user_opens_an_area_profile_from_the_list_without_the_mouse(mundo, navegador):
    listed = httpx.get(mundo["base"] + "/api/areas").json()["areas"]
    polygons = _rows(mundo["url"], "SELECT codigo_2012 FROM territorio.distrito_cartografico")
    departments = _rows(mundo["url"], "SELECT codigo FROM territorio.departamento")
    assert sorted(a["codigo"] for a in listed if a["nivel"] == "distrito") == sorted(r[0] for r in polygons)
    assert sorted(a["codigo"] for a in listed if a["nivel"] == "departamento") == sorted(r[0] for r in departments)
    official = _rows(mundo["url"], "SELECT nombre FROM territorio.distrito_cartografico WHERE codigo_2012 = '1116'")[0][
        0
    ]
    villeta = next(a for a in listed if a["codigo"] == "1116")
    assert _fold(villeta["nombre"]) == _fold(official)

    context = navegador("anonimo")  # no such user: an anonymous browser
    for suffix, viewport in TAMANOS.items():
        vista = Vista(context, mundo["base"], viewport)
        try:
            page = vista.abrir("/")
            page.wait_for_selector("body[data-listo=si]", timeout=30_000)
            page.wait_for_function("() => document.querySelectorAll('#areas option').length > 200")
            for _ in range(60):  # Tab, and only Tab, to the list
                page.keyboard.press("Tab")
                if page.evaluate("() => document.activeElement?.id") == "areas":
                    break
            else:
                pytest.fail("the list of areas is not reachable with Tab")
            page.keyboard.type(villeta["nombre"][:6], delay=60)  # type-ahead of a native list
            assert page.evaluate("() => document.getElementById('areas').value") == "1116"
            vista.captura(f"usuarios-6-lista-areas-{suffix}.png")
            page.keyboard.press("Tab")
            assert page.evaluate("() => document.activeElement?.id") == "abrir-area"
            page.keyboard.press("Enter")
            page.wait_for_function("() => new URLSearchParams(location.search).get('t') === '1116'", timeout=30_000)
            page.wait_for_selector("#perfil h2")
            assert _fold(page.inner_text("#perfil h2")).startswith(_fold(official))
            vista.captura(f"usuarios-6-perfil-por-teclado-{suffix}.png")
        finally:
            vista.cerrar()


# ----------------------------------------------------------------------------- 7: wording
PROHIBIDAS = ("al Unidad", "a el ", "(nucleo)", "1 derivaciones", "rol institucion", "rol mesa_distrital")
# whole words only: "para el" is no "a el"
_PROHIBIDAS = re.compile("|".join(r"(?<!\w)" + re.escape(w) for w in PROHIBIDAS))


def _prohibidas(text: str) -> list[str]:
    return _PROHIBIDAS.findall(text)


def test_7_wording_in_the_code_and_on_the_rendered_pages(mundo, navegador):
    from geoportal.publicacion import al_mas_cercano

    for folder in ("api", "web/src"):
        for path in (RAIZ / folder).rglob("*"):
            if path.suffix in {".py", ".html", ".js", ".css"}:
                text = path.read_text()
                assert not _prohibidas(text), (path, _prohibidas(text))
    assert al_mas_cercano("Unidad de Salud de la Familia") == "a la Unidad de Salud de la Familia más cercana"
    assert (
        al_mas_cercano("Hospital / centro de salud con parto") == "al Hospital / centro de salud con parto más cercano"
    )
    labels = {m["columna"]: m["etiqueta"] for m in httpx.get(mundo["base"] + "/api/medidas").json()}
    assert labels["dist_usf_km"] == "Distancia media a la Unidad de Salud de la Familia más cercana (km)"
    # one referral: singular on the institution's and the Mesa's pages
    mesa = login(mundo["base"], "mesa0607")
    gap = next(
        r
        for r in mesa.get("/api/nominal/brechas", params={"servicio": "CPN", "brecha": "derivacion"}).json()["filas"]
        if not r["derivacion_abierta"]
    )
    created = mesa.post(
        "/api/derivaciones", json={"unidad": "persona", "unidad_id": gap["unidad_id"], "servicio": "CPN"}
    )
    assert created.status_code == 201, created.text
    assert _rows(mundo["url"], "SELECT count(*) FROM nominal.derivacion WHERE distrito = '0607'")[0][0] == 1
    assert "<b id='total'>1</b> derivación." in mesa.get("/mesa/derivaciones").text
    usf = login(mundo["base"], "usf0607")
    text = usf.get("/institucion").text
    assert "1 derivación</span>" in text and "1</b> pendiente de contrarreferencia" in text
    assert "Esta página es para el rol Mesa distrital." in usf.get("/mesa").text
    assert "Esta página es para el rol institución." in mesa.get("/institucion").text
    for page_text in (text, mesa.get("/cuenta").text, usf.get("/cuenta").text):
        assert not _prohibidas(page_text)

    def singular(page, viewport):
        assert "1 derivación," in page.inner_text("main")
        assert "1 derivaciones" not in page.inner_text("main")

    _both(navegador("usf0607"), mundo["base"], "/institucion", "7-singular", singular)

    def account(page, viewport):
        assert page.inner_text("#rol") == "institución"

    _both(navegador("usf0607"), mundo["base"], "/cuenta", "7-cuenta", account)


# ----------------------------------------------------------------------------- 3: legend and map on a phone
def test_3_on_a_phone_the_legend_and_the_map_are_seen_together(mundo, navegador):
    vista = Vista(navegador("anonimo"), mundo["base"], TELEFONO)
    try:
        page = vista.abrir("/")
        page.wait_for_selector("body[data-listo=si]", timeout=30_000)
        page.wait_for_function("() => window.geoportal.tematica && window.geoportal.tematica.dibujados.size > 0")
        page.wait_for_timeout(500)
        mapa = page.locator("#mapa").bounding_box()
        legend = page.locator(".leyenda-mapa").bounding_box()
        assert legend is not None, "no legend on the map"
        # the whole legend inside the map, the map on the first screen with room left to see it
        assert mapa["y"] >= 0 and mapa["y"] + mapa["height"] <= TELEFONO["height"] + 1, mapa
        assert mapa["x"] <= legend["x"] and legend["x"] + legend["width"] <= mapa["x"] + mapa["width"] + 1
        assert mapa["y"] <= legend["y"] and legend["y"] + legend["height"] <= mapa["y"] + mapa["height"] + 1
        assert legend["width"] * legend["height"] < 0.35 * mapa["width"] * mapa["height"]  # compact: the map stays seen
        # short class labels on the map, the panel's full wording as their tooltip
        short = page.eval_on_selector_all(".leyenda-mapa li.clase", "els => els.map(e => [e.textContent, e.title])")
        full = page.eval_on_selector_all("#leyenda li.clase", "els => els.map(e => e.textContent.trim())")
        assert [t for _, t in short] == full and all(len(s) < len(t) or s == t for s, t in short)
        assert page.locator(".leyenda-mapa").inner_text().strip()  # classes, not an empty box
        # every class seen at once (no scrolling inside the legend), none under the attribution line
        assert page.evaluate(
            "() => { const l = document.querySelector('.leyenda-mapa'); return l.scrollHeight <= l.clientHeight + 1; }"
        )
        credit = page.locator(".leaflet-control-attribution").bounding_box()
        assert legend["y"] + legend["height"] <= credit["y"] + 1 or legend["x"] + legend["width"] <= credit["x"]
        vista.captura("usuarios-3-leyenda-telefono.png")
    finally:
        vista.cerrar()


# ----------------------------------------------------------------------------- axe on every page
PAGINAS = [
    ("anonimo", "/", "visor"),
    ("anonimo", "/no-existe", "pagina-404"),
    ("anonimo", "/ingresar", "ingreso"),
    ("mesa1116", "/cuenta", "cuenta"),
    ("mesa1116", "/mesa?servicio=CPN", "mesa-lista"),
    ("mesa1116", "/mesa/derivaciones", "mesa-derivaciones"),
    ("mesa1116", "/mesa/efecto", "mesa-efecto"),
    ("mesa1116", "/planes", "planes"),
    ("mesa1116", "/planes/{plan}", "plan"),
    ("mesa1116", "/planes/{plan}/hoja", "plan-hoja"),
    ("usf1116", "/planes", "planes-institucion"),
    ("usf1116", "/institucion", "institucion"),
    ("gabinete1", "/gabinete", "gabinete-alertas"),
    ("gabinete1", "/gabinete/comparar", "gabinete-comparar"),
    ("gabinete1", "/perdida", "perdida"),
]


@pytest.fixture(scope="module")
def plan(mundo) -> int:
    """One improvement plan of the Mesa (its pages are checked too)."""
    answer = mundo["mesa"].post(
        "/api/planes",
        json={
            "titulo": "Plan de prueba de accesibilidad",
            "distrito": "1116",
            "periodo_desde": "2026-01-01",
            "periodo_hasta": "2026-12-31",
        },
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["plan_id"]


@pytest.mark.parametrize(("usuario", "ruta", "nombre"), PAGINAS, ids=[p[2] for p in PAGINAS])
def test_axe_finds_no_serious_or_critical_violation_on_every_page(mundo, navegador, plan, usuario, ruta, nombre):
    assert AXE.is_file(), "Falta web/node_modules/axe-core (npm ci)."
    ruta = ruta.replace("{plan}", str(plan))
    for suffix, viewport in TAMANOS.items():
        vista = Vista(navegador(usuario), mundo["base"], viewport)
        try:
            page = vista.abrir(ruta)
            if ruta == "/":
                page.wait_for_selector("body[data-listo=si]", timeout=30_000)
                page.wait_for_function("() => document.querySelectorAll('#areas option').length > 1")
            page.add_script_tag(path=str(AXE))
            result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
            bad = [
                (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
                for v in result["violations"]
                if v["impact"] in ("serious", "critical")
            ]
            assert bad == [], (ruta, suffix, bad)
            vista.captura(f"usuarios-axe-{nombre}-{suffix}.png")
        finally:
            if ruta == "/no-existe":
                vista.errores = [e for e in vista.errores if "404" not in e]  # the page's own status
            vista.cerrar()
