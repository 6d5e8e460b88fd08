"""Directions that follow the product: what a product's dose form allows (route, dose unit, dispensing unit),
the defaults the prescribe form starts from, the maximum-daily-dose check and the SCRIPT codes of a structured
sig. Pure functions over the catalog row and the prescription's fields; no queries except the shipped dose table.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from django.conf import settings

from core.refdata import ingredient_key

from .models import DoseUnit, Frequency, Route

TABLET, CAPSULE, ML, GRAM, EACH, PATCH, SUPPOSITORY = (
    "C48542",
    "C48480",
    "C28254",
    "C48155",
    "C64933",
    "C48524",
    "C48539",
)


@dataclass(frozen=True)
class FormRule:
    """What one family of dose forms allows; the first of each tuple is the default."""

    label: str
    routes: tuple[str, ...]
    dose_units: tuple[str, ...]
    dispense_units: tuple[str, ...]


_ORAL_SOLID = ("tablet", "caplet")
# Matched in order against the catalog's dose form (RxNorm DF name): the first rule whose words all occur wins.
RULES: tuple[tuple[tuple[str, ...], FormRule], ...] = (
    (
        ("sublingual", "tablet"),
        FormRule("sublingual tablet", (Route.SL,), (DoseUnit.TABLET,), (TABLET, EACH)),
    ),
    (("inhaler",), FormRule("inhaler", (Route.INH,), (DoseUnit.PUFF,), (EACH, GRAM))),
    (("inhalation",), FormRule("inhalation", (Route.INH,), (DoseUnit.ML, DoseUnit.PUFF), (ML, EACH))),
    (
        ("injection",),
        FormRule(
            "injection", (Route.IV, Route.IM, Route.SC), (DoseUnit.ML, DoseUnit.MG, DoseUnit.UNIT), (ML, EACH)
        ),
    ),
    (
        ("injectable",),
        FormRule(
            "injection", (Route.IV, Route.IM, Route.SC), (DoseUnit.ML, DoseUnit.MG, DoseUnit.UNIT), (ML, EACH)
        ),
    ),
    (
        ("syringe",),
        FormRule(
            "injection", (Route.SC, Route.IM, Route.IV), (DoseUnit.ML, DoseUnit.MG, DoseUnit.UNIT), (ML, EACH)
        ),
    ),
    (
        ("auto-injector",),
        FormRule("injection", (Route.SC, Route.IM), (DoseUnit.ML, DoseUnit.MG, DoseUnit.UNIT), (ML, EACH)),
    ),
    (("cartridge",), FormRule("injection", (Route.SC,), (DoseUnit.UNIT, DoseUnit.ML), (ML, EACH))),
    (
        ("ophthalmic", "ointment"),
        FormRule("eye ointment", (Route.OPH,), (DoseUnit.APPLICATION,), (GRAM, EACH)),
    ),
    (("ophthalmic",), FormRule("eye drops", (Route.OPH,), (DoseUnit.DROP,), (ML, EACH))),
    (("otic",), FormRule("ear drops", (Route.OTIC,), (DoseUnit.DROP,), (ML, EACH))),
    (("nasal",), FormRule("nasal spray", (Route.NAS,), (DoseUnit.SPRAY,), (EACH, ML, GRAM))),
    (
        ("rectal", "suppository"),
        FormRule("suppository", (Route.PR,), (DoseUnit.SUPPOSITORY,), (SUPPOSITORY,)),
    ),
    (("transdermal",), FormRule("patch", (Route.TOP,), (DoseUnit.PATCH,), (PATCH, EACH))),
    (("patch",), FormRule("patch", (Route.TOP,), (DoseUnit.PATCH,), (PATCH, EACH))),
    (("topical",), FormRule("topical", (Route.TOP,), (DoseUnit.APPLICATION,), (GRAM, ML, EACH))),
    (("oral", "capsule"), FormRule("capsule", (Route.PO,), (DoseUnit.CAPSULE,), (CAPSULE, EACH))),
    (("oral", "tablet"), FormRule("tablet", (Route.PO,), (DoseUnit.TABLET,), (TABLET, EACH, "C64696"))),
    (("chewable", "tablet"), FormRule("chewable tablet", (Route.PO,), (DoseUnit.TABLET,), (TABLET, EACH))),
    (("oral", "solution"), FormRule("oral liquid", (Route.PO,), (DoseUnit.ML,), (ML,))),
    (("oral", "suspension"), FormRule("oral liquid", (Route.PO,), (DoseUnit.ML,), (ML,))),
)


def form_rule(dose_form: str) -> FormRule | None:
    """The rule for a catalog dose form, or None (packs and rare forms: no product check, the sig as written)."""
    words = (dose_form or "").lower()
    for needed, rule in RULES:
        if all(w in words for w in needed):
            return rule
    return None


def sig_defaults(medication) -> dict[str, str]:
    """Prescribe-form defaults for a product: dose unit, route, dispensing unit ({} when the form has no rule)."""
    rule = form_rule(medication.dose_form)
    if rule is None:
        return {}
    return {"dose_unit": rule.dose_units[0], "route": rule.routes[0], "quantity_unit": rule.dispense_units[0]}


def sig_mismatches(*, medication, route: str, dose_unit: str, quantity_unit: str) -> dict[str, str]:
    """{field: message} for each part of the directions that contradicts the product's dose form."""
    rule = form_rule(medication.dose_form)
    if rule is None:
        return {}
    problems = {}
    form = medication.dose_form.lower()
    if route not in rule.routes:
        allowed = " or ".join(str(Route(r).label) for r in rule.routes)
        problems["route"] = f"{medication.dose_form} is given {allowed}, not {Route(route).label}."
    if dose_unit not in rule.dose_units:
        allowed = " or ".join(str(DoseUnit(u).label) for u in rule.dose_units)
        problems["dose_unit"] = f"A dose of {form} is measured in {allowed}, not {DoseUnit(dose_unit).label}."
    if quantity_unit not in rule.dispense_units:
        from . import ncpdp

        allowed = " or ".join(ncpdp.QUANTITY_UNITS.get(u, u) for u in rule.dispense_units)
        problems["quantity_unit"] = (
            f"{medication.dose_form} is dispensed by {allowed.lower()}, "
            f"not by {ncpdp.QUANTITY_UNITS.get(quantity_unit, quantity_unit).lower()}."
        )
    return problems


# ------------------------------------------------------------------ maximum daily dose
DOSES_PER_DAY = {
    Frequency.QD: 1,
    Frequency.BID: 2,
    Frequency.TID: 3,
    Frequency.QID: 4,
    Frequency.Q4H: 6,
    Frequency.Q6H: 4,
    Frequency.Q8H: 3,
    Frequency.Q12H: 2,
    Frequency.QHS: 1,
    Frequency.QAM: 1,
    Frequency.ONCE: 1,
}
MAX_DOSE_FILE = "dosing/max_daily_dose.csv"


@dataclass(frozen=True)
class MaxDose:
    ingredient: str
    max_mg_per_day: Decimal
    source: str
    url: str


@lru_cache(maxsize=1)
def max_dose_table() -> dict[str, MaxDose]:
    """{ingredient_key: MaxDose} from data/dosing/max_daily_dose.csv (adult maxima from the FDA labels)."""
    path = Path(settings.BASE_DIR) / "data" / MAX_DOSE_FILE
    with path.open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if not r["ingredient"].startswith("#")]
    return {
        ingredient_key(r["ingredient"]): MaxDose(
            r["ingredient"], Decimal(r["max_mg_per_day"]), r["source"], r["url"]
        )
        for r in rows
    }


def _strength_mg(strength: str) -> Decimal | None:
    """mg per tablet/capsule ("400 MG") or per mL ("20 MG/ML"); None for other units."""
    parts = (strength or "").upper().split()
    if len(parts) != 2:
        return None
    try:
        value = Decimal(parts[0])
    except ArithmeticError:
        return None
    return value if parts[1] in ("MG", "MG/ML") else None


def daily_dose_problem(
    *, medication, ingredients, dose, dose_unit: str, frequency: str
) -> tuple[str, MaxDose] | None:
    """(message for clinicians, source) when the daily amount of a single-ingredient product exceeds the
    labelled adult maximum; None otherwise (multi-ingredient products and unknown strengths are not checked)."""
    if len(ingredients) != 1 or frequency not in DOSES_PER_DAY:
        return None
    limit = max_dose_table().get(ingredients[0].ingredient_key)
    if limit is None:
        return None
    dose = Decimal(dose)
    if dose_unit == DoseUnit.MG:
        per_dose = dose
    else:
        per_unit = _strength_mg(medication.strength)
        if per_unit is None:
            return None
        per_dose = dose * per_unit
    daily = per_dose * DOSES_PER_DAY[frequency]
    if daily <= limit.max_mg_per_day:
        return None
    return (
        f"Above the maximum daily dose: {_fmt(daily)} mg of {limit.ingredient} a day; "
        f"the adult maximum is {_fmt(limit.max_mg_per_day)} mg a day.",
        limit,
    )


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f")


# ------------------------------------------------------------------ structured sig codes (SCRIPT 2017071)
# SNOMED CT routes (the FHIR route-codes value set) and NCI DoseUnitOfMeasure codes; unknown units send C38046.
ROUTE_SNOMED = {
    Route.PO: ("oral route", "26643006"),
    Route.SL: ("sublingual route", "37839007"),
    Route.TOP: ("topical route", "6064005"),
    Route.INH: ("respiratory tract route", "447694001"),
    Route.PR: ("rectal route", "37161004"),
    Route.SC: ("subcutaneous route", "34206005"),
    Route.IM: ("intramuscular route", "78421000"),
    Route.IV: ("intravenous route", "47625008"),
    Route.OPH: ("ophthalmic route", "54485002"),
    Route.OTIC: ("otic route", "10547007"),
    Route.NAS: ("nasal route", "46713006"),
}
DOSE_UNIT_NCI = {
    DoseUnit.TABLET: ("Tablet", "C48542"),
    DoseUnit.CAPSULE: ("Capsule", "C48480"),
    DoseUnit.ML: ("Milliliter", "C28254"),
    DoseUnit.MG: ("Milligram", "C28253"),
    DoseUnit.PUFF: ("Puff", "C65060"),
    DoseUnit.DROP: ("Metric Drop", "C48491"),
    DoseUnit.PATCH: ("Patch", "C48524"),
    DoseUnit.UNIT: ("Unit", "C44278"),
    DoseUnit.SUPPOSITORY: ("Suppository", "C48539"),
}
UNSPECIFIED = "C38046"
# Frequency -> ("frequency", times, per SNOMED unit) or ("interval", every n, SNOMED unit).
DAY, HOUR, WEEK = ("day", "258703001"), ("hour", "258702006"), ("week", "258705008")
TIMING = {
    Frequency.QD: ("frequency", 1, DAY),
    Frequency.BID: ("frequency", 2, DAY),
    Frequency.TID: ("frequency", 3, DAY),
    Frequency.QID: ("frequency", 4, DAY),
    Frequency.Q4H: ("interval", 4, HOUR),
    Frequency.Q6H: ("interval", 6, HOUR),
    Frequency.Q8H: ("interval", 8, HOUR),
    Frequency.Q12H: ("interval", 12, HOUR),
    Frequency.QHS: ("frequency", 1, DAY),
    Frequency.QAM: ("frequency", 1, DAY),
    Frequency.QWEEK: ("frequency", 1, WEEK),
    Frequency.ONCE: ("frequency", 1, DAY),
}
# SNOMED CT administration methods (DoseDeliveryMethod) by route; anything else is "Administer".
ADMINISTER = ("Administer", "418283001")
VERB_SNOMED = {
    Route.PO: ("Take", "419652001"),
    Route.SL: ("Dissolve", "421682005"),
    Route.TOP: ("Apply", "417924000"),
    Route.SC: ("Inject", "422145002"),
    Route.IM: ("Inject", "422145002"),
    Route.IV: ("Inject", "422145002"),
    Route.OPH: ("Instill", "419747000"),
    Route.OTIC: ("Instill", "419747000"),
    Route.PR: ("Insert", "421257003"),
}
