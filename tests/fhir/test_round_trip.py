"""Synthea bundles imported: the product's own mapping of the rows they became (what the API serves once someone
changes a row here, fhirapi/fidelity.py) keeps every element the product models, compared field by field with the
source: dates, instants and numbers exactly as sent (kept beside the rounding columns, fhirapi/given.py), the
other elements within the chart columns' precision (docs/fhir.md, "Known limits"). The EHI export itself serves the
resources as received (tests/fhir/test_fidelity.py compares them element by element); here every exported resource
is checked against R4."""

import io
import json
import zipfile
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pytest
from django.urls import reverse

from fhirapi.services import bundle_import, import_account
from tests.fhir.r4 import r4_validate

SYNTHEA = Path(__file__).resolve().parents[2] / "data" / "fhir" / "synthea"
BUNDLES = sorted(SYNTHEA.glob("*.json"))


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def code_of(concept: dict, system: str | None = None) -> tuple:
    for c in concept.get("coding", []):
        if system is None or c.get("system") == system:
            return c.get("system"), c.get("code")
    return None, None


def by_type(resources) -> dict[str, list[dict]]:
    out = defaultdict(list)
    for r in resources:
        out[r["resourceType"]].append(r)
    return out


def export(client, patient_id) -> dict[str, list[dict]]:
    resp = client.get(reverse("export:ehi", args=[patient_id]))
    assert resp.status_code == 200
    out = {}
    with zipfile.ZipFile(io.BytesIO(resp.content)) as z:
        for name in z.namelist():
            if name.endswith(".ndjson"):
                out[name.removesuffix(".ndjson")] = [
                    json.loads(line) for line in z.read(name).decode().splitlines()
                ]
    return out


def mapped(user, patient_id) -> dict[str, list[dict]]:
    """The product's own mapping of the patient's rows (without the resources as received)."""
    from fhirapi import mapping, selectors
    from fhirapi.models import KeptResource
    from fhirapi.resources import REGISTRY

    patient, found = selectors.patient_everything(
        actor=user, patient_id=patient_id, request=None, need_clinical=True
    )
    resources = [mapping.patient_to_fhir(patient, with_identifiers=True)]
    for name, rows in found.items():
        resources += [
            r for row in rows if not isinstance(row, KeptResource) for r in REGISTRY[name].expand(row)
        ]
    return by_type(resources)


def same_instant(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is b
    return instant(a) == instant(b)


@pytest.mark.parametrize("path", BUNDLES, ids=[p.name.split("_")[0] for p in BUNDLES])
def test_round_trip_keeps_every_modelled_element(path, login, clinician):
    source = json.loads(path.read_text())
    src = by_type(e["resource"] for e in source["entry"])
    result = bundle_import(actor=import_account(), bundle=source, source="synthea", care_team=[clinician])
    for resources in export(login(clinician), result.patient_ids[0]).values():
        for r in resources:
            r4_validate(r)
    out = mapped(clinician, result.patient_ids[0])
    for resources in out.values():
        for r in resources:
            r4_validate(r)
    practitioners = {f"urn:uuid:{p['id']}": p for p in src["Practitioner"]}

    # ---- Patient
    [sp], [op] = src["Patient"], out["Patient"]
    official = sp["name"][0]
    assert op["name"][0]["family"] == official["family"]
    assert op["name"][0]["given"] == official["given"]
    assert op["birthDate"] == sp["birthDate"]
    assert op["gender"] == sp["gender"]
    assert [
        (a["line"], a["city"], a["state"], a.get("postalCode"), a.get("country")) for a in sp["address"]
    ] == [(a["line"], a["city"], a["state"], a.get("postalCode"), a.get("country")) for a in op["address"]]
    assert [t["value"] for t in sp["telecom"] if t["system"] == "phone"] == [
        t["value"] for t in op["telecom"] if t["system"] == "phone"
    ]
    ext = {e["url"].rsplit("/", 1)[1]: e for e in op["extension"]}
    sext = {e["url"].rsplit("/", 1)[1]: e for e in sp["extension"]}
    for omb in ("us-core-race", "us-core-ethnicity"):
        assert [p["valueCoding"]["code"] for p in ext[omb]["extension"] if p["url"] == "ombCategory"] == [
            p["valueCoding"]["code"] for p in sext[omb]["extension"] if p["url"] == "ombCategory"
        ]
    assert ext["us-core-birthsex"]["valueCode"] == sext["us-core-birthsex"]["valueCode"]
    assert (
        op["communication"][0]["language"]["coding"][0]["code"]
        == sp["communication"][0]["language"]["coding"][0]["code"]
    )
    ids = {i.get("system"): i["value"] for i in op["identifier"]}
    for ident in sp["identifier"]:
        if ident["system"] == "http://hl7.org/fhir/sid/us-ssn":
            assert ids["http://hl7.org/fhir/sid/us-ssn"] == ident["value"]
        if ident["system"].startswith("urn:oid:2.16.840.1.113883.4.3"):
            assert ids["urn:oid:2.16.840.1.113883.4.3"] == ident["value"]
    if "deceasedDateTime" in sp:
        assert op["deceasedDateTime"] == sp["deceasedDateTime"][:10]

    # ---- Encounter (matched on the start instant and the type)
    got = defaultdict(list)
    for e in out["Encounter"]:
        got[(instant(e["period"]["start"]), code_of(e["type"][0], "http://snomed.info/sct"))].append(e)
    assert len(out["Encounter"]) == len(src["Encounter"])
    for se in src["Encounter"]:
        oe = got[(instant(se["period"]["start"]), code_of(se["type"][0]))].pop()
        assert oe["status"] == se["status"]
        assert oe["class"]["code"] == se["class"]["code"]
        assert code_of(oe["type"][0], "http://snomed.info/sct") == code_of(se["type"][0])
        assert oe["type"][0]["text"] == se["type"][0]["text"]
        assert same_instant(oe["period"].get("end"), se["period"].get("end"))
        assert [c["text"] for c in oe.get("reasonCode", [])] == [
            c["coding"][0]["display"] for c in se.get("reasonCode", [])
        ]
        name = practitioners[se["participant"][0]["individual"]["reference"]]["name"][0]
        assert oe["participant"][0]["individual"]["display"] == f"{' '.join(name['given'])} {name['family']}"

    # ---- Condition (matched on code and onset)
    got = defaultdict(list)
    for c in out.get("Condition", []):
        got[(code_of(c["code"]), c.get("onsetDateTime"))].append(c)
    for sc in src["Condition"]:
        oc = got[(code_of(sc["code"]), sc["onsetDateTime"])].pop()  # as sent (fhirapi/given.py)
        assert oc["code"]["coding"][0]["display"] == sc["code"]["coding"][0]["display"]
        assert oc["clinicalStatus"]["coding"][0]["code"] == sc["clinicalStatus"]["coding"][0]["code"]
        assert oc.get("abatementDateTime") == sc.get("abatementDateTime")

    # ---- AllergyIntolerance
    got = {code_of(a["code"]): a for a in out.get("AllergyIntolerance", [])}
    for sa in src.get("AllergyIntolerance", []):
        oa = got[code_of(sa["code"])]
        assert oa["code"]["text"] == sa["code"]["text"]
        assert oa["category"] == sa["category"] and oa.get("criticality") == sa.get("criticality")
        assert oa["clinicalStatus"]["coding"][0]["code"] == sa["clinicalStatus"]["coding"][0]["code"]

    # ---- Immunization
    got = defaultdict(list)
    for i in out.get("Immunization", []):
        got[(code_of(i["vaccineCode"]), instant(i["occurrenceDateTime"]))].append(i)
    for si in src.get("Immunization", []):
        oi = got[(code_of(si["vaccineCode"]), instant(si["occurrenceDateTime"]))].pop()
        assert oi["status"] == si["status"]
        assert oi["vaccineCode"]["coding"][0]["display"] == si["vaccineCode"]["coding"][0]["display"]

    # ---- MedicationRequest (orders written elsewhere)
    got = defaultdict(list)
    for m in out.get("MedicationRequest", []):
        got[(code_of(m["medicationCodeableConcept"]), instant(m["authoredOn"]))].append(m)
    for sm in src.get("MedicationRequest", []):
        om = got[(code_of(sm["medicationCodeableConcept"]), instant(sm["authoredOn"]))].pop()
        assert om["status"] == sm["status"]
        assert om["intent"] == sm["intent"]
        assert om["medicationCodeableConcept"]["text"] == sm["medicationCodeableConcept"]["text"]
        as_needed = any(d.get("asNeededBoolean") for d in sm.get("dosageInstruction", []))
        assert any(d.get("asNeededBoolean") for d in om.get("dosageInstruction", [])) == as_needed

    # ---- Observation: results by (code, time); vital signs by (code, time) with their values
    got = {}
    for o in out.get("Observation", []):
        when = instant(o["effectiveDateTime"])
        for part in o.get("component", [o]):
            if "valueQuantity" in part:
                got[(part["code"]["coding"][0]["code"], when)] = part["valueQuantity"]
            elif "valueCodeableConcept" in part:
                got[(part["code"]["coding"][0]["code"], when)] = part["valueCodeableConcept"]
    for so in src["Observation"]:
        when = instant(so["effectiveDateTime"])
        for part in so.get("component", [so]):
            code = part["code"]["coding"][0]["code"]
            # Oral temperature (8331-1) keeps its code (a result, not the vital-signs column of 8310-5).
            value = got.get((code, when))
            assert value is not None, (code, when)
            if "valueQuantity" in part:
                # The columns round (4 places, 0.1, whole numbers); the number as sent is kept beside them and
                # served while it agrees (fhirapi/given.py): exactly the value sent, of the same JSON type.
                expected = part["valueQuantity"]["value"]
                assert (value["value"], type(value["value"])) == (expected, type(expected)), code
            else:
                assert code_of(value) == code_of(part["valueCodeableConcept"])
