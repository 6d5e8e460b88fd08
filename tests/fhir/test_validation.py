"""Everything the API outputs parses with the fhir.resources R4B models (structurally identical to R4 4.0.1 for
Patient, Practitioner, Bundle, CapabilityStatement and OperationOutcome)."""

from datetime import date

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.practitioner import Practitioner

from tests.factories import make_patient

US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"


def test_capability_statement_validates(client):
    CapabilityStatement.model_validate(client.get("/fhir/metadata").json())


def test_full_patient_validates_with_us_core_elements(api, make_token, clinician):
    from patients.services import care_team_grant

    p = make_patient(
        given_name="Ana",
        middle_name="Luisa",
        family_name="Pérez",
        suffix="Jr",
        preferred_name="Lu",
        previous_names=[{"family": "Lopez", "given": "Ana"}],
        sex_at_birth="F",
        gender_identity="33791000087105",
        race=["2106-3", "2028-9", "2131-1"],
        ethnicity="2135-2",
        preferred_language="es",
        deceased_date=date(2020, 1, 5),
        phones=[{"use": "mobile", "value": "555-010-3000"}, {"use": "pager", "value": "555-010-4000"}],
        addresses=[
            {
                "use": "home",
                "line": "1 Main St",
                "city": "Springfield",
                "state": "IL",
                "postal_code": "62701",
                "country": "US",
            }
        ],
    )
    care_team_grant(patient=p, user=clinician, care_role="Primary care physician")
    body = api(make_token(clinician, "user/*.read"), f"Patient/{p.pk}").json()
    Patient.model_validate(body)

    assert [n["use"] for n in body["name"]] == ["official", "usual", "old"]
    assert body["name"][0] == {
        "use": "official",
        "family": "Pérez",
        "given": ["Ana", "Luisa"],
        "suffix": ["Jr"],
    }
    assert body["deceasedDateTime"] == "2020-01-05"
    assert body["communication"][0]["language"]["coding"][0]["code"] == "es"
    assert {t["system"] for t in body["telecom"]} == {"phone", "email"}
    assert body["address"][0]["postalCode"] == "62701"
    ext = {e["url"].removeprefix(US_CORE): e for e in body["extension"]}
    race = ext["us-core-race"]["extension"]
    assert [e["valueCoding"]["code"] for e in race if e["url"] == "ombCategory"] == ["2106-3", "2028-9"]
    assert [e["valueCoding"]["code"] for e in race if e["url"] == "detailed"] == ["2131-1"]
    assert race[-1] == {"url": "text", "valueString": "White, Asian, Other race"}
    assert ext["us-core-ethnicity"]["extension"][0]["valueCoding"]["code"] == "2135-2"
    assert ext["us-core-birthsex"]["valueCode"] == "F"
    assert ext["us-core-genderIdentity"]["valueCodeableConcept"]["coding"][0]["code"] == "33791000087105"
    assert "ssn" not in str(body).lower()


def test_minimal_patient_validates(api, make_token, clinician):
    from patients.services import care_team_grant

    p = make_patient(phones=None, email=None, sex_at_birth="ASKU", preferred_language="", race=["ASKU"])
    care_team_grant(patient=p, user=clinician, care_role="Primary care physician")
    body = api(make_token(clinician, "user/*.read"), f"Patient/{p.pk}").json()
    Patient.model_validate(body)
    assert body["gender"] == "unknown"


def test_bundles_validate(api, make_token, clinician, patient, colleague):
    token = make_token(clinician, "user/*.read")
    Bundle.model_validate(api(token, "Patient", name="garcia").json())
    Bundle.model_validate(api(token, "Patient", name="nobody").json())  # empty searchset
    Bundle.model_validate(api(token, "Practitioner").json())


def test_practitioner_validates(api, make_token, clinician):
    body = api(make_token(clinician, "user/*.read"), f"Practitioner/{clinician.practitioner.pk}").json()
    Practitioner.model_validate(body)


def test_operation_outcomes_validate(api, make_token, clinician, patient, other_patient):
    token = make_token(clinician, "user/*.read")
    for resp in (
        api(None, "Patient"),
        api(make_token(clinician, "user/Observation.read"), "Patient"),
        api(token, f"Patient/{other_patient.pk}"),
        api(token, "Patient", birthdate="soon"),
        api(token, "Encounter"),
    ):
        assert resp.status_code >= 400
        OperationOutcome.model_validate(resp.json())


def test_clinical_resources_validate(api, make_token, clinician, patient, chart):
    from fhir.resources.R4B.allergyintolerance import AllergyIntolerance
    from fhir.resources.R4B.appointment import Appointment
    from fhir.resources.R4B.condition import Condition
    from fhir.resources.R4B.encounter import Encounter
    from fhir.resources.R4B.medicationrequest import MedicationRequest
    from fhir.resources.R4B.medicationstatement import MedicationStatement
    from fhir.resources.R4B.observation import Observation

    token = make_token(clinician, "user/*.read")
    models = {
        "Encounter": Encounter,
        "Condition": Condition,
        "AllergyIntolerance": AllergyIntolerance,
        "Observation": Observation,
        "MedicationRequest": MedicationRequest,
        "MedicationStatement": MedicationStatement,
        "Appointment": Appointment,
    }
    for name, model in models.items():
        bundle = api(token, name, patient=patient.pk, _count=100).json()
        Bundle.model_validate(bundle)
        assert bundle["entry"], name
        for entry in bundle["entry"]:
            model.model_validate(entry["resource"])
