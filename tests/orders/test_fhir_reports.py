"""DiagnosticReport through the FHIR API: reports filed from the lab's ORU (orders.ResultReport) with their
laboratory Observations as `result`, and DiagnosticReports kept as received at import, through the one door."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.fhir import conftest as fhir_fixtures
from tests.fhir.r4 import r4_validate

from .test_hl7 import hl7wire, ident, oru, receive, sign

make_token = fhir_fixtures.make_token
api = fhir_fixtures.api
LAB = "http://terminology.hl7.org/CodeSystem/v2-0074|LAB"


def ids(bundle) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", [])]


@pytest.fixture
def filed(clinician, patient, catalogue, lab, icd10):
    """An order, its final result and then a correction (two reports, the first superseded)."""
    from orders.models import ResultReport

    order = sign(clinician, patient, catalogue["51990-0"], lab)
    assert receive(oru(ident(patient), placer=order.placer_number))[0] == "AA"
    fixed = [hl7wire.ResultRow("2339-0", "Glucose", "145", "NM", "mg/dL", "70-99", "H", "C")]
    assert receive(oru(ident(patient), placer=order.placer_number, status="C", rows=fixed))[0] == "AA"
    final, corrected = ResultReport.objects.order_by("filed_at")
    return order, final, corrected


@pytest.fixture
def kept_report(patient):
    """A DiagnosticReport an import kept as received (the product stored it verbatim)."""
    from fhirapi.models import KeptResource

    return KeptResource.objects.create(
        patient=patient,
        resource_type="DiagnosticReport",
        source="urn:test:sender",
        source_id="dr-1",
        resource={
            "resourceType": "DiagnosticReport",
            "id": "dr-1",
            "status": "final",
            "category": [
                {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB"}]}
            ],
            "code": {"coding": [{"system": "http://loinc.org", "code": "58410-2", "display": "CBC panel"}]},
            "subject": {"reference": "Patient/sent-1"},
            "effectiveDateTime": "2019-03-04T08:00:00-05:00",
            "issued": "2019-03-04T12:00:00-05:00",
        },
        refs={"Patient/sent-1": f"Patient/{patient.pk}"},
    )


def test_a_filed_report_reads_with_its_order_and_observations(api, make_token, clinician, patient, filed):
    from encounters.models import Observation

    order, final, corrected = filed
    token = make_token(clinician, "openid user/*.read")
    body = api(token, f"DiagnosticReport/{final.pk}").json()
    r4_validate(body)
    assert body["status"] == "final"
    assert body["basedOn"] == [{"reference": f"ServiceRequest/{order.pk}"}]
    assert body["subject"] == {"reference": f"Patient/{patient.pk}"}
    assert body["category"][0]["coding"][0]["code"] == "LAB"
    assert body["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "51990-0",
        "display": "Basic metabolic panel",
    }
    assert body["identifier"][0]["value"] == "F1" and body["performer"] == [
        {"display": "Simulated Reference Lab"}
    ]
    assert body["effectiveDateTime"].startswith("2026-12-01")
    assert "us-core-diagnosticreport-lab" in body["meta"]["profile"][0]
    # Its values, the ones the correction struck out included, each readable as an Observation.
    own = {
        f"Observation/{pk}"
        for pk in Observation.objects.filter(report_id=final.pk).values_list("pk", flat=True)
    }
    assert {r["reference"] for r in body["result"]} == own and len(own) == 2
    for ref in own:
        obs = api(token, ref).json()
        assert (
            obs["resourceType"] == "Observation" and obs["category"][0]["coding"][0]["code"] == "laboratory"
        )
    fixed = api(token, f"DiagnosticReport/{corrected.pk}").json()
    assert fixed["status"] == "corrected" and len(fixed["result"]) == 1
    glucose = api(token, fixed["result"][0]["reference"]).json()
    assert glucose["valueQuantity"]["value"] == 145


def test_search_parameters(api, make_token, clinician, patient, filed):
    order, final, corrected = filed
    token = make_token(clinician, "openid user/*.read")

    def found(**params):
        resp = api(token, "DiagnosticReport", patient=patient.pk, **params)
        assert resp.status_code == 200, resp.content
        r4_validate(resp.json())
        return ids(resp.json())

    both = {str(final.pk), str(corrected.pk)}
    assert set(found()) == both
    assert found(status="corrected") == [str(corrected.pk)]
    assert set(found(status="final,corrected")) == both
    assert found(status="registered") == []
    assert set(found(category=LAB)) == both and found(category="RAD") == []
    assert (
        set(found(code="http://loinc.org|51990-0")) == both
        and found(code="http://snomed.info/sct|51990-0") == []
    )
    assert found(_id=str(final.pk)) == [str(final.pk)]
    assert set(found(date="2026-12-01")) == both and found(date="gt2026-12-02") == []
    assert set(found(**{"based-on": f"ServiceRequest/{order.pk}"})) == both
    assert found(**{"based-on": "ServiceRequest/00000000-0000-0000-0000-000000000000"}) == []
    assert found(_sort="-_lastUpdated") == [str(corrected.pk), str(final.pk)]
    # Bad values are refused with a reason, not ignored.
    bad = api(token, "DiagnosticReport", patient=patient.pk, status="done")
    assert bad.status_code == 400 and "status" in bad.json()["issue"][0]["diagnostics"]
    assert api(token, "DiagnosticReport", patient=patient.pk, date="yesterday").status_code == 400
    assert api(token, "DiagnosticReport").status_code == 400  # US Core: patient is required


def test_outsiders_and_scopes(api, make_token, clinician, colleague, patient, other_patient, filed):
    _, final, _ = filed
    outsider = make_token(colleague, "openid user/*.read")
    assert api(outsider, f"DiagnosticReport/{final.pk}").status_code == 404
    assert api(outsider, "DiagnosticReport", patient=patient.pk).json()["total"] == 0
    # A token without the type's scope is refused; a per-type scope is enough.
    only_obs = make_token(clinician, "openid user/Observation.read")
    assert api(only_obs, f"DiagnosticReport/{final.pk}").status_code == 403
    only_dr = make_token(clinician, "openid user/DiagnosticReport.read")
    assert api(only_dr, f"DiagnosticReport/{final.pk}").status_code == 200
    # A patient-context token reaches its launch patient's reports only.
    other = make_token(clinician, "openid launch/patient patient/*.read", patient=other_patient)
    assert api(other, f"DiagnosticReport/{final.pk}").status_code == 404
    mine = make_token(clinician, "openid launch/patient patient/*.read", patient=patient)
    assert api(mine, "DiagnosticReport").json()["total"] == 2


def test_imported_reports_are_still_served_as_received(
    api, make_token, clinician, colleague, patient, filed, kept_report
):
    _, final, corrected = filed
    token = make_token(clinician, "openid user/*.read")
    body = api(token, f"DiagnosticReport/{kept_report.pk}").json()
    assert body["code"]["coding"][0]["code"] == "58410-2"
    assert body["subject"] == {"reference": f"Patient/{patient.pk}"}
    assert body["meta"]["source"] == "urn:test:sender#DiagnosticReport/dr-1"

    def found(**params):
        resp = api(token, "DiagnosticReport", patient=patient.pk, **params)
        assert resp.status_code == 200, resp.content
        return ids(resp.json())

    # Newest first across both tables: the two reports filed now (observed at the same time, so in id order), then
    # the 2019 one.
    newest_first = found()
    assert set(newest_first[:2]) == {str(corrected.pk), str(final.pk)}
    assert newest_first[2:] == [str(kept_report.pk)]
    assert found(code="58410-2") == [str(kept_report.pk)]
    assert found(status="final") == [str(final.pk), str(kept_report.pk)]
    assert found(category=LAB)[-1] == str(kept_report.pk)
    assert found(date="2019-03") == [str(kept_report.pk)]
    assert found(date="lt2020") == [str(kept_report.pk)]
    assert found(_sort="date")[0] == str(kept_report.pk)
    assert (
        api(make_token(colleague, "openid user/*.read"), f"DiagnosticReport/{kept_report.pk}").status_code
        == 404
    )


def test_capability_statement_declares_diagnostic_report(client):
    body = client.get("/fhir/metadata").json()
    [dr] = [r for r in body["rest"][0]["resource"] if r["type"] == "DiagnosticReport"]
    names = {p["name"] for p in dr["searchParam"]}
    assert {"patient", "_id", "status", "category", "code", "date", "based-on", "_lastUpdated"} <= names
    assert {i["code"] for i in dr["interaction"]} == {"read", "search-type"}


def _reports(patient, clinician, n: int):
    from encounters.models import Observation
    from orders.models import ResultReport

    start = datetime(2025, 1, 1, tzinfo=UTC)
    for i in range(n):
        r = ResultReport.objects.create(
            patient=patient,
            ordering_clinician=clinician,
            loinc="51990-0",
            test_name="Basic metabolic panel",
            status="final",
            observed_at=start + timedelta(days=i),
        )
        Observation.objects.bulk_create(
            Observation(
                patient=patient,
                loinc_code=code,
                display=code,
                value_quantity=i,
                effective=r.observed_at,
                report_id=r.pk,
            )
            for code in ("2339-0", "6298-4", "2951-2")
        )


def test_search_queries_do_not_grow_with_reports(api, make_token, clinician, patient):
    token = make_token(clinician, "openid user/*.read")
    counts = []
    for n in (5, 45):  # 5, then 50 reports
        _reports(patient, clinician, n)
        with CaptureQueriesContext(connection) as ctx:
            body = api(token, "DiagnosticReport", patient=patient.pk, _count=100).json()
        assert body["total"] == len(body["entry"]) == (5 if n == 5 else 50)
        assert all(len(e["resource"]["result"]) == 3 for e in body["entry"])
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], counts


def test_everything_includes_filed_and_kept_reports_once(
    api, make_token, clinician, patient, filed, kept_report
):
    token = make_token(clinician, "openid user/*.read")
    bundle = api(token, f"Patient/{patient.pk}/$everything").json()
    reports = [
        e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DiagnosticReport"
    ]
    assert sorted(reports) == sorted([str(filed[1].pk), str(filed[2].pk), str(kept_report.pk)])


def test_service_requests_sort_and_filter_by_last_change(api, make_token, clinician, patient, filed):
    order = filed[0]
    token = make_token(clinician, "openid user/*.read")
    for params in ({"_sort": "-_lastUpdated"}, {"_lastUpdated": "ge2020-01-01"}, {"_sort": "authored"}):
        resp = api(token, "ServiceRequest", patient=patient.pk, **params)
        assert resp.status_code == 200 and ids(resp.json()) == [str(order.pk)], params
    assert api(token, "ServiceRequest", patient=patient.pk, _lastUpdated="lt2020-01-01").json()["total"] == 0
