"""Nothing lost, nothing changed (issue 19): every bundle of the repository's Synthea sample is imported, then read
back through the API (Patient/$everything, and each resource by type and id where the API reads that type), and
compared element by element with what was sent.

Allowed, and only these (each is listed in docs/fhir.md, "Lossless normalisations"):
- `id` is ours; `meta` gains our profiles and `meta.source` ("<sending system>#<Type>/<id there>");
- a reference to a resource of the bundle names it by our id ("Type/<our id>"); references outside it stay as sent;
- lists may gain items after the sender's (our MRN after the sender's identifiers);
- the API leaves the SSN and driver's licence out of Patient.identifier (minimum necessary; the EHI export has them,
  test_the_ehi_export_has_everything_received).
Everything else must be equal: zero changed values, zero dropped elements.
"""

import json
from pathlib import Path

import pytest

from fhirapi.services import bundle_import, import_account

SYNTHEA = Path(__file__).resolve().parents[2] / "data" / "fhir" / "synthea"
BUNDLES = sorted(SYNTHEA.glob("*.json"))
SENSITIVE = ("http://hl7.org/fhir/sid/us-ssn", "urn:oid:2.16.840.1.113883.4.3")


def differences(sent, served, path: str, refs: dict) -> list[str]:
    """Where `served` changes or drops something of `sent` (extra elements and trailing list items allowed)."""
    if isinstance(sent, dict):
        if not isinstance(served, dict):
            return [f"{path}: {served!r} is not an object"]
        out = []
        for k, v in sent.items():
            if k == "reference" and isinstance(v, str):
                want = refs.get(v, v)
                if served.get(k) != want:
                    out.append(f"{path}.reference: sent {v!r} (-> {want!r}), served {served.get(k)!r}")
                continue
            if k not in served:
                out.append(f"{path}.{k}: dropped")
                continue
            out += differences(v, served[k], f"{path}.{k}", refs)
        return out
    if isinstance(sent, list):
        if not isinstance(served, list) or len(served) < len(sent):
            return [f"{path}: list {sent!r} served as {served!r}"]
        return [d for i, v in enumerate(sent) for d in differences(v, served[i], f"{path}[{i}]", refs)]
    if type(sent) is not type(served) or sent != served:
        return [f"{path}: sent {sent!r}, served {served!r}"]
    return []


def _normalised(sent: dict) -> dict:
    out = {k: v for k, v in sent.items() if k not in ("id", "meta")}
    if out.get("resourceType") == "Patient":
        out["identifier"] = [
            i for i in out.get("identifier", []) if not str(i.get("system")).startswith(SENSITIVE)
        ]
    return out


@pytest.mark.parametrize("path", BUNDLES, ids=[p.name.split("_")[0] for p in BUNDLES])
def test_every_resource_comes_back_unchanged(path, db, clinician, make_token, api):
    bundle = json.loads(path.read_text())
    result = bundle_import(actor=import_account(), bundle=bundle, source="synthea", care_team=[clinician])
    assert not result.issues, result.issues
    [pid] = result.patient_ids
    token = make_token(clinician, "user/*.read")
    everything = api(token, f"Patient/{pid}/$everything").json()
    served, invented = {}, []
    for e in everything["entry"]:
        res = e["resource"]
        if "source" not in res.get("meta", {}):
            invented.append(f"{res['resourceType']}/{res['id']}")
            continue
        served[res["meta"]["source"].removeprefix("synthea#")] = res
    assert invented == [], "served but never sent: " + ", ".join(invented)
    refs = {}  # reference as sent -> Type/our id
    for e in bundle["entry"]:
        r = e["resource"]
        here = served.get(f"{r['resourceType']}/{r['id']}")
        if here is not None:
            refs[e["fullUrl"]] = refs[f"{r['resourceType']}/{r['id']}"] = f"{r['resourceType']}/{here['id']}"
    problems = []
    for e in bundle["entry"]:
        r = e["resource"]
        key = f"{r['resourceType']}/{r['id']}"
        if key not in served:
            problems.append(f"{key}: not served by $everything")
            continue
        problems += differences(_normalised(r), served[key], key, refs)
        read = api(token, f"{r['resourceType']}/{served[key]['id']}")
        assert read.status_code == 200, key
        problems += differences(_normalised(r), read.json(), f"{key} (read)", refs)
    assert problems == [], "\n".join(problems[:40])
    assert len(served) >= len(bundle["entry"])


def test_a_change_made_here_is_served(db, clinician, make_token, api):
    """The resource as received is served only while nobody has changed its row here."""
    from encounters.models import Problem

    bundle = json.loads(BUNDLES[0].read_text())
    result = bundle_import(actor=import_account(), bundle=bundle, source="synthea", care_team=[clinician])
    problem = Problem.objects.filter(patient_id=result.patient_ids[0]).first()
    token = make_token(clinician, "user/*.read")
    before = api(token, f"Condition/{problem.pk}").json()
    assert before["meta"]["source"].startswith("synthea#Condition/")
    Problem.objects.filter(pk=problem.pk).update(status="resolved")
    after = api(token, f"Condition/{problem.pk}").json()
    assert after["clinicalStatus"]["coding"][0]["code"] == "resolved"
    # What the product does not hold still comes with it.
    assert after["category"] and after["subject"] == {"reference": f"Patient/{problem.patient_id}"}


def test_the_ehi_export_has_everything_received(db, clinician, login):
    """The EHI export carries every received resource (with the SSN the API leaves out) and lists the kept ones
    in summary.html."""
    import io
    import zipfile

    from django.urls import reverse

    bundle = json.loads(BUNDLES[1].read_text())
    result = bundle_import(actor=import_account(), bundle=bundle, source="synthea", care_team=[clinician])
    resp = login(clinician).get(reverse("export:ehi", args=[result.patient_ids[0]]))
    assert resp.status_code == 200
    with zipfile.ZipFile(io.BytesIO(resp.content)) as z:
        lines = {
            n.removesuffix(".ndjson"): z.read(n).decode().splitlines()
            for n in z.namelist()
            if n.endswith("ndjson")
        }
        summary = z.read("summary.html").decode()
    sent = {}
    for e in bundle["entry"]:
        sent[e["resource"]["resourceType"]] = sent.get(e["resource"]["resourceType"], 0) + 1
    for rtype, n in sent.items():
        assert len(lines.get(rtype, [])) == n, rtype
    [patient] = [json.loads(x) for x in lines["Patient"]]
    assert any(i.get("system") == "http://hl7.org/fhir/sid/us-ssn" for i in patient["identifier"])
    assert "Received from other systems" in summary and "ExplanationOfBenefit" in summary


# Elements whose values the chart's columns round (dates, 4 decimal places, vital signs to 0.1 or whole numbers):
# the columns keep the value as sent beside them (fhirapi/given.py), so even the row's own mapping serves them
# unchanged, compared strictly (type and value: 120.0 is not 120, '2019-03' is not '2019-03-01').
STRICT = {
    "Condition": ("onsetDateTime", "abatementDateTime"),
    "AllergyIntolerance": ("onsetDateTime",),
    "Observation": ("effectiveDateTime", "valueQuantity", "referenceRange", "component"),
}


def _strict_part(resource: dict) -> dict:
    """The strictly compared elements, values only (a quantity's value, a component's value)."""
    out = {}
    for name in STRICT.get(resource["resourceType"], ()):
        if name not in resource:
            continue
        value = resource[name]
        if name == "valueQuantity":
            value = value.get("value")
        elif name == "referenceRange":
            value = [{k: (r.get(k) or {}).get("value") for k in ("low", "high") if k in r} for r in value]
        elif name == "component":
            value = [(c.get("valueQuantity") or {}).get("value") for c in value]
        out[name] = value
    return out


@pytest.mark.parametrize("path", BUNDLES, ids=[p.name.split("_")[0] for p in BUNDLES])
def test_the_rows_own_mapping_keeps_the_values_as_sent(path, db, clinician, make_token, api):
    """Every row counts as changed here (its digest no longer matches): the API serves the row's own mapping, and
    dates, instants and numbers still come back exactly as sent."""
    from fhirapi.models import ImportedRecord

    bundle = json.loads(path.read_text())
    result = bundle_import(actor=import_account(), bundle=bundle, source="synthea", care_team=[clinician])
    [pid] = result.patient_ids
    assert ImportedRecord.objects.filter(patient_id=pid).update(row_digest="changed here")
    served_as = {
        (r.resource_type, r.source_id): r.served_id for r in ImportedRecord.objects.filter(patient_id=pid)
    }
    token = make_token(clinician, "user/*.read")
    everything = api(token, f"Patient/{pid}/$everything").json()
    served = {
        (e["resource"]["resourceType"], e["resource"]["id"]): e["resource"] for e in everything["entry"]
    }
    problems, compared = [], 0
    for e in bundle["entry"]:
        r = e["resource"]
        if r["resourceType"] not in STRICT:
            continue
        ours = served[(r["resourceType"], served_as[(r["resourceType"], r["id"])])]
        assert "source" not in ours.get("meta", {}), "served as received, not from the row"
        sent = _strict_part(r)
        problems += differences(sent, _strict_part(ours), f"{r['resourceType']}/{r['id']}", {})
        problems += [
            f"{r['resourceType']}/{r['id']}.{k}: added" for k in _strict_part(ours).keys() - sent.keys()
        ]
        compared += len(sent)
    assert problems == [], "\n".join(problems[:40])
    assert compared > 0
