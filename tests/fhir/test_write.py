"""Writes through the FHIR API: create, update with If-Match, transaction and batch bundles, versions, Provenance,
scopes and the door, bad input, values as sent."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from audit.models import AccessEvent
from encounters.models import Icd10Code, Observation, Problem, VitalSigns
from fhirapi.models import KeptResource, ResourceVersion
from tests.fhir.r4 import r4_validate
from tests.scheduling import fixtures as scheduling_fixtures

FHIR = "application/fhir+json"
appt_type, hours, tomorrow_9 = (
    scheduling_fixtures.appt_type,
    scheduling_fixtures.hours,
    scheduling_fixtures.tomorrow_9,
)


@pytest.fixture
def token(make_token, clinician):
    return make_token(clinician, "user/*.read user/*.write")


@pytest.fixture
def send(client):
    """send(method, token, path, body, **headers) -> response."""

    def _send(method, token, path, body=None, **headers):
        hdrs = {"Authorization": f"Bearer {token}", **headers}
        fn = getattr(client, method.lower())
        if body is None:
            return fn(f"/fhir/{path}", headers=hdrs)
        return fn(f"/fhir/{path}", data=json.dumps(body), content_type=FHIR, headers=hdrs)

    return _send


@pytest.fixture
def icd(db):
    Icd10Code.objects.get_or_create(code="I10", defaults={"description": "Essential (primary) hypertension"})


def lab(patient, value=1.405, unit="mg/dL", **extra):
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "2160-0", "display": "Creatinine"}]},
        "subject": {"reference": f"Patient/{patient.pk}"},
        "effectiveDateTime": "2026-03-01T09:30:00-05:00",
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
        **extra,
    }


def weight(patient, value, code):
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Body weight"}]},
        "subject": {"reference": f"Patient/{patient.pk}"},
        "effectiveDateTime": "2026-03-01T09:30:00-05:00",
        "valueQuantity": {"value": value, "unit": code, "system": "http://unitsofmeasure.org", "code": code},
    }


def condition(patient_ref, code="I10"):
    return {
        "resourceType": "Condition",
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
            ]
        },
        "code": {
            "coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code}],
            "text": "Hypertension",
        },
        "subject": {"reference": patient_ref},
        "onsetDateTime": "2025-01-10",
    }


# ---------------------------------------------------------------------------------------------------- create
def test_create_observation_201_location_version_and_value_as_sent(send, token, patient, clinician):
    resp = send("POST", token, "Observation", lab(patient))
    assert resp.status_code == 201, resp.content
    body = resp.json()
    oid = body["id"]
    assert resp["Location"].endswith(f"/fhir/Observation/{oid}/_history/1")
    assert resp["ETag"] == 'W/"1"'
    assert body["meta"]["versionId"] == "1" and body["meta"]["lastUpdated"]
    assert body["valueQuantity"]["value"] == 1.405 and body["valueQuantity"]["code"] == "mg/dL"
    r4_validate(body)
    row = Observation.objects.get(pk=oid)
    assert row.value_quantity == Decimal("1.405") and row.value_unit == "mg/dL" and row.loinc_code == "2160-0"
    # Read back: the same version, the value as sent.
    read = send("GET", token, f"Observation/{oid}")
    assert read.status_code == 200 and read["ETag"] == 'W/"1"'
    assert read.json()["meta"]["versionId"] == "1" and read.json()["valueQuantity"]["value"] == 1.405
    # The write is audited: one create event on the API channel naming the resource, and the row write itself.
    ev = AccessEvent.objects.filter(patient_id=patient.pk, action="create", channel="api").latest("id")
    assert ev.detail["resource"] == f"Observation/{oid}" and ev.actor_id == clinician.pk


def test_weight_in_ounces_is_refused_never_relabelled_and_pounds_convert(send, token, patient):
    resp = send("POST", token, "Observation", weight(patient, 120, "[oz_av]"))
    assert resp.status_code == 422
    issue = resp.json()["issue"][0]
    assert "[oz_av]" in issue["diagnostics"] and issue["expression"] == ["Observation.valueQuantity"]
    assert not VitalSigns.objects.filter(patient=patient).exists()
    ok = send("POST", token, "Observation", weight(patient, 120, "[lb_av]"))
    assert ok.status_code == 201, ok.content
    vs = VitalSigns.objects.get(patient=patient)
    assert vs.weight_entered == Decimal("120") and vs.weight_unit == "[lb_av]"
    assert vs.weight == (Decimal("120") * Decimal("0.45359237")).quantize(Decimal("0.001"))
    assert ok.json()["id"] == f"{vs.pk}-wt"
    assert ok.json()["valueQuantity"] == {
        "value": 120,
        "unit": "[lb_av]",
        "system": "http://unitsofmeasure.org",
        "code": "[lb_av]",
    }


def test_bad_input_names_the_element_and_saves_nothing(send, token, patient):
    before = Observation.objects.count()
    no_code = lab(patient)
    del no_code["code"]
    resp = send("POST", token, "Observation", no_code)
    assert resp.status_code == 400 and resp.json()["resourceType"] == "OperationOutcome"
    assert resp.json()["issue"][0]["expression"] == ["Observation.code"]
    too_precise = send("POST", token, "Observation", lab(patient, value=1.40512))
    assert too_precise.status_code == 422
    assert too_precise.json()["issue"][0]["expression"] == ["Observation.valueQuantity.value"]
    bad_status = send("POST", token, "Observation", {**lab(patient), "status": "done"})
    assert bad_status.status_code == 400 and bad_status.json()["issue"][0]["expression"] == [
        "Observation.status"
    ]
    not_json = send("POST", token, "Observation", None)
    assert not_json.status_code == 415
    assert Observation.objects.count() == before
    assert (
        not ResourceVersion.objects.exists()
        and not KeptResource.objects.filter(resource_type="Provenance").exists()
    )


def test_condition_needs_icd10_and_keeps_its_codes(send, token, patient, icd):
    resp = send("POST", token, "Condition", condition(f"Patient/{patient.pk}"))
    assert resp.status_code == 201, resp.content
    problem = Problem.objects.get(pk=resp.json()["id"])
    assert problem.code_id == "I10" and str(problem.onset_date) == "2025-01-10"
    snomed = condition(f"Patient/{patient.pk}")
    snomed["code"] = {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}]}
    refused = send("POST", token, "Condition", snomed)
    assert refused.status_code == 422 and refused.json()["issue"][0]["expression"] == ["Condition.code"]


# ---------------------------------------------------------------------------------------------------- update
def test_update_with_if_match_and_412_on_a_stale_version(send, token, patient):
    oid = send("POST", token, "Observation", lab(patient)).json()["id"]
    changed = {**lab(patient, value=1.5), "id": oid}
    ok = send("PUT", token, f"Observation/{oid}", changed, **{"If-Match": 'W/"1"'})
    assert ok.status_code == 200, ok.content
    assert ok["ETag"] == 'W/"2"' and ok.json()["meta"]["versionId"] == "2"
    assert Observation.objects.get(pk=oid).value_quantity == Decimal("1.5")
    stale = send(
        "PUT", token, f"Observation/{oid}", {**changed, "status": "amended"}, **{"If-Match": 'W/"1"'}
    )
    assert stale.status_code == 412 and "version 2" in stale.json()["issue"][0]["diagnostics"]
    assert Observation.objects.get(pk=oid).status == "final"
    without = send("PUT", token, f"Observation/{oid}", {**changed, "status": "amended"})
    assert without.status_code == 200 and without.json()["meta"]["versionId"] == "3"
    # History newest first, and each version as it was served.
    hist = send("GET", token, f"Observation/{oid}/_history")
    assert hist.status_code == 200 and hist.json()["type"] == "history"
    assert [e["resource"]["meta"]["versionId"] for e in hist.json()["entry"]] == ["3", "2", "1"]
    r4_validate(hist.json())
    v1 = send("GET", token, f"Observation/{oid}/_history/1")
    assert v1.status_code == 200 and v1.json()["valueQuantity"]["value"] == 1.405
    assert send("GET", token, f"Observation/{oid}/_history/9").status_code == 404


def test_a_change_in_the_ehr_becomes_a_version_and_stale_if_match_is_refused(send, token, patient):
    oid = send("POST", token, "Observation", lab(patient)).json()["id"]
    Observation.objects.filter(pk=oid).update(status="amended")  # as a screen of the EHR would
    read = send("GET", token, f"Observation/{oid}")
    assert read.json()["meta"]["versionId"] == "2" and read.json()["status"] == "amended"
    assert ResourceVersion.objects.get(resource_id=oid, version=2).method == "ehr"
    stale = send("PUT", token, f"Observation/{oid}", {**lab(patient), "id": oid}, **{"If-Match": 'W/"1"'})
    assert stale.status_code == 412


# ---------------------------------------------------------------------------------------------------- transaction
def transaction_bundle(*entries):
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def post(full_url, resource):
    return {
        "fullUrl": full_url,
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"]},
    }


NEW_PATIENT = {
    "resourceType": "Patient",
    "name": [{"family": "Newman", "given": ["Nora"]}],
    "gender": "female",
    "birthDate": "1990-04-02",
}


def test_transaction_resolves_urn_uuid_references(send, token, icd):
    from patients.models import Patient

    pat = "urn:uuid:11111111-1111-4111-8111-111111111111"
    bundle = transaction_bundle(
        post(
            "urn:uuid:22222222-2222-4222-8222-222222222222", condition(pat)
        ),  # before its patient on purpose
        post(pat, NEW_PATIENT),
    )
    resp = send("POST", token, "", bundle)
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["type"] == "transaction-response"
    assert [e["response"]["status"] for e in body["entry"]] == ["201 Created", "201 Created"]
    patient = Patient.objects.get(family_name="Newman")
    assert body["entry"][1]["response"]["location"] == f"Patient/{patient.pk}/_history/1"
    problem = Problem.objects.get(pk=body["entry"][0]["resource"]["id"])
    assert problem.patient_id == patient.pk
    assert body["entry"][0]["resource"]["subject"]["reference"] == f"Patient/{patient.pk}"


def test_transaction_rolls_back_everything_on_one_bad_entry(send, token, patient, icd):
    from patients.models import Patient

    pat = "urn:uuid:33333333-3333-4333-8333-333333333333"
    bundle = transaction_bundle(
        post(pat, NEW_PATIENT),
        post("urn:uuid:44444444-4444-4444-8444-444444444444", condition(pat)),
        post("urn:uuid:55555555-5555-4555-8555-555555555555", weight(patient, 120, "[oz_av]")),
    )
    resp = send("POST", token, "", bundle)
    assert resp.status_code == 422
    issue = resp.json()["issue"][0]
    assert issue["expression"] == ["Bundle.entry[2].resource.valueQuantity"]
    assert issue["diagnostics"].startswith("Bundle.entry[2]")
    assert not Patient.objects.filter(family_name="Newman").exists()
    assert not Problem.objects.exists() and not VitalSigns.objects.exists()
    assert not ResourceVersion.objects.exists()
    assert not KeptResource.objects.filter(resource_type="Provenance").exists()


def test_batch_answers_each_entry(send, token, patient):
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": lab(patient), "request": {"method": "POST", "url": "Observation"}},
            {
                "resource": weight(patient, 120, "[oz_av]"),
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    resp = send("POST", token, "", bundle)
    assert resp.status_code == 200
    statuses = [e["response"]["status"] for e in resp.json()["entry"]]
    assert statuses == ["201 Created", "422"]
    assert Observation.objects.filter(patient=patient).count() == 1


# ---------------------------------------------------------------------------------------------------- who may write
def test_scopes_v1_and_v2(send, make_token, clinician, patient):
    read_only = make_token(clinician, "user/*.read")
    resp = send("POST", read_only, "Observation", lab(patient))
    assert resp.status_code == 403 and resp.json()["resourceType"] == "OperationOutcome"
    assert "Observation.write" in resp.json()["issue"][0]["diagnostics"]
    create_only = make_token(clinician, "user/Observation.cr")
    created = send("POST", create_only, "Observation", lab(patient))
    assert created.status_code == 201
    oid = created.json()["id"]
    assert send("PUT", create_only, f"Observation/{oid}", {**lab(patient), "id": oid}).status_code == 403
    other_type = make_token(clinician, "user/Condition.write user/*.read")
    assert send("POST", other_type, "Observation", lab(patient)).status_code == 403
    assert Observation.objects.filter(patient=patient).count() == 1


def test_outsider_gets_404_and_a_denied_event(send, token, other_patient):
    resp = send("POST", token, "Observation", lab(other_patient))
    assert resp.status_code == 404 and resp.json()["resourceType"] == "OperationOutcome"
    assert not Observation.objects.filter(patient=other_patient).exists()
    ev = AccessEvent.objects.filter(patient_id=other_patient.pk).latest("id")
    assert (ev.outcome, ev.channel) == ("denied", "api")


def test_front_desk_sees_the_patient_but_may_not_chart_403(send, make_token, front_desk, patient):
    tok = make_token(front_desk, "user/*.read user/*.write")
    resp = send("POST", tok, "Observation", lab(patient))
    assert resp.status_code == 403 and "permission" in resp.json()["issue"][0]["diagnostics"]


def test_system_client_writes_as_its_service_account(send, make_token, clinician, patient):
    from core.actors import SYSTEM

    tok = make_token(None, "system/Observation.cu", app_user=clinician)
    resp = send("POST", tok, "Observation", lab(patient))
    assert resp.status_code == 201, resp.content
    prov = send("GET", tok, f"Provenance?target=Observation/{resp.json()['id']}")
    assert prov.status_code == 403  # no read scope for Provenance
    ev = AccessEvent.objects.filter(patient_id=patient.pk, action="create", channel="api").latest("id")
    assert ev.actor_kind == SYSTEM
    version = ResourceVersion.objects.get(resource_id=resp.json()["id"])
    assert version.actor_kind == SYSTEM and version.client_id


# ---------------------------------------------------------------------------------------------------- Provenance
def test_provenance_is_readable_by_target_and_id(send, token, patient, clinician):
    oid = send("POST", token, "Observation", lab(patient)).json()["id"]
    found = send("GET", token, f"Provenance?target=Observation/{oid}")
    assert found.status_code == 200 and found.json()["total"] == 1
    prov = found.json()["entry"][0]["resource"]
    assert prov["target"] == [{"reference": f"Observation/{oid}/_history/1"}]
    assert prov["agent"][0]["who"]["reference"] == f"Practitioner/{clinician.practitioner.pk}"
    assert prov["activity"]["coding"][0]["code"] == "CREATE"
    r4_validate(prov)
    one = send("GET", token, f"Provenance/{prov['id']}")
    assert one.status_code == 200 and one.json()["target"] == prov["target"]
    assert send("GET", token, "Provenance?target=Observation/nothing-here").json()["total"] == 0


# ---------------------------------------------------------------------------------------------------- other types
def test_medication_request_only_as_a_draft(send, token, patient):
    body = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "197361"}]
        },
        "subject": {"reference": f"Patient/{patient.pk}"},
    }
    resp = send("POST", token, "MedicationRequest", body)
    assert resp.status_code == 422
    assert resp.json()["issue"][0]["expression"] == ["MedicationRequest.status"]
    assert "draft" in resp.json()["issue"][0]["diagnostics"]


def test_document_reference_is_kept_verbatim_and_read_back(send, token, patient):
    doc = {
        "resourceType": "DocumentReference",
        "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": "34133-9"}]},
        "subject": {"reference": f"Patient/{patient.pk}"},
        "content": [{"attachment": {"contentType": "text/plain", "data": "SGVsbG8="}}],
    }
    resp = send("POST", token, "DocumentReference", doc)
    assert resp.status_code == 201, resp.content
    read = send("GET", token, f"DocumentReference/{resp.json()['id']}")
    assert read.status_code == 200 and read.json()["content"] == doc["content"]
    assert read.json()["meta"]["versionId"] == "1"
    assert send("POST", token, "DocumentReference", {**doc, "content": []}).status_code == 400


def test_appointment_books_and_double_booking_is_409(
    send, token, patient, clinician, appt_type, hours, tomorrow_9
):
    body = {
        "resourceType": "Appointment",
        "status": "booked",
        "appointmentType": {"text": "Follow-up"},
        "start": tomorrow_9.isoformat(),
        "end": (tomorrow_9 + timedelta(minutes=20)).isoformat(),
        "participant": [
            {"actor": {"reference": f"Patient/{patient.pk}"}, "status": "accepted"},
            {"actor": {"reference": f"Practitioner/{clinician.practitioner.pk}"}, "status": "accepted"},
        ],
    }
    first = send("POST", token, "Appointment", body)
    assert first.status_code == 201, first.content
    again = send("POST", token, "Appointment", body)
    assert (
        again.status_code == 409 and "already has an appointment" in again.json()["issue"][0]["diagnostics"]
    )
    aid = first.json()["id"]
    cancelled = {**body, "id": aid, "status": "cancelled", "cancelationReason": {"text": "Patient asked"}}
    resp = send("PUT", token, f"Appointment/{aid}", cancelled, **{"If-Match": 'W/"1"'})
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"


def test_conditional_create_finds_the_existing_one(send, token, patient):
    first = send("POST", token, "Patient", NEW_PATIENT)
    assert first.status_code == 201, first.content
    again = send(
        "POST", token, "Patient", NEW_PATIENT, **{"If-None-Exist": "family=Newman&birthdate=1990-04-02"}
    )
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]


def test_capability_statement_declares_the_writes(client):
    cs = client.get("/fhir/metadata").json()
    r4_validate(cs)
    rest = cs["rest"][0]
    assert {i["code"] for i in rest["interaction"]} == {"transaction", "batch"}
    by_type = {r["type"]: r for r in rest["resource"]}
    obs = {i["code"] for i in by_type["Observation"]["interaction"]}
    assert obs == {"read", "search-type", "create", "update", "vread", "history-instance"}
    assert by_type["Observation"]["versioning"] == "versioned-update"
    assert "update" not in {i["code"] for i in by_type["MedicationRequest"]["interaction"]}
    assert {i["code"] for i in by_type["Encounter"]["interaction"]} == {"read", "search-type"}
    assert timezone.now()  # the statement is dated today (views.metadata)


# ---------------------------------------------------------------------------------------------------- more
def test_a_draft_medication_request_is_a_draft_prescription(send, token, patient, clinician):
    from prescriptions.catalog import catalog_import_products
    from prescriptions.models import PatientPharmacy, Pharmacy, Prescription
    from tests.prescriptions.conftest import PRODUCTS

    catalog_import_products(products=PRODUCTS[:5], schedules={})
    body = {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "314076"}]
        },
        "subject": {"reference": f"Patient/{patient.pk}"},
        "dosageInstruction": [
            {
                "route": {"coding": [{"code": "PO"}]},
                "timing": {"code": {"coding": [{"code": "QD"}]}},
                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}],
            }
        ],
        "dispenseRequest": {"quantity": {"value": 30, "unit": "Tablet"}, "numberOfRepeatsAllowed": 2},
    }
    no_pharmacy = send("POST", token, "MedicationRequest", body)
    assert (
        no_pharmacy.status_code == 422
        and "preferred pharmacy" in no_pharmacy.json()["issue"][0]["diagnostics"]
    )
    pharmacy = Pharmacy.objects.create(ncpdp_id="7654321", name="Corner Drugstore", phone="2175550111")
    PatientPharmacy.objects.create(patient=patient, pharmacy=pharmacy)
    resp = send("POST", token, "MedicationRequest", body)
    assert resp.status_code == 201, resp.content
    rx = Prescription.objects.get(pk=resp.json()["id"])
    assert (rx.status, rx.prescriber_id, rx.quantity, rx.refills) == ("draft", clinician.pk, Decimal("30"), 2)
    assert resp.json()["status"] == "draft"


def test_nurse_may_not_write_a_draft_prescription(send, make_token, nurse, patient):
    tok = make_token(nurse, "user/*.read user/*.write")
    body = {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1"}]
        },
        "subject": {"reference": f"Patient/{patient.pk}"},
    }
    assert send("POST", tok, "MedicationRequest", body).status_code == 403


def test_condition_and_allergy_status_updates_go_through_the_services(send, token, patient, icd):
    from encounters.models import Allergy

    cid = send("POST", token, "Condition", condition(f"Patient/{patient.pk}")).json()["id"]
    resolved = {
        **condition(f"Patient/{patient.pk}"),
        "id": cid,
        "clinicalStatus": {"coding": [{"code": "resolved"}]},
        "abatementDateTime": "2026-01-05",
    }
    resp = send("PUT", token, f"Condition/{cid}", resolved, **{"If-Match": 'W/"1"'})
    assert resp.status_code == 200, resp.content
    problem = Problem.objects.get(pk=cid)
    assert (problem.status, str(problem.resolved_date)) == ("resolved", "2026-01-05")
    recoded = {
        **resolved,
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E11.9"}]},
    }
    refused = send("PUT", token, f"Condition/{cid}", recoded)
    assert refused.status_code == 422 and refused.json()["issue"][0]["expression"] == ["Condition.code"]
    allergy = {
        "resourceType": "AllergyIntolerance",
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "category": ["food"],
        "criticality": "high",
        "code": {"text": "Peanut"},
        "patient": {"reference": f"Patient/{patient.pk}"},
    }
    created = send("POST", token, "AllergyIntolerance", allergy)
    assert created.status_code == 201, created.content
    patient.refresh_from_db()
    assert "Peanut" in patient.allergy_summary  # the banner follows, as when the nurse records it
    aid = created.json()["id"]
    inactive = {**allergy, "id": aid, "clinicalStatus": {"coding": [{"code": "inactive"}]}}
    assert send("PUT", token, f"AllergyIntolerance/{aid}", inactive).status_code == 200
    assert Allergy.objects.get(pk=aid).status == "inactive"
    bad = send("POST", token, "AllergyIntolerance", {**allergy, "criticality": "extreme"})
    assert bad.status_code == 400 and bad.json()["issue"][0]["expression"] == [
        "AllergyIntolerance.criticality"
    ]


def test_patient_scope_writes_only_for_the_launch_patient(send, make_token, clinician, patient, more_patient):
    tok = make_token(clinician, "patient/*.read patient/Observation.c", patient=patient)
    assert send("POST", tok, "Observation", lab(patient)).status_code == 201
    assert send("POST", tok, "Observation", lab(more_patient)).status_code == 404
    assert not Observation.objects.filter(patient=more_patient).exists()


@pytest.fixture
def more_patient(patient, clinician):
    from patients.services import care_team_grant
    from tests.factories import make_patient

    p = make_patient(given_name="Second", family_name="Patient", birth_date="1970-01-01")
    care_team_grant(patient=p, user=clinician, care_role="Primary care physician")
    return p


def test_a_refusal_inside_a_transaction_keeps_its_denied_event(send, token, patient, other_patient):
    bundle = transaction_bundle(
        post("urn:uuid:66666666-6666-4666-8666-666666666666", lab(patient)),
        post("urn:uuid:77777777-7777-4777-8777-777777777777", lab(other_patient)),
    )
    resp = send("POST", token, "", bundle)
    assert resp.status_code == 404
    assert not Observation.objects.exists()
    ev = AccessEvent.objects.filter(patient_id=other_patient.pk).latest("id")
    assert (ev.outcome, ev.channel) == ("denied", "api")


def test_patient_update_with_if_match(send, token, patient):
    created = send("POST", token, "Patient", NEW_PATIENT).json()
    renamed = {**NEW_PATIENT, "id": created["id"], "name": [{"family": "Newman-Lee", "given": ["Nora"]}]}
    resp = send("PUT", token, f"Patient/{created['id']}", renamed, **{"If-Match": 'W/"1"'})
    assert resp.status_code == 200 and resp.json()["name"][0]["family"] == "Newman-Lee"
    wrong_id = send("PUT", token, f"Patient/{created['id']}", {**renamed, "id": str(patient.pk)})
    assert wrong_id.status_code == 400 and wrong_id.json()["issue"][0]["expression"] == ["id"]


def test_a_create_runs_the_same_queries_however_many_versions_exist(send, token, patient):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    send("POST", token, "Observation", lab(patient))
    with CaptureQueriesContext(connection) as few:
        send("POST", token, "Observation", lab(patient))
    for _ in range(10):
        oid = send("POST", token, "Observation", lab(patient)).json()["id"]
        send("PUT", token, f"Observation/{oid}", {**lab(patient, value=2), "id": oid})
    with CaptureQueriesContext(connection) as many:
        send("POST", token, "Observation", lab(patient))
    assert len(many) == len(few)
