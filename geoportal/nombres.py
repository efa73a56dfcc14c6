"""Repair of place names from the source files, applied when they are loaded.

Two defects of the MEC school register (datos.mec.gov.py, 2014) reach every layer that
shows a locality name:

* **"Ð" where "Ñ" belongs** (``ÐEMBY``, ``YASY KAÐY``, ``ÐU PYAHU``): an encoding slip
  of the export. Neither Spanish nor Guaraní uses the letter eth, so every ``Ð``/``ð`` is
  read as ``Ñ``/``ñ``.
* **Placeholders used as names** (``LOCALIDAD A CONFIRMAR``): the record's locality is
  unknown. A placeholder is not a place: :func:`nombre_de_lugar` returns ``None`` for it,
  and callers fall back to another name (the district's) or leave the locality out.

* **Windows-1250 read for Windows-1252** (``NIŃO``, ``Nş 1``): the same export read with the
  Central-European code page. ``Ń``/``ń``/``Đ``/``đ`` are read as ``Ñ``/``ñ`` and ``ş``/``Ş`` as
  the ordinal signs ``º``/``ª`` (``N.º 1``).

One written form for the public (:func:`nombre_oficial`): title case with the accents of
the INE's 2022 census, abbreviations expanded, the official name where the 2012 polygon
label is a short form ("MCAL. ESTIGARRIBIA" is "Mariscal José Félix Estigarribia").
Search folds accents, case and ñ on both sides (:func:`clave_busqueda`).

>>> reparar_texto("YASY KAÐY")
'YASY KAÑY'
>>> nombre_de_lugar("Localidad a Confirmar") is None
True
>>> nombre_oficial("MCAL. ESTIGARRIBIA")
'Mariscal José Félix Estigarribia'
>>> nombre_oficial("GRAL. EUGENIO A. GARAY")
'General Eugenio A. Garay'
>>> clave_busqueda("Ñemby") == clave_busqueda("nemby")
True
"""

from __future__ import annotations

import csv
import math
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

_ETH = str.maketrans({"Ð": "Ñ", "ð": "ñ", "Đ": "Ñ", "đ": "ñ", "Ń": "Ñ", "ń": "ñ", "ş": "º", "Ş": "ª"})
_DATOS = Path(__file__).resolve().parent / "datos"
_PLACEHOLDERS = re.compile(
    r"^(localidad|barrio|compa[nñ]ia)?\s*(a|por)\s+confirmar$|^(sin\s+(dato|nombre|datos)|s/?d|n/?d|desconocid[oa])$"
)


def reparar_texto(texto: str) -> str:
    """The source text with its known encoding slips undone and spaces normalised."""
    return " ".join(str(texto).translate(_ETH).split())


def clave(texto: str) -> str:
    """Accent-, case-, punctuation- and space-insensitive key of a name (for matching,
    never for display); ñ stays a letter of its own."""
    plain = unicodedata.normalize("NFKD", reparar_texto(texto).replace("ñ", "\0").replace("Ñ", "\0"))
    plain = "".join(c for c in plain if not unicodedata.combining(c)).replace("\0", "ñ").casefold()
    return " ".join("".join(c if c.isalnum() else " " for c in plain).split())


def es_marcador(texto: str | None) -> bool:
    """True for empty text and for placeholders such as ``LOCALIDAD A CONFIRMAR``."""
    if texto is None or (isinstance(texto, float) and math.isnan(texto)):
        return True
    return not str(texto).strip() or bool(_PLACEHOLDERS.match(clave(texto)))


def nombre_de_lugar(texto: str | None) -> str | None:
    """The repaired name, or ``None`` when the text is a placeholder, not a place."""
    return None if es_marcador(texto) else reparar_texto(texto)


def clave_busqueda(texto: str) -> str:
    """:func:`clave` with ñ folded to n too: what a search compares on both sides, so
    "nemby" finds Ñemby (a phone keyboard often has no ñ). Locale-independent."""
    return clave(texto).replace("ñ", "n")


# Abbreviations of titles and ranks in place names, expanded for the public.
ABREVIATURAS = {
    "mcal": "Mariscal",
    "gral": "General",
    "tte": "Teniente",
    "cnel": "Coronel",
    "pdte": "Presidente",
    "sgto": "Sargento",
    "dr": "Doctor",
    "cap": "Capitán",
    "cptan": "Capitán",
    "pto": "Puerto",
    "cnia": "Colonia",
    "sta": "Santa",
    "sto": "Santo",
    "ma": "María",
    "cdte": "Comandante",
}
_ORDINALES = {"1ro": "Primero", "1°": "Primero", "1º": "Primero"}
# Lower-case inside a name (never the first word).
_SIEMPRE = {"mcal", "gral", "tte", "sgto", "cnel", "pdte"}  # expanded even without their dot
_MENORES = {"de", "del", "la", "las", "los", "y", "e"}


@lru_cache(maxsize=1)
def _censo() -> tuple[dict[str, str], dict[str, str]]:
    """From the INE 2022 census file (and its 2012 crosswalk): the accented form of every
    word of a department or district name, and the official name of each name key."""
    palabras: dict[str, str] = {}
    oficiales: dict[str, str] = {}

    def aprender(nombre: str, oficial: str | None = None) -> None:
        for w in re.findall(r"[^\W\d_]+", nombre):
            if any(unicodedata.combining(c) for c in unicodedata.normalize("NFD", w)) or clave(w) not in palabras:
                palabras[clave(w)] = w[:1].upper() + w[1:].lower()
        if oficial:
            oficiales[clave(nombre)] = oficial

    try:
        with open(_DATOS / "censo2022_distritos.csv", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                aprender(row["dpto_desc"])
                aprender(row["distrito_nombre"], _expandir(row["distrito_nombre"]))
        with open(_DATOS / "crosswalk_2022_2012.csv", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row["relacion"] == "mismo_distrito" and row["nombre_2012"]:
                    oficiales[clave(_expandir(row["nombre_2012"]))] = _expandir(row["nombre_2022"])
    except OSError:  # a stripped install without the source files: title case still applies
        pass
    return palabras, oficiales


def _expandir(texto: str) -> str:
    """Abbreviations (``Mcal.``, ``Gral``, ``Tte 1ro``) written out; other words as they are."""
    out = []
    for w in reparar_texto(texto).split():
        k = clave(w.rstrip("."))
        if k in ABREVIATURAS and (w.endswith(".") or k in _SIEMPRE):
            out.append(ABREVIATURAS[k])
        else:
            out.append(_ORDINALES.get(w.lower(), w))
    return " ".join(out)


def nombre_oficial(texto: str | None) -> str | None:
    """The one public form of a department, district or locality name.

    The official 2022 name when the text is one (in any case or spelling of the 2012
    labels), else the text with its abbreviations expanded, in title case, with the
    accents the census writes for the same words. Text already in mixed case keeps its
    spelling (only abbreviations are expanded).
    """
    if texto is None:
        return None
    if " / " in str(texto):
        return " / ".join(nombre_oficial(t) for t in str(texto).split(" / "))
    palabras, oficiales = _censo()
    expandido = _expandir(texto)
    if clave(expandido) in oficiales:
        return oficiales[clave(expandido)]
    if any(c.islower() for c in expandido):
        return expandido
    out = []
    for i, w in enumerate(expandido.split()):
        k = clave(w)
        if i and k in _MENORES:
            out.append(k)
        elif k in palabras and clave(palabras[k]) == clave(w) and re.fullmatch(r"[^\W\d_]+", w):
            out.append(palabras[k])
        else:
            out.append("-".join(p[:1].upper() + p[1:].lower() for p in w.split("-")))
    return " ".join(out)
