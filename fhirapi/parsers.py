"""One parser per FHIR type the product models: a resource -> (fields in our vocabulary, references, elements used).

Pure functions, no queries. A value that cannot be used raises values.Invalid; importing.parse_bundle turns that into
an OperationOutcome issue for that entry and keeps the resource as received (unless it is the Patient). Each parser
is a short list of named steps, one per concern (names, contacts, codes, dates ...).
"""

from __future__ import annotations

from . import mapping
from .values import (
    Invalid,
    Refs,
    clip,
    code_in,
    date_of,
    decimal_of,
    first_code,
    instant,
    optional,
    text_of,
)

SSN_SYSTEM = "http://hl7.org/fhir/sid/us-ssn"
CVX_SYSTEM = "http://hl7.org/fhir/sid/cvx"


def _choice(value, allowed, default=""):
    return value if value in allowed else default


# ---------------------------------------------------------------- Patient
def _official_name(names: list[dict]) -> tuple[dict, list[str], str]:
    if not names:
        raise Invalid("Patient.name is required")
    official = next((n for n in names if n.get("use") in ("official", "usual", None)), names[0])
    given = [g for g in official.get("given") or [] if g]
    family = official.get("family") or ""
    if not given or not family:
        raise Invalid("Patient.name needs a given and a family name")
    return official, given, family


def _other_names(names: list[dict], official: dict) -> tuple[list[dict], str]:
    previous = [
        {"given": " ".join(n.get("given") or []), "family": n.get("family") or ""}
        for n in names
        if n is not official and n.get("use") in ("old", "maiden")
    ]
    nicknames = [n["given"][0] for n in names if n.get("use") == "nickname" and n.get("given")]
    return previous, nicknames[0] if nicknames else ""


def _patient_names(r: dict) -> dict:
    names = [n for n in r.get("name") or [] if isinstance(n, dict)]
    official, given, family = _official_name(names)
    previous, preferred = _other_names(names, official)
    return {
        "given_name": clip(given[0], 100),
        "middle_name": clip(" ".join(given[1:]), 100),
        "family_name": clip(family, 100),
        "preferred_name": clip(preferred, 100),
        "suffix": clip(" ".join(official.get("suffix") or []), 20),
        "previous_names": previous,
    }


def _omb(extension, allowed: set) -> list[str]:
    if not extension:
        return []
    out = []
    for part in extension.get("extension") or []:
        if part.get("url") in ("ombCategory", "detailed"):
            code = (part.get("valueCoding") or {}).get("code")
            if code in allowed or code in mapping.NULL_CODES:
                out.append(code)
    return out


def _patient_demographics(r: dict) -> dict:
    ext = {e.get("url"): e for e in r.get("extension") or [] if isinstance(e, dict)}
    birthsex = (ext.get(mapping.US_CORE + "us-core-birthsex") or {}).get("valueCode")
    fallback = {"female": "F", "male": "M"}.get(r.get("gender"), "UNK")
    eth = _omb(ext.get(mapping.US_CORE + "us-core-ethnicity"), mapping.OMB_ETHNICITY)
    out = {
        "sex_at_birth": _choice(birthsex, ("F", "M", "UNK", "ASKU"), fallback),
        "race": _omb(ext.get(mapping.US_CORE + "us-core-race"), mapping.OMB_RACE),
        "ethnicity": eth[0] if eth else "",
    }
    gi = ext.get(mapping.US_CORE + "us-core-genderIdentity")
    if gi:
        code = first_code(gi.get("valueCodeableConcept"))
        out["gender_identity"] = code["code"] if code else ""
    return out


def _telecom(r: dict, system: str) -> list[str]:
    return [t["value"] for t in r.get("telecom") or [] if t.get("system") == system and t.get("value")]


def _address(a: dict) -> dict:
    return {
        "use": a.get("use") or "home",
        "line": ", ".join(a.get("line") or []),
        "city": a.get("city") or "",
        "state": a.get("state") or "",
        "postal_code": a.get("postalCode") or "",
        "country": a.get("country") or "",
    }


def _patient_contacts(r: dict) -> dict:
    phones = [
        {"use": t.get("use") or "home", "value": clip(t["value"], 40)}
        for t in r.get("telecom") or []
        if t.get("system") == "phone" and t.get("value")
    ]
    emails = _telecom(r, "email")
    out = {
        "phones": phones,
        "email": clip(emails[0], 254) if emails else None,
        "addresses": [_address(a) for a in r.get("address") or [] if isinstance(a, dict)],
    }
    languages = [c for c in (first_code(x.get("language")) for x in r.get("communication") or []) if c]
    if languages:
        out["preferred_language"] = clip(languages[0]["code"], 20)
    return out


def _patient_identifiers(r: dict) -> dict:
    out = {}
    for ident in r.get("identifier") or []:
        system, value = ident.get("system") or "", ident.get("value") or ""
        if not value:
            continue
        if system == SSN_SYSTEM:
            out["ssn"] = value
        # Driver's licence numbers: urn:oid:2.16.840.1.113883.4.3[.<state FIPS>] (HL7 OID registry).
        elif system == mapping.DL_SYSTEM or system.startswith(mapping.DL_SYSTEM + "."):
            out["drivers_license"] = value
    return out


def patient(r: dict, refs: Refs) -> tuple[dict, dict, set]:
    if "birthDate" not in r:
        raise Invalid("Patient.birthDate is required")
    fields = {
        **_patient_names(r),
        "birth_date": date_of(r["birthDate"], "Patient.birthDate"),
        **_patient_demographics(r),
        **_patient_contacts(r),
        "deceased_date": optional(date_of, r.get("deceasedDateTime"), "Patient.deceasedDateTime"),
        **_patient_identifiers(r),
    }
    used = {"name", "birthDate", "gender", "extension", "telecom", "address", "communication"}
    return fields, {}, used | {"deceasedDateTime", "identifier", "deceasedBoolean"}


# ---------------------------------------------------------------- Practitioner
def practitioner(r: dict, refs: Refs) -> tuple[dict, dict, set]:
    name = next((n for n in r.get("name") or [] if isinstance(n, dict)), {})
    npi = next(
        (i.get("value") for i in r.get("identifier") or [] if i.get("system") == mapping.NPI_SYSTEM), ""
    )
    fields = {
        "first_name": clip(" ".join(name.get("given") or []), 150),
        "last_name": clip(name.get("family") or "", 150),
        "npi": clip(npi or "", 20),
    }
    if not (fields["first_name"] or fields["last_name"]):
        fields["last_name"] = f"Practitioner {r.get('id', '')}"[:150]
    return fields, {}, {"name", "identifier", "active", "gender", "address", "telecom"}


# ---------------------------------------------------------------- Encounter
ENCOUNTER_STATUS_IN = {
    "planned": "planned",
    "arrived": "in_progress",
    "triaged": "in_progress",
    "in-progress": "in_progress",
    "onleave": "in_progress",
    "finished": "finished",
    "cancelled": "cancelled",
    "entered-in-error": "cancelled",
}


# v3 ActCode class -> our encounter type; ambulatory visits are told apart by their type's words.
ENCOUNTER_TYPE_BY_CLASS = {
    "EMER": "emergency",
    "IMP": "inpatient",
    "ACUTE": "inpatient",
    "NONAC": "inpatient",
    "OBSENC": "inpatient",
    "SS": "inpatient",
    "VR": "telehealth",
    "HH": "home",
}
WELLNESS_WORDS = ("check up", "check-up", "checkup", "wellness", "well child", "preventive")


def encounter_type_in(klass: str, coding: dict | None, text: str) -> str:
    if klass in ENCOUNTER_TYPE_BY_CLASS:
        return ENCOUNTER_TYPE_BY_CLASS[klass]
    words = (text or (coding or {}).get("display") or "").lower()
    if any(w in words for w in WELLNESS_WORDS):
        return "wellness"
    if "telephone" in words or "phone" in words:
        return "phone"
    if "urgent" in words:
        return "urgent"
    return "office"


def _encounter_period(r: dict) -> dict:
    period = r.get("period") or {}
    if not period.get("start"):
        raise Invalid("Encounter.period.start is required")
    out = {
        "start": instant(period["start"], "Encounter.period.start"),
        "end": optional(instant, period.get("end"), "Encounter.period.end"),
    }
    if out["end"] and out["end"] < out["start"]:
        raise Invalid("Encounter.period.end is before its start")
    return out


def _encounter_type(r: dict) -> dict:
    klass = (r.get("class") or {}).get("code") or "AMB"
    first_type = (r.get("type") or [{}])[0]
    type_code = first_code(first_type) if r.get("type") else None
    return {
        "encounter_type": encounter_type_in(klass, type_code, text_of(first_type)),
        "type_system": clip((type_code or {}).get("system", ""), 100),
        "type_code": clip((type_code or {}).get("code", ""), 40),
        "type_display": clip(text_of(first_type), 200),
    }


def encounter(r: dict, refs: Refs) -> tuple[dict, dict, set]:
    fields = {
        "status": ENCOUNTER_STATUS_IN.get(r.get("status"), "finished"),
        **_encounter_type(r),
        "reason": clip(", ".join(text_of(c) for c in r.get("reasonCode") or [] if text_of(c)), 200),
        **_encounter_period(r),
    }
    participant = next(
        (
            p.get("individual")
            for p in r.get("participant") or []
            if isinstance(p, dict) and p.get("individual")
        ),
        None,
    )
    out_refs = {
        "provider": refs.key(
            participant, "Encounter.participant.individual", want="Practitioner", required=False
        )
    }
    used = {"status", "class", "type", "period", "subject", "participant", "reasonCode", "serviceProvider"}
    return fields, out_refs, used


# ---------------------------------------------------------------- Condition
CONDITION_STATUS_IN = {
    "active": "active",
    "recurrence": "active",
    "relapse": "active",
    "inactive": "inactive",
    "remission": "inactive",
    "resolved": "resolved",
    "entered-in-error": "entered-in-error",
}


def _status(r: dict, allowed) -> str:
    """clinicalStatus in our vocabulary; entered-in-error comes from verificationStatus."""
    if (first_code(r.get("verificationStatus")) or {}).get("code") == "entered-in-error":
        return "entered-in-error"
    code = (first_code(r.get("clinicalStatus")) or {}).get("code") or "active"
    return allowed.get(code, "active")


def _condition_dates(r: dict) -> dict:
    out = {
        "onset_date": optional(date_of, r.get("onsetDateTime"), "Condition.onsetDateTime"),
        "resolved_date": optional(date_of, r.get("abatementDateTime"), "Condition.abatementDateTime"),
        "recorded_at": optional(instant, r.get("recordedDate"), "Condition.recordedDate"),
    }
    if out["onset_date"] and out["resolved_date"] and out["resolved_date"] < out["onset_date"]:
        raise Invalid("Condition.abatementDateTime is before its onset")
    out["as_sent"] = as_sent(onset_date=r.get("onsetDateTime"), resolved_date=r.get("abatementDateTime"))
    return out


def condition(r: dict, refs: Refs) -> tuple[dict, dict, set]:
    icd = code_in(r.get("code"), mapping.ICD10CM_SYSTEM)
    code = icd or first_code(r.get("code"))
    if code is None:
        raise Invalid("Condition.code has no coding")
    fields = {
        "icd10": icd["code"] if icd else None,
        "code_system": code.get("system") or "",
        "code_value": clip(code["code"], 40),
        "description": clip(text_of(r.get("code")) or code.get("display") or code["code"], 300),
        "status": _status(r, CONDITION_STATUS_IN),
        **_condition_dates(r),
    }
    out_refs = {
        "encounter": refs.key(r.get("encounter"), "Condition.encounter", want="Encounter", required=False)
    }
    used = {"clinicalStatus", "verificationStatus", "code", "subject", "encounter", "category"}
    return fields, out_refs, used | {"onsetDateTime", "abatementDateTime", "recordedDate"}


# ---------------------------------------------------------------- AllergyIntolerance
ALLERGY_STATUS_IN = {s: s for s in ("active", "inactive", "resolved", "entered-in-error")}


def _allergy_substance(r: dict) -> dict:
    rx = code_in(r.get("code"), mapping.RXNORM_SYSTEM)
    code = rx or first_code(r.get("code"))
    text = text_of(r.get("code"))
    if not text:
        raise Invalid("AllergyIntolerance.code has neither a coding nor a text")
    other = code if code and not rx else {}
    categories = [
        c for c in r.get("category") or [] if c in ("food", "medication", "environment", "biologic")
    ]
    return {
        "substance_text": clip(text, 200),
        "substance_rxcui": clip(rx["code"], 20) if rx else "",
        "substance_system": clip(other.get("system", ""), 100),
        "substance_code": clip(other.get("code", ""), 40),
        "category": categories[0] if categories else ("medication" if rx else "environment"),
    }


def _allergy_reaction(r: dict) -> dict:
    reaction = next((x for x in r.get("reaction") or [] if isinstance(x, dict)), {})
    manifest = ", ".join(text_of(m) for m in reaction.get("manifestation") or [] if text_of(m))
    return {
        "criticality": _choice(r.get("criticality"), ("low", "high", "unable-to-assess")),
        "severity": _choice(reaction.get("severity"), ("mild", "moderate", "severe")),
        "reaction": clip(manifest, 200),
    }


def allergy(r: dict, refs: Refs) -> tuple[dict, dict, set]:
    fields = {
        **_allergy_substance(r),
        **_allergy_reaction(r),
        "status": _status(r, ALLERGY_STATUS_IN),
        "onset_date": optional(date_of, r.get("onsetDateTime"), "AllergyIntolerance.onsetDateTime"),
        "recorded_at": optional(instant, r.get("recordedDate"), "AllergyIntolerance.recordedDate"),
        "as_sent": as_sent(onset_date=r.get("onsetDateTime")),
    }
    used = {"clinicalStatus", "verificationStatus", "type", "category", "criticality", "code", "patient"}
    return fields, {}, used | {"recordedDate", "reaction", "onsetDateTime"}


# ---------------------------------------------------------------- Immunization
def immunization(r: dict, refs: Refs) -> tuple[dict, dict, set]:
    cvx = code_in(r.get("vaccineCode"), CVX_SYSTEM) or first_code(r.get("vaccineCode"))
    if cvx is None:
        raise Invalid("Immunization.vaccineCode has no coding")
    when = r.get("occurrenceDateTime") or r.get("occurrenceString")
    fields = {
        "vaccine_code": clip(cvx["code"], 10),
        "vaccine_display": clip(text_of(r.get("vaccineCode")) or cvx.get("display", ""), 200),
        "occurrence": instant(when, "Immunization.occurrenceDateTime"),
        "status": _choice(r.get("status"), ("completed", "not-done", "entered-in-error"), "completed"),
        "lot_number": clip(r.get("lotNumber") or "", 40),
        "site": clip(text_of(r.get("site")), 60),
        "route": clip(text_of(r.get("route")), 60),
    }
    recorded = optional(instant, r.get("recorded"), "Immunization.recorded")
    if recorded:
        fields["recorded_at"] = recorded
    out_refs = {
        "encounter": refs.key(r.get("encounter"), "Immunization.encounter", want="Encounter", required=False)
    }
    used = {"status", "vaccineCode", "patient", "encounter", "occurrenceDateTime", "occurrenceString"}
    return fields, out_refs, used | {"primarySource", "lotNumber", "site", "route", "recorded"}


# ---------------------------------------------------------------- MedicationRequest
MED_ORDER_STATUS_IN = {
    "active": "active",
    "on-hold": "active",
    "completed": "completed",
    "stopped": "stopped",
    "cancelled": "stopped",
    "entered-in-error": "entered-in-error",
    "draft": "active",
    "unknown": "active",
}


def _medication_concept(r: dict, refs: Refs) -> dict:
    """medicationCodeableConcept, or the code of the Medication it references (contained or in the bundle)."""
    concept = r.get("medicationCodeableConcept")
    if concept is None and r.get("medicationReference"):
        med = refs.resource(
            r["medicationReference"], r, "MedicationRequest.medicationReference", want="Medication"
        )
        concept = med.get("code")
    if concept is None:
        raise Invalid("MedicationRequest has no medication[x]")
    return concept


def medication_request(r: dict, refs: Refs) -> tuple[dict, dict, set]:
    concept = _medication_concept(r, refs)
    rx = code_in(concept, mapping.RXNORM_SYSTEM)
    name = text_of(concept)
    if not name:
        raise Invalid("MedicationRequest.medication has neither a coding nor a text")
    dosage = next((d for d in r.get("dosageInstruction") or [] if isinstance(d, dict)), {})
    authored = optional(instant, r.get("authoredOn"), "MedicationRequest.authoredOn")
    fields = {
        "rxcui": clip(rx["code"], 20) if rx else "",
        "name": clip(name, 300),
        "dose_text": clip(dosage_text_in(dosage), 200),
        "status": MED_ORDER_STATUS_IN.get(r.get("status"), "active"),
        "authored_at": authored,
        "started_on": authored.date() if authored else None,
        "as_needed": bool(dosage.get("asNeededBoolean")),
        "reason_text": clip(", ".join(text_of(c) for c in r.get("reasonCode") or [] if text_of(c)), 200),
    }
    reason = (r.get("reasonReference") or [None])[0]
    out_refs = {
        "requester": refs.key(
            r.get("requester"), "MedicationRequest.requester", want="Practitioner", required=False
        ),
        "encounter": refs.key(
            r.get("encounter"), "MedicationRequest.encounter", want="Encounter", required=False
        ),
        "reason_condition": refs.key(
            reason, "MedicationRequest.reasonReference", want="Condition", required=False
        ),
    }
    used = {"status", "intent", "medicationCodeableConcept", "medicationReference", "subject", "encounter"}
    return (
        fields,
        out_refs,
        used | {"authoredOn", "requester", "dosageInstruction", "reasonCode", "reasonReference"},
    )


def _dose(q: dict) -> str:
    value = q["value"]
    shown = f"{value:g}" if isinstance(value, (int, float)) else str(value)
    return f"{shown} {q.get('unit') or ''}".strip()


def dosage_text_in(dosage: dict) -> str:
    """Dosage -> one line: its text if it has one, else built from dose and timing."""
    if not dosage:
        return ""
    if dosage.get("text"):
        return str(dosage["text"])
    parts = [
        _dose(dr["doseQuantity"])
        for dr in dosage.get("doseAndRate") or []
        if "value" in (dr.get("doseQuantity") or {})
    ]
    rep = (dosage.get("timing") or {}).get("repeat") or {}
    if rep.get("frequency") and rep.get("period"):
        period = rep["period"]
        parts.append(
            f"{rep['frequency']} times per {period:g} {rep.get('periodUnit') or 'd'}"
            if isinstance(period, (int, float))
            else f"{rep['frequency']} per {period}"
        )
    return ", ".join(parts)  # "as needed" is kept apart (MedicationStatement.as_needed)


# ---------------------------------------------------------------- Observation
OBSERVATION_STATUSES = ("final", "amended", "preliminary", "entered-in-error", "corrected")
INTERPRETATIONS = ("H", "L", "N", "A", "HH", "LL")


def _empty_value() -> dict:
    # value_sent: the number as sent (fhirapi/given.py); it goes into as_sent, not a column of its own.
    return {
        "value_quantity": None,
        "value_unit": "",
        "value_text": "",
        "value_code": "",
        "value_system": "",
        "value_sent": None,
    }


def observation_value(src: dict, what: str) -> dict:
    """value[x] -> our value columns; the value as sent (a number keeps its digits, a unit its UCUM code)."""
    into = _empty_value()
    if "valueQuantity" in src:
        q = src["valueQuantity"] or {}
        if "value" not in q:
            raise Invalid(f"{what}.valueQuantity has no value")
        into["value_quantity"] = decimal_of(q["value"], f"{what}.valueQuantity.value")
        into["value_unit"] = clip(q.get("code") or q.get("unit") or "", 30)
        into["value_sent"] = q["value"]
    elif "valueInteger" in src:
        into["value_quantity"] = decimal_of(src["valueInteger"], f"{what}.valueInteger")
        into["value_sent"] = src["valueInteger"]
    elif "valueCodeableConcept" in src:
        c = first_code(src["valueCodeableConcept"]) or {}
        into["value_code"] = clip(c.get("code", ""), 64)
        into["value_system"] = clip(c.get("system", ""), 100)
        into["value_text"] = clip(text_of(src["valueCodeableConcept"]), 1000)
    elif "valueString" in src:
        into["value_text"] = clip(str(src["valueString"]), 1000)
    return into


def _observation_components(r: dict) -> list[dict]:
    out = []
    for i, comp in enumerate(r.get("component") or []):
        ccode = code_in(comp.get("code"), mapping.LOINC_SYSTEM) or first_code(comp.get("code"))
        if ccode is None:
            raise Invalid(f"Observation.component[{i}].code has no coding")
        out.append({"code": ccode["code"], **observation_value(comp, f"Observation.component[{i}]")})
    return out


def _reference_range(r: dict) -> dict:
    return next((x for x in r.get("referenceRange") or [] if isinstance(x, dict)), {})


def as_sent(**values) -> dict | None:
    """The values as sent, for the columns named (fhirapi/given.py); None when none was sent."""
    found = {k: v for k, v in values.items() if v is not None}
    return found or None


def _observation_extras(r: dict) -> dict:
    interp = first_code((r.get("interpretation") or [None])[0]) or {}
    ref = _reference_range(r)
    return {
        "interpretation": _choice(interp.get("code", "")[:2], INTERPRETATIONS),
        "reference_low": optional(decimal_of, (ref.get("low") or {}).get("value"), "referenceRange.low"),
        "reference_high": optional(decimal_of, (ref.get("high") or {}).get("value"), "referenceRange.high"),
    }


def observation(r: dict, refs: Refs) -> tuple[dict, dict, set]:
    code = code_in(r.get("code"), mapping.LOINC_SYSTEM) or first_code(r.get("code"))
    if code is None:
        raise Invalid("Observation.code has no coding")
    when = r.get("effectiveDateTime") or (r.get("effectivePeriod") or {}).get("start") or r.get("issued")
    category = next((c["code"] for c in (first_code(cat) for cat in r.get("category") or []) if c), "")
    fields = {
        "category": category or "laboratory",
        "loinc_code": clip(code["code"], 20),
        "display": clip(text_of(r.get("code")) or code.get("display", ""), 200),
        "status": _choice(r.get("status"), OBSERVATION_STATUSES, "final"),
        "effective": instant(when, "Observation.effective[x]"),
        "issued": optional(instant, r.get("issued"), "Observation.issued"),
        **observation_value(r, "Observation"),
        "components": _observation_components(r),
        **_observation_extras(r),
    }
    rng = _reference_range(r)
    fields["as_sent"] = as_sent(
        value_quantity=fields.pop("value_sent"),
        reference_low=(rng.get("low") or {}).get("value"),
        reference_high=(rng.get("high") or {}).get("value"),
        effective=when,
    )
    out_refs = {
        "encounter": refs.key(r.get("encounter"), "Observation.encounter", want="Encounter", required=False)
    }
    used = {
        "status",
        "category",
        "code",
        "subject",
        "encounter",
        "effectiveDateTime",
        "effectivePeriod",
        "issued",
    }
    return (
        fields,
        out_refs,
        used
        | {
            "valueQuantity",
            "valueInteger",
            "valueCodeableConcept",
            "valueString",
            "component",
            "interpretation",
            "referenceRange",
        },
    )


PARSERS = {
    "Patient": ("patient", patient),
    "Practitioner": ("practitioner", practitioner),
    "Encounter": ("encounter", encounter),
    "Condition": ("problem", condition),
    "AllergyIntolerance": ("allergy", allergy),
    "Immunization": ("immunization", immunization),
    "MedicationRequest": ("medication_order", medication_request),
    "Observation": ("observation", observation),
}
