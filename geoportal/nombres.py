"""Repair of place names from the source files, applied when they are loaded.

Two defects of the MEC school register (datos.mec.gov.py, 2014) reach every layer that
shows a locality name:

* **"Ð" where "Ñ" belongs** (``ÐEMBY``, ``YASY KAÐY``, ``ÐU PYAHU``): an encoding slip
  of the export. Neither Spanish nor Guaraní uses the letter eth, so every ``Ð``/``ð`` is
  read as ``Ñ``/``ñ``.
* **Placeholders used as names** (``LOCALIDAD A CONFIRMAR``): the record's locality is
  unknown. A placeholder is not a place: :func:`nombre_de_lugar` returns ``None`` for it,
  and callers fall back to another name (the district's) or leave the locality out.

>>> reparar_texto("YASY KAÐY")
'YASY KAÑY'
>>> nombre_de_lugar("Localidad a Confirmar") is None
True
"""

from __future__ import annotations

import re
import unicodedata

_ETH = str.maketrans({"Ð": "Ñ", "ð": "ñ"})
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
    if texto is None or (isinstance(texto, float) and texto != texto):
        return True
    return not str(texto).strip() or bool(_PLACEHOLDERS.match(clave(texto)))


def nombre_de_lugar(texto: str | None) -> str | None:
    """The repaired name, or ``None`` when the text is a placeholder, not a place."""
    return None if es_marcador(texto) else reparar_texto(texto)
