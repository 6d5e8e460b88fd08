"""Every read of the clinical record: encounters and notes, the chart sections, problems, allergies,
medications, vitals, immunizations and results, ICD-10 and allergen searches.

Selectors that take `patient` expect a patient already fetched through patients.selectors.patient_get (which
checked the permission and recorded the access with the page's data category); they record nothing themselves.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.db.models import Case, CharField, F, IntegerField, Lookup, Q, Value, When
from django.http import Http404

from accounts import roles
from audit import categories
from core.links import pk_url
from core.prepared import SENTINEL_ID, Prepared
from patients.selectors import patient_get

from . import units as clinic_units_cache
from . import vitals
from .models import (
    Allergy,
    AllergyCriticality,
    AllergyStatus,
    AmendmentRequest,
    Encounter,
    EncounterDiagnosis,
    Icd10Code,
    Immunization,
    ImmunizationStatus,
    MedicationStatement,
    MedicationStatus,
    Note,
    NoteTemplate,
    Observation,
    ObservationCategory,
    ObservationStatus,
    Problem,
    ProblemStatus,
    VitalSigns,
)

# High criticality first on the banner and the chart (text order would put "low" before "high").
CRITICALITY_RANK = Case(
    When(criticality=AllergyCriticality.HIGH, then=Value(0)),
    When(criticality=AllergyCriticality.UNABLE, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


# The chart's lists, compiled once per process (core/prepared.py): the chart page runs them on every first view.
_ALLERGIES_ACTIVE = Prepared(
    lambda patient_id: Allergy.objects.filter(patient_id=patient_id, status=AllergyStatus.ACTIVE).order_by(
        CRITICALITY_RANK, "substance_text"
    ),
    patient_id=SENTINEL_ID,
)
_MEDICATIONS_ACTIVE = Prepared(
    lambda patient_id: MedicationStatement.objects.filter(
        patient_id=patient_id, status=MedicationStatus.ACTIVE
    ).order_by("name"),
    patient_id=SENTINEL_ID,
)
_PROBLEMS_ACTIVE = Prepared(
    lambda patient_id: Problem.objects.filter(patient_id=patient_id, status=ProblemStatus.ACTIVE).order_by(
        "description"
    ),
    patient_id=SENTINEL_ID,
)
_VITALS_LATEST = Prepared(
    lambda patient_id: VitalSigns.objects.filter(patient_id=patient_id).order_by("-taken_at")[:1],
    patient_id=SENTINEL_ID,
)
_ENCOUNTERS_RECENT = Prepared(
    lambda patient_id: (
        Encounter.objects.filter(patient_id=patient_id)
        .select_related("provider")
        .order_by("-start", "-id")[:10]
    ),
    patient_id=SENTINEL_ID,
)


def allergies_active(*, patient) -> list[Allergy]:
    """Active allergies and intolerances, the most critical first."""
    return _ALLERGIES_ACTIVE(patient_id=patient.pk)


def medications_active(*, patient) -> list[MedicationStatement]:
    """Current medications, prescribed here or reported by the patient."""
    return _MEDICATIONS_ACTIVE(patient_id=patient.pk)


def problems_active(*, patient) -> list[Problem]:
    return _PROBLEMS_ACTIVE(patient_id=patient.pk)


def problems_all(*, patient) -> list[Problem]:
    return list(
        Problem.objects.filter(patient=patient)
        .exclude(status=ProblemStatus.ERROR)
        .order_by("status", "description")
    )


def allergies_all(*, patient) -> list[Allergy]:
    return list(
        Allergy.objects.filter(patient=patient)
        .exclude(status=AllergyStatus.ERROR)
        .order_by("status", CRITICALITY_RANK, "substance_text")
    )


def medications_all(*, patient) -> list[MedicationStatement]:
    return list(
        MedicationStatement.objects.filter(patient=patient)
        .exclude(status=MedicationStatus.ERROR)
        .order_by("status", "name")
    )


def vitals_latest(*, patient) -> VitalSigns | None:
    rows = _VITALS_LATEST(patient_id=patient.pk)
    return rows[0] if rows else None


def clinic_units() -> dict[str, str]:
    """The units the clinic reads and types vital signs in (field -> UCUM code), without a query on most pages
    (encounters/units.py)."""
    return clinic_units_cache.clinic_units()


def clinic_units_key() -> tuple:
    """The units, as part of the cached chart page's key (patients/chart.py)."""
    return tuple(sorted(clinic_units().items()))


def vitals_rows(vs: VitalSigns | None, units: dict | None = None) -> list[dict]:
    """Display rows (label, value, readable unit, LOINC, flag) for one set of vitals, in the clinic's units."""
    if vs is None:
        return []
    out = []
    for d in vitals.VITALS:
        value = vitals.shown(vs, d.field, units)
        if value is not None:
            out.append(
                {
                    "label": d.label,
                    "value": vitals.fmt(value),
                    "unit": vitals.unit_label(vitals.display_unit(d.field, units)),
                    "loinc": d.loinc,
                    "flag": vitals.flag(d.field, getattr(vs, d.field)),
                }
            )
    return out


# The trend page's charts: blood pressure is one chart of two series; every other measurement its own.
TREND_MEASURES: dict[str, tuple[str, tuple[str, ...]]] = {
    "bp": ("Blood pressure", ("systolic", "diastolic")),
    **{d.field: (d.label, (d.field,)) for d in vitals.VITALS if d.field not in ("systolic", "diastolic")},
}


_NO_BAND = {"weight", "height", "pain_score"}  # no adult reference range worth shading


def _band(field: str, unit: str) -> list[float]:
    if field in _NO_BAND:
        return []
    lo, hi = vitals.BY_FIELD[field].normal
    return [float(vitals.from_base(lo, unit)), float(vitals.from_base(hi, unit))]


def vitals_trend(*, patient, measure: str = "bp", units: dict | None = None, limit: int = 60) -> dict:
    """One trend chart's data (time, one or two series in the clinic's unit, the adult reference band) and the
    same points as table rows, oldest first, as the chart reads left to right. `chart` goes to the page as JSON."""
    measure = measure if measure in TREND_MEASURES else "bp"
    title, fields = TREND_MEASURES[measure]
    any_value = Q()
    for f in fields:
        any_value |= Q(**{f"{f}__isnull": False})
    rows = list(VitalSigns.objects.filter(any_value, patient=patient).order_by("-taken_at")[:limit])[::-1]
    unit = vitals.display_unit(fields[0], units)
    defs = [vitals.BY_FIELD[f] for f in fields]
    table: list[dict] = []
    points: list[list[float | None]] = [[] for _ in defs]
    for vs in rows:
        cells = []
        for i, f in enumerate(fields):
            v = vitals.shown(vs, f, units)
            points[i].append(float(v) if v is not None else None)
            cells.append({"value": vitals.fmt(v), "flag": vitals.flag(f, getattr(vs, f))})
        table.append({"at": vs.taken_at, "cells": cells})
    series = [{"label": d.label, "values": values} for d, values in zip(defs, points, strict=True)]
    loinc = " / ".join(d.loinc for d in defs)
    return {
        "measure": measure,
        "title": title,
        "unit": vitals.unit_label(unit),
        "loinc": loinc,
        "columns": [d.label for d in defs],
        "rows": table,
        "choices": [(k, v[0]) for k, v in TREND_MEASURES.items()],
        "band_text": "; ".join(
            f"{d.label.lower()} {vitals.fmt(round(b[0], 1))}\u2013{vitals.fmt(round(b[1], 1))}"
            for d, b in zip(defs, (_band(f, unit) for f in fields), strict=True)
            if b
        ),
        "chart": {
            "title": title,
            "unit": vitals.unit_label(unit),
            "t": [int(vs.taken_at.timestamp()) for vs in rows],
            "series": series,
            "bands": [_band(f, unit) for f in fields],
        },
    }


# ------------------------------------------------------------------ encounters
def encounter_get(*, actor, encounter_id, request=None, category=categories.ENCOUNTER) -> Encounter:
    """An encounter and its patient, if actor may see the patient's clinical record (404 otherwise).
    Records the access with the page's category."""
    try:
        enc = Encounter.objects.select_related("provider", "location", "appointment").get(pk=encounter_id)
    except (Encounter.DoesNotExist, ValueError):
        raise Http404("No encounter found") from None
    enc.patient = patient_get(
        actor=actor, patient_id=enc.patient_id, perm=roles.VIEW_CLINICAL, category=category, request=request
    )
    return enc


def encounter_notes(*, encounter) -> list[Note]:
    return list(
        Note.objects.filter(encounter=encounter)
        .select_related("author", "signed_by")
        .prefetch_related("addenda__author", "amendment_requests")
        .order_by("created_at")
    )


def encounter_vitals(*, encounter) -> list[VitalSigns]:
    return list(VitalSigns.objects.filter(encounter=encounter).order_by("-taken_at"))


def encounter_diagnoses(*, encounter) -> list[EncounterDiagnosis]:
    return list(
        EncounterDiagnosis.objects.filter(encounter=encounter).select_related("code").order_by("rank")
    )


def encounter_problem_choices(*, encounter) -> list[tuple[str, str]]:
    """The patient's active ICD-10-CM problems not yet linked to the visit: (code, description) to pick from."""
    linked = EncounterDiagnosis.objects.filter(encounter=encounter).values("code_id")
    return list(
        Problem.objects.filter(
            patient_id=encounter.patient_id, status=ProblemStatus.ACTIVE, code__isnull=False
        )
        .exclude(code_id__in=linked)
        .order_by("description")
        .values_list("code_id", "description")
    )


def note_templates(*, encounter_type: str) -> list[NoteTemplate]:
    """Active templates, those of `encounter_type` first (the one a clinician most likely wants)."""
    rows = list(NoteTemplate.objects.filter(active=True).order_by("name"))
    return sorted(rows, key=lambda t: t.encounter_type != encounter_type)


def note_template_get(*, template_id) -> NoteTemplate | None:
    try:
        return NoteTemplate.objects.filter(pk=int(template_id), active=True).first()
    except (TypeError, ValueError):
        return None


@dataclass
class Page:
    rows: list
    next_cursor: str | None
    first: bool


class BadCursor(ValueError):
    """A timeline cursor that is not '<ISO time>_<uuid>' (a mangled or hand-edited link)."""


def cursor_parse(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        ts, pk = cursor.split("_", 1)
        start = datetime.fromisoformat(ts)
        return (start if start.tzinfo else start.replace(tzinfo=UTC)), uuid.UUID(pk)
    except (ValueError, TypeError, AttributeError):
        raise BadCursor(cursor) from None


def encounters_page(*, patient, cursor: str | None = None, limit: int = 25) -> Page:
    """One page of the patient's timeline, newest first. Keyset pagination on (start, id): the same cost for
    page 1 and page 40 (index encounter_patient_start), and a constant number of queries. Raises BadCursor for a
    malformed cursor."""
    qs = Encounter.objects.filter(patient=patient).select_related("provider", "location")
    if cursor:
        start, pk = cursor_parse(cursor)
        qs = qs.filter(Q(start__lt=start) | Q(start=start, id__lt=pk))
    rows = list(qs.order_by("-start", "-id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = f"{rows[-1].start.isoformat()}_{rows[-1].pk}" if more else None
    return Page(rows=rows, next_cursor=nxt, first=not cursor)


# ------------------------------------------------------------------ chart sections (constant queries)
def chart_encounters(*, actor, patient, request):
    if not patient.access.clinical:
        return None
    rows = _ENCOUNTERS_RECENT(patient_id=patient.pk)
    return {
        "template": "encounters/_chart_encounters.html",
        "title": "Encounters",
        "main": True,
        "rows": rows,
        "nav_url": pk_url("encounters:timeline", patient.pk),
    }


def chart_problems(*, actor, patient, request):
    if not patient.access.clinical:
        return None
    return {
        "template": "encounters/_chart_problems.html",
        "title": "Problems",
        "aside": True,
        "rows": problems_active(patient=patient),
        "nav_url": pk_url("encounters:problems", patient.pk),
    }


def chart_allergies(*, actor, patient, request):
    if not patient.access.clinical:
        return None
    return {
        "template": "encounters/_chart_allergies.html",
        "title": "Allergies",
        "aside": True,
        "rows": allergies_active(patient=patient),
        "nav_url": pk_url("encounters:allergies", patient.pk),
    }


def chart_medications(*, actor, patient, request):
    if not patient.access.clinical:
        return None
    return {
        "template": "encounters/_chart_medications.html",
        "title": "Medications",
        "aside": True,
        "rows": medications_active(patient=patient),
        "nav_url": pk_url("encounters:medications", patient.pk),
    }


def chart_vitals(*, actor, patient, request):
    if not patient.access.clinical:
        return None
    latest = vitals_latest(patient=patient)
    return {
        "template": "encounters/_chart_vitals.html",
        "title": "Vital signs",
        "aside": True,
        "latest": latest,
        "rows": vitals_rows(latest, clinic_units()),
        "nav_url": pk_url("encounters:vitals_trend", patient.pk),
    }


def chart_immunizations(*, actor, patient, request):
    if not patient.access.clinical:
        return None
    return {
        "template": "encounters/_chart_immunizations.html",
        "title": "Immunizations",
        "aside": True,
        "rows": _IMMUNIZATIONS_RECENT(patient_id=patient.pk),
        "nav_url": pk_url("encounters:immunizations", patient.pk),
    }


def chart_results(*, actor, patient, request):
    if not patient.access.clinical:
        return None
    return {
        "template": "encounters/_chart_results.html",
        "title": "Results",
        "aside": True,
        "rows": results_latest(patient=patient, limit=10),
        "nav_url": pk_url("encounters:results", patient.pk),
    }


# ------------------------------------------------------------------ immunizations and results
def _immunizations(patient_id):
    return (
        Immunization.objects.filter(patient_id=patient_id)
        .exclude(status=ImmunizationStatus.ERROR)
        .select_related("performer")
        .order_by("-occurrence")
    )


_IMMUNIZATIONS_RECENT = Prepared(lambda patient_id: _immunizations(patient_id)[:8], patient_id=SENTINEL_ID)
# The latest laboratory value of each test (LOINC code): DISTINCT ON, at most 200 tests.
_RESULTS_LATEST = Prepared(
    lambda patient_id: (
        Observation.objects.filter(
            patient_id=patient_id, category=ObservationCategory.LABORATORY, superseded_by__isnull=True
        )
        .exclude(status=ObservationStatus.ERROR)
        .order_by("loinc_code", "-effective")
        .distinct("loinc_code")[:200]
    ),
    patient_id=SENTINEL_ID,
)


def immunizations_all(*, patient, limit: int = 500) -> list[Immunization]:
    """The patient's immunizations, newest first (entered-in-error ones left out). One query."""
    return list(_immunizations(patient.pk)[:limit])


def results_latest(*, patient, limit: int = 10) -> list[Observation]:
    """The latest laboratory value of each test (LOINC code), most recent first. One query (DISTINCT ON)."""
    rows = _RESULTS_LATEST(patient_id=patient.pk)
    return sorted(rows, key=lambda o: o.effective, reverse=True)[:limit]


@dataclass
class ResultGroup:
    loinc_code: str
    display: str
    rows: list

    @property
    def numeric(self) -> int:
        """How many of its results are numbers (two or more: the page links to the drawn trend)."""
        return sum(1 for o in self.rows if o.value_quantity is not None and o.superseded_by_id is None)


def results_all(*, patient, limit: int = 1000) -> list[ResultGroup]:
    """Every result (the most recent `limit`), grouped by test, each group newest first; the groups in the order
    of their latest result. One query."""
    rows = list(
        Observation.objects.filter(patient=patient)
        .exclude(status=ObservationStatus.ERROR)
        .order_by("-effective", "loinc_code", "superseded_by_id")[:limit]
    )
    groups: dict[tuple[str, str], ResultGroup] = {}
    for o in rows:
        key = (o.category, o.loinc_code or o.display)
        if key not in groups:
            groups[key] = ResultGroup(o.loinc_code, o.display, [])
        groups[key].rows.append(o)
    return list(groups.values())


# ------------------------------------------------------------------ ICD-10
class ILike(Lookup):
    """`column ILIKE pattern`: unlike Django's icontains (UPPER(column) LIKE UPPER(pattern)), the bare column lets
    PostgreSQL use the pg_trgm GIN index on it (icd10_description_trgm, migration 0002)."""

    lookup_name = "ilike"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} ILIKE {rhs}", [*lhs_params, *rhs_params]


def _like_contains(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def icd10_search_queryset(*, q: str):
    """Codes by code prefix ("E11") or description words (each word a substring, served by the trigram
    index), billable codes first."""
    q = (q or "").strip()[:100]
    if len(q) < 2:
        return Icd10Code.objects.none()
    if q[0].isalpha() and q[1:2].isdigit():
        return Icd10Code.objects.filter(code__startswith=q.upper()).order_by("code")
    qs = Icd10Code.objects.all()
    for word in q.split()[:5]:
        qs = qs.filter(ILike(F("description"), Value(_like_contains(word), output_field=CharField())))
    return qs.order_by("-billable", "code")


def icd10_search(*, q: str, limit: int = 15) -> list[Icd10Code]:
    return list(icd10_search_queryset(q=q)[:limit])


# ------------------------------------------------------------------ allergens from the medication catalog
def allergen_search(*, q: str, limit: int = 12) -> list[dict]:
    """Drug ingredients of the medication catalog whose name contains every word of `q`: {"rxcui", "name"}.
    The catalog belongs to prescriptions; it is read here, never written."""
    from prescriptions.models import MedicationIngredient

    words = (q or "").strip().split()[:4]
    if not words or len((q or "").strip()) < 2:
        return []
    qs = MedicationIngredient.objects.exclude(ingredient_rxcui="")
    for w in words:
        qs = qs.filter(name__icontains=w)
    rows = qs.values("ingredient_rxcui", "name").order_by("name", "ingredient_rxcui").distinct()[: limit * 3]
    seen, out = set(), []
    for r in rows:
        if r["ingredient_rxcui"] not in seen:
            seen.add(r["ingredient_rxcui"])
            out.append({"rxcui": r["ingredient_rxcui"], "name": r["name"]})
    out.sort(key=lambda r: (not r["name"].lower().startswith(words[0].lower()), len(r["name"]), r["name"]))
    return out[:limit]


def allergen_get(*, rxcui: str) -> dict | None:
    from prescriptions.models import MedicationIngredient

    row = (
        MedicationIngredient.objects.filter(ingredient_rxcui=rxcui)
        .values("ingredient_rxcui", "name")
        .order_by("name")
        .first()
    )
    return {"rxcui": row["ingredient_rxcui"], "name": row["name"]} if row else None


def allergen_by_name(*, name: str) -> dict | None:
    """The catalog ingredient called exactly `name` (any case), if there is exactly one."""
    from prescriptions.models import MedicationIngredient

    rows = list(
        MedicationIngredient.objects.filter(name__iexact=(name or "").strip())
        .exclude(ingredient_rxcui="")
        .values_list("ingredient_rxcui", "name")
        .distinct()[:2]
    )
    codes = {r[0] for r in rows}
    return {"rxcui": rows[0][0], "name": rows[0][1]} if len(codes) == 1 else None


# ------------------------------------------------------------------ single rows for list pages
def _row_get(model, pk, *, actor, category, request, what: str):
    try:
        row = model.objects.get(pk=pk)
    except (model.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404(f"No {what} found") from None
    patient_get(
        actor=actor, patient_id=row.patient_id, perm=roles.VIEW_CLINICAL, category=category, request=request
    )
    return row


def problem_get(*, actor, problem_id, request=None) -> Problem:
    return _row_get(
        Problem, problem_id, actor=actor, category=categories.PROBLEMS, request=request, what="problem"
    )


def allergy_get(*, actor, allergy_id, request=None) -> Allergy:
    return _row_get(
        Allergy, allergy_id, actor=actor, category=categories.ALLERGIES, request=request, what="allergy"
    )


def medication_get(*, actor, medication_id, request=None) -> MedicationStatement:
    return _row_get(
        MedicationStatement,
        medication_id,
        actor=actor,
        category=categories.MEDICATIONS,
        request=request,
        what="medication",
    )


def amendment_encounter_id(*, amendment_id):
    """For the redirect after a refused decision (the service has already checked the caller)."""
    try:
        eid = (
            AmendmentRequest.objects.filter(pk=amendment_id)
            .values_list("note__encounter_id", flat=True)
            .first()
        )
    except (ValueError, ValidationError):
        eid = None
    if eid is None:
        raise Http404("No amendment request")
    return eid
