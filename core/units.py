"""Readable labels for UCUM unit codes (https://ucum.org): what a result's unit looks like on a screen.

Results arrive with the UCUM code of their unit (`10*3/uL`, `Cel`, `mL/min/{1.73_m2}`): fine for machines (the FHIR
export keeps the code), not for people. `ucum_label` writes the code as a clinician would: 10³/µL, °C,
mL/min/1.73 m². Codes that already read well (mg/dL, %, mmol/L) come back unchanged.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Whole codes whose label is not a mechanical rewrite.
WHOLE = {
    "Cel": "\u00b0C",
    "[degF]": "\u00b0F",
    "/min": "/min",
    "{beats}/min": "beats/min",
    "{breaths}/min": "breaths/min",
    "1": "",  # a ratio or count without a unit
}
# [bracketed] atoms: customary units and arbitrary units.
BRACKETED = {
    "degF": "\u00b0F",
    "degC": "\u00b0C",
    "lb_av": "lb",
    "oz_av": "oz",
    "in_i": "in",
    "in_us": "in",
    "ft_i": "ft",
    "iU": "IU",
    "IU": "IU",
    "Hg": "Hg",  # mm[Hg] -> mmHg
}
SUPERSCRIPT = str.maketrans(
    "0123456789-", "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079\u207b"
)

_POWER_OF_TEN = re.compile(r"10\*(-?\d+)")
_ANNOTATION = re.compile(r"\{([^}]*)\}")
_BRACKET = re.compile(r"\[([^\]]+)\]")
_CELSIUS = re.compile(r"(?<![A-Za-z])Cel(?![A-Za-z])")
_MICRO = re.compile(r"(?<![A-Za-z])u(?=(L|g|mol|m|IU|U|eq)(?![a-z]))")
_SQUARE = re.compile(r"(?<![A-Za-z])(m|cm|mm)([23])(?!\d)")


def _annotation(m: re.Match) -> str:
    # {1.73_m2} -> 1.73 m2 (squared below); {cells} -> cells
    return m.group(1).replace("_", " ")


@lru_cache(maxsize=512)
def ucum_label(code: str | None) -> str:
    """The readable label of a UCUM code; the code itself (cleaned of UCUM's notation) when no rule applies."""
    code = (code or "").strip()
    if code in WHOLE:
        return WHOLE[code]
    text = _POWER_OF_TEN.sub(lambda m: "10" + m.group(1).translate(SUPERSCRIPT), code)
    text = _BRACKET.sub(lambda m: BRACKETED.get(m.group(1), m.group(1).replace("_", " ")), text)
    text = _ANNOTATION.sub(_annotation, text)
    text = _CELSIUS.sub("\u00b0C", text)
    text = _MICRO.sub("\u00b5", text)
    text = _SQUARE.sub(lambda m: m.group(1) + m.group(2).translate(SUPERSCRIPT), text)
    return text
