"""relevamiento_pct is the survey coverage of the published area, and says so.
A district row is a 2012 polygon that may hold several 2022 districts: Mariscal
Estigarribia (1602) shares its polygon with Boquerón (1606, not in the pilots), so a
fully surveyed 1602 cannot be 100 % of the area; the figure is computed from the row's
own published counts and census population, and the dictionary says what it is."""

from __future__ import annotations

import pandas as pd
import psycopg


def _read(url, sql, params=()):
    with psycopg.connect(url) as conn:
        cur = conn.execute(sql, params)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def test_survey_coverage_is_of_the_whole_published_area(pilotos):
    url = pilotos["url"]
    census = _read(
        url,
        "SELECT codigo, coalesce(codigo_2012, 'D' || codigo) AS poligono, dpto, nombre, pob_total"
        " FROM territorio.distrito",
    )
    rows = _read(
        url, "SELECT nivel, codigo, nombre, reservado, personas, pob_censo, relevamiento_pct FROM publico.cobertura"
    ).set_index(["nivel", "codigo"])
    shared = rows.loc[("distrito", "1602")]
    members = census[census["poligono"] == "1602"]
    assert sorted(members["codigo"]) == ["1602", "1606"]
    assert shared["nombre"] == " / ".join(sorted(members["nombre"]))
    assert shared["pob_censo"] == members["pob_total"].sum()  # the whole area, both districts
    expected = {("distrito", p): g["pob_total"].sum() for p, g in census.groupby("poligono")}
    expected |= {("departamento", d): g["pob_total"].sum() for d, g in census.groupby("dpto")}
    expected[("pais", "PY")] = census["pob_total"].sum()
    for key, row in rows.iterrows():
        if key[0].startswith("h3_"):
            assert pd.isna(row["relevamiento_pct"]) and pd.isna(row["pob_censo"]), key
        elif row["reservado"]:
            assert pd.isna(row["relevamiento_pct"]), key
        else:  # the row's own published persons over the census population of the same area
            assert row["pob_censo"] == expected[key], key
            assert row["relevamiento_pct"] == round(row["personas"] / expected[key] * 100, 1), key
    medida = _read(url, "SELECT etiqueta, descripcion FROM publico.medida WHERE columna = 'relevamiento_pct'").iloc[0]
    assert medida["etiqueta"] == "Personas relevadas sobre la población censal 2022 del área publicada (%)"
    for words in ("polígono 2012", "varios distritos 2022", "no de un distrito", "conteo publicado"):
        assert words in medida["descripcion"], words
