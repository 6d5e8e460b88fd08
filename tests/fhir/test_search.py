"""Search as clients expect it (issue 19): `_sort`, `_include` / `_revinclude`, `_lastUpdated`, token search across
code systems (`code`, `system|code`, `|code`, `system|`), what the CapabilityStatement declares, and bad values
refused with a 400 OperationOutcome naming the parameter."""

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fhirapi.mapping import CVX_SYSTEM, ICD10CM_SYSTEM, LOINC_SYSTEM, RXNORM_SYSTEM
from tests.fhir.r4 import r4_validate

pytestmark = pytest.mark.django_db
SNOMED = "http://snomed.info/sct"


@pytest.fixture
def token(make_token, clinician):
    return make_token(clinician, "user/*.read")


def _ids(body, mode="match"):
    return [e["resource"]["id"] for e in body.get("entry", []) if e["search"]["mode"] == mode]


def _types(body, mode):
    return sorted(
        (e["resource"]["resourceType"], e["resource"]["id"])
        for e in body.get("entry", [])
        if e["search"]["mode"] == mode
    )


def _bad(resp, name):
    assert resp.status_code == 400, resp.content
    body = resp.json()
    assert body["resourceType"] == "OperationOutcome"
    assert name in body["issue"][0]["diagnostics"], body
    return body


def _coded_bundle():
    """A patient with a lab result coded in LOINC and SNOMED CT, a social-history observation coded in SNOMED CT
    alone, and a Provenance naming the patient and the lab result."""
    cat = "http://terminology.hl7.org/CodeSystem/observation-category"
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": "urn:uuid:p-1",
                "resource": {
                    "resourceType": "Patient",
                    "id": "p-1",
                    "name": [{"family": "Coder", "given": ["Cora"]}],
                    "gender": "female",
                    "birthDate": "1970-01-01",
                },
            },
            {
                "fullUrl": "urn:uuid:o-1",
                "resource": {
                    "resourceType": "Observation",
                    "id": "o-1",
                    "status": "final",
                    "category": [{"coding": [{"system": cat, "code": "laboratory"}]}],
                    "code": {
                        "coding": [
                            {"system": LOINC_SYSTEM, "code": "2339-0", "display": "Glucose"},
                            {"system": SNOMED, "code": "33747003", "display": "Glucose measurement"},
                        ]
                    },
                    "subject": {"reference": "urn:uuid:p-1"},
                    "effectiveDateTime": "2024-02-01T08:00:00Z",
                    "valueQuantity": {"value": 95, "unit": "mg/dL"},
                },
            },
            {
                "fullUrl": "urn:uuid:o-2",
                "resource": {
                    "resourceType": "Observation",
                    "id": "o-2",
                    "status": "final",
                    "category": [{"coding": [{"system": cat, "code": "social-history"}]}],
                    "code": {"coding": [{"system": SNOMED, "code": "229819007", "display": "Tobacco use"}]},
                    "subject": {"reference": "urn:uuid:p-1"},
                    "effectiveDateTime": "2024-02-02T08:00:00Z",
                    "valueCodeableConcept": {"text": "Never"},
                },
            },
            {
                "fullUrl": "urn:uuid:prov-1",
                "resource": {
                    "resourceType": "Provenance",
                    "id": "prov-1",
                    "target": [{"reference": "urn:uuid:p-1"}, {"reference": "urn:uuid:o-1"}],
                    "recorded": "2024-02-01T08:00:00Z",
                    "agent": [{"who": {"display": "Test laboratory"}}],
                },
            },
        ],
    }


@pytest.fixture
def coded(db, clinician):
    from fhirapi.services import bundle_import, import_account

    [pid] = bundle_import(
        actor=import_account(), bundle=_coded_bundle(), source="test-lab", care_team=[clinician]
    ).patient_ids
    return pid


# ---------------------------------------------------------------- _sort
def test_sort_by_date_both_ways_and_unknown_field(api, token, chart, patient):
    up = api(token, "Encounter", patient=patient.pk, _sort="date").json()
    down = api(token, "Encounter", patient=patient.pk, _sort="-date").json()
    assert _ids(up) == [str(chart.enc1.pk), str(chart.enc2.pk)]
    assert _ids(down) == [str(chart.enc2.pk), str(chart.enc1.pk)]
    # Patients by birth date: the API answers in that order, not the default (family name).
    from patients.services import care_team_grant
    from tests.factories import make_patient

    younger = make_patient(family_name="Aardvark", birth_date="2001-01-01", department=patient.department)
    care_team_grant(patient=younger, user=chart.enc1.provider, care_role="Primary care physician")
    by_birth = _ids(api(token, "Patient", _sort="-birthdate").json())
    assert by_birth.index(str(younger.pk)) < by_birth.index(str(patient.pk))
    body = _bad(api(token, "Encounter", patient=patient.pk, _sort="reason"), "_sort")
    assert "'reason'" in body["issue"][0]["diagnostics"] and "date" in body["issue"][0]["diagnostics"]
    _bad(api(token, "Encounter", patient=patient.pk, _sort="date,-date"), "_sort")
    _bad(api(token, "Observation", patient=patient.pk, _sort="_id"), "_sort")  # vital-sign ids carry a suffix


def test_sort_merges_two_tables_and_pages_without_overlap(api, token, chart, patient, clinician):
    """MedicationRequest: prescriptions and imported orders, sorted by authoredon across both tables."""
    from encounters.models import MedicationStatement

    tz = timezone.get_current_timezone()
    orders = [
        MedicationStatement.objects.create(
            patient=patient,
            name=f"imported {i}",
            rxcui="313782",
            source="imported",
            status="active",
            authored_at=datetime(2024, 1 + i, 1, 9, tzinfo=tz),
        )
        for i in range(5)
    ]
    body = api(token, "MedicationRequest", patient=patient.pk, _sort="authoredon", _count=100).json()
    authored = [e["resource"]["authoredOn"] for e in body["entry"]]
    assert authored == sorted(authored) and len(authored) == 6
    assert _ids(body)[-1] == str(chart.rx.pk)  # signed 2025-01-10, after every imported order
    whole = _ids(body)
    paged = []
    for offset in range(0, 6, 2):
        page = api(
            token, "MedicationRequest", patient=patient.pk, _sort="authoredon", _count=2, _offset=offset
        ).json()
        paged += _ids(page)
    assert paged == whole
    down = _ids(api(token, "MedicationRequest", patient=patient.pk, _sort="-authoredon", _count=100).json())
    assert down == list(reversed(whole))
    assert str(orders[0].pk) == whole[0]


def test_sort_observations_by_date_across_vitals_and_results(api, token, chart, patient, coded):
    body = api(token, "Observation", patient=patient.pk, _sort="date", _count=100).json()
    dates = [e["resource"]["effectiveDateTime"] for e in body["entry"]]
    assert dates == sorted(dates)
    assert (
        api(token, "Observation", patient=coded, _sort="-date")
        .json()["entry"][0]["resource"]["effectiveDateTime"]
        .startswith("2024-02-02")
    )


# ---------------------------------------------------------------- _lastUpdated
def test_last_updated(api, token, chart, patient):
    from encounters.models import Encounter

    now = timezone.now()
    Encounter.objects.filter(pk=chart.enc1.pk).update(updated_at=now - timedelta(days=10))
    Encounter.objects.filter(pk=chart.enc2.pk).update(updated_at=now - timedelta(hours=1))
    cut = (now - timedelta(days=1)).replace(microsecond=0).isoformat()
    assert _ids(api(token, "Encounter", patient=patient.pk, _lastUpdated=f"ge{cut}").json()) == [
        str(chart.enc2.pk)
    ]
    assert _ids(api(token, "Encounter", patient=patient.pk, _lastUpdated=f"lt{cut}").json()) == [
        str(chart.enc1.pk)
    ]
    # A save renews the time (auto_now): the older encounter is changed now.
    chart.enc1.reason = "Cough, better"
    chart.enc1.save()
    assert api(token, "Encounter", patient=patient.pk, _lastUpdated=f"ge{cut}").json()["total"] == 2
    # Sorted by it, newest first; the patient and the two tables behind Observation too.
    assert _ids(api(token, "Encounter", patient=patient.pk, _sort="-_lastUpdated").json())[0] == str(
        chart.enc1.pk
    )
    assert str(patient.pk) in _ids(api(token, "Patient", _lastUpdated=f"ge{cut}").json())
    # meta.lastUpdated is that time: the order _sort=-_lastUpdated gives, across both tables of Observation.
    from encounters.models import VitalSigns

    VitalSigns.objects.filter(pk=chart.vitals2.pk).update(updated_at=now - timedelta(days=3))
    body = api(token, "Observation", patient=patient.pk, _sort="-_lastUpdated", _count=100).json()
    stamps = [datetime.fromisoformat(e["resource"]["meta"]["lastUpdated"]) for e in body["entry"]]
    assert stamps == sorted(stamps, reverse=True) and stamps[-1] == now - timedelta(days=3)
    read = api(token, f"Encounter/{chart.enc2.pk}").json()
    assert datetime.fromisoformat(read["meta"]["lastUpdated"]) == now - timedelta(hours=1)
    assert api(token, "Observation", patient=patient.pk, _lastUpdated="lt2000").json()["total"] == 0
    # The first set of vitals (8 Observations) is recent; the second was moved 3 days back above.
    assert api(token, "Observation", patient=patient.pk, _lastUpdated=f"ge{cut}").json()["total"] == 8
    _bad(api(token, "Encounter", patient=patient.pk, _lastUpdated="yesterday"), "_lastUpdated")
    _bad(api(token, "Practitioner", _lastUpdated="ge2024"), "_lastUpdated")  # no change time recorded


# ---------------------------------------------------------------- token search across code systems
def _total(api, token, rtype, pid, name, value):
    resp = api(token, rtype, patient=pid, **{name: value})
    assert resp.status_code == 200, (value, resp.content)
    return resp.json()["total"]


def test_observation_code_loinc_and_snomed(api, token, chart, patient, coded):
    hr = lambda v: _total(api, token, "Observation", patient.pk, "code", v)  # noqa: E731
    assert hr("8867-4") == hr(f"{LOINC_SYSTEM}|8867-4") == 2  # heart rate in both sets of vitals
    assert hr("|8867-4") == 0  # a coding without a system: every vital sign has LOINC
    assert hr(f"{SNOMED}|8867-4") == 0
    assert hr(f"{LOINC_SYSTEM}|") == api(token, "Observation", patient=patient.pk).json()["total"]
    lab = lambda v: _total(api, token, "Observation", coded, "code", v)  # noqa: E731
    assert lab("2339-0") == lab(f"{LOINC_SYSTEM}|2339-0") == 1
    assert lab("33747003") == lab(f"{SNOMED}|33747003") == 1  # the SNOMED CT coding as received
    assert lab(f"{LOINC_SYSTEM}|33747003") == 0
    assert lab(f"{SNOMED}|229819007") == 1
    assert lab(f"{SNOMED}|2339-0") == 0
    assert lab(f"{SNOMED}|") == 2
    assert lab("|33747003") == 0
    assert lab(f"{SNOMED}|33747003,{SNOMED}|229819007") == 2  # comma: OR


def test_allergy_immunization_medication_condition_codes(api, token, chart, patient):
    from encounters.models import Allergy, Immunization, MedicationStatement, Problem

    Allergy.objects.create(
        patient=patient,
        substance_text="Peanut",
        substance_system=SNOMED,
        substance_code="91935009",
        category="food",
    )
    Immunization.objects.create(patient=patient, vaccine_code="208", occurrence=timezone.now())
    MedicationStatement.objects.create(
        patient=patient, name="lisinopril 10 MG", rxcui="314076", source="imported", status="active"
    )
    Problem.objects.create(patient=patient, code_system=SNOMED, code_value="44054006", description="Diabetes")

    def total(rtype, name, value):
        return _total(api, token, rtype, patient.pk, name, value)

    rx = "http://www.nlm.nih.gov/research/umls/rxnorm"
    assert rx == RXNORM_SYSTEM
    for rtype, name, system, code in [
        ("AllergyIntolerance", "code", RXNORM_SYSTEM, "7980"),
        ("AllergyIntolerance", "code", SNOMED, "91935009"),
        ("Immunization", "vaccine-code", CVX_SYSTEM, "208"),
        ("MedicationRequest", "code", RXNORM_SYSTEM, "197361"),  # a prescription written here
        ("MedicationRequest", "code", RXNORM_SYSTEM, "314076"),  # an imported order
        ("Condition", "code", SNOMED, "44054006"),
    ]:
        assert total(rtype, name, code) == 1, (rtype, code)
        assert total(rtype, name, f"{system}|{code}") == 1, (rtype, system, code)
        assert total(rtype, name, f"|{code}") == 0, (rtype, code)
        other = LOINC_SYSTEM if system != LOINC_SYSTEM else SNOMED
        assert total(rtype, name, f"{other}|{code}") == 0, (rtype, code)
    assert total("AllergyIntolerance", "code", f"{SNOMED}|") == 1
    assert total("MedicationRequest", "code", f"{RXNORM_SYSTEM}|") == 2
    assert total("Condition", "code", f"{ICD10CM_SYSTEM}|J45.909") == 2
    assert total("Condition", "code", "J45.909,44054006") == 3
    _bad(api(token, "Condition", patient=patient.pk, code="|"), "code")
    _bad(api(token, "Immunization", patient=patient.pk, **{"vaccine-code:text": "flu"}), "vaccine-code")


# ---------------------------------------------------------------- _include / _revinclude
def test_include_requester_patient_and_encounter(api, token, chart, patient, clinician):
    from encounters.models import Problem

    Problem.objects.filter(pk=chart.problem.pk).update(encounter=chart.enc1)
    body = api(
        token,
        "MedicationRequest",
        patient=patient.pk,
        _include=["MedicationRequest:requester", "MedicationRequest:patient"],
    ).json()
    r4_validate(body)
    assert _ids(body) == [str(chart.rx.pk)]
    assert _types(body, "include") == sorted(
        [("Practitioner", str(clinician.practitioner.pk)), ("Patient", str(patient.pk))]
    )
    enc = api(token, "Encounter", patient=patient.pk, _include="Encounter:practitioner").json()
    assert _types(enc, "include") == [("Practitioner", str(clinician.practitioner.pk))]  # once, for both
    cond = api(token, "Condition", patient=patient.pk, _include="Condition:encounter").json()
    assert _types(cond, "include") == [("Encounter", str(chart.enc1.pk))]
    obs = api(token, "Observation", patient=patient.pk, _include="Observation:patient", _count=3).json()
    assert _types(obs, "include") == [("Patient", str(patient.pk))]
    # Prescriptions name their drug by code, not by reference: nothing to include, and no error.
    drug = api(token, "MedicationRequest", patient=patient.pk, _include="MedicationRequest:medication").json()
    assert _ids(drug) == [str(chart.rx.pk)] and _types(drug, "include") == []


def test_include_respects_scopes(api, make_token, clinician, chart, patient):
    token = make_token(clinician, "user/MedicationRequest.read")
    body = api(
        token,
        "MedicationRequest",
        patient=patient.pk,
        _include=["MedicationRequest:patient", "MedicationRequest:requester"],
    ).json()
    assert _ids(body) == [str(chart.rx.pk)]
    assert _types(body, "include") == []


def test_revinclude_provenance(api, token, coded):
    body = api(token, "Patient", _id=coded, _revinclude="Provenance:target").json()
    r4_validate(body)
    [prov] = [e["resource"] for e in body["entry"] if e["search"]["mode"] == "include"]
    assert prov["resourceType"] == "Provenance"
    assert f"Patient/{coded}" in [t["reference"] for t in prov["target"]]
    # The lab result is a target too; the social-history observation is not.
    obs = api(token, "Observation", patient=coded, _revinclude="Provenance:target", _sort="date").json()
    assert [e["search"]["mode"] for e in obs["entry"]] == ["match", "match", "include"]
    assert api(token, "Patient", _id=coded).json().get("entry")[0]["search"]["mode"] == "match"


def test_bad_include_values(api, token, chart, patient):
    _bad(api(token, "MedicationRequest", patient=patient.pk, _include="MedicationRequest:foo"), "_include")
    _bad(api(token, "MedicationRequest", patient=patient.pk, _include="Encounter:patient"), "_include")
    _bad(api(token, "Encounter", patient=patient.pk, _include="Encounter:patient:Practitioner"), "_include")
    _bad(api(token, "Encounter", patient=patient.pk, **{"_include:iterate": "Encounter:patient"}), "_include")
    _bad(api(token, "Encounter", patient=patient.pk, _revinclude="Observation:encounter"), "_revinclude")
    _bad(api(token, "Practitioner", _revinclude="Provenance:target"), "_revinclude")


def test_include_is_not_n_plus_one(api, token, patient, colleague, clinician):
    """The same number of queries for a page of 5 prescriptions as for 50, each with its prescriber and patient."""
    from prescriptions.models import Medication, Prescription

    med = Medication.objects.create(rxcui="197361", name="amlodipine 5 MG Oral Tablet")

    def write(n):
        for i in range(n):
            Prescription.objects.create(
                patient=patient,
                prescriber=clinician if i % 2 else colleague,
                medication=med,
                dose=1,
                dose_unit="tablet",
                frequency="QD",
                sig_text="1 tablet by mouth once daily",
                quantity=30,
                quantity_unit="C48542",
                days_supply=30,
                status="sent",
                prescriber_order_number=f"Q-{n}-{i}",
            )

    params = {
        "patient": patient.pk,
        "_include": ["MedicationRequest:requester", "MedicationRequest:patient"],
        "_count": 100,
    }
    counts = []
    for n in (5, 45):
        write(n)
        with CaptureQueriesContext(connection) as ctx:
            body = api(token, "MedicationRequest", **params).json()
        counts.append(len(ctx.captured_queries))
        assert len(_ids(body)) == (5 if n == 5 else 50)
        assert len(_types(body, "include")) == 3  # two practitioners and the patient
    assert counts[0] == counts[1], counts


# ---------------------------------------------------------------- the CapabilityStatement says exactly this
def test_capability_statement_declares_search_and_operations(client):
    from fhirapi.includes import INCLUDES
    from fhirapi.sorting import sorts_of

    body = client.get("/fhir/metadata").json()
    r4_validate(body)
    rest = body["rest"][0]
    assert rest["operation"] == [
        {"name": "export", "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"}
    ]
    by_type = {r["type"]: r for r in rest["resource"]}
    assert [o["definition"].rsplit("/", 1)[1] for o in by_type["Group"]["operation"]] == ["group-export"]
    assert [o["name"] for o in by_type["Patient"]["operation"]] == ["export", "everything"]
    assert by_type["MedicationRequest"]["searchInclude"] == [
        f"MedicationRequest:{p}" for p in INCLUDES["MedicationRequest"]
    ]
    assert by_type["Patient"]["searchRevInclude"] == ["Provenance:target"]
    assert "searchRevInclude" not in by_type["Practitioner"]
    for rtype, res in by_type.items():
        if rtype == "Group":
            continue
        params = {p["name"]: p for p in res["searchParam"]}
        assert params["_sort"]["documentation"].endswith(", ".join(sorted(sorts_of(rtype)))), rtype
        assert ("_lastUpdated" in params) == (rtype != "Practitioner"), rtype
    obs = {p["name"] for p in by_type["Observation"]["searchParam"]}
    assert {"code", "date", "_lastUpdated", "_sort", "_include", "_revinclude"} <= obs
    assert "code" in {p["name"] for p in by_type["AllergyIntolerance"]["searchParam"]}
    assert "code" in {p["name"] for p in by_type["MedicationRequest"]["searchParam"]}


def test_include_appointment_and_immunization_practitioners(api, token, chart, patient, clinician):
    from encounters.models import Immunization

    shot = Immunization.objects.create(
        patient=patient, vaccine_code="208", occurrence=timezone.now(), performer=clinician
    )
    me = ("Practitioner", str(clinician.practitioner.pk))
    appt = api(token, "Appointment", patient=patient.pk, _include="Appointment:practitioner").json()
    assert _ids(appt) == [str(chart.appt.pk)] and _types(appt, "include") == [me]
    both = api(token, "Appointment", patient=patient.pk, _include="Appointment:actor").json()
    assert _types(both, "include") == sorted([me, ("Patient", str(patient.pk))])
    imm = api(token, "Immunization", patient=patient.pk, _include="Immunization:performer").json()
    assert _ids(imm) == [str(shot.pk)] and _types(imm, "include") == [me]


def test_reimport_and_merge_renew_last_updated(api, token, clinician, coded, patient, chart, front_desk):
    """A re-import (bulk_update) and a patient merge (queryset update) renew the rows' last-change time, so a client
    asking for what changed since (`_lastUpdated`, `_since`) misses nothing."""
    from encounters.models import Encounter, Observation
    from fhirapi.services import bundle_import, import_account
    from patients.services import care_team_grant, patient_merge
    from tests.factories import make_patient

    long_ago = timezone.now() - timedelta(days=30)
    Observation.objects.filter(patient_id=coded).update(updated_at=long_ago)
    cut = (timezone.now() - timedelta(minutes=5)).isoformat()
    assert api(token, "Observation", patient=coded, _lastUpdated=f"ge{cut}").json()["total"] == 0
    bundle_import(actor=import_account(), bundle=_coded_bundle(), source="test-lab", care_team=[clinician])
    assert api(token, "Observation", patient=coded, _lastUpdated=f"ge{cut}").json()["total"] == 2

    duplicate = make_patient(given_name="Dup", family_name="Licate", department=patient.department, ssn=None)
    care_team_grant(patient=duplicate, user=clinician, care_role="PCP")
    moved = Encounter.objects.create(patient=duplicate, provider=clinician, start=long_ago)
    Encounter.objects.all().update(updated_at=long_ago)
    patient_merge(actor=front_desk, survivor_id=patient.pk, duplicate_id=duplicate.pk, reason="Same person")
    changed = api(token, "Encounter", patient=patient.pk, _lastUpdated=f"ge{cut}").json()
    assert _ids(changed) == [str(moved.pk)]
    assert api(token, "Encounter", patient=patient.pk).json()["total"] == 3
