"""The one CSV writer of the product: every CSV it emits (downloads and their dictionary,
the exact information loss, the Mesa's nominal list, the referral report, the audit
log) is written here, in one dialect, for Excel in Spanish:

- UTF-8 with BOM (Excel then reads "ñ" and accents right), ``;`` as separator (the
  comma is the decimal mark), ``\\r\\n`` line ends;
- decimal comma, ``sí`` / ``no``, an empty cell for a missing value;
- **formula neutralisation**: text that would start a formula (``= + - @``, tab, CR)
  gets a leading apostrophe, so a cell typed by someone else (an institution's free-text
  ``nota``, a place name) is shown as text and never run by the spreadsheet.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from fastapi.responses import Response

BOM = "\ufeff"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MEDIA_TYPE = "text/csv; charset=utf-8"


def csv_text(value) -> str:
    """One CSV cell for Excel in Spanish (text neutralised against formula injection)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "sí" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value).replace(".", ",") if math.isfinite(value) else ""
    text = str(value)
    if text.startswith(FORMULA_START):
        text = "'" + text
    if any(c in text for c in (";", '"', "\n", "\r")):
        text = '"' + text.replace('"', '""') + '"'
    return text


def csv_line(values: Iterable) -> str:
    return ";".join(csv_text(v) for v in values) + "\r\n"


def csv_document(header: Iterable, rows: Iterable[Iterable]) -> str:
    """A whole sheet: BOM, header line, one line per row."""
    return BOM + csv_line(header) + "".join(csv_line(r) for r in rows)


def csv_records(records: list[dict], filename: str, headers: dict | None = None) -> Response:
    """A CSV attachment of ``records`` (column names from the first one; empty: no line)."""
    names = list(records[0]) if records else []
    body = csv_document(names, (r.values() for r in records)) if records else BOM
    return Response(
        body.encode(),
        media_type=MEDIA_TYPE,
        headers={"Content-Disposition": f"attachment; filename={filename}", **(headers or {})},
    )
