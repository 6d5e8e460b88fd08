"""Our models -> FHIR R4 (4.0.1) JSON, US Core 6.1 profiles. Pure functions: no queries, no access checks.

Each function takes an object that already came through a selector and returns a plain dict.
Left out on purpose: SSN and driver's licence (HIPAA minimum necessary: no FHIR client needs them to identify the
patient, and the MRN does that job), emergency contacts (Patient.contact is not must-support in US Core).
"""

from __future__ import annotations

from django.conf import settings

from patients.models import Ethnicity, GenderIdentity, Race

US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
# The MRN's identifier system. 2.999 is the OID arc reserved for examples: a deployment sets its own OID.
MRN_SYSTEM = getattr(settings, "FHIR_MRN_SYSTEM", "urn:oid:2.999.1.1")
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
NULL_FLAVOR = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
CDC_RACE_ETHNICITY = "urn:oid:2.16.840.1.113883.6.238"
SNOMED = "http://snomed.info/sct"

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


def patient_to_fhir(p) -> dict:
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

    telecom = []
    for ph in p.phones or []:
        if ph.get("value"):
            cp = {"system": "phone", "value": ph["value"]}
            if ph.get("use") in PHONE_USES:
                cp["use"] = ph["use"]
            telecom.append(cp)
    if p.email:
        telecom.append({"system": "email", "value": p.email})

    addresses = []
    for a in p.addresses or []:
        addr = {
            "use": a.get("use") if a.get("use") in ("home", "work", "temp", "old", "billing") else None,
            "line": [a["line"]] if a.get("line") else None,
            "city": a.get("city") or None,
            "state": a.get("state") or None,
            "postalCode": a.get("postal_code") or None,
            "country": a.get("country") or None,
        }
        addr = {k: v for k, v in addr.items() if v}
        if addr:
            addresses.append(addr)

    out = {
        "resourceType": "Patient",
        "id": str(p.pk),
        "meta": {"profile": [US_CORE + "us-core-patient"]},
        "extension": [e for e in extensions if e],
        "identifier": [
            {
                "use": "usual",
                "type": {"coding": [_coding(V2_0203, "MR", "Medical record number")], "text": "MRN"},
                "system": MRN_SYSTEM,
                "value": p.mrn,
            }
        ],
        "active": p.merged_into_id is None,
        "name": names,
        "telecom": telecom,
        "gender": GENDER_FROM_SEX.get(p.sex_at_birth, "unknown"),
        "birthDate": p.birth_date.isoformat(),
        "address": addresses,
        "communication": [
            {
                "language": {"coding": [{"system": "urn:ietf:bcp:47", "code": p.preferred_language}]},
                "preferred": True,
            }
        ]
        if p.preferred_language
        else [],
    }
    if p.deceased_date:
        out["deceasedDateTime"] = p.deceased_date.isoformat()
    if p.merged_into_id:
        out["link"] = [{"other": {"reference": f"Patient/{p.merged_into_id}"}, "type": "replaced-by"}]
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
