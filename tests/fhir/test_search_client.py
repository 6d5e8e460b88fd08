"""Search as FHIR clients use it (issue 19): `_count=0` and `_summary=count` (fhirpy's `.count()`), `_elements`,
`subject=` for `patient=`, dateTime values with prefixes, token search across code systems, kept types by patient;
and what is still refused says so (400 with diagnostics)."""

import json
from pathlib import Path

import pytest

SYNTHEA = Path(__file__).resolve().parents[2] / "data" / "fhir" / "synthea"


@pytest.fixture
def token(make_token, clinician):
    return make_token(clinician, "user/*.read")


def test_count_zero_and_summary_count_give_the_total_alone(api, token, chart, patient):
    for params in ({"_count": 0}, {"_summary": "count"}):
        body = api(token, "Encounter", patient=patient.pk, **params).json()
        assert body["total"] == 2 and "entry" not in body, params
        assert [link["relation"] for link in body["link"]] == ["self"]
    assert api(token, "Patient", _summary="count").json()["total"] >= 1
    assert api(token, "Encounter", patient=patient.pk, _summary="text").status_code == 400


def test_elements_subsets_and_marks_it(api, token, chart, patient):
    body = api(token, "Condition", patient=patient.pk, _elements="code,onsetDateTime").json()
    for e in body["entry"]:
        r = e["resource"]
        assert set(r) <= {"resourceType", "id", "meta", "code", "onsetDateTime"} and "code" in r
        assert {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
            "code": "SUBSETTED",
        } in r["meta"]["tag"]
    assert api(token, "Condition", patient=patient.pk, _elements="code;drop").status_code == 400


def test_subject_is_the_patient(api, token, chart, patient, other_patient):
    by_subject = api(token, "Encounter", subject=f"Patient/{patient.pk}").json()
    by_patient = api(token, "Encounter", patient=patient.pk).json()
    assert by_subject["total"] == by_patient["total"] == 2
    assert {e["resource"]["id"] for e in by_subject["entry"]} == {
        e["resource"]["id"] for e in by_patient["entry"]
    }


def test_date_times_with_prefixes(api, token, chart, patient):
    # enc1 starts 2024-03-01 09:00 local time, enc2 2025-01-10 14:00.
    start = chart.enc1.start.isoformat()
    assert api(token, "Encounter", patient=patient.pk, date=start).json()["total"] == 1
    assert api(token, "Encounter", patient=patient.pk, date=f"gt{start}").json()["total"] == 1
    assert api(token, "Encounter", patient=patient.pk, date=f"ge{start}").json()["total"] == 2
    assert api(token, "Encounter", patient=patient.pk, date=f"lt{start}").json()["total"] == 0
    # A dateTime on a date column compares its date.
    assert (
        api(token, "Condition", patient=patient.pk, **{"onset-date": "ge2010-05-01T00:00:00Z"}).json()[
            "total"
        ]
        == 1
    )
    assert api(token, "Encounter", patient=patient.pk, date="2024-03-01T25:00:00Z").status_code == 400


def test_condition_code_across_systems(api, token, db, clinician, chart, patient):
    from fhirapi.services import bundle_import, import_account

    bundle = json.loads(sorted(SYNTHEA.glob("Kermit*.json"))[0].read_text())
    [pid] = bundle_import(
        actor=import_account(), bundle=bundle, source="synthea", care_team=[clinician]
    ).patient_ids
    cond = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Condition")
    coding = cond["code"]["coding"][0]
    for value in (coding["code"], f"{coding['system']}|{coding['code']}"):
        body = api(token, "Condition", patient=pid, code=value).json()
        assert body["total"] >= 1 and all(
            e["resource"]["code"]["coding"][0]["code"] == coding["code"] for e in body["entry"]
        ), value
    assert (
        api(token, "Condition", patient=pid, code=f"http://loinc.org|{coding['code']}").json()["total"] == 0
    )
    # ICD-10-CM still works, with or without its system.
    assert api(token, "Condition", patient=patient.pk, code="J45.909").json()["total"] == 2
    assert (
        api(token, "Condition", patient=patient.pk, code="http://hl7.org/fhir/sid/icd-10-cm|J45.909").json()[
            "total"
        ]
        == 2
    )
    # Kept types are searched by patient too.
    procedures = api(token, "Procedure", patient=pid).json()
    assert procedures["total"] == sum(
        1 for e in bundle["entry"] if e["resource"]["resourceType"] == "Procedure"
    )
    assert api(token, "Procedure", patient=pid, _count=0).json().get("entry") is None


def test_everything_honours_type(api, token, chart, patient):
    body = api(token, f"Patient/{patient.pk}/$everything", _type="Condition,Encounter").json()
    kinds = {e["resource"]["resourceType"] for e in body["entry"]}
    assert kinds == {"Patient", "Condition", "Encounter"}
