"""What a visit records beside the note: vital signs, problems (ICD-10) and immunizations."""

from __future__ import annotations

from datetime import date, datetime, time

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import roles
from audit import categories
from core.guarded import clean as _clean
from core.guarded import patient_id_of as _patient_id_of
from scheduling import recurrence

from . import cvx, vitals
from .models import (
    Encounter,
    Icd10Code,
    Immunization,
    ImmunizationStatus,
    Problem,
    ProblemStatus,
    VitalSigns,
)
from .services import _door, _save_guarded


# ------------------------------------------------------------------ vitals
def vitals_record(
    *,
    actor,
    patient_id,
    values: dict,
    units: dict | None = None,
    encounter_id=None,
    taken_at: datetime | None = None,
    request=None,
) -> VitalSigns:
    """Record a set of vital signs; BMI is computed. `values` are as typed, temperature, weight and height in
    `units` (field -> UCUM code, e.g. {"temperature": "[degF]"}; base units when not given): stored converted to
    the UCUM base unit, the typed value and unit kept beside. Impossible values are refused, all or nothing."""
    patient = _door(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.VITALS,
        request=request,
    )
    clean = {f: values.get(f) for f in vitals.ENTERED if values.get(f) not in (None, "")}
    if not clean:
        raise ValidationError("Enter at least one measurement.")
    units = {f: (units or {}).get(f) or vitals.CONVERTIBLE[f][0] for f in vitals.CONVERTIBLE}
    for f, u in units.items():
        if u not in vitals.CONVERTIBLE[f]:
            raise ValidationError({f: f"{u!r} is not a unit offered for {vitals.BY_FIELD[f].label.lower()}."})
    errors = vitals.impossible(clean, units)
    if errors:
        raise ValidationError(errors)
    if encounter_id and not Encounter.objects.filter(pk=encounter_id, patient=patient).exists():
        raise ValidationError("That encounter belongs to another patient.")
    stored = dict(clean)
    for f in vitals.CONVERTIBLE:
        if f in clean:
            stored[f] = vitals.to_base(clean[f], units[f])
            stored[f"{f}_entered"], stored[f"{f}_unit"] = clean[f], units[f]
    vs = VitalSigns(
        patient=patient,
        encounter_id=encounter_id,
        taken_at=taken_at or timezone.now(),
        recorded_by=actor,
        **stored,
    )
    vs.bmi = vitals.bmi(vs.weight, vs.height)
    if vs.bmi is not None and vitals.impossible({"bmi": vs.bmi}):
        raise ValidationError({"weight": "Weight and height give an impossible BMI; check both."})
    _clean(vs)
    _save_guarded(vs, force_insert=True)
    return vs


# ------------------------------------------------------------------ problems
def problem_add(
    *, actor, patient_id, code: str, onset_date: date | None = None, description: str = "", request=None
) -> Problem:
    """Add a problem coded in ICD-10-CM. Unknown codes are refused."""
    patient = _door(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.PROBLEMS,
        request=request,
    )
    code = (code or "").strip().upper()
    if len(code) > 3 and "." not in code:
        code = f"{code[:3]}.{code[3:]}"
    icd = Icd10Code.objects.filter(pk=code).first()
    if icd is None:
        raise ValidationError(
            {"code": f"\u201c{code}\u201d is not an ICD-10-CM code. Search by description."}
        )
    if onset_date and onset_date > timezone.localdate():
        raise ValidationError({"onset_date": "The onset cannot be in the future."})
    problem = Problem(
        patient=patient,
        code=icd,
        description=(description or "").strip() or icd.description,
        onset_date=onset_date,
        recorded_by=actor,
    )
    _clean(problem)
    _save_guarded(problem, force_insert=True)
    return problem


def problem_status_set(
    *, actor, problem_id, status: str, resolved_date: date | None = None, request=None
) -> Problem:
    """Resolve (on a date, today by default), inactivate, reactivate or mark a problem entered in error.
    Who: change_clinical on its patient."""
    patient_id = _patient_id_of(Problem, problem_id, "problem")
    _door(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.PROBLEMS,
        request=request,
    )
    if status not in ProblemStatus.values:
        raise ValidationError({"status": "Unknown status."})
    if resolved_date and resolved_date > timezone.localdate():
        raise ValidationError({"resolved_date": "The resolution date cannot be in the future."})
    with transaction.atomic():
        problem = Problem.objects.select_for_update().get(pk=problem_id)
        problem.status = status
        if status == ProblemStatus.RESOLVED:
            problem.resolved_date = resolved_date or timezone.localdate()
        elif status == ProblemStatus.ACTIVE:
            problem.resolved_date = None
        _clean(problem)
        _save_guarded(problem, update_fields=["status", "resolved_date"])
    return problem


def icd10_load(rows, *, batch: int = 5000) -> int:
    """Replace the ICD-10-CM table with `rows` of (code, description, billable) (management command load_icd10)."""
    n = 0
    buf: list[Icd10Code] = []
    with transaction.atomic():
        for code, description, billable in rows:
            buf.append(Icd10Code(code=code, description=description[:300], billable=bool(billable)))
            if len(buf) >= batch:
                n += _icd10_flush(buf)
                buf = []
        n += _icd10_flush(buf)
    return n


def _icd10_flush(buf) -> int:
    if buf:
        Icd10Code.objects.bulk_create(
            buf, update_conflicts=True, unique_fields=["code"], update_fields=["description", "billable"]
        )
    return len(buf)


# ------------------------------------------------------------------ immunizations
def immunization_record(
    *,
    actor,
    patient_id,
    vaccine_code: str,
    occurrence: date | datetime,
    lot_number: str = "",
    site: str = "",
    route: str = "",
    status: str = ImmunizationStatus.COMPLETED,
    encounter_id=None,
    request=None,
) -> Immunization:
    """Record a vaccine given here or reported (CVX code from the clinic's list, date, lot). Who: change_clinical
    on the patient. Unknown codes and future dates are refused."""
    patient = _door(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.IMMUNIZATIONS,
        request=request,
    )
    code = cvx.cvx_normalise(vaccine_code)
    if code not in cvx.CVX:
        raise ValidationError(
            {"vaccine_code": f"\u201c{vaccine_code}\u201d is not a CVX code in the clinic's list."}
        )
    if isinstance(occurrence, datetime):
        when = occurrence if timezone.is_aware(occurrence) else recurrence.aware(occurrence)
    elif isinstance(occurrence, date):
        when = recurrence.aware(datetime.combine(occurrence, time(12)))
    else:
        raise ValidationError({"occurrence": "Enter the date the vaccine was given."})
    if timezone.localtime(when).date() > timezone.localdate():
        raise ValidationError({"occurrence": "The vaccination date cannot be in the future."})
    if timezone.localtime(when).date() < patient.birth_date:
        raise ValidationError({"occurrence": "The vaccination date is before the patient's birth."})
    if encounter_id and not Encounter.objects.filter(pk=encounter_id, patient=patient).exists():
        raise ValidationError("That encounter belongs to another patient.")
    imm = Immunization(
        patient=patient,
        encounter_id=encounter_id,
        vaccine_code=code,
        vaccine_display=cvx.CVX[code],
        occurrence=when,
        status=status,
        lot_number=(lot_number or "").strip(),
        site=(site or "").strip(),
        route=(route or "").strip(),
        performer=actor,
    )
    _clean(imm)
    _save_guarded(imm, force_insert=True)
    return imm
