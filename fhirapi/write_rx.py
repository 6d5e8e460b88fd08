"""MedicationRequest through the API: a draft prescription only (prescriptions.services.prescription_create).

A draft is what a prescriber starts in the EHR; signing and sending stay in the EHR, where the interaction checks,
the signature and the e-prescribing rules apply. So status must be `draft` (anything else: 422), and the draft is
written as the token's user, who must hold `prescribe` on the patient (a nurse's or a system client's token: 403).
The elements map onto the prescription form: the drug (RxNorm, from the catalog), the dose, route and timing
(HL7 timing abbreviations), the quantity and its NCPDP unit, refills, days' supply, the diagnosis (ICD-10-CM).
"""

from __future__ import annotations

from accounts import roles
from audit import categories

from .values import Invalid, code_in, decimal_of, first_code, text_of
from .write_base import TypeWriter
from .writing import Written, bad, from_invalid, unprocessable

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
# HL7 GTSAbbreviation -> our frequency (the same words where they exist).
TIMING = {"BED": "QHS", "AM": "QAM", "WK": "QWEEK", "QD": "QD", "QOD": None}
PATHS = {
    "medication_id": "MedicationRequest.medicationCodeableConcept",
    "quantity": "MedicationRequest.dispenseRequest.quantity.value",
    "quantity_unit": "MedicationRequest.dispenseRequest.quantity.code",
    "dose": "MedicationRequest.dosageInstruction[0].doseAndRate[0].doseQuantity.value",
    "dose_unit": "MedicationRequest.dosageInstruction[0].doseAndRate[0].doseQuantity.unit",
    "route": "MedicationRequest.dosageInstruction[0].route",
    "frequency": "MedicationRequest.dosageInstruction[0].timing.code",
    "refills": "MedicationRequest.dispenseRequest.numberOfRepeatsAllowed",
    "days_supply": "MedicationRequest.dispenseRequest.expectedSupplyDuration",
    "diagnosis": "MedicationRequest.reasonCode",
}


def _medication(r: dict) -> int:
    from prescriptions.selectors import medication_by_rxcui

    concept = r.get("medicationCodeableConcept")
    rx = code_in(concept, RXNORM) if concept else None
    if rx is None:
        raise bad(
            "MedicationRequest.medicationCodeableConcept needs an RxNorm coding of a drug in the catalog.",
            "MedicationRequest.medicationCodeableConcept",
        )
    med = medication_by_rxcui(rxcui=rx["code"])
    if med is None:
        raise unprocessable(
            f"RxNorm {rx['code']} is not a drug in the medication catalog.",
            "MedicationRequest.medicationCodeableConcept",
        )
    return med.pk


def _choice(value, allowed, path: str, what: str) -> str:
    if value not in allowed:
        raise unprocessable(
            f"{value!r} is not a {what} the prescription form offers ({', '.join(allowed)}).", path
        )
    return value


def _dosage(r: dict) -> dict:
    from prescriptions.models import DoseUnit, Frequency, Route

    dosages = r.get("dosageInstruction") or []
    if not dosages or not isinstance(dosages[0], dict):
        raise bad(
            "MedicationRequest.dosageInstruction is required for a draft prescription.",
            "MedicationRequest.dosageInstruction",
        )
    d = dosages[0]
    dose = ((d.get("doseAndRate") or [{}])[0] or {}).get("doseQuantity") or {}
    out: dict = {"as_needed": bool(d.get("asNeededBoolean") or d.get("asNeededCodeableConcept"))}
    if d.get("asNeededCodeableConcept"):
        out["as_needed_reason"] = text_of(d["asNeededCodeableConcept"])[:100]
    if "value" in dose:
        out["dose"] = decimal_of(dose["value"], PATHS["dose"])
        out["dose_unit"] = _choice(
            dose.get("unit") or dose.get("code"), DoseUnit.values, PATHS["dose_unit"], "dose unit"
        )
    route = first_code(d.get("route"))
    if route:
        out["route"] = _choice(route["code"], Route.values, PATHS["route"], "route")
    timing = first_code((d.get("timing") or {}).get("code"))
    if timing:
        code = TIMING.get(timing["code"], timing["code"])
        out["frequency"] = _choice(code, Frequency.values, PATHS["frequency"], "frequency")
    return out


def _dispense(r: dict) -> dict:
    from prescriptions.ncpdp import QUANTITY_UNITS

    disp = r.get("dispenseRequest") or {}
    qty = disp.get("quantity") or {}
    if "value" not in qty:
        raise bad(
            "MedicationRequest.dispenseRequest.quantity is required for a draft prescription.",
            PATHS["quantity"],
        )
    by_name = {v.lower(): k for k, v in QUANTITY_UNITS.items()}
    unit = (
        qty.get("code")
        if qty.get("code") in QUANTITY_UNITS
        else by_name.get(str(qty.get("unit") or "").lower())
    )
    if unit is None:
        raise unprocessable(
            f"Dispense unit {qty.get('code') or qty.get('unit')!r} is not an NCPDP quantity unit "
            f"({', '.join(sorted(QUANTITY_UNITS.values()))}).",
            PATHS["quantity_unit"],
        )
    out = {"quantity": decimal_of(qty["value"], PATHS["quantity"]), "quantity_unit": unit}
    if "numberOfRepeatsAllowed" in disp:
        out["refills"] = disp["numberOfRepeatsAllowed"]
    supply = (disp.get("expectedSupplyDuration") or {}).get("value")
    if supply is not None:
        out["days_supply"] = supply
    return out


def _pharmacy_check(patient_id) -> None:
    """A draft goes to the patient's preferred pharmacy (dispenseRequest.performer is not read yet)."""
    from types import SimpleNamespace

    from prescriptions.selectors import pharmacy_preferred

    if pharmacy_preferred(patient=SimpleNamespace(pk=patient_id)) is None:
        raise unprocessable(
            "The patient has no preferred pharmacy: choose one in the EHR first (a draft goes to it).",
            "MedicationRequest.dispenseRequest.performer",
        )


class MedicationRequestWriter(TypeWriter):
    name = "MedicationRequest"
    perm = roles.PRESCRIBE
    category = categories.PRESCRIPTION
    paths = PATHS
    default_path = "MedicationRequest"
    no_update = "A draft prescription is changed, signed and sent in the EHR's prescribing screen."

    def create(self, ctx, r, pid) -> Written:
        from prescriptions.services import prescription_create

        if r.get("status") != "draft":
            raise unprocessable(
                f"MedicationRequest.status must be draft (got {r.get('status')!r}): the API writes draft "
                "prescriptions only; a prescriber reviews, signs and sends them in the EHR.",
                "MedicationRequest.status",
            )
        if r.get("intent") != "order":
            raise unprocessable("MedicationRequest.intent must be order.", "MedicationRequest.intent")
        try:
            data = {"medication_id": _medication(r), **_dosage(r), **_dispense(r)}
        except Invalid as exc:
            raise from_invalid(exc) from None
        icd = next((c for c in (code_in(x, ICD10CM) for x in r.get("reasonCode") or []) if c), None)
        if icd:
            data["diagnosis"] = icd["code"]
        if "substitution" in r:
            data["substitution_allowed"] = bool((r["substitution"] or {}).get("allowedBoolean", True))
        note = next((n.get("text") for n in r.get("note") or [] if isinstance(n, dict) and n.get("text")), "")
        if note:
            data["note_to_pharmacist"] = note[:210]
        _pharmacy_check(pid)
        rx = self.call(prescription_create, actor=ctx.user, patient_id=pid, data=data, request=ctx.request)
        return Written("MedicationRequest", str(rx.pk), pid, rx)
