"""Writing a prescription: the draft, its directions (sig), the refill and diagnosis rules, the patient's
preferred pharmacy.

The other writes of e-prescribing live by concept: ``signature`` (signing), ``cancel``, ``outbox`` (delivery),
``attention`` (a human takes over a message), ``inbound`` (what pharmacies send), ``renewals`` (the prescriber's
answer to a renewal or change request). ``lifecycle`` holds the status and timeline steps they share and
``mapping`` the model -> NCPDP dataclass mapping.

Services check access through patient_get with the write permission before their transaction, validate, write
atomically, record the audit event, and queue Celery work with transaction.on_commit.
"""

from __future__ import annotations

import secrets
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts import roles
from audit import categories
from audit.models import Action
from audit.services import access_record
from patients.selectors import patient_get

from . import lifecycle, ncpdp, selectors, sig_rules
from .models import (
    DoseUnit,
    Frequency,
    PatientPharmacy,
    Pharmacy,
    Prescription,
    Route,
    RxStatus,
    refill_limit,
)


class AlertsNeedOverride(ValidationError):
    def __init__(self, alerts):
        super().__init__("High-severity alerts need an override reason before signing.")
        self.alerts = alerts


# ------------------------------------------------------------------ sig
_VERBS = {
    Route.PO: "Take",
    Route.SL: "Dissolve",
    Route.TOP: "Apply",
    Route.INH: "Inhale",
    Route.PR: "Insert",
    Route.SC: "Inject",
    Route.IM: "Inject",
    Route.IV: "Inject",
    Route.OTIC: "Instill",
    Route.OPH: "Instill",
    Route.NAS: "Use",
}


def _num(value: Decimal) -> str:
    return format(Decimal(value).normalize(), "f")


def sig_render(
    *,
    dose,
    dose_unit: str,
    route: str,
    frequency: str,
    duration_days=None,
    as_needed=False,
    as_needed_reason: str = "",
) -> str:
    """Readable directions: "Take 1 tablet by mouth twice daily for 10 days"."""
    unit = DoseUnit(dose_unit).label
    if Decimal(dose) != 1 and unit not in ("mL", "mg"):
        unit = "suppositories" if unit == "suppository" else unit + "s"
    parts = [
        _VERBS.get(Route(route), "Use"),
        _num(dose),
        unit,
        Route(route).label,
        Frequency(frequency).label,
    ]
    if as_needed:
        parts.append("as needed" + (f" for {as_needed_reason}" if as_needed_reason else ""))
    if duration_days:
        parts.append(f"for {duration_days} day{'s' if duration_days != 1 else ''}")
    return " ".join(parts)


# ------------------------------------------------------------------ writing
def _decimal(value, name: str) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, TypeError):
        raise ValidationError({name: "Enter a number."}) from None


def _int_or_none(value) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        raise ValidationError("Enter whole numbers for days.") from None


def refills_problem(*, refills: int, schedule: str) -> str:
    """Why this refill count is not allowed for this DEA schedule ("" when it is)."""
    if not 0 <= refills <= ncpdp.MAX_REFILLS:
        return f"Refills must be 0-{ncpdp.MAX_REFILLS}."
    if schedule == "II" and refills:
        return "Schedule II prescriptions cannot have refills (21 CFR 1306.12)."
    if refills > refill_limit(schedule):
        return f"Schedule {schedule} prescriptions allow at most {refill_limit(schedule)} refills (21 CFR 1306.22)."
    return ""


def diagnosis_resolve(code) -> tuple[str, str]:
    """(dotted ICD-10-CM code, description) from the shipped code list, or ValidationError. Empty in, empty out."""
    code = (code or "").strip().upper()
    if not code:
        return "", ""
    if "." not in code and len(code) > 3:
        code = f"{code[:3]}.{code[3:]}"
    found = selectors.icd10_get(code=code)
    if found is None:
        raise ValidationError({"diagnosis": f"{code} is not in the ICD-10-CM code list."})
    return found.code, found.description


def _product_mismatches(medication, data: dict) -> dict[str, str]:
    """Directions that contradict the product (route, dose unit, dispensing unit): refused, never signed."""
    route = data.get("route") or Route.PO
    dose_unit = data.get("dose_unit") or DoseUnit.TABLET
    if route not in Route.values or dose_unit not in DoseUnit.values:
        return {"route": "Pick a route and a dose unit from the lists."}
    return sig_rules.sig_mismatches(
        medication=medication, route=route, dose_unit=dose_unit, quantity_unit=data.get("quantity_unit") or ""
    )


def prescription_create(*, actor, patient_id, data: dict, request=None) -> Prescription:
    """A draft prescription. Caller: a prescriber holding PRESCRIBE on the patient.

    Checks the drug exists in the catalog, that the route, dose unit and dispensing unit fit its dose form
    (``sig_rules``), quantity > 0, refills (0-99; 0 for Schedule II, at most 5 for
    Schedules III-V), the NCPDP unit and the diagnosis (ICD-10-CM code list).
    """
    patient = patient_get(
        actor=actor,
        patient_id=patient_id,
        perm=roles.PRESCRIBE,
        category=categories.PRESCRIPTION,
        request=request,
        record=False,
    )
    try:
        medication = selectors.medication_get(medication_id=data.get("medication_id"))
    except Exception:
        raise ValidationError({"medication_id": "Unknown drug: pick one from the catalog."}) from None
    quantity = _decimal(data.get("quantity"), "quantity")
    dose = _decimal(data.get("dose", 1), "dose")
    try:
        refills = int(data.get("refills") or 0)
    except (TypeError, ValueError):
        raise ValidationError({"refills": "Enter a whole number."}) from None
    errors: dict[str, str | list[str]] = {}
    if quantity <= 0:
        errors["quantity"] = "Quantity must be more than zero."
    if dose <= 0:
        errors["dose"] = "Dose must be more than zero."
    problem = refills_problem(refills=refills, schedule=medication.dea_schedule)
    if problem:
        errors["refills"] = problem
    if data.get("quantity_unit") not in ncpdp.QUANTITY_UNITS:
        errors["quantity_unit"] = "Pick a dispensing unit."
    errors = {**_product_mismatches(medication, data), **errors}
    try:
        diagnosis, diagnosis_description = diagnosis_resolve(data.get("diagnosis"))
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    pharmacy = data.get("pharmacy") or selectors.pharmacy_preferred(patient=patient)
    rx = Prescription(
        patient=patient,
        prescriber=actor,
        medication=medication,
        dea_schedule=medication.dea_schedule,
        dose=dose,
        dose_unit=data.get("dose_unit") or DoseUnit.TABLET,
        route=data.get("route") or Route.PO,
        frequency=data.get("frequency") or Frequency.QD,
        duration_days=_int_or_none(data.get("duration_days")),
        as_needed=bool(data.get("as_needed")),
        as_needed_reason=data.get("as_needed_reason") or "",
        quantity=quantity,
        quantity_unit=data["quantity_unit"],
        days_supply=_int_or_none(data.get("days_supply")),
        refills=refills,
        substitution_allowed=data.get("substitution_allowed", True) not in (False, "", "0", "false"),
        note_to_pharmacist=data.get("note_to_pharmacist") or "",
        diagnosis=diagnosis,
        diagnosis_description=diagnosis_description,
        pharmacy=pharmacy,
        status=RxStatus.DRAFT,
    )
    rx.prescriber_order_number = rx.id.hex
    rx.sig_text = sig_render(
        dose=rx.dose,
        dose_unit=rx.dose_unit,
        route=rx.route,
        frequency=rx.frequency,
        duration_days=rx.duration_days,
        as_needed=rx.as_needed,
        as_needed_reason=rx.as_needed_reason,
    )
    rx.full_clean()
    with transaction.atomic():
        rx.save(force_insert=True)
        lifecycle.timeline_note(rx, "written")
        access_record(
            actor=actor,
            action=Action.CREATE,
            category=categories.PRESCRIPTION,
            patient_id=patient.pk,
            request=request,
            detail={"prescription": str(rx.pk)},
        )
    return rx


def pharmacy_set_preferred(*, actor, patient_id, pharmacy_id, request=None) -> Pharmacy:
    """Record the patient's preferred pharmacy. Caller: anyone who may change the patient's demographics
    (front desk at check-in, nurses, clinicians). Recorded by django-auditlog and as an access event."""
    patient = patient_get(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_DEMOGRAPHICS,
        category=categories.DEMOGRAPHICS,
        request=request,
        record=False,
    )
    pharmacy = selectors.pharmacy_get(pharmacy_id=pharmacy_id)
    with transaction.atomic():
        pref = PatientPharmacy.objects.select_for_update().filter(patient=patient).first()
        if pref is None:
            pref = PatientPharmacy(patient=patient, pharmacy=pharmacy)
            pref.full_clean()
            pref.save(force_insert=True)
        elif pref.pharmacy_id != pharmacy.pk:
            pref.pharmacy = pharmacy
            pref.save(update_fields=["pharmacy", "updated_at"])
        access_record(
            actor=actor,
            action=Action.UPDATE,
            category=categories.DEMOGRAPHICS,
            patient_id=patient.pk,
            request=request,
            detail={"preferred_pharmacy": pharmacy.ncpdp_id},
        )
    return pharmacy


def pharmacy_secret_rotate(*, ncpdp_id: str) -> str:
    """A new random shared secret for the messages this pharmacy sends us (HMAC, ``prescriptions.signing``);
    returns it: it is shown once, to be handed to the pharmacy. Caller: an operator (``manage.py
    pharmacy_secret_rotate``; the dev stack hands the demo pharmacy's to the simulator at every start)."""
    secret = secrets.token_urlsafe(32)
    if not Pharmacy.objects.filter(ncpdp_id=ncpdp_id).update(inbound_secret=secret):
        raise Pharmacy.DoesNotExist(f"no pharmacy with NCPDP ID {ncpdp_id}")
    return secret
