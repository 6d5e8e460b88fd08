"""The FHIR API: bearer tokens and SMART scopes, Patient/Practitioner read and search, paging, audit."""

from datetime import date

import pytest

from audit.models import AccessEvent
from fhirapi.mapping import MRN_SYSTEM, NPI_SYSTEM
from fhirapi.selectors import KEPT_TYPES
from tests.factories import make_patient


@pytest.fixture
def user_token(make_token, clinician):
    return make_token(clinician, "openid user/*.read")


@pytest.fixture
def more_patients(patient, clinician):
    from patients.services import care_team_grant

    ps = [
        make_patient(given_name="José", family_name="Garcia", birth_date=date(1980, 6, 15), sex_at_birth="M"),
        make_patient(
            given_name="Anna",
            family_name="Smith",
            birth_date=date(1970, 12, 31),
            sex_at_birth="UNK",
            preferred_name="Annie",
        ),
    ]
    for p in ps:
        care_team_grant(patient=p, user=clinician, care_role="Primary care physician")
    return ps


def ids(resp):
    return [e["resource"]["id"] for e in resp.json().get("entry", [])]


# ------------------------------------------------------------------ authorization
def test_metadata_needs_no_token(client):
    resp = client.get("/fhir/metadata")
    assert resp.status_code == 200
    assert resp["Content-Type"].startswith("application/fhir+json")
    body = resp.json()
    assert body["fhirVersion"] == "4.0.1"
    assert [r["type"] for r in body["rest"][0]["resource"]] == [
        "Patient",
        "Practitioner",
        "Encounter",
        "Condition",
        "AllergyIntolerance",
        "Observation",
        "MedicationRequest",
        "MedicationStatement",
        "Appointment",
        "DocumentReference",
        "Immunization",
        "ServiceRequest",
        # Types the product does not model: served as they were received at import.
        *KEPT_TYPES,
        # A Group (a department) only for Bulk Data export.
        "Group",
    ]


def test_no_token_is_401_with_bearer_challenge(api, patient):
    resp = api(None, f"Patient/{patient.pk}")
    assert resp.status_code == 401
    assert resp["WWW-Authenticate"].startswith("Bearer")
    assert resp.json()["resourceType"] == "OperationOutcome"


def test_session_is_not_a_credential(login, clinician, patient):
    resp = login(clinician).get(f"/fhir/Patient/{patient.pk}")
    assert resp.status_code == 401


def test_unknown_and_expired_tokens_are_401(api, make_token, clinician, patient):
    assert api("not-a-token", f"Patient/{patient.pk}").status_code == 401
    expired = make_token(clinician, "user/*.read", expires_in=-10)
    resp = api(expired, f"Patient/{patient.pk}")
    assert resp.status_code == 401
    assert "invalid_token" in resp["WWW-Authenticate"]


def test_wrong_scope_is_403(api, make_token, clinician, patient):
    token = make_token(clinician, "openid user/Observation.read")
    resp = api(token, f"Patient/{patient.pk}")
    assert resp.status_code == 403
    assert resp.json()["issue"][0]["code"] == "forbidden"
    assert api(token, "Patient", name="garcia").status_code == 403


def test_per_resource_scope_is_enough(api, make_token, clinician, patient):
    token = make_token(clinician, "user/Patient.read")
    assert api(token, f"Patient/{patient.pk}").status_code == 200
    assert api(token, "Practitioner").status_code == 403


def test_post_to_a_read_only_type_is_405_and_without_write_scope_403(client, user_token):
    resp = client.post("/fhir/Encounter", {}, headers={"Authorization": f"Bearer {user_token}"})
    assert resp.status_code == 405 and resp["Allow"] == "GET"
    assert resp.json()["resourceType"] == "OperationOutcome"
    # Patient is written through the API (tests/fhir/test_write.py), but not with a read-only token.
    resp = client.post("/fhir/Patient", {}, headers={"Authorization": f"Bearer {user_token}"})
    assert resp.status_code == 403 and resp.json()["resourceType"] == "OperationOutcome"


# ------------------------------------------------------------------ read
def test_read_patient(api, user_token, patient):
    resp = api(user_token, f"Patient/{patient.pk}")
    assert resp.status_code == 200
    body = resp.json()
    assert body["id"] == str(patient.pk)
    assert body["identifier"][0] == {
        "use": "usual",
        "system": MRN_SYSTEM,
        "value": patient.mrn,
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                    "code": "MR",
                    "display": "Medical record number",
                }
            ],
            "text": "MRN",
        },
    }
    assert body["gender"] == "female"
    assert body["birthDate"] == "1970-03-02"
    assert "123-45-6789" not in resp.content.decode()  # the SSN is never output


def test_outsider_patient_is_404_and_denied_event(api, user_token, other_patient):
    resp = api(user_token, f"Patient/{other_patient.pk}")
    assert resp.status_code == 404
    assert resp.json()["resourceType"] == "OperationOutcome"
    ev = AccessEvent.objects.filter(patient_id=other_patient.pk).latest("id")
    assert (ev.outcome, ev.channel) == ("denied", "api")


def test_nonexistent_and_malformed_ids_are_404(api, user_token):
    assert api(user_token, "Patient/00000000-0000-0000-0000-000000000000").status_code == 404
    assert api(user_token, "Patient/nope").status_code == 404


def test_unknown_resource_type_and_path_are_404(api, user_token):
    for path in ("Basic", "Basic/1", "Patient/x/_history", ""):
        resp = api(user_token, path)
        assert resp.status_code == 404, path
        assert resp.json()["resourceType"] == "OperationOutcome"


def test_read_is_audited_with_api_channel(api, user_token, patient, clinician):
    api(user_token, f"Patient/{patient.pk}")
    ev = AccessEvent.objects.filter(patient_id=patient.pk, actor=clinician).latest("id")
    assert (ev.action, ev.outcome, ev.channel) == ("view", "success", "api")


# ------------------------------------------------------------------ patient-context and system tokens
def test_patient_context_token_sees_only_its_patient(api, make_token, clinician, patient, more_patients):
    token = make_token(clinician, "launch/patient patient/*.read", patient=patient)
    assert api(token, f"Patient/{patient.pk}").status_code == 200
    # The clinician may see this patient in the UI, but the token is bound to `patient`.
    resp = api(token, f"Patient/{more_patients[0].pk}")
    assert resp.status_code == 404
    ev = AccessEvent.objects.filter(patient_id=more_patients[0].pk).latest("id")
    assert (ev.outcome, ev.channel) == ("denied", "api")
    assert ids(api(token, "Patient", family="garcia")) == [str(patient.pk)]


def test_patient_scope_without_launch_context_is_403(api, make_token, clinician, patient):
    token = make_token(clinician, "patient/*.read")
    assert api(token, f"Patient/{patient.pk}").status_code == 403


def test_system_token_acts_as_application_user(api, make_token, front_desk, patient, other_patient):
    token = make_token(None, "system/*.read", app_user=front_desk)
    assert api(token, f"Patient/{patient.pk}").status_code == 200
    assert api(token, f"Patient/{other_patient.pk}").status_code == 404
    ev = AccessEvent.objects.filter(patient_id=patient.pk, actor=front_desk).latest("id")
    assert ev.channel == "api"


# ------------------------------------------------------------------ search
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"name": "gar"}, ["José", "Maria"]),
        ({"name": "jose gar"}, ["José"]),
        ({"name": "annie"}, ["Anna"]),
        ({"family": "smi"}, ["Anna"]),
        ({"given": "mar"}, ["Maria"]),
        ({"given": "annie"}, ["Anna"]),
        ({"birthdate": "1970-03-02"}, ["Maria"]),
        ({"birthdate": "1970"}, ["Maria", "Anna"]),
        ({"birthdate": "ge1975"}, ["José"]),
        ({"birthdate": "le1970-03-02"}, ["Maria"]),
        ({"birthdate": "gt1970-03"}, ["José", "Anna"]),
        ({"birthdate": "lt1980-06-15"}, ["Maria", "Anna"]),
        ({"gender": "male"}, ["José"]),
        ({"gender": "unknown"}, ["Anna"]),
        ({"gender": "female,male"}, ["José", "Maria"]),
        ({"name": "garcia", "gender": "female"}, ["Maria"]),
    ],
)
def test_patient_search(api, user_token, patient, more_patients, params, expected):
    resp = api(user_token, "Patient", **params)
    assert resp.status_code == 200
    body = resp.json()
    assert body["type"] == "searchset"
    given = [e["resource"]["name"][0]["given"][0] for e in body.get("entry", [])]
    assert sorted(given) == sorted(expected)
    assert body["total"] == len(expected)


def test_search_by_identifier(api, user_token, patient, more_patients):
    assert ids(api(user_token, "Patient", identifier=patient.mrn)) == [str(patient.pk)]
    assert ids(api(user_token, "Patient", identifier=f"{MRN_SYSTEM}|{patient.mrn}")) == [str(patient.pk)]
    assert ids(api(user_token, "Patient", identifier=f"urn:oid:1.2.3|{patient.mrn}")) == []


def test_search_only_among_visible_patients(api, user_token, patient, other_patient):
    assert ids(api(user_token, "Patient", family="other")) == []
    assert ids(api(user_token, "Patient", identifier=other_patient.mrn)) == []


@pytest.mark.parametrize(
    "params",
    [
        {"birthdate": "yesterday"},
        {"birthdate": "1970-13-01"},
        {"birthdate": "xx1970"},
        {"gender": "f"},
        {"_count": "many"},
        {"_count": "-1"},  # 0 is the total alone (test_search_client.py)
        {"_offset": "-1"},
        {"colour": "blue"},
        {"name:exact": "Maria"},
        {"name": ""},
        {"name": "!!!"},
    ],
)
def test_bad_search_parameters_are_400(api, user_token, patient, params):
    resp = api(user_token, "Patient", **params)
    assert resp.status_code == 400
    issue = resp.json()["issue"][0]
    assert issue["code"] == "invalid"
    assert issue["diagnostics"]


def test_paging_links(api, user_token, client, patient, more_patients):
    resp = api(user_token, "Patient", name="garcia", _count=1)
    body = resp.json()
    assert body["total"] == 2 and len(body["entry"]) == 1
    links = {lk["relation"]: lk["url"] for lk in body["link"]}
    assert "previous" not in links and "next" in links
    second = client.get(links["next"], headers={"Authorization": f"Bearer {user_token}"}).json()
    assert len(second["entry"]) == 1
    assert second["entry"][0]["resource"]["id"] != body["entry"][0]["resource"]["id"]
    links2 = {lk["relation"]: lk["url"] for lk in second["link"]}
    assert "next" not in links2 and "previous" in links2


def test_search_writes_one_list_event_naming_the_patients(api, user_token, clinician, patient, more_patients):
    before = AccessEvent.objects.count()
    resp = api(user_token, "Patient", name="garcia")
    assert AccessEvent.objects.count() == before + 1
    ev = AccessEvent.objects.latest("id")
    assert (ev.action, ev.channel, ev.actor_id) == ("list", "api", clinician.pk)
    assert sorted(str(p) for p in ev.patient_ids) == sorted(ids(resp))
    assert "garcia" not in str(ev.detail).lower()  # parameter names are kept, not the values


def test_search_query_count_does_not_grow(
    api, user_token, patient, more_patients, django_assert_max_num_queries
):
    with django_assert_max_num_queries(8):
        api(user_token, "Patient", birthdate="ge1900")


# ------------------------------------------------------------------ Practitioner
def test_practitioner_read_and_search(api, user_token, clinician, colleague):
    pr = clinician.practitioner
    body = api(user_token, f"Practitioner/{pr.pk}").json()
    assert body["identifier"] == [{"system": NPI_SYSTEM, "value": pr.npi}]
    assert body["name"][0]["family"] == "Able"
    assert ids(api(user_token, "Practitioner", name="bak")) == [str(colleague.practitioner.pk)]
    assert ids(api(user_token, "Practitioner", identifier=f"{NPI_SYSTEM}|{pr.npi}")) == [str(pr.pk)]
    assert ids(api(user_token, "Practitioner", identifier=pr.npi)) == [str(pr.pk)]
    assert api(user_token, "Practitioner/999999").status_code == 404


def test_practitioner_readable_with_patient_scope(api, make_token, clinician, patient):
    token = make_token(clinician, "patient/*.read", patient=patient)
    assert api(token, f"Practitioner/{clinician.practitioner.pk}").status_code == 200


# ------------------------------------------------------------------ clinical resources
def test_clinical_search_needs_patient(api, user_token, chart):
    resp = api(user_token, "Encounter")
    assert resp.status_code == 400
    assert "patient" in resp.json()["issue"][0]["diagnostics"]


def test_encounter_read_and_search(api, user_token, patient, chart, clinician):
    body = api(user_token, f"Encounter/{chart.enc1.pk}").json()
    assert body["status"] == "finished"
    assert body["class"]["code"] == "AMB"
    assert body["period"]["start"].startswith("2024-03-01T09:00")
    assert body["participant"][0]["individual"]["reference"] == f"Practitioner/{clinician.practitioner.pk}"
    assert body["reasonCode"] == [{"text": "Cough"}]
    assert ids(api(user_token, "Encounter", patient=patient.pk)) == [str(chart.enc2.pk), str(chart.enc1.pk)]
    assert ids(api(user_token, "Encounter", patient=f"Patient/{patient.pk}", date="ge2025")) == [
        str(chart.enc2.pk)
    ]
    assert ids(api(user_token, "Encounter", patient=patient.pk, date="2024-03")) == [str(chart.enc1.pk)]
    vr = "http://terminology.hl7.org/CodeSystem/v3-ActCode|VR"
    assert ids(api(user_token, "Encounter", patient=patient.pk, **{"class": vr})) == [str(chart.enc2.pk)]
    assert ids(api(user_token, "Encounter", patient=patient.pk, status="planned")) == []
    assert api(user_token, "Encounter", patient=patient.pk, status="bogus").status_code == 400


def test_clinical_outside_reach_is_404_and_empty(api, user_token, chart, other_patient):
    assert api(user_token, f"Encounter/{chart.other_enc.pk}").status_code == 404
    ev = AccessEvent.objects.filter(patient_id=other_patient.pk).latest("id")
    assert ev.outcome == "denied"
    assert ids(api(user_token, "Encounter", patient=other_patient.pk)) == []
    assert api(user_token, "Encounter/not-a-uuid").status_code == 404
    assert api(user_token, "Observation/00000000-0000-0000-0000-000000000000-bp").status_code == 404


def test_condition_search(api, user_token, patient, chart):
    body = api(user_token, f"Condition/{chart.problem.pk}").json()
    assert body["code"]["coding"][0] == {
        "system": "http://hl7.org/fhir/sid/icd-10-cm",
        "code": "J45.909",
        "display": "Unspecified asthma",
    }
    assert body["clinicalStatus"]["coding"][0]["code"] == "active"
    assert body["onsetDateTime"] == "2010-05-01"
    assert ids(api(user_token, "Condition", patient=patient.pk, **{"clinical-status": "resolved"})) == [
        str(chart.resolved.pk)
    ]
    assert len(ids(api(user_token, "Condition", patient=patient.pk, category="problem-list-item"))) == 2
    assert ids(api(user_token, "Condition", patient=patient.pk, category="health-concern")) == []
    assert (
        len(
            ids(
                api(
                    user_token,
                    "Condition",
                    patient=patient.pk,
                    code="http://hl7.org/fhir/sid/icd-10-cm|J45.909",
                )
            )
        )
        == 2
    )
    assert ids(api(user_token, "Condition", patient=patient.pk, code="http://snomed.info/sct|J45.909")) == []
    assert ids(api(user_token, "Condition", patient=patient.pk, **{"onset-date": "lt2005"})) == [
        str(chart.resolved.pk)
    ]


def test_allergy_read_and_search(api, user_token, patient, chart):
    body = api(user_token, f"AllergyIntolerance/{chart.allergy.pk}").json()
    assert body["criticality"] == "high"
    assert body["code"]["coding"][0]["code"] == "7980"
    assert body["reaction"][0] == {"manifestation": [{"text": "Hives"}], "severity": "severe"}
    assert ids(
        api(user_token, "AllergyIntolerance", patient=patient.pk, **{"clinical-status": "active"})
    ) == [str(chart.allergy.pk)]


def test_observation_vital_signs(api, user_token, patient, chart):
    bp = api(user_token, f"Observation/{chart.vitals.pk}-bp").json()
    assert bp["code"]["coding"][0]["code"] == "85354-9"
    assert [c["code"]["coding"][0]["code"] for c in bp["component"]] == ["8480-6", "8462-4"]
    assert bp["component"][0]["valueQuantity"] == {
        "value": 128,
        "unit": "mm[Hg]",
        "system": "http://unitsofmeasure.org",
        "code": "mm[Hg]",
    }
    assert bp["category"][0]["coding"][0]["code"] == "vital-signs"
    all_obs = api(user_token, "Observation", patient=patient.pk, category="vital-signs").json()
    assert all_obs["total"] == 9  # 8 from the full set (BP as one panel) + 1 heart rate
    hr = api(user_token, "Observation", patient=patient.pk, code="http://loinc.org|8867-4")
    assert [e["resource"]["valueQuantity"]["value"] for e in hr.json()["entry"]] == [80, 71]
    assert ids(api(user_token, "Observation", patient=patient.pk, code="85354-9")) == [
        f"{chart.vitals.pk}-bp"
    ]
    assert ids(api(user_token, "Observation", patient=patient.pk, code="8867-4", date="2024")) == [
        f"{chart.vitals.pk}-hr"
    ]
    assert ids(api(user_token, "Observation", patient=patient.pk, category="laboratory")) == []
    page = api(user_token, "Observation", patient=patient.pk, _count=4, _offset=4).json()
    assert len(page["entry"]) == 4 and page["total"] == 9
    assert {link["relation"] for link in page["link"]} == {"self", "next", "previous"}


def test_medication_request_and_statement(api, user_token, patient, chart):
    body = api(user_token, f"MedicationRequest/{chart.rx.pk}").json()
    assert body["status"] == "active" and body["intent"] == "order"
    assert body["medicationCodeableConcept"]["coding"][0]["code"] == "197361"
    assert body["authoredOn"].startswith("2025-01-10")
    assert ids(api(user_token, "MedicationRequest", patient=patient.pk, status="active")) == [
        str(chart.rx.pk)
    ]
    assert ids(api(user_token, "MedicationRequest", patient=patient.pk, status="completed")) == []
    assert ids(api(user_token, "MedicationRequest", patient=patient.pk, authoredon="lt2000")) == []
    assert ids(api(user_token, "MedicationStatement", patient=patient.pk)) == [str(chart.statement.pk)]


def test_appointment_needs_schedule_permission_only(api, make_token, front_desk, patient, chart):
    token = make_token(front_desk, "user/*.read")
    body = api(token, f"Appointment/{chart.appt.pk}").json()
    assert body["status"] == "booked"
    assert ids(api(token, "Appointment", patient=patient.pk, date="2026-06-01")) == [str(chart.appt.pk)]
    # Front desk sees the schedule but not the clinical record.
    assert api(token, f"Encounter/{chart.enc1.pk}").status_code == 404
    assert ids(api(token, "Encounter", patient=patient.pk)) == []


def test_patient_context_token_implies_patient(api, make_token, clinician, patient, other_patient, chart):
    from patients.services import care_team_grant

    care_team_grant(patient=other_patient, user=clinician, care_role="Primary care physician")
    token = make_token(clinician, "patient/*.read", patient=patient)
    assert len(ids(api(token, "Encounter"))) == 2
    assert ids(api(token, "Encounter", patient=other_patient.pk)) == []
    assert api(token, f"Encounter/{chart.other_enc.pk}").status_code == 404
    # A per-type scope: Encounter yes, Condition no.
    only_enc = make_token(clinician, "patient/Encounter.read", patient=patient)
    assert api(only_enc, "Encounter").status_code == 200
    assert api(only_enc, "Condition").status_code == 403


def test_clinical_search_records_one_event(api, user_token, clinician, patient, chart):
    before = AccessEvent.objects.count()
    api(user_token, "Observation", patient=patient.pk, code="8867-4")
    assert AccessEvent.objects.count() == before + 1
    ev = AccessEvent.objects.latest("id")
    assert ev.action == "list" and ev.category == "vital signs" and ev.channel == "api"
    assert ev.patient_ids == [patient.pk]
    assert ev.detail["params"] == ["code", "patient"]


def test_immunizations_results_and_imported_orders(api, user_token, clinician, patient, chart):
    from datetime import datetime
    from decimal import Decimal

    from django.utils import timezone

    from encounters.models import Immunization, MedicationStatement, Observation
    from tests.fhir.r4 import r4_validate

    tz = timezone.get_current_timezone()
    flu = Immunization.objects.create(
        patient=patient,
        vaccine_code="140",
        vaccine_display="Influenza, seasonal",
        occurrence=datetime(2025, 10, 1, 9, tzinfo=tz),
        lot_number="FL123",
    )
    a1c = Observation.objects.create(
        patient=patient,
        category="laboratory",
        loinc_code="4548-4",
        display="Hemoglobin A1c",
        value_quantity=Decimal("7.2000"),
        value_unit="%",
        reference_low=Decimal("4"),
        reference_high=Decimal("5.6"),
        interpretation="H",
        effective=datetime(2025, 2, 1, 8, tzinfo=tz),
    )
    smoke = Observation.objects.create(
        patient=patient,
        category="survey",
        loinc_code="72166-2",
        display="Tobacco smoking status",
        value_code="266919005",
        value_system="http://snomed.info/sct",
        value_text="Never smoker",
        effective=datetime(2025, 2, 1, 8, tzinfo=tz),
    )
    order = MedicationStatement.objects.create(
        patient=patient,
        name="Loratadine 5 MG Chewable Tablet",
        rxcui="665078",
        source="imported",
        status="stopped",
        authored_at=datetime(2019, 3, 30, 14, tzinfo=tz),
        as_needed=True,
    )

    body = api(user_token, f"Immunization/{flu.pk}").json()
    r4_validate(body)
    assert body["vaccineCode"]["coding"][0] == {
        "system": "http://hl7.org/fhir/sid/cvx",
        "code": "140",
        "display": "Influenza, seasonal",
    }
    assert ids(api(user_token, "Immunization", patient=patient.pk, date="2025")) == [str(flu.pk)]
    assert ids(api(user_token, "Immunization", patient=patient.pk, date="2024")) == []

    lab = api(user_token, f"Observation/{a1c.pk}").json()
    r4_validate(lab)
    assert lab["valueQuantity"]["value"] == 7.2 and lab["interpretation"][0]["coding"][0]["code"] == "H"
    assert lab["referenceRange"][0]["high"]["value"] == 5.6
    assert ids(api(user_token, "Observation", patient=patient.pk, category="laboratory")) == [str(a1c.pk)]
    assert ids(api(user_token, "Observation", patient=patient.pk, code="72166-2")) == [str(smoke.pk)]
    everything = api(user_token, "Observation", patient=patient.pk).json()
    assert everything["total"] == 11  # 9 vital-sign measurements + 2 results, merged newest first
    assert [e["resource"]["effectiveDateTime"] for e in everything["entry"]] == sorted(
        (e["resource"]["effectiveDateTime"] for e in everything["entry"]), reverse=True
    )

    rx_ids = ids(api(user_token, "MedicationRequest", patient=patient.pk))
    assert set(rx_ids) == {str(chart.rx.pk), str(order.pk)}
    imported = api(user_token, f"MedicationRequest/{order.pk}").json()
    r4_validate(imported)
    assert imported["reportedBoolean"] is True and imported["dosageInstruction"][0]["asNeededBoolean"] is True
    assert ids(api(user_token, "MedicationRequest", patient=patient.pk, status="stopped")) == [str(order.pk)]
    # The medication list (MedicationStatement) keeps only what is on the list, not the imported orders.
    assert str(order.pk) not in ids(api(user_token, "MedicationStatement", patient=patient.pk))
