"""The service catalog is data: the default is valid and complete, errors are precise."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from geoportal.catalog import CatalogError, load_catalog
from geoportal.settings import PACKAGE_DIR

DEFAULT = PACKAGE_DIR / "catalogo" / "servicios.yaml"


def test_default_catalog_covers_the_ten_logros_with_a_nucleo_package():
    catalog = load_catalog(DEFAULT)
    assert sorted(c.logro for c in catalog.categorias) == list(range(1, 11))
    for category in catalog.categorias:
        assert catalog.nucleo_de(category.codigo), f"{category.codigo} sin paquete núcleo"
    assert {s.paquete for s in catalog.servicios} == {"nucleo", "ampliado", "diferenciado"}
    assert {s.unidad for s in catalog.servicios} == {"persona", "hogar", "entorno"}


def test_place_based_services_have_a_catchment_and_a_known_point_type():
    catalog = load_catalog(DEFAULT)
    for s in catalog.servicios:
        if s.punto_tipo:
            assert s.punto_tipo in catalog.tipos_punto
            assert 0 < s.radio_km.urbana <= s.radio_km.rural


def _broken(tmp_path: Path, change) -> Path:
    raw = yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
    change(raw)
    path = tmp_path / "servicios.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda r: r["servicios"][0].update(paquete="basico"),
            "servicios.yaml, servicio 'CPN' (n.º 1), campo 'paquete': valor no permitido",
        ),
        (
            lambda r: r["servicios"][1].pop("unidad"),
            "servicios.yaml, servicio 'PARTO_INST' (n.º 2), campo 'unidad': falta este campo obligatorio",
        ),
        (
            lambda r: r["servicios"][0].update(color="rojo"),
            "servicios.yaml, servicio 'CPN' (n.º 1), campo 'color': campo desconocido",
        ),
        (
            lambda r: r["servicios"][0].update(institucion="NASA"),
            "servicio 'CPN' (n.º 1), campo 'institucion': 'NASA' no está en instituciones",
        ),
        (
            lambda r: r["servicios"][0]["aplica"].update(edad_min=50, edad_max=10),
            "servicio 'CPN' (n.º 1), campo 'aplica': edad_min es mayor que edad_max",
        ),
        (
            lambda r: r["servicios"][0].pop("radio_km"),
            "servicio 'CPN' (n.º 1): un servicio con punto_tipo necesita radio_km",
        ),
        (
            lambda r: next(s for s in r["servicios"] if s["codigo"] == "AGUA").pop("brecha_sin_punto"),
            "servicio 'AGUA' (n.º 16): un servicio sin punto_tipo necesita brecha_sin_punto (inversion o derivacion)",
        ),
        (
            lambda r: r["servicios"][0].update(brecha_sin_punto="inversion"),
            "servicio 'CPN' (n.º 1): brecha_sin_punto solo vale para servicios sin punto_tipo",
        ),
        (lambda r: r["servicios"].append(dict(r["servicios"][0])), "código repetido"),
        (lambda r: r["categorias"].pop(), "las categorías deben cubrir los Logros 1 a 10"),
    ],
)
def test_a_bad_catalog_names_file_entry_and_field(tmp_path, change, message):
    with pytest.raises(CatalogError) as error:
        load_catalog(_broken(tmp_path, change))
    assert message in str(error.value)


def test_invalid_yaml_and_missing_file_are_reported_in_spanish(tmp_path):
    bad = tmp_path / "roto.yaml"
    bad.write_text("servicios: [\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="roto.yaml: YAML inválido"):
        load_catalog(bad)
    with pytest.raises(CatalogError, match="el archivo no existe"):
        load_catalog(tmp_path / "no.yaml")


def test_applicability_rules_select_by_age_sex_and_pregnancy():
    import pandas as pd

    catalog = load_catalog(DEFAULT)
    people = pd.DataFrame(
        {
            "edad": [0, 4, 10, 30, 70],
            "sexo": ["F", "M", "F", "F", "M"],
            "embarazada": [False, False, False, True, False],
            "discapacidad": [False, False, False, False, True],
            "indigena": [False] * 5,
        }
    )
    assert catalog.servicio("VACUNAS").aplica.applies(people).tolist() == [True, True, False, False, False]
    assert catalog.servicio("CPN").aplica.applies(people).tolist() == [False, False, False, True, False]
    assert catalog.servicio("PENSION_AM").aplica.applies(people).tolist() == [False, False, False, False, True]
    assert catalog.servicio("PENSION_DISCAPACIDAD").aplica.applies(people).tolist() == [False] * 4 + [True]
