"""Imported records carry regional language tags (BCP 47 "en-US"): the chart names the language, not the tag."""

from patients.languages import name_of


def test_language_names():
    assert name_of("en") == "English"
    assert name_of("en-US") == "English"
    assert name_of("es-MX") == "Spanish"
    assert name_of("xx-YY") == "xx-YY"  # unknown: shown as recorded
    assert name_of("") == ""
