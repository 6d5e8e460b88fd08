"""Our models -> FHIR R4 (4.0.1) JSON, US Core 6.1 profiles. Pure functions: no queries, no access checks.

Each function takes an object that already came through a selector and returns a plain dict.
Left out on purpose: SSN and driver's licence (HIPAA minimum necessary: no FHIR client needs them to identify the
patient, and the MRN does that job), emergency contacts (Patient.contact is not must-support in US Core).
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.utils import timezone

from patients.models import Ethnicity, GenderIdentity, Race

from . import given

US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
# The MRN's identifier system. 2.999 is the OID arc reserved for examples: a deployment sets its own OID.
MRN_SYSTEM = getattr(settings, "FHIR_MRN_SYSTEM", "urn:oid:2.999.1.1")
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
NULL_FLAVOR = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
CDC_RACE_ETHNICITY = "urn:oid:2.16.840.1.113883.6.238"
SNOMED = "http://snomed.info/sct"
# The issuing state is not recorded; 2.16.840.1.113883.4.3 is the arc of US driver's licence numbers.
DL_SYSTEM = "urn:oid:2.16.840.1.113883.4.3"

GENDER_FROM_SEX = {"F": "female", "M": "male"}  # administrative gender; everything else is "unknown"
OMB_RACE = {Race.AMERICAN_INDIAN, Race.ASIAN, Race.BLACK, Race.PACIFIC_ISLANDER, Race.WHITE}
OMB_ETHNICITY = {Ethnicity.HISPANIC, Ethnicity.NOT_HISPANIC}
NULL_CODES = {"ASKU": "Asked but declined", "UNK": "Unknown", "OTH": "Other"}
PHONE_USES = {"home", "work", "mobile", "temp", "old"}


def _coding(system: str, code: str, display: str) -> dict:
    return {"system": system, "code": code, "display": display}


def _omb_extension(url: str, codes: list[str], omb: set, labels: dict) -> dict | None:
    """us-core-race / us-core-ethnicity: OMB categories as ombCategory, finer codes as detailed, plus text."""
    parts, texts = [], []
    for code in codes:
        if code in NULL_CODES:
            parts.append({"url": "ombCategory", "valueCoding": _coding(NULL_FLAVOR, code, NULL_CODES[code])})
        else:
            kind = "ombCategory" if code in omb else "detailed"
            parts.append({"url": kind, "valueCoding": _coding(CDC_RACE_ETHNICITY, code, labels[code])})
        texts.append(labels.get(code, NULL_CODES.get(code, code)))
    if not parts:
        return None
    return {"url": US_CORE + url, "extension": [*parts, {"url": "text", "valueString": ", ".join(texts)}]}


def _patient_extensions(p) -> list[dict]:
    race_labels = dict(Race.choices)
    eth_labels = dict(Ethnicity.choices)
    extensions = [
        _omb_extension("us-core-race", list(p.race or []), OMB_RACE, race_labels),
        _omb_extension("us-core-ethnicity", [p.ethnicity] if p.ethnicity else [], OMB_ETHNICITY, eth_labels),
        {"url": US_CORE + "us-core-birthsex", "valueCode": p.sex_at_birth} if p.sex_at_birth else None,
    ]
    if p.gender_identity:
        code = p.gender_identity
        system = NULL_FLAVOR if code in NULL_CODES else SNOMED
        extensions.append(
            {
                "url": US_CORE + "us-core-genderIdentity",
                "valueCodeableConcept": {
                    "coding": [_coding(system, code, dict(GenderIdentity.choices)[code])]
                },
            }
        )
    return [e for e in extensions if e]


def _patient_names(p) -> list[dict]:
    official = {
        "use": "official",
        "family": p.family_name,
        "given": [g for g in (p.given_name, p.middle_name) if g],
    }
    if p.suffix:
        official["suffix"] = [p.suffix]
    names = [official]
    if p.preferred_name and p.preferred_name != p.given_name:
        names.append({"use": "usual", "family": p.family_name, "given": [p.preferred_name]})
    for old in p.previous_names or []:
        name = {
            "use": "old",
            "family": old.get("family") or None,
            "given": [old["given"]] if old.get("given") else None,
        }
        names.append({k: v for k, v in name.items() if v})
    return names


def _patient_telecom(p) -> list[dict]:
    telecom = []
    for ph in p.phones or []:
        if ph.get("value"):
            cp = {"system": "phone", "value": ph["value"]}
            if ph.get("use") in PHONE_USES:
                cp["use"] = ph["use"]
            telecom.append(cp)
    if p.email:
        telecom.append({"system": "email", "value": p.email})
    return telecom


ADDRESS_USES = ("home", "work", "temp", "old", "billing")


def _address(a: dict) -> dict:
    addr = {
        "use": a.get("use") if a.get("use") in ADDRESS_USES else None,
        "line": [a["line"]] if a.get("line") else None,
        "city": a.get("city"),
        "state": a.get("state"),
        "postalCode": a.get("postal_code"),
        "country": a.get("country"),
    }
    return {k: v for k, v in addr.items() if v}


def _mrn(p) -> dict:
    return {
        "use": "usual",
        "type": {"coding": [_coding(V2_0203, "MR", "Medical record number")], "text": "MRN"},
        "system": MRN_SYSTEM,
        "value": p.mrn,
    }


def _sensitive_identifiers(p) -> list[dict]:
    """SSN and driver's licence: the full record export only."""
    out = []
    if p.ssn:
        out.append(
            {
                "type": {"coding": [_coding(V2_0203, "SS", "Social Security number")]},
                "system": "http://hl7.org/fhir/sid/us-ssn",
                "value": p.ssn,
            }
        )
    if p.drivers_license:
        out.append(
            {
                "type": {"coding": [_coding(V2_0203, "DL", "Driver's license number")]},
                "system": DL_SYSTEM,
                "value": p.drivers_license,
            }
        )
    return out


def _communication(p) -> list[dict]:
    if not p.preferred_language:
        return []
    return [
        {
            "language": {"coding": [{"system": "urn:ietf:bcp:47", "code": p.preferred_language}]},
            "preferred": True,
        }
    ]


def patient_to_fhir(p, *, with_identifiers: bool = False) -> dict:
    """US Core Patient. The SSN and driver's licence only with `with_identifiers` (the full record export)."""
    out = {
        "resourceType": "Patient",
        "id": str(p.pk),
        "meta": {"profile": [US_CORE + "us-core-patient"]},
        "extension": _patient_extensions(p),
        "identifier": [_mrn(p), *(_sensitive_identifiers(p) if with_identifiers else [])],
        "active": p.merged_into_id is None,
        "name": _patient_names(p),
        "telecom": _patient_telecom(p),
        "gender": GENDER_FROM_SEX.get(p.sex_at_birth, "unknown"),
        "birthDate": p.birth_date.isoformat(),
        "address": [a for a in (_address(x) for x in p.addresses or []) if a],
        "communication": _communication(p),
        "deceasedDateTime": p.deceased_date.isoformat() if p.deceased_date else None,
        "link": [{"other": {"reference": f"Patient/{p.merged_into_id}"}, "type": "replaced-by"}]
        if p.merged_into_id
        else None,
    }
    # FHIR forbids empty arrays and objects.
    return {k: v for k, v in out.items() if v not in ([], {}, None)}


def practitioner_to_fhir(pr) -> dict:
    user = pr.user
    name = {
        "use": "official",
        "family": user.last_name or None,
        "given": [user.first_name] if user.first_name else None,
        "suffix": [pr.credentials] if pr.credentials else None,
    }
    name = {k: v for k, v in name.items() if v}
    if not name.get("family") and not name.get("given"):
        name["text"] = user.get_username()
    out = {
        "resourceType": "Practitioner",
        "id": str(pr.pk),
        "meta": {"profile": [US_CORE + "us-core-practitioner"]},
        "identifier": [{"system": NPI_SYSTEM, "value": pr.npi}],
        "active": user.is_active,
        "name": [name],
        "telecom": [{"system": "phone", "value": pr.phone, "use": "work"}] if pr.phone else [],
    }
    return {k: v for k, v in out.items() if v not in ([], {}, None)}


# ====================================================================== clinical resources (US Core 6.1)
ICD10CM_SYSTEM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM_SYSTEM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC_SYSTEM = "http://loinc.org"
UCUM_SYSTEM = "http://unitsofmeasure.org"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VER = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VER = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
# Our own encounter types are not SNOMED CT concepts; they travel in a product code system (docs/fhir.md).
ENCOUNTER_TYPE_SYSTEM = getattr(settings, "FHIR_ENCOUNTER_TYPE_SYSTEM", "urn:oid:2.999.1.2")

ENCOUNTER_STATUS = {
    "planned": "planned",
    "in_progress": "in-progress",
    "finished": "finished",
    "cancelled": "cancelled",
}
# v3 ActCode: telehealth and telephone visits are virtual (VR); everything else here is ambulatory.
ENCOUNTER_CLASS = {"telehealth": "VR", "phone": "VR", "emergency": "EMER", "inpatient": "IMP", "home": "HH"}
ACT_CODE_DISPLAY = {
    "AMB": "ambulatory",
    "VR": "virtual",
    "EMER": "emergency",
    "IMP": "inpatient encounter",
    "HH": "home health",
}

APPOINTMENT_STATUS = {
    "scheduled": "booked",
    "arrived": "arrived",
    "checked_in": "checked-in",
    "in_room": "arrived",
    "with_provider": "arrived",
    "done": "fulfilled",
    "cancelled": "cancelled",
    "no_show": "noshow",
}
# A prescription's e-prescribing states collapse to the MedicationRequest status vocabulary.
RX_STATUS = {
    "draft": "draft",
    "cancelled": "cancelled",
    "renewed": "completed",
    "replaced": "completed",
    "error": "active",
    "needs_attention": "active",
}


def _clean(d: dict) -> dict:
    """FHIR forbids empty arrays, objects and strings."""
    return {k: v for k, v in d.items() if v not in ([], {}, None, "")}


def _ref(kind: str, pk) -> dict:
    return {"reference": f"{kind}/{pk}"}


def _dt(value) -> str | None:
    """Dates as they are; instants in the clinic's time zone (with their offset), as staff saw them."""
    if not value:
        return None
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat()
    return value.isoformat()


def _sent_dt(row, column: str) -> str | None:
    """A date or instant as the sender wrote it while it agrees with the column (fhirapi/given.py), else ours."""
    value = getattr(row, column)
    return given.sent(row, column, value) or _dt(value)


def _practitioner_of(user):
    try:
        return user.practitioner if user is not None else None
    except Exception:  # noqa: BLE001 (RelatedObjectDoesNotExist: the user is no practitioner)
        return None


def _user_ref_safe(user) -> dict | None:
    if user is None:
        return None
    pr = _practitioner_of(user)
    display = user.get_full_name() or user.get_username()
    return {"reference": f"Practitioner/{pr.pk}", "display": display} if pr else {"display": display}


def encounter_to_fhir(e) -> dict:
    klass = ENCOUNTER_CLASS.get(e.encounter_type, "AMB")
    participant = _user_ref_safe(e.provider)
    out = {
        "resourceType": "Encounter",
        "id": str(e.pk),
        "meta": {"profile": [US_CORE + "us-core-encounter"]},
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{e.pk}"}],
        "status": ENCOUNTER_STATUS.get(e.status, "unknown"),
        "class": {"system": ACT_CODE, "code": klass, "display": ACT_CODE_DISPLAY[klass]},
        "type": [
            {
                # The sending system's coding (kept from an import) first, then ours.
                "coding": ([_coding(e.type_system, e.type_code, e.type_display)] if e.type_code else [])
                + [_coding(ENCOUNTER_TYPE_SYSTEM, e.encounter_type, e.get_encounter_type_display())],
                "text": e.type_display or e.get_encounter_type_display(),
            }
        ],
        "subject": _ref("Patient", e.patient_id),
        "participant": [{"individual": participant}] if participant else [],
        "period": _clean({"start": _dt(e.start), "end": _dt(e.end)}),
        "reasonCode": [{"text": e.reason}] if e.reason else [],
        "location": [{"location": {"display": e.location.name}}] if e.location_id else [],
    }
    if e.appointment_id:
        out["appointment"] = [_ref("Appointment", e.appointment_id)]
    return _clean(out)


def condition_to_fhir(p) -> dict:
    error = p.status == "entered-in-error"
    out = {
        "resourceType": "Condition",
        "id": str(p.pk),
        "meta": {"profile": [US_CORE + "us-core-condition-problems-health-concerns"]},
        # con-5: an entered-in-error condition carries no clinical status.
        "clinicalStatus": None if error else {"coding": [{"system": CONDITION_CLINICAL, "code": p.status}]},
        "verificationStatus": {
            "coding": [{"system": CONDITION_VER, "code": "entered-in-error" if error else "confirmed"}]
        },
        "category": [{"coding": [_coding(CONDITION_CATEGORY, "problem-list-item", "Problem List Item")]}],
        "code": {
            "coding": [
                _coding(ICD10CM_SYSTEM, p.code_id, p.code.description)
                if p.code_id
                else _coding(p.code_system, p.code_value, p.description)
            ],
            "text": p.description,
        },
        "subject": _ref("Patient", p.patient_id),
        "encounter": _ref("Encounter", p.encounter_id) if p.encounter_id else None,
        "onsetDateTime": _sent_dt(p, "onset_date"),
        "abatementDateTime": _sent_dt(p, "resolved_date"),
        "recordedDate": _dt(p.recorded_at),
    }
    return _clean(out)


def allergy_to_fhir(a) -> dict:
    error = a.status == "entered-in-error"
    code = {"text": a.substance_text}
    if a.substance_rxcui:
        code["coding"] = [_coding(RXNORM_SYSTEM, a.substance_rxcui, a.substance_text)]
    elif a.substance_code:
        code["coding"] = [_coding(a.substance_system, a.substance_code, a.substance_text)]
    reaction = []
    if a.reaction:
        r = {"manifestation": [{"text": a.reaction}]}
        if a.severity:
            r["severity"] = a.severity
        reaction.append(r)
    out = {
        "resourceType": "AllergyIntolerance",
        "id": str(a.pk),
        "meta": {"profile": [US_CORE + "us-core-allergyintolerance"]},
        "clinicalStatus": None if error else {"coding": [{"system": ALLERGY_CLINICAL, "code": a.status}]},
        "verificationStatus": {
            "coding": [{"system": ALLERGY_VER, "code": "entered-in-error" if error else "confirmed"}]
        },
        "category": [a.category] if a.category else [],
        "criticality": a.criticality or None,
        "code": code,
        "patient": _ref("Patient", a.patient_id),
        "onsetDateTime": _sent_dt(a, "onset_date"),
        "recordedDate": _dt(a.recorded_at),
        "reaction": reaction,
    }
    return _clean(out)


# ---------------------------------------------------------------- vital signs -> Observation
# Observation ids are "<vital signs row id>-<suffix>": one VitalSigns row holds a whole set of measurements.
# (suffix, field, LOINC, display, UCUM unit, US Core profile); blood pressure is the 85354-9 panel below.
VITAL_OBSERVATIONS = (
    ("hr", "heart_rate", "8867-4", "Heart rate", "/min", "us-core-heart-rate"),
    ("rr", "resp_rate", "9279-1", "Respiratory rate", "/min", "us-core-respiratory-rate"),
    ("temp", "temperature", "8310-5", "Body temperature", "Cel", "us-core-body-temperature"),
    ("wt", "weight", "29463-7", "Body weight", "kg", "us-core-body-weight"),
    ("ht", "height", "8302-2", "Body height", "cm", "us-core-body-height"),
    (
        "spo2",
        "spo2",
        "59408-5",
        "Oxygen saturation in Arterial blood by Pulse oximetry",
        "%",
        "us-core-pulse-oximetry",
    ),
    ("bmi", "bmi", "39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", "us-core-bmi"),
    (
        "pain",
        "pain_score",
        "72514-3",
        "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
        "{score}",
        "us-core-vital-signs",
    ),
)
BP_PANEL = ("bp", "85354-9", "Blood pressure panel with all children optional", "us-core-blood-pressure")
BP_COMPONENTS = (
    ("systolic", "8480-6", "Systolic blood pressure"),
    ("diastolic", "8462-4", "Diastolic blood pressure"),
)
VITAL_SUFFIXES = ("bp", *(v[0] for v in VITAL_OBSERVATIONS))
# LOINC code -> suffix, for the `code` search parameter (the oximetry profile also carries 2708-6).
VITAL_CODE_SUFFIX = {BP_PANEL[1]: "bp", "2708-6": "spo2", **{v[2]: v[0] for v in VITAL_OBSERVATIONS}}
VITAL_FIELDS_BY_SUFFIX = {"bp": ("systolic", "diastolic"), **{v[0]: (v[1],) for v in VITAL_OBSERVATIONS}}


def _quantity(value, unit: str, sent=None) -> dict:
    num = float(value)
    if sent is None:
        sent = int(num) if num.is_integer() else num
    return {"value": sent, "unit": unit, "system": UCUM_SYSTEM, "code": unit}


def _vital_quantity(vs, field: str, unit: str) -> dict:
    value = getattr(vs, field)
    return _quantity(value, unit, given.sent(vs, field, value, places=given.vital_places(field)))


def _observation_base(vs, suffix: str, profile: str, code: dict) -> dict:
    return {
        "resourceType": "Observation",
        "id": f"{vs.pk}-{suffix}",
        "meta": {"profile": [US_CORE + profile]},
        "status": "final",
        "category": [{"coding": [_coding(OBSERVATION_CATEGORY, "vital-signs", "Vital Signs")]}],
        "code": code,
        "subject": _ref("Patient", vs.patient_id),
        "encounter": _ref("Encounter", vs.encounter_id) if vs.encounter_id else None,
        "effectiveDateTime": _sent_dt(vs, "taken_at"),
    }


def vitals_to_fhir(vs) -> list[dict]:
    """One US Core vital-signs Observation per measurement present in the row (BP as one panel)."""
    out = []
    if vs.systolic is not None or vs.diastolic is not None:
        suffix, loinc, display, profile = BP_PANEL
        obs = _observation_base(
            vs, suffix, profile, {"coding": [_coding(LOINC_SYSTEM, loinc, display)], "text": "Blood pressure"}
        )
        components = []
        order = (vs.as_sent or {}).get("bp_order") or ()  # the sender's order of the two (given.py)
        for field, code, label in sorted(BP_COMPONENTS, key=lambda c: c[0] not in order[:1]):
            comp = {"code": {"coding": [_coding(LOINC_SYSTEM, code, label)], "text": label}}
            value = getattr(vs, field)
            if value is None:
                comp["dataAbsentReason"] = {"coding": [_coding(DATA_ABSENT, "unknown", "Unknown")]}
            else:
                comp["valueQuantity"] = _vital_quantity(vs, field, "mm[Hg]")
            components.append(comp)
        obs["component"] = components
        out.append(_clean(obs))
    for suffix, field, loinc, display, unit, profile in VITAL_OBSERVATIONS:
        value = getattr(vs, field)
        if value is None:
            continue
        codings = [_coding(LOINC_SYSTEM, loinc, display)]
        if suffix == "spo2":
            codings.append(_coding(LOINC_SYSTEM, "2708-6", "Oxygen saturation in Arterial blood"))
        obs = _observation_base(vs, suffix, profile, {"coding": codings, "text": display})
        obs["valueQuantity"] = _vital_quantity(vs, field, unit)
        out.append(_clean(obs))
    return out


# ---------------------------------------------------------------- medications
def medication_request_to_fhir(rx) -> dict:
    """A prescription written here (US Core MedicationRequest)."""
    med = rx.medication
    dispense = {
        "numberOfRepeatsAllowed": rx.refills,
        "quantity": {"value": float(rx.quantity), "unit": rx.get_quantity_unit_display()},
        "expectedSupplyDuration": (
            {"value": rx.days_supply, "unit": "days", "system": UCUM_SYSTEM, "code": "d"}
            if rx.days_supply
            else None
        ),
    }
    out = {
        "resourceType": "MedicationRequest",
        "id": str(rx.pk),
        "meta": {"profile": [US_CORE + "us-core-medicationrequest"]},
        "status": RX_STATUS.get(rx.status, "active"),
        "intent": "order",
        "reportedBoolean": False,
        "medicationCodeableConcept": {
            "coding": [_coding(RXNORM_SYSTEM, med.rxcui, med.name)],
            "text": med.name,
        },
        "subject": _ref("Patient", rx.patient_id),
        "authoredOn": _dt(rx.signed_at or rx.created_at),
        "requester": _user_ref_safe(rx.prescriber),
        "reasonCode": [{"coding": [{"system": ICD10CM_SYSTEM, "code": rx.diagnosis}]}]
        if rx.diagnosis
        else [],
        "dosageInstruction": [{"text": rx.sig_text}],
        "dispenseRequest": _clean(dispense),
        "substitution": {"allowedBoolean": rx.substitution_allowed},
    }
    return _clean(out)


def medication_statement_to_fhir(m) -> dict:
    """A medication on the patient's list: prescribed here, reported by the patient, or imported."""
    code = {"text": m.name}
    if m.rxcui:
        code["coding"] = [_coding(RXNORM_SYSTEM, m.rxcui, m.name)]
    out = {
        "resourceType": "MedicationStatement",
        "id": str(m.pk),
        "status": m.status,
        "medicationCodeableConcept": code,
        "subject": _ref("Patient", m.patient_id),
        "effectivePeriod": _clean({"start": _dt(m.started_on), "end": _dt(m.stopped_on)}),
        "dateAsserted": _dt(m.recorded_at),
        "informationSource": _ref("Patient", m.patient_id) if m.source == "patient_reported" else None,
        "derivedFrom": [_ref("MedicationRequest", m.prescription_id)] if m.prescription_id else [],
        "dosage": [{"text": m.dose_text}] if m.dose_text else [],
        "note": [{"text": f"Source: {m.get_source_display()}"}],
    }
    return _clean(out)


# ---------------------------------------------------------------- scheduling
def appointment_to_fhir(a) -> dict:
    practitioner = _user_ref_safe(a.provider)
    participants = [{"actor": {**_ref("Patient", a.patient_id)}, "status": "accepted"}]
    if practitioner:
        participants.append({"actor": practitioner, "status": "accepted"})
    out = {
        "resourceType": "Appointment",
        "id": str(a.pk),
        "status": APPOINTMENT_STATUS.get(a.status, "booked"),
        "cancelationReason": {"text": a.cancel_reason} if a.cancel_reason else None,
        "serviceType": [{"text": a.appointment_type.name}],
        "appointmentType": {"text": a.appointment_type.name},
        "description": a.reason or None,
        "start": _dt(a.start),
        "end": _dt(a.end),
        "minutesDuration": int((a.end - a.start).total_seconds() // 60),
        "created": _dt(a.created_at),
        "participant": participants,
    }
    return _clean(out)


# ---------------------------------------------------------------- clinical notes -> DocumentReference
NOTE_SECTIONS = (
    ("subjective", "Subjective"),
    ("objective", "Objective"),
    ("assessment", "Assessment"),
    ("plan", "Plan"),
)


def note_text(note) -> str:
    """The signed note as plain text, its addenda after it (each dated and signed)."""
    parts = [f"{label}:\n{getattr(note, name)}" for name, label in NOTE_SECTIONS if getattr(note, name)]
    for a in note.addenda.all():
        who = a.author.get_full_name() or a.author.get_username()
        parts.append(f"Addendum {timezone.localtime(a.created_at):%Y-%m-%d %H:%M}, {who}:\n{a.text}")
    return "\n\n".join(parts)


def note_to_fhir(note) -> dict:
    """A signed SOAP note (US Core DocumentReference, category clinical-note, LOINC 11506-3 progress note)."""
    import base64

    text = note_text(note)
    author = _user_ref_safe(note.signed_by or note.author)
    out = {
        "resourceType": "DocumentReference",
        "id": str(note.pk),
        "meta": {"profile": [US_CORE + "us-core-documentreference"]},
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{note.pk}"}],
        "status": "current",
        "docStatus": "final" if note.signed else "preliminary",
        "type": {"coding": [_coding(LOINC_SYSTEM, "11506-3", "Progress note")], "text": "Progress note"},
        "category": [
            {
                "coding": [
                    _coding(
                        "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
                        "clinical-note",
                        "Clinical Note",
                    )
                ]
            }
        ],
        "subject": _ref("Patient", note.patient_id),
        "date": _dt(note.signed_at or note.updated_at),
        "author": [author] if author else [],
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain; charset=utf-8",
                    "data": base64.b64encode(text.encode()).decode(),
                    "title": "Progress note",
                    "creation": _dt(note.signed_at),
                }
            }
        ],
        "context": {"encounter": [_ref("Encounter", note.encounter_id)]},
    }
    out["content"][0]["attachment"] = _clean(out["content"][0]["attachment"])
    return _clean(out)


def imported_order_to_fhir(m) -> dict:
    """A medication order written in another system and imported (a MedicationStatement row of source
    "imported"): it travels back out as the MedicationRequest it came in as, marked as reported."""
    code = {"text": m.name}
    if m.rxcui:
        code["coding"] = [_coding(RXNORM_SYSTEM, m.rxcui, m.name)]
    dosage = _clean({"text": m.dose_text or None, "asNeededBoolean": True if m.as_needed else None})
    out = {
        "resourceType": "MedicationRequest",
        "id": str(m.pk),
        "meta": {"profile": [US_CORE + "us-core-medicationrequest"]},
        "status": m.status,
        "intent": "order",
        "reportedBoolean": True,
        "medicationCodeableConcept": code,
        "subject": _ref("Patient", m.patient_id),
        "encounter": _ref("Encounter", m.encounter_id) if m.encounter_id else None,
        "authoredOn": _dt(m.authored_at),
        "requester": _user_ref_safe(m.requester) if m.requester_id else None,
        "reasonCode": [{"text": m.reason_text}] if m.reason_text else [],
        "dosageInstruction": [dosage] if dosage else [],
    }
    return _clean(out)


def medication_request_any_to_fhir(row) -> dict:
    """MedicationRequest rows come from two tables: prescriptions written here and imported orders."""
    if row._meta.model_name == "prescription":
        return medication_request_to_fhir(row)
    return imported_order_to_fhir(row)


CVX_SYSTEM = "http://hl7.org/fhir/sid/cvx"


def immunization_to_fhir(i) -> dict:
    """US Core Immunization (CVX)."""
    out = {
        "resourceType": "Immunization",
        "id": str(i.pk),
        "meta": {"profile": [US_CORE + "us-core-immunization"]},
        "status": i.status,
        "statusReason": {"text": "Not given"} if i.status == "not-done" else None,
        "vaccineCode": {
            "coding": [_coding(CVX_SYSTEM, i.vaccine_code, i.vaccine_display or i.vaccine_code)],
            "text": i.vaccine_display or i.vaccine_code,
        },
        "patient": _ref("Patient", i.patient_id),
        "encounter": _ref("Encounter", i.encounter_id) if i.encounter_id else None,
        "occurrenceDateTime": _dt(i.occurrence),
        "recorded": _dt(i.recorded_at),
        "primarySource": True,
        "lotNumber": i.lot_number or None,
        "site": {"text": i.site} if i.site else None,
        "route": {"text": i.route} if i.route else None,
        "performer": [{"actor": _user_ref_safe(i.performer)}] if i.performer_id else [],
    }
    return _clean(out)


# Results (and the Observation door for both tables) live in mapping_results.py; imported last, re-exported here.
from .mapping_results import (  # noqa: E402
    observation_any_to_fhir,  # noqa: F401
    result_to_fhir,  # noqa: F401
)
