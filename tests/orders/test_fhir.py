"""ServiceRequest through the FHIR API: read and search the orders written here, through the one door."""

from tests.fhir import conftest as fhir_fixtures

from .test_hl7 import sign

make_token = fhir_fixtures.make_token
api = fhir_fixtures.api


def test_service_request_read_and_search(
    api, make_token, clinician, colleague, patient, catalogue, lab, icd10
):
    from tests.fhir.r4 import r4_validate

    order = sign(clinician, patient, catalogue["51990-0"], lab)
    token = make_token(clinician, "openid user/*.read")
    body = api(token, f"ServiceRequest/{order.pk}").json()
    r4_validate(body)
    assert body["status"] == "active" and body["intent"] == "order" and body["priority"] == "stat"
    assert body["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "51990-0",
        "display": "Basic metabolic panel (BMP)",
    }
    assert body["identifier"][0]["value"] == order.placer_number
    assert body["reasonCode"][0]["coding"][0]["code"] == "E11.9"
    assert body["note"] == [{"text": "Is the patient fasting?: Yes"}]
    found = api(token, "ServiceRequest", patient=patient.pk, code="http://loinc.org|51990-0").json()
    assert [e["resource"]["id"] for e in found["entry"]] == [str(order.pk)]
    assert api(token, "ServiceRequest", patient=patient.pk, status="completed").json()["total"] == 0
    # An outsider gets nothing, as for every clinical type.
    outsider = make_token(colleague, "openid user/*.read")
    assert api(outsider, f"ServiceRequest/{order.pk}").status_code == 404
