"""Errors (RFC 9457 problems in Spanish), nothing nominal in any public response, a
property-based run over the OpenAPI schema, and recovery after the database goes down.

The database-down test stops the session's embedded cluster: it is the last test of this
module and waits until the cluster answers again, so later modules find it running.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

PROBLEM = "application/problem+json"
ENGLISH = ("Field required", "Not Found", "Internal Server Error", "Traceback", "value is not", "Input should")

WRONG = [
    ("/ogc/collections/no_existe", 404),
    ("/ogc/collections/no_existe/items", 404),
    ("/ogc/collections/cobertura_distrito/items/9999", 404),
    ("/ogc/collections/cobertura_distrito/items?bbox=a,b,c,d", 400),
    ("/ogc/collections/cobertura_distrito/items?bbox=1,2,3", 400),
    ("/ogc/collections/cobertura_distrito/items?bbox=-55,-20,-58,-26", 400),
    ("/ogc/collections/cobertura_distrito/items?bbox=-200,-20,-58,-26", 400),
    ("/ogc/collections/cobertura_distrito/items?limit=0", 400),
    ("/ogc/collections/cobertura_distrito/items?cursor=no-es-un-cursor", 400),
    ("/ogc/collections/cobertura_distrito/items?bbox-crs=EPSG:4326", 400),
    ("/ogc/collections/cobertura_distrito/items?colour=rojo", 400),
    ("/ogc/collections/cobertura_distrito/items?limit=muchos", 400),
    ("/ogc/collections/cobertura_distrito/items?offset=-1", 400),
    ("/ogc/collections/cobertura_distrito/items?departamento=ABC", 400),
    ("/ogc/collections/cobertura_distrito/items?distrito=1", 400),
    ("/ogc/collections/cobertura_distrito/items?tipo=usf", 400),
    ("/ogc/collections/cobertura_distrito/items?f=xml", 400),
    ("/descargas/no_existe.csv", 404),
    ("/descargas/cobertura.xls", 400),
    ("/descargas/logros.csv?medidas=no_existe", 400),
    ("/descargas/cobertura.csv?medidas=persona_id", 400),
    ("/descargas/cobertura.geojson?nivel=barrio", 400),
    ("/descargas/puntos_entrega.gpkg?nivel=distrito", 400),
    ("/api/indicadores?nivel=distrito&codigo=9999", 404),
    ("/api/indicadores?nivel=distrito", 400),
    ("/api/indicadores?nivel=barrio&codigo=1116", 400),
    ("/api/territorios/XYZ", 400),
    ("/api/territorios/9999", 404),
    ("/api/buscar?q=a", 400),
    ("/api/buscar", 400),
    ("/api/servicios/cercanos?lat=10&lon=-57", 400),
    ("/api/servicios/cercanos?lat=abc&lon=-57", 400),
    ("/api/servicios/cercanos?lat=-25.3&lon=-57.6&tipo=bar", 400),
    ("/api/servicios/cercanos?lat=-25.3&lon=-57.6&n=0", 400),
    ("/api/servicios/cercanos?lat=-25.3&lon=-57.6&n=51", 400),
    ("/api/servicios/cercanos?lon=-57.6", 400),
    ("/api/servicios/cercanos?lat=nan&lon=-57.6", 400),
    ("/api/servicios/no_existe", 404),
    ("/no/existe", 404),
]


@pytest.mark.parametrize("path, status", WRONG)
def test_every_wrong_request_is_a_spanish_problem(api_server, path, status):
    response = httpx.get(api_server + path)
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert set(body) >= {"type", "title", "status", "detail", "instance"}
    assert body["status"] == status and body["instance"] == path.split("?")[0]
    assert len(body["detail"]) > 15 and not any(word in body["detail"] for word in ENGLISH)


def test_a_method_the_api_does_not_have_is_a_problem_too(api_server):
    response = httpx.post(f"{api_server}/ogc/collections")
    assert response.status_code == 405 and response.headers["content-type"] == PROBLEM
    assert "GET" in response.json()["detail"]


def test_an_unexpected_error_is_a_generic_500_without_internals():
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from api.base import errores

    app = FastAPI()
    errores.install(app)

    @app.get("/falla")
    def falla():
        raise RuntimeError("persona_id H0218000001-01 en /ruta/secreta.py")

    response = TestClient(app, raise_server_exceptions=False).get("/falla")
    assert response.status_code == 500 and response.headers["content-type"] == PROBLEM
    assert "H0218000001" not in response.text and "secreta" not in response.text
    assert "Error interno" in response.json()["detail"]


def test_an_unexpected_database_error_on_a_nominal_path_is_logged_without_the_row_it_quotes(conn):
    from starlette.requests import Request

    from api.app import create_app
    from api.base.registro import error_report

    secret = "H1116" + "000001-01"  # built, so that the stack's source lines do not quote it
    conn.execute("CREATE TEMP TABLE unica (k text PRIMARY KEY)")
    conn.execute("INSERT INTO unica VALUES (%s)", (secret,))
    with pytest.raises(psycopg.errors.UniqueViolation) as raised:
        conn.execute("INSERT INTO unica VALUES (%s)", (secret,))
    conn.rollback()
    assert secret in str(raised.value)  # what PostgreSQL's detail quotes
    app = create_app()

    def request(path: str) -> Request:
        return Request({"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": [], "app": app})

    message, args, exc_info = error_report(request("/api/nominal/hogares/" + secret[:11]), raised.value)
    line = message % args
    assert secret[:11] not in line and exc_info is None
    assert "UniqueViolation" in line and "SQLSTATE 23505" in line and "/api/nominal/hogares/{hogar_id}" in line
    assert "test_errores.py" in line  # the stack is kept
    public = error_report(request("/api/territorios/1116"), raised.value)
    line = public[0] % public[1]
    # public paths too: type, SQLSTATE, route and stack, never the text (issue 21, item 12)
    assert (
        secret[:11] not in line and public[2] is None and "UniqueViolation" in line and "/api/territorios/1116" in line
    )


def _public_url(url: str) -> str:
    from geoportal.db import public_password

    return (
        make_url(url)
        .set(username="geoportal_publico", password=public_password())
        .render_as_string(hide_password=False)
    )


@pytest.mark.parametrize(
    "table", ["nominal.persona", "nominal.hogar", "nominal.auditoria", "calculo.agregado", "calculo.contribucion"]
)
def test_the_public_role_cannot_read_nominal_or_unprotected_tables(pilotos, table):
    with psycopg.connect(_public_url(pilotos["url"])) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(f"SELECT * FROM {table} LIMIT 1")


def _public_responses(base: str) -> list[str]:
    ogc = httpx.get(f"{base}/ogc/collections").json()["collections"]
    urls = [f"{base}/ogc", f"{base}/ogc/collections", f"{base}/", f"{base}/salud", f"{base}/listo"]
    urls += [f"{base}/ogc/collections/{c['id']}/items?limit=1000" for c in ogc]
    urls += [f"{base}/ogc/collections/cobertura_distrito/items?f=html"]
    for capa in ("cobertura", "logros", "brechas", "puntos", "territorio"):
        niveles = {"cobertura": ["departamento", "distrito", "h3_7"], "logros": ["h3_8"], "brechas": ["h3_8"]}.get(
            capa, [None]
        )
        for nivel in niveles:
            q = f"?nivel={nivel}" if nivel else ""
            urls += [
                f"{base}/descargas/{capa}.geojson{q}",
                f"{base}/descargas/{capa}.csv{q}",
                f"{base}/descargas/{capa}/diccionario.csv{q}",
            ]
    urls += [f"{base}/api/territorios/{c}" for c in ("PY", "11", "16", "1116", "1602", "0218", "0607")]
    urls += [f"{base}/api/indicadores?nivel=distrito&codigo={c}" for c in ("1116", "1602")]
    urls += [f"{base}/api/buscar?q={q}&n=100" for q in ("san", "villeta", "santa rosa", "mariscal")]
    urls += [
        f"{base}/api/servicios/cercanos?lat=-25.6&lon=-57.6&n=50",
        f"{base}/api/servicios/cercanos?lat=-22&lon=-61&n=50",
        f"{base}/api/medidas",
    ]
    urls += [base + path for path, _ in WRONG if "persona_id" not in path]  # that one echoes the request
    texts = []
    for url in urls:
        response = httpx.get(url, timeout=120)
        assert response.status_code < 500, url
        texts.append(response.content.decode("utf-8", errors="replace"))
    return texts


def test_no_public_response_carries_nominal_names_ids_or_household_coordinates(api_server, pilotos):
    with psycopg.connect(pilotos["url"]) as conn:
        persons = conn.execute(
            "SELECT persona_id, hogar_id, nombres || ' ' || apellidos FROM nominal.persona ORDER BY random() LIMIT 200"
        ).fetchall()
        homes = conn.execute("SELECT hogar_id, lon, lat FROM nominal.hogar ORDER BY random() LIMIT 200").fetchall()
    forbidden_columns = ["persona_id", "hogar_id", "apellidos", "fecha_nacimiento", "nombres"]
    forbidden_ids = {p[0] for p in persons} | {p[1] for p in persons} | {h[0] for h in homes}
    full_names = {p[2] for p in persons}
    coordinates = [(f"{h[1]:.6f}".rstrip("0"), f"{h[2]:.6f}".rstrip("0")) for h in homes]
    blob = "\n".join(_public_responses(api_server))
    assert len(blob) > 1_000_000
    assert not [c for c in forbidden_columns if c in blob]
    # One pass per kind of value (a substring search per value would rescan ~50 MB each time).
    ids_seen = set(re.findall(r"H[0-9]{10}(?:-[0-9]{2})?", blob))
    assert not ids_seen & forbidden_ids
    assert not re.search("|".join(map(re.escape, sorted(full_names))), blob)
    # Coordinates as pairs (GeoJSON "[lon, lat]", CSV "lon;lat" with a decimal comma): two
    # numbers that each occur somewhere in 50 MB of figures are a coincidence, not a leak.
    number = r"(-?[0-9]{1,3}[.,][0-9]{1,7})"
    pairs = {
        (a.replace(",", ".").rstrip("0"), b.replace(",", ".").rstrip("0"))
        for a, b in re.findall(r"(?=" + number + r"\s*[,;]\s*" + number + r"(?![0-9]))", blob)
    }
    assert len(pairs) > 1000  # the responses do carry coordinates: the search can find some
    assert not [c for c in coordinates if c in pairs]


def test_property_based_run_of_the_openapi_schema_finds_no_server_error(api_server, tmp_path):
    tool = shutil.which("schemathesis", path=os.path.dirname(os.sys.executable))
    assert tool, "Falta schemathesis en el entorno (pyproject: extra test)."
    done = subprocess.run(
        [
            tool,
            "run",
            f"{api_server}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "6",
            "--include-method",
            "GET",
            "--phases",
            "coverage,fuzzing",
            "--generation-deterministic",
            "--request-timeout",
            "30",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-4000:]
    assert " passed" in done.stdout and "failed" not in done.stdout.split("Test cases:")[-1]


def _start_on_the_same_port(cluster) -> None:
    """``pg_ctl start`` on the session's port. ``Cluster.start()`` probes the port with a plain
    ``bind()``, which fails for about a minute while the connections the stop cut are in
    TIME_WAIT (PostgreSQL itself binds with SO_REUSEADDR and starts at once)."""
    from geoportal.cluster import pg_bindir

    cluster._run(
        [
            str(pg_bindir() / "pg_ctl"),
            "-D",
            str(cluster.data_dir),
            "-l",
            str(cluster.log_file),
            "-o",
            f"-p {cluster.port}",
            "-w",
            "-t",
            "60",
            "start",
        ]
    )


def test_listo_says_503_while_the_database_is_down_and_recovers_by_itself(api_server, pilotos):
    """Last test of the module: stops and restarts the session's embedded cluster."""
    from geoportal.db import embedded_cluster
    from geoportal.settings import get_settings

    if get_settings().database_url and "GEOPORTAL_PG_PORT" not in os.environ:
        pytest.fail("Esta prueba necesita el clúster embebido de la sesión (sin GEOPORTAL_DATABASE_URL externo).")
    assert httpx.get(f"{api_server}/listo").status_code == 200
    cluster = embedded_cluster()
    cluster.stop()
    try:
        down = httpx.get(f"{api_server}/listo", timeout=30)
        assert down.status_code == 503 and down.headers["content-type"] == PROBLEM
        assert "no disponible" in down.json()["detail"].lower()
        assert down.headers.get("retry-after")
        assert httpx.get(f"{api_server}/ogc/collections", timeout=30).status_code == 503
        assert httpx.get(f"{api_server}/salud", timeout=30).status_code == 200  # alive, not ready
    finally:
        _start_on_the_same_port(cluster)
    deadline = time.monotonic() + 30
    status = None
    while time.monotonic() < deadline:
        status = httpx.get(f"{api_server}/listo", timeout=30).status_code
        if status == 200:
            break
        time.sleep(0.5)
    assert status == 200
    item = httpx.get(f"{api_server}/ogc/collections/cobertura_distrito/items/1116", timeout=30)
    assert item.status_code == 200 and item.json()["id"] == "1116"


def test_a_browser_gets_an_html_page_for_an_unknown_address_and_a_client_gets_problem_json(api_server):
    """An unknown address opened in a browser is a Spanish page with the way back to the map;
    the same address asked by a program, or any data route, stays problem+json."""
    import httpx

    page = httpx.get(f"{api_server}/no-existe/esta-pagina", headers={"Accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Página no encontrada" in page.text and "href='/'" in page.text and "<script" not in page.text
    machine = httpx.get(f"{api_server}/no-existe/esta-pagina", headers={"Accept": "application/json"})
    assert machine.status_code == 404 and machine.headers["content-type"].startswith("application/problem+json")
    data = httpx.get(f"{api_server}/api/no-existe", headers={"Accept": "text/html"})
    assert data.status_code == 404 and data.headers["content-type"].startswith("application/problem+json")
