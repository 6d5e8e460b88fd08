"""Token search on codes across code systems, and `_lastUpdated`: the search handlers added to those of search.py.

Token forms (FHIR R4 3.1.1.4.7):
  `code`           the code in any code system
  `system|code`    the code in that system
  `|code`          a coding without a system (the product stores every code with its system: these match only
                   codings an import kept without one)
  `system|`        any code of that system

Where the codes live: Condition (ICD-10-CM, or the coding an import kept, e.g. SNOMED CT), AllergyIntolerance
(RxNorm, or SNOMED CT / another system kept beside its code), Immunization (CVX), MedicationRequest (RxNorm, on
prescriptions and imported orders), Observation (LOINC: the vital-sign columns and results; results imported with
other codings, e.g. SNOMED CT, also match those codings as received).
"""

from __future__ import annotations

from django.db.models import CharField, Exists, OuterRef, Q
from django.db.models.functions import Cast

from .mapping import (
    CVX_SYSTEM,
    ICD10CM_SYSTEM,
    LOINC_SYSTEM,
    RXNORM_SYSTEM,
    VITAL_CODE_SUFFIX,
    VITAL_FIELDS_BY_SUFFIX,
)
from .search import NOTHING, SearchError, datetime_query


def split(value: str) -> tuple[str | None, str]:
    """`[system|]code` -> (system, code): system None = any system, "" = no system; code "" = any code."""
    if "|" not in value:
        return None, value
    system, _, code = value.partition("|")
    if not system and not code:
        raise SearchError("A token search value '|' names neither a system nor a code.")
    return system, code


def coded(value: str, fixed=(), pairs=()) -> Q:
    """`fixed`: (system, column) for columns holding codes of one system; `pairs`: (system column, code column)
    for codings stored with their system."""
    system, code = split(value)
    parts = []
    for sys_, col in fixed:
        if system is None or system == sys_:
            parts.append(Q(**{col: code}) if code else ~Q(**{col: ""}))
    for sys_col, code_col in pairs:
        if system is None:
            parts.append(Q(**{code_col: code}))
        elif code:
            parts.append(Q(**{sys_col: system, code_col: code}))
        else:
            parts.append(Q(**{sys_col: system}) & ~Q(**{code_col: ""}))
    q = NOTHING
    for part in parts:
        q = part if q is NOTHING else q | part
    return q


def condition_code(value: str) -> Q:
    return coded(value, fixed=[(ICD10CM_SYSTEM, "code_id")], pairs=[("code_system", "code_value")])


def allergy_code(value: str) -> Q:
    return coded(
        value, fixed=[(RXNORM_SYSTEM, "substance_rxcui")], pairs=[("substance_system", "substance_code")]
    )


def vaccine_code(value: str) -> Q:
    return coded(value, fixed=[(CVX_SYSTEM, "vaccine_code")])


def prescription_code(value: str) -> Q:
    return coded(value, fixed=[(RXNORM_SYSTEM, "medication__rxcui")])


def imported_order_code(value: str) -> Q:
    return coded(value, fixed=[(RXNORM_SYSTEM, "rxcui")])


def vital_suffixes(value: str) -> set[str]:
    """The vital-sign Observations (by id suffix) a `code` value names (LOINC only)."""
    system, code = split(value)
    if system not in (None, LOINC_SYSTEM):
        return set()
    if not code:
        return set(VITAL_CODE_SUFFIX.values())
    return {VITAL_CODE_SUFFIX[code]} if code in VITAL_CODE_SUFFIX else set()


def vital_code(value: str) -> Q:
    q = NOTHING
    for suffix in vital_suffixes(value):
        for field in VITAL_FIELDS_BY_SUFFIX[suffix]:
            q = Q(**{f"{field}__isnull": False}) if q is NOTHING else q | Q(**{f"{field}__isnull": False})
    return q


def _received_coding(target_model: str, element: str, system: str | None, code: str) -> Q:
    """Rows imported with a coding (system, code) in `element`, as received (ImportedRecord.resource)."""
    from .models import ImportedRecord

    coding = {k: v for k, v in (("system", system), ("code", code)) if v}
    received = ImportedRecord.objects.filter(
        target_model=target_model,
        target_id=Cast(OuterRef("pk"), CharField()),
        **{f"resource__{element}__coding__contains": [coding]},
    )
    return Q(Exists(received))


def result_code(value: str) -> Q:
    """Results: LOINC in the column; any system (SNOMED CT ...) in the codings as received."""
    system, code = split(value)
    q = coded(value, fixed=[(LOINC_SYSTEM, "loinc_code")])
    if (
        system == ""
    ):  # a coding without a system: never stored here, and containment cannot ask for "no system"
        return q
    if system is None or system != LOINC_SYSTEM:
        received = _received_coding("encounters.observation", "code", system, code)
        q = received if q is NOTHING else q | received
    return q


def _changed(column: str) -> dict:
    return {"_lastUpdated": lambda v: datetime_query(column, v)}


# FHIR type -> the extra handlers of each of its source tables (selectors.clinical_kinds order).
_CHANGED = _changed("updated_at")
EXTRA: dict[str, tuple[dict, ...]] = {
    "Patient": (_CHANGED,),
    "Encounter": (_CHANGED,),
    "Condition": ({**_CHANGED, "code": condition_code},),
    "AllergyIntolerance": ({**_CHANGED, "code": allergy_code},),
    "Observation": ({**_CHANGED, "code": vital_code}, {**_CHANGED, "code": result_code}),
    "MedicationRequest": ({**_CHANGED, "code": prescription_code}, {**_CHANGED, "code": imported_order_code}),
    "MedicationStatement": (_CHANGED,),
    "Immunization": ({**_CHANGED, "vaccine-code": vaccine_code},),
    "Appointment": (_CHANGED,),
    "DocumentReference": (_CHANGED,),
    "ServiceRequest": (_CHANGED,),
    "DiagnosticReport": ({}, {}),  # diagnostic_report.PARAMS has its own (two tables)
}
KEPT_EXTRA = (_changed("received_at"),)


def extended(resource_type: str, handlers):
    """The search handlers of a type (a dict, or a tuple of dicts for two tables) with the ones above added."""
    per_source = handlers if isinstance(handlers, tuple) else (handlers,)
    from .selectors import KEPT_TYPES

    extra = EXTRA.get(resource_type) or (
        KEPT_EXTRA if resource_type in KEPT_TYPES else ({},) * len(per_source)
    )
    out = tuple({**h, **e} for h, e in zip(per_source, extra, strict=True))
    return out if isinstance(handlers, tuple) else out[0]
