"""UCUM codes as people read them (core/units.py): the results pages show these labels, never the codes."""

import pytest
from django.template import Context, Template

from core.units import ucum_label


@pytest.mark.parametrize(
    ("code", "label"),
    [
        ("10*3/uL", "10\u00b3/\u00b5L"),
        ("10*6/uL", "10\u2076/\u00b5L"),
        ("Cel", "\u00b0C"),
        ("[degF]", "\u00b0F"),
        ("mm[Hg]", "mmHg"),
        ("kg/m2", "kg/m\u00b2"),
        ("mL/min/{1.73_m2}", "mL/min/1.73 m\u00b2"),
        ("{beats}/min", "beats/min"),
        ("[lb_av]", "lb"),
        ("[in_i]", "in"),
        ("[iU]/L", "IU/L"),
        ("umol/L", "\u00b5mol/L"),
        ("ug/dL", "\u00b5g/dL"),
        ("/[HPF]", "/HPF"),
        ("{score}", "score"),
        # Codes that already read well come back as they are.
        ("mg/dL", "mg/dL"),
        ("mmol/L", "mmol/L"),
        ("%", "%"),
        ("g/dL", "g/dL"),
        ("fL", "fL"),
        ("pg", "pg"),
        ("U/L", "U/L"),
        ("", ""),
    ],
)
def test_ucum_label(code, label):
    assert ucum_label(code) == label


def test_unit_filter():
    html = Template("{% load ehr_format %}{{ u|unit }}").render(Context({"u": "10*3/uL"}))
    assert html == "10\u00b3/\u00b5L"
