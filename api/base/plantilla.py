"""The shell of the server-rendered institutional pages (login, account, the Mesa's list,
the institution's referrals): the viewer's colours, a bar with the way back to the map and
to the user's pages, readable tables on a phone. No script, nothing loaded from outside."""

from __future__ import annotations

import html

esc = html.escape

ESTILO = """
:root { --texto: #1f1f1f; --tenue: #4a4a4a; --linea: #c9c9c9; --acento: #0b5cad; --acento-oscuro: #083f78;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif; color: var(--texto); }
body { margin: 0; font-size: 15px; line-height: 1.45; background: #fafafa; }
.barra { display: flex; flex-wrap: wrap; align-items: center; gap: .4rem 1.2rem; padding: .55rem .9rem;
  background: #12355b; color: #fff; }
.barra .marca { font-weight: 700; margin: 0; }
.barra .marca span { color: #ffd24d; }
.barra a, .barra button.enlace { color: #fff; font: inherit; }
.barra form { margin: 0 0 0 auto; }
.barra button.enlace { background: none; border: 1px solid #fff; border-radius: 3px; padding: .15rem .6rem; cursor: pointer; }
main { max-width: 72rem; margin: 0 auto; padding: .6rem 1rem 2rem; }
h1 { font-size: 1.35rem; margin: .8rem 0 .4rem; }
a { color: var(--acento); }
:focus-visible { outline: 3px solid #e6007e; outline-offset: 2px; }
.nota { color: var(--tenue); font-size: .9rem; }
#mensaje { background: #e3f1e3; border-left: 4px solid #2e7d32; padding: .4rem .7rem; }
.error { background: #fde7e7; border-left: 4px solid #b3261e; padding: .4rem .7rem; }
form.filtros, form.ingreso { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: end; margin: .6rem 0; }
label { font-weight: 600; font-size: .9rem; display: inline-flex; flex-direction: column; gap: .2rem; }
input, select { font: inherit; padding: .35rem; border: 1px solid #767676; border-radius: 3px; background: #fff; max-width: 100%; }
label { max-width: 100%; }
button { font: inherit; padding: .35rem .8rem; border: 1px solid var(--acento); border-radius: 3px; background: var(--acento);
  color: #fff; cursor: pointer; }
button:hover { background: var(--acento-oscuro); }
.tabla { overflow-x: auto; margin: .6rem 0 1rem; background: #fff; border: 1px solid var(--linea); }
table { border-collapse: collapse; width: 100%; font-size: .92rem; }
th, td { text-align: left; padding: .35rem .55rem; border-bottom: 1px solid #e4e4e4; vertical-align: top; }
th { background: #eef3f8; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #fafcff; }
td form { display: flex; flex-wrap: wrap; gap: .3rem; margin: 0; }
.paginas { display: flex; gap: 1rem; }
"""

ENLACES = {"mesa_distrital": ("/mesa", "Lista nominal"), "institucion": ("/institucion", "Derivaciones recibidas"),
           "admin": ("/api/auditoria?formato=csv", "Auditoría (CSV)")}


def pagina(titulo: str, cuerpo: str, sesion=None) -> str:
    """A whole page: bar (map, the role's page, account, log out), ``<h1>`` title, body."""
    enlaces = ["<a href='/'>Mapa</a>"]
    salir = ""
    if sesion is not None:
        propio = ENLACES.get(sesion.rol)
        if propio:
            enlaces.append(f"<a href='{propio[0]}'>{propio[1]}</a>")
        enlaces.append("<a href='/cuenta'>Mi cuenta</a>")
        salir = (f"<form method='post' action='/salir'><input type='hidden' name='csrf' value='{esc(sesion.csrf)}'>"
                 "<button type='submit' class='enlace salir'>Salir</button></form>")
    return (
        "<!doctype html><html lang='es-PY'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(titulo)} · Geoportal SPS</title><link rel='icon' href='data:,'><style>{ESTILO}</style></head><body>"
        "<nav class='barra' aria-label='Geoportal'><p class='marca'>Geoportal SPS <span>«Vamos!»</span></p>"
        f"{' '.join(enlaces)}{salir}</nav>"
        f"<main><h1>{esc(titulo)}</h1>{cuerpo}</main></body></html>")


def tabla(identificador: str, cabeza: list[str], filas: list[str], numericas: tuple[int, ...] = ()) -> str:
    """A table inside a scrolling box (wide tables stay readable on a phone)."""
    th = "".join(f"<th scope='col'{' class=num' if i in numericas else ''}>{c}</th>" for i, c in enumerate(cabeza))
    return f"<div class='tabla'><table id='{identificador}'><tr>{th}</tr>{''.join(filas)}</table></div>"


def km(valor) -> str:
    return "" if valor is None else f"{valor:.1f}".replace(".", ",")
