"""Every CSV the product emits goes through one writer (``api.base.hojas``): Excel in
Spanish (BOM, ';', decimal comma) and no cell that a spreadsheet would run as a formula.
No database needed."""

from __future__ import annotations

import csv
import io

import pytest

from api.base.hojas import csv_document, csv_records, csv_text


@pytest.mark.parametrize(
    "typed, shown",
    [
        ('=HIPERVINCULO("http://x";"clic")', '"\'=HIPERVINCULO(""http://x"";""clic"")"'),
        ("+5493", "'+5493"),
        ("-2+3", "'-2+3"),
        ("@SUMA(A1)", "'@SUMA(A1)"),
        ("\tx", "'\tx"),
        ("entregada en la USF", "entregada en la USF"),
    ],
)
def test_text_that_would_start_a_formula_is_shown_as_text(typed, shown):
    assert csv_text(typed) == shown


def test_numbers_booleans_and_missing_values_are_written_for_excel_in_spanish():
    assert [csv_text(v) for v in (3, -2.5, True, False, None, float("nan"))] == ["3", "-2,5", "sí", "no", "", ""]


def test_a_referral_report_neutralises_another_institutions_free_text_note():
    records = [{"derivacion_id": 7, "nota": "=1+1", "localidad": "Villeta; centro"}]
    response = csv_records(records, "derivaciones_MSPBS.csv")
    text = response.body.decode("utf-8")
    assert text.startswith("\ufeffderivacion_id;nota;localidad\r\n")
    assert response.headers["content-disposition"] == "attachment; filename=derivaciones_MSPBS.csv"
    rows = list(csv.reader(io.StringIO(text[1:]), delimiter=";"))
    assert rows == [["derivacion_id", "nota", "localidad"], ["7", "'=1+1", "Villeta; centro"]]


def test_a_document_is_bom_header_and_lines():
    assert csv_document(["a", "b"], [[1, "x"]]) == "\ufeffa;b\r\n1;x\r\n"
