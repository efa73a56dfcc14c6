"""Place names from the sources are repaired before anyone sees them."""

import pandas as pd

from geoportal.nombres import clave, es_marcador, nombre_de_lugar, reparar_texto
from geoportal.settings import DATA_DIR


def test_eth_is_read_as_enye():
    assert reparar_texto("ÐU PYAHU") == "ÑU PYAHU"
    assert reparar_texto("San Juan Bautista de Ðeembucu") == "San Juan Bautista de Ñeembucu"


def test_placeholders_are_not_places():
    for text in ("LOCALIDAD A CONFIRMAR", "Localidad a confirmar", "  a confirmar ", "", None, float("nan")):
        assert es_marcador(text), text
        assert nombre_de_lugar(text) is None
    for text in ("Confirmación", "San Juan", "Ñumi"):
        assert not es_marcador(text), text


def test_keys_ignore_case_accents_and_spaces_but_keep_enye():
    assert clave("Asunción") == clave("ASUNCION") == clave("  asuncion ")
    assert clave("Barrio San Pedro, Loma") == clave("Barrio San Pedro - Loma")
    assert clave("Ñemby") == clave("ÐEMBY")
    assert clave("Ñemby") != clave("Nemby")


def test_no_mec_locality_keeps_an_eth_after_repair():
    names = pd.read_csv(DATA_DIR / "escuelas_mec.csv", usecols=["barrio_localidad"])["barrio_localidad"].dropna()
    assert names.str.contains("Ð").sum() > 100  # the defect is real ...
    repaired = names.map(reparar_texto)
    assert not repaired.str.contains("Ð|ð").any()  # ... and gone after repair
    assert names.map(es_marcador).sum() >= 80  # the placeholder is used ~88 times
