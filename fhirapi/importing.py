"""FHIR R4 bundles -> rows in our vocabulary. Pure parsing: no queries, no writes (fhirapi/services.py writes).

A bundle is parsed whole before anything is written: every reference must resolve, every value must parse, or the
bundle is refused with the entry, the resource and the reason (BundleRefused). Resource types the product does not
model are counted, and so are the elements of modelled resources that it does not keep: an import report says
what was left behind instead of dropping it silently.

The inverse direction (our rows -> FHIR) is fhirapi/mapping.py; the two are kept symmetric so that an import
followed by an export gives back every element the product models (tests/fhir/test_round_trip.py).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import mapping

# Elements every resource has that carry no clinical content of ours.
BOOKKEEPING = {"resourceType", "id", "meta", "text"}
SSN_SYSTEM = "http://hl7.org/fhir/sid/us-ssn"
CVX_SYSTEM = "http://hl7.org/fhir/sid/cvx"
SNOMED = mapping.SNOMED


class BundleRefused(Exception):
    """The bundle cannot be imported; nothing of it is written."""

    def __init__(self, reason: str, *, entry: int | None = None, resource: str = ""):
        self.reason, self.entry, self.resource = reason, entry, resource
        where = f"entry {entry}" if entry is not None else "bundle"
        super().__init__(f"{where}{f' ({resource})' if resource else ''}: {reason}")


class Invalid(ValueError):
    """A value inside one resource is unusable; parse_bundle turns it into BundleRefused naming the entry."""


@dataclass
class Row:
    """One resource parsed into our terms. `refs` name other resources by their bundle key ("Type/id")."""

    resource_type: str
    key: str  # "Type/id" in the bundle
    source_id: str  # the id the sending system gave it
    patient_key: str | None
    fields: dict
    refs: dict = field(default_factory=dict)
    entry: int = 0


@dataclass
class ParsedBundle:
    rows: dict[str, list[Row]] = field(default_factory=dict)  # our kind -> rows
    not_modelled: Counter = field(default_factory=Counter)  # FHIR type -> resources not imported
    dropped_elements: Counter = field(default_factory=Counter)  # "Type.element" -> occurrences not kept

    def add(self, kind: str, row: Row) -> None:
        self.rows.setdefault(kind, []).append(row)

    def count(self) -> int:
        return sum(len(v) for v in self.rows.values())


# ---------------------------------------------------------------- values
def _instant(value, what: str) -> datetime:
    """A FHIR dateTime / instant. A date without a time is midnight in the clinic's zone."""
    if not isinstance(value, str) or not value:
        raise Invalid(f"{what} is missing or not a string")
    dt = parse_datetime(value)
    if dt is None:
        d = _date(value, what)
        dt = datetime.combine(d, time.min)
    if timezone.is_naive(dt):
        dt = timezone.make_aware(dt, timezone.get_current_timezone())
    return dt


_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


def _date(value, what: str) -> date:
    """A FHIR date (YYYY, YYYY-MM, YYYY-MM-DD) or the date part of a dateTime; partial dates take the first day."""
    m = _PARTIAL_DATE.match(value) if isinstance(value, str) else None
    if not m:
        raise Invalid(f"{what} {value!r} is not a FHIR date")
    try:
        return date(int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1))
    except ValueError:
        raise Invalid(f"{what} {value!r} is not a calendar date") from None


def _optional(fn, value, what: str):
    return None if value in (None, "") else fn(value, what)


def _decimal(value, what: str) -> Decimal:
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise Invalid(f"{what} {value!r} is not a number") from None
    if not d.is_finite():
        raise Invalid(f"{what} {value!r} is not a number")
    return d


def _codings(concept) -> list[dict]:
    if concept is None:
        return []
    if not isinstance(concept, dict):
        raise Invalid("a CodeableConcept is not an object")
    codings = concept.get("coding") or []
    if not isinstance(codings, list):
        raise Invalid("CodeableConcept.coding is not a list")
    return [c for c in codings if isinstance(c, dict)]


def _code_in(concept, system: str) -> dict | None:
    for c in _codings(concept):
        if c.get("system") == system and c.get("code"):
            return c
    return None


def _first_code(concept) -> dict | None:
    for c in _codings(concept):
        if c.get("code"):
            return c
    return None


def _text(concept) -> str:
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    first = _first_code(concept)
    return str(first.get("display") or first.get("code")) if first else ""


def _clip(value: str, n: int) -> str:
    return (value or "").strip()[:n]


# ---------------------------------------------------------------- references
class Refs:
    """Resolves the references of one bundle: "urn:uuid:...", "Type/id" and absolute ".../Type/id"."""

    def __init__(self):
        self.by_url: dict[str, str] = {}
        self.keys: set[str] = set()

    def add(self, full_url: str | None, key: str) -> None:
        self.keys.add(key)
        if full_url:
            self.by_url[full_url] = key
        self.by_url[key] = key

    def key(self, ref, what: str, *, want: str | None = None, required: bool = True) -> str | None:
        if ref is None:
            if required:
                raise Invalid(f"{what} is missing")
            return None
        value = ref.get("reference") if isinstance(ref, dict) else None
        if not value:
            if required:
                raise Invalid(f"{what} has no reference")
            return None
        key = self.by_url.get(value)
        if key is None:
            m = re.search(r"([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$", value)
            if m and f"{m.group(1)}/{m.group(2)}" in self.keys:
                key = f"{m.group(1)}/{m.group(2)}"
        if key is None:
            raise Invalid(f"{what} {value!r} does not resolve to a resource in this bundle")
        if want and not key.startswith(want + "/"):
            raise Invalid(f"{what} {value!r} is a {key.split('/')[0]}, not a {want}")
        return key


# ---------------------------------------------------------------- per-type parsers
# Each parser returns (kind, Row | list[Row]) and the set of top-level elements it used; the rest is reported.
def _patient(r: dict, refs: Refs) -> tuple[dict, dict, set]:
    names = [n for n in r.get("name") or [] if isinstance(n, dict)]
    if not names:
        raise Invalid("Patient.name is required")
    official = next((n for n in names if n.get("use") in ("official", "usual", None)), names[0])
    given = [g for g in official.get("given") or [] if g]
    family = official.get("family") or ""
    if not given or not family:
        raise Invalid("Patient.name needs a given and a family name")
    previous = [
        {"given": " ".join(n.get("given") or []), "family": n.get("family") or ""}
        for n in names
        if n is not official and n.get("use") in ("old", "maiden")
    ]
    preferred = next(
        (n.get("given", [""])[0] for n in names if n.get("use") == "nickname" and n.get("given")), ""
    )
    if "birthDate" not in r:
        raise Invalid("Patient.birthDate is required")
    fields = {
        "given_name": _clip(given[0], 100),
        "middle_name": _clip(" ".join(given[1:]), 100),
        "family_name": _clip(family, 100),
        "preferred_name": _clip(preferred, 100),
        "suffix": _clip(" ".join(official.get("suffix") or []), 20),
        "previous_names": previous,
        "birth_date": _date(r["birthDate"], "Patient.birthDate"),
    }
    ext = {e.get("url"): e for e in r.get("extension") or [] if isinstance(e, dict)}
    birthsex = (ext.get(mapping.US_CORE + "us-core-birthsex") or {}).get("valueCode")
    gender = r.get("gender")
    fields["sex_at_birth"] = (
        birthsex if birthsex in ("F", "M", "UNK", "ASKU") else {"female": "F", "male": "M"}.get(gender, "UNK")
    )
    fields["race"] = _omb(ext.get(mapping.US_CORE + "us-core-race"), mapping.OMB_RACE)
    eth = _omb(ext.get(mapping.US_CORE + "us-core-ethnicity"), mapping.OMB_ETHNICITY)
    fields["ethnicity"] = eth[0] if eth else ""
    gi = ext.get(mapping.US_CORE + "us-core-genderIdentity")
    if gi:
        code = _first_code(gi.get("valueCodeableConcept"))
        fields["gender_identity"] = code["code"] if code else ""
    phones, email = [], None
    for t in r.get("telecom") or []:
        if t.get("system") == "phone" and t.get("value"):
            phones.append({"use": t.get("use") or "home", "value": _clip(t["value"], 40)})
        elif t.get("system") == "email" and t.get("value") and email is None:
            email = _clip(t["value"], 254)
    fields["phones"] = phones
    fields["email"] = email
    fields["addresses"] = [
        {
            "use": a.get("use") or "home",
            "line": ", ".join(a.get("line") or []),
            "city": a.get("city") or "",
            "state": a.get("state") or "",
            "postal_code": a.get("postalCode") or "",
            "country": a.get("country") or "",
        }
        for a in r.get("address") or []
        if isinstance(a, dict)
    ]
    for comm in r.get("communication") or []:
        code = _first_code(comm.get("language"))
        if code:
            fields["preferred_language"] = _clip(code["code"], 20)
            break
    fields["deceased_date"] = _optional(_date, r.get("deceasedDateTime"), "Patient.deceasedDateTime")
    for ident in r.get("identifier") or []:
        system, value = ident.get("system") or "", ident.get("value") or ""
        if system == SSN_SYSTEM and value:
            fields["ssn"] = value
        # Driver's licence numbers: urn:oid:2.16.840.1.113883.4.3[.<state FIPS>] (HL7 OID registry).
        elif (system == mapping.DL_SYSTEM or system.startswith(mapping.DL_SYSTEM + ".")) and value:
            fields["drivers_license"] = value
    used = {
        "name",
        "birthDate",
        "gender",
        "extension",
        "telecom",
        "address",
        "communication",
        "deceasedDateTime",
        "identifier",
        "deceasedBoolean",
    }
    return fields, {}, used


def _omb(extension, allowed: set) -> list[str]:
    if not extension:
        return []
    out = []
    for part in extension.get("extension") or []:
        if part.get("url") == "ombCategory":
            code = (part.get("valueCoding") or {}).get("code")
            if code in allowed or code in mapping.NULL_CODES:
                out.append(code)
    return out


def _practitioner(r: dict, refs: Refs) -> tuple[dict, dict, set]:
    name = next((n for n in r.get("name") or [] if isinstance(n, dict)), {})
    npi = next(
        (i.get("value") for i in r.get("identifier") or [] if i.get("system") == mapping.NPI_SYSTEM), ""
    )
    fields = {
        "first_name": _clip(" ".join(name.get("given") or []), 150),
        "last_name": _clip(name.get("family") or "", 150),
        "npi": _clip(npi or "", 20),
    }
    if not (fields["first_name"] or fields["last_name"]):
        fields["last_name"] = f"Practitioner {r.get('id', '')}"[:150]
    return fields, {}, {"name", "identifier", "active", "gender", "address", "telecom"}


def _encounter(r: dict, refs: Refs) -> tuple[dict, dict, set]:
    period = r.get("period") or {}
    if not period.get("start"):
        raise Invalid("Encounter.period.start is required")
    klass = (r.get("class") or {}).get("code") or "AMB"
    type_code = _first_code((r.get("type") or [{}])[0]) if r.get("type") else None
    fields = {
        "status": mapping.ENCOUNTER_STATUS_IN.get(r.get("status"), "finished"),
        "encounter_type": mapping.encounter_type_in(klass, type_code, _text((r.get("type") or [{}])[0])),
        "type_system": _clip((type_code or {}).get("system", ""), 100),
        "type_code": _clip((type_code or {}).get("code", ""), 40),
        "type_display": _clip(_text((r.get("type") or [{}])[0]), 200),
        "reason": _clip(", ".join(_text(c) for c in r.get("reasonCode") or [] if _text(c)), 200),
        "start": _instant(period["start"], "Encounter.period.start"),
        "end": _optional(_instant, period.get("end"), "Encounter.period.end"),
    }
    if fields["end"] and fields["end"] < fields["start"]:
        raise Invalid("Encounter.period.end is before its start")
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


def _condition(r: dict, refs: Refs) -> tuple[dict, dict, set]:
    icd = _code_in(r.get("code"), mapping.ICD10CM_SYSTEM)
    code = icd or _first_code(r.get("code"))
    if code is None:
        raise Invalid("Condition.code has no coding")
    clinical = _first_code(r.get("clinicalStatus"))
    verification = _first_code(r.get("verificationStatus"))
    status = (clinical or {}).get("code") or "active"
    if (verification or {}).get("code") == "entered-in-error":
        status = "entered-in-error"
    fields = {
        "icd10": icd["code"] if icd else None,
        "code_system": code.get("system") or "",
        "code_value": _clip(code["code"], 40),
        "description": _clip(_text(r.get("code")) or code.get("display") or code["code"], 300),
        "status": mapping.CONDITION_STATUS_IN.get(status, "active"),
        "onset_date": _optional(_date, r.get("onsetDateTime"), "Condition.onsetDateTime"),
        "resolved_date": _optional(_date, r.get("abatementDateTime"), "Condition.abatementDateTime"),
    }
    if fields["onset_date"] and fields["resolved_date"] and fields["resolved_date"] < fields["onset_date"]:
        raise Invalid("Condition.abatementDateTime is before its onset")
    out_refs = {
        "encounter": refs.key(r.get("encounter"), "Condition.encounter", want="Encounter", required=False)
    }
    used = {
        "clinicalStatus",
        "verificationStatus",
        "code",
        "subject",
        "encounter",
        "onsetDateTime",
        "abatementDateTime",
        "recordedDate",
        "category",
    }
    return fields, out_refs, used


def _allergy(r: dict, refs: Refs) -> tuple[dict, dict, set]:
    rx = _code_in(r.get("code"), mapping.RXNORM_SYSTEM)
    code = rx or _first_code(r.get("code"))
    text = _text(r.get("code"))
    if not text:
        raise Invalid("AllergyIntolerance.code has neither a coding nor a text")
    clinical = (_first_code(r.get("clinicalStatus")) or {}).get("code") or "active"
    if (_first_code(r.get("verificationStatus")) or {}).get("code") == "entered-in-error":
        clinical = "entered-in-error"
    categories = [
        c for c in r.get("category") or [] if c in ("food", "medication", "environment", "biologic")
    ]
    reaction = next((x for x in r.get("reaction") or [] if isinstance(x, dict)), {})
    manifest = ", ".join(_text(m) for m in reaction.get("manifestation") or [] if _text(m))
    fields = {
        "substance_text": _clip(text, 200),
        "substance_rxcui": _clip(rx["code"], 20) if rx else "",
        "substance_system": "" if rx or not code else _clip(code.get("system", ""), 100),
        "substance_code": "" if rx or not code else _clip(code.get("code", ""), 40),
        "category": categories[0] if categories else ("medication" if rx else "environment"),
        "criticality": r.get("criticality")
        if r.get("criticality") in ("low", "high", "unable-to-assess")
        else "",
        "severity": reaction.get("severity")
        if reaction.get("severity") in ("mild", "moderate", "severe")
        else "",
        "reaction": _clip(manifest, 200),
        "status": clinical
        if clinical in ("active", "inactive", "resolved", "entered-in-error")
        else "active",
        "onset_date": _optional(_date, r.get("onsetDateTime"), "AllergyIntolerance.onsetDateTime"),
    }
    used = {
        "clinicalStatus",
        "verificationStatus",
        "type",
        "category",
        "criticality",
        "code",
        "patient",
        "recordedDate",
        "reaction",
        "onsetDateTime",
    }
    return fields, {}, used


def _immunization(r: dict, refs: Refs) -> tuple[dict, dict, set]:
    cvx = _code_in(r.get("vaccineCode"), CVX_SYSTEM) or _first_code(r.get("vaccineCode"))
    if cvx is None:
        raise Invalid("Immunization.vaccineCode has no coding")
    when = r.get("occurrenceDateTime") or r.get("occurrenceString")
    fields = {
        "vaccine_code": _clip(cvx["code"], 10),
        "vaccine_display": _clip(_text(r.get("vaccineCode")) or cvx.get("display", ""), 200),
        "occurrence": _instant(when, "Immunization.occurrenceDateTime"),
        "status": r.get("status")
        if r.get("status") in ("completed", "not-done", "entered-in-error")
        else "completed",
        "lot_number": _clip(r.get("lotNumber") or "", 40),
        "site": _clip(_text(r.get("site")), 60),
        "route": _clip(_text(r.get("route")), 60),
    }
    out_refs = {
        "encounter": refs.key(r.get("encounter"), "Immunization.encounter", want="Encounter", required=False)
    }
    used = {
        "status",
        "vaccineCode",
        "patient",
        "encounter",
        "occurrenceDateTime",
        "occurrenceString",
        "primarySource",
        "lotNumber",
        "site",
        "route",
    }
    return fields, out_refs, used


def _medication_request(r: dict, refs: Refs) -> tuple[dict, dict, set]:
    concept = r.get("medicationCodeableConcept")
    if concept is None:
        raise Invalid(
            "MedicationRequest.medicationCodeableConcept is required (medicationReference is not supported)"
        )
    rx = _code_in(concept, mapping.RXNORM_SYSTEM)
    name = _text(concept)
    if not name:
        raise Invalid("MedicationRequest.medication has neither a coding nor a text")
    dosage = next((d for d in r.get("dosageInstruction") or [] if isinstance(d, dict)), {})
    fields = {
        "rxcui": _clip(rx["code"], 20) if rx else "",
        "name": _clip(name, 300),
        "dose_text": _clip(mapping.dosage_text_in(dosage), 200),
        "status": mapping.MED_ORDER_STATUS_IN.get(r.get("status"), "active"),
        "authored_at": _optional(_instant, r.get("authoredOn"), "MedicationRequest.authoredOn"),
        "as_needed": bool(dosage.get("asNeededBoolean")),
        "reason_text": _clip(", ".join(_text(c) for c in r.get("reasonCode") or [] if _text(c)), 200),
    }
    fields["started_on"] = fields["authored_at"].date() if fields["authored_at"] else None
    out_refs = {
        "requester": refs.key(
            r.get("requester"), "MedicationRequest.requester", want="Practitioner", required=False
        ),
        "encounter": refs.key(
            r.get("encounter"), "MedicationRequest.encounter", want="Encounter", required=False
        ),
        "reason_condition": refs.key(
            (r.get("reasonReference") or [None])[0],
            "MedicationRequest.reasonReference",
            want="Condition",
            required=False,
        ),
    }
    used = {
        "status",
        "intent",
        "medicationCodeableConcept",
        "subject",
        "encounter",
        "authoredOn",
        "requester",
        "dosageInstruction",
        "reasonCode",
        "reasonReference",
    }
    return fields, out_refs, used


def _observation(r: dict, refs: Refs) -> tuple[dict, dict, set]:
    code = _code_in(r.get("code"), mapping.LOINC_SYSTEM) or _first_code(r.get("code"))
    if code is None:
        raise Invalid("Observation.code has no coding")
    when = r.get("effectiveDateTime") or (r.get("effectivePeriod") or {}).get("start") or r.get("issued")
    category = ""
    for cat in r.get("category") or []:
        c = _first_code(cat)
        if c:
            category = c["code"]
            break
    fields = {
        "category": category or "laboratory",
        "loinc_code": _clip(code["code"], 20),
        "display": _clip(_text(r.get("code")) or code.get("display", ""), 200),
        "status": r.get("status")
        if r.get("status") in ("final", "amended", "preliminary", "entered-in-error", "corrected")
        else "final",
        "effective": _instant(when, "Observation.effective[x]"),
        "issued": _optional(_instant, r.get("issued"), "Observation.issued"),
        "value_quantity": None,
        "value_unit": "",
        "value_text": "",
        "value_code": "",
        "value_system": "",
        "components": [],
    }
    _observation_value(r, fields, "Observation")
    for i, comp in enumerate(r.get("component") or []):
        ccode = _code_in(comp.get("code"), mapping.LOINC_SYSTEM) or _first_code(comp.get("code"))
        if ccode is None:
            raise Invalid(f"Observation.component[{i}].code has no coding")
        part = {
            "code": ccode["code"],
            "value_quantity": None,
            "value_unit": "",
            "value_text": "",
            "value_code": "",
            "value_system": "",
        }
        _observation_value(comp, part, f"Observation.component[{i}]")
        fields["components"].append(part)
    interp = _first_code((r.get("interpretation") or [None])[0])
    fields["interpretation"] = (interp or {}).get("code", "")[:2] if interp else ""
    if fields["interpretation"] not in ("H", "L", "N", "A", "HH", "LL"):
        fields["interpretation"] = ""
    ref = next((x for x in r.get("referenceRange") or [] if isinstance(x, dict)), {})
    fields["reference_low"] = _optional(_decimal, (ref.get("low") or {}).get("value"), "referenceRange.low")
    fields["reference_high"] = _optional(
        _decimal, (ref.get("high") or {}).get("value"), "referenceRange.high"
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
        "valueQuantity",
        "valueCodeableConcept",
        "valueString",
        "component",
        "interpretation",
        "referenceRange",
    }
    return fields, out_refs, used


def _observation_value(src: dict, into: dict, what: str) -> None:
    if "valueQuantity" in src:
        q = src["valueQuantity"] or {}
        if "value" not in q:
            raise Invalid(f"{what}.valueQuantity has no value")
        into["value_quantity"] = _decimal(q["value"], f"{what}.valueQuantity.value")
        into["value_unit"] = _clip(q.get("code") or q.get("unit") or "", 30)
    elif "valueCodeableConcept" in src:
        c = _first_code(src["valueCodeableConcept"])
        into["value_code"] = _clip((c or {}).get("code", ""), 64)
        into["value_system"] = _clip((c or {}).get("system", ""), 100)
        into["value_text"] = _clip(_text(src["valueCodeableConcept"]), 1000)
    elif "valueString" in src:
        into["value_text"] = _clip(str(src["valueString"]), 1000)


PARSERS = {
    "Patient": ("patient", _patient),
    "Practitioner": ("practitioner", _practitioner),
    "Encounter": ("encounter", _encounter),
    "Condition": ("problem", _condition),
    "AllergyIntolerance": ("allergy", _allergy),
    "Immunization": ("immunization", _immunization),
    "MedicationRequest": ("medication_order", _medication_request),
    "Observation": ("observation", _observation),
}
# Where each type names its patient.
SUBJECT = {"AllergyIntolerance": "patient", "Immunization": "patient"}


def parse_bundle(bundle) -> ParsedBundle:
    """Parse a whole bundle or refuse it (BundleRefused with the entry, the resource and the reason)."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise BundleRefused('not a FHIR Bundle (resourceType must be "Bundle")')
    if bundle.get("type") not in ("transaction", "batch", "collection", "searchset", "document"):
        raise BundleRefused(
            f"Bundle.type {bundle.get('type')!r} cannot be imported (transaction, batch, "
            "collection, searchset or document)"
        )
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise BundleRefused("Bundle.entry is not a list")
    refs = Refs()
    seen: set[str] = set()
    for i, e in enumerate(entries):
        r = e.get("resource") if isinstance(e, dict) else None
        if not isinstance(r, dict) or not isinstance(r.get("resourceType"), str):
            raise BundleRefused("the entry has no resource", entry=i)
        rid = r.get("id") or (e.get("fullUrl") or "").removeprefix("urn:uuid:")
        if not rid or not re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", rid):
            raise BundleRefused(
                f"resource id {rid!r} is missing or not a FHIR id", entry=i, resource=r["resourceType"]
            )
        key = f"{r['resourceType']}/{rid}"
        if key in seen:
            raise BundleRefused("the same resource appears twice in the bundle", entry=i, resource=key)
        seen.add(key)
        refs.add(e.get("fullUrl"), key)

    out = ParsedBundle()
    for i, e in enumerate(entries):
        r = e["resource"]
        rtype = r["resourceType"]
        key = f"{rtype}/{r.get('id') or e['fullUrl'].removeprefix('urn:uuid:')}"
        if rtype not in PARSERS:
            out.not_modelled[rtype] += 1
            continue
        kind, parser = PARSERS[rtype]
        try:
            fields, row_refs, used = parser(r, refs)
            patient_key = None
            if rtype not in ("Patient", "Practitioner"):
                subject = r.get(SUBJECT.get(rtype, "subject"))
                patient_key = refs.key(subject, f"{rtype}.{SUBJECT.get(rtype, 'subject')}", want="Patient")
        except Invalid as exc:
            raise BundleRefused(str(exc), entry=i, resource=key) from None
        for element in r.keys() - used - BOOKKEEPING:
            out.dropped_elements[f"{rtype}.{element}"] += 1
        out.add(
            kind,
            Row(
                rtype,
                key,
                key.split("/", 1)[1],
                patient_key,
                fields,
                {k: v for k, v in row_refs.items() if v},
                entry=i,
            ),
        )
    return out
