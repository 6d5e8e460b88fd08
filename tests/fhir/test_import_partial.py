"""Partial import of real-world data (issue 19): a problem in one resource is reported for that resource (an
OperationOutcome issue naming its entry) and that resource is kept as received; the rest of the bundle is imported.
Only the bundle itself or its Patient refuse the whole bundle. Unknown codes are kept as given; contained
resources and conditional references are resolved; values are never changed to fit a column."""

import copy
import json
from pathlib import Path

import pytest

from fhirapi.importing import BundleRefused
from fhirapi.models import KeptResource
from fhirapi.services import bundle_import, import_account

SYNTHEA = Path(__file__).resolve().parents[2] / "data" / "fhir" / "synthea"


def load(name_part: str) -> dict:
    return json.loads(next(p for p in sorted(SYNTHEA.glob("*.json")) if name_part in p.name).read_text())


def first(bundle: dict, rtype: str, pred=lambda r: True) -> dict:
    return next(
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == rtype and pred(e["resource"])
    )


def entry_of(bundle: dict, resource: dict) -> int:
    return next(i for i, e in enumerate(bundle["entry"]) if e["resource"] is resource)


@pytest.fixture
def importer(db):
    return import_account()


def _import(importer, bundle):
    return bundle_import(actor=importer, bundle=bundle, source="synthea")


def _issue_for(result, entry: int) -> dict:
    found = [i for i in result.issues if i["expression"] == [f"Bundle.entry[{entry}].resource"]]
    assert found, result.issues
    return found[0]


def test_encounter_without_period_is_kept_and_reported_the_rest_imported(
    importer, clinician, colleague, make_token, api
):
    from encounters.models import Encounter, Problem

    bundle = load("Lemuel")
    enc = first(bundle, "Encounter")
    del enc["period"]
    result = bundle_import(actor=importer, bundle=bundle, source="synthea", care_team=[clinician])
    issue = _issue_for(result, entry_of(bundle, enc))
    assert "Encounter.period.start is required" in issue["diagnostics"] and issue["severity"] == "warning"
    [pid] = result.patient_ids
    total = sum(1 for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter")
    assert Encounter.objects.filter(patient_id=pid).count() == total - 1
    kept = KeptResource.objects.get(patient_id=pid, resource_type="Encounter")
    assert kept.source_id == enc["id"] and kept.resource == enc  # exactly as received
    # ... and the API serves it by type and id, through the door.
    token = make_token(clinician, "user/*.read")
    served = api(token, f"Encounter/{kept.pk}").json()
    assert served["id"] == str(kept.pk) and served["status"] == enc["status"] and "period" not in served
    assert api(make_token(colleague, "user/*.read"), f"Encounter/{kept.pk}").status_code == 404
    # The rest of the bundle is in the chart.
    assert Problem.objects.filter(patient_id=pid).count() == sum(
        1 for e in bundle["entry"] if e["resource"]["resourceType"] == "Condition"
    )
    assert result.resources == len(bundle["entry"])


def test_bad_date_in_one_condition_does_not_refuse_the_others(importer):
    from encounters.models import Problem

    bundle = load("Willy")
    conds = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Condition"]
    conds[0]["onsetDateTime"] = "last tuesday"
    result = _import(importer, bundle)
    assert "not a FHIR date" in _issue_for(result, entry_of(bundle, conds[0]))["diagnostics"]
    [pid] = result.patient_ids
    assert Problem.objects.filter(patient_id=pid).count() == len(conds) - 1
    assert KeptResource.objects.filter(
        patient_id=pid, resource_type="Condition", source_id=conds[0]["id"]
    ).exists()


def test_unknown_icd10_code_is_kept_as_given(importer):
    from encounters.models import Problem

    bundle = load("Lemuel")
    cond = first(bundle, "Condition")
    cond["code"]["coding"] = [
        {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "Z99.999", "display": "Not a 2026 code"}
    ]
    cond["code"]["text"] = "Not a 2026 code"
    result = _import(importer, bundle)
    assert "Z99.999" in _issue_for(result, entry_of(bundle, cond))["diagnostics"]
    p = Problem.objects.get(patient_id=result.patient_ids[0], description="Not a 2026 code")
    assert p.code_id is None
    assert (p.code_system, p.code_value) == ("http://hl7.org/fhir/sid/icd-10-cm", "Z99.999")


def test_contained_medication_is_resolved(importer):
    from encounters.models import MedicationStatement

    bundle = load("Kermit")
    mr = first(bundle, "MedicationRequest")
    concept = mr.pop("medicationCodeableConcept")
    mr["contained"] = [{"resourceType": "Medication", "id": "med1", "code": concept}]
    mr["medicationReference"] = {"reference": "#med1"}
    result = _import(importer, bundle)
    assert not [i for i in result.issues if f"MedicationRequest/{mr['id']}" in i["diagnostics"]]
    med = MedicationStatement.objects.get(patient_id=result.patient_ids[0], name=concept["text"])
    assert med.rxcui == concept["coding"][0]["code"]


def test_conditional_and_outside_references(importer):
    from encounters.models import Encounter, Problem

    bundle = load("Liz_Conn")
    patient = first(bundle, "Patient")
    ident = next(
        i for i in patient["identifier"] if i.get("system") == "https://github.com/synthetichealth/synthea"
    )
    cond = first(bundle, "Condition")
    cond["subject"] = {"reference": f"Patient?identifier={ident['system']}|{ident['value']}"}
    enc = first(bundle, "Encounter")
    enc["participant"][0]["individual"] = {"reference": "https://elsewhere.example/fhir/Practitioner/77"}
    result = _import(importer, bundle)
    assert not result.issues, result.issues
    [pid] = result.patient_ids
    assert Problem.objects.filter(patient_id=pid, description=cond["code"]["text"]).exists()
    assert Encounter.objects.filter(patient_id=pid).count() == sum(
        1 for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter"
    )


def test_weight_in_ounces_is_never_kilograms(importer):
    from encounters.models import Observation, VitalSigns

    bundle = load("Buster")
    wt = first(bundle, "Observation", lambda r: r["code"]["coding"][0]["code"] == "29463-7")
    wt["valueQuantity"] = {
        "value": 120,
        "unit": "oz",
        "system": "http://unitsofmeasure.org",
        "code": "[oz_av]",
    }
    result = _import(importer, bundle)
    [pid] = result.patient_ids
    assert not VitalSigns.objects.filter(patient_id=pid, weight=120).exists()
    kept = Observation.objects.get(patient_id=pid, loinc_code="29463-7")
    assert kept.value_quantity == 120 and kept.value_unit == "[oz_av]" and kept.category == "vital-signs"


def test_impossible_vital_sign_is_kept_as_sent_not_charted(importer):
    from encounters.models import Observation, VitalSigns

    bundle = load("Lemuel")
    wt = first(bundle, "Observation", lambda r: r["code"]["coding"][0]["code"] == "29463-7")
    wt["valueQuantity"]["value"] = 9000
    result = _import(importer, bundle)
    [pid] = result.patient_ids
    assert not VitalSigns.objects.filter(patient_id=pid, weight__gt=1000).exists()
    assert Observation.objects.get(patient_id=pid, loinc_code="29463-7").value_quantity == 9000


def test_oral_temperature_keeps_its_code_and_no_bmi_is_invented(importer):
    from encounters.models import Observation, VitalSigns

    bundle = load("Willy")
    temp = first(bundle, "Observation", lambda r: r["code"]["coding"][0]["code"] == "8331-1")
    bundle["entry"] = [
        e
        for e in bundle["entry"]
        if e["resource"].get("code", {}).get("coding", [{}])[0].get("code") != "39156-5"
    ]
    result = _import(importer, bundle)
    [pid] = result.patient_ids
    obs = Observation.objects.get(patient_id=pid, loinc_code="8331-1")
    assert obs.value_unit == "Cel"
    assert abs(float(obs.value_quantity) - temp["valueQuantity"]["value"]) < 1e-4  # the column keeps 4 places
    assert not VitalSigns.objects.filter(patient_id=pid, temperature__isnull=False).exists()
    assert not VitalSigns.objects.filter(
        patient_id=pid, bmi__isnull=False
    ).exists()  # none sent, none computed


def test_recorded_dates_are_the_sources(importer):
    from encounters.models import Allergy, Problem

    bundle = load("Kermit")
    result = _import(importer, bundle)
    [pid] = result.patient_ids
    cond = first(bundle, "Condition")
    allergy = first(bundle, "AllergyIntolerance")
    p = Problem.objects.get(patient_id=pid, description=cond["code"]["text"])
    a = Allergy.objects.get(patient_id=pid, substance_text=allergy["code"]["text"])
    assert p.recorded_at == _instant(cond["recordedDate"])
    assert a.recorded_at == _instant(allergy["recordedDate"])


def _instant(value):
    from django.utils.dateparse import parse_datetime

    return parse_datetime(value)


def test_problem_in_the_patient_refuses_the_bundle(importer):
    from patients.models import Patient

    bundle = load("Buster")
    patient = first(bundle, "Patient")
    del patient["birthDate"]
    before = Patient.objects.count()
    with pytest.raises(BundleRefused) as err:
        _import(importer, copy.deepcopy(bundle))
    assert "Patient.birthDate is required" in err.value.reason and err.value.resource.startswith("Patient/")
    assert Patient.objects.count() == before and not KeptResource.objects.exists()


def test_dates_and_numbers_come_back_as_sent_even_from_the_rows(importer, clinician, make_token, api):
    """The columns round (a date, 4 decimal places, 0.1 for a weight); what was sent comes back exactly: a
    dateTime with its offset, a month as a month, 1.405 as 1.405, 120.0 as 120.0 (not 120) -- also once the row
    was changed here (the row's own mapping is served then). Changing the value itself serves the new value."""
    from encounters.models import Observation, Problem, VitalSigns

    bundle = load("Kermit")
    cond = first(bundle, "Condition")
    cond["onsetDateTime"], cond["abatementDateTime"] = "2019-03", "2019-03-04T10:22:00-05:00"
    lab = first(
        bundle,
        "Observation",
        lambda r: "valueQuantity" in r and r["category"][0]["coding"][0]["code"] == "laboratory",
    )
    lab["valueQuantity"]["value"] = 1.405
    lab["referenceRange"] = [{"low": {"value": 0.5}, "high": {"value": 120.0}}]
    weight = first(bundle, "Observation", lambda r: r["code"]["coding"][0]["code"] == "29463-7")
    weight["valueQuantity"]["value"] = 120.0
    result = bundle_import(actor=importer, bundle=bundle, source="synthea", care_team=[clinician])
    [pid] = result.patient_ids
    problem = Problem.objects.get(patient_id=pid, description=cond["code"]["text"], onset_date="2019-03-01")
    result_row = Observation.objects.get(patient_id=pid, value_quantity="1.405")
    vitals = VitalSigns.objects.get(patient_id=pid, weight=120)
    # Changed here, not in these values: the rows' own mapping is served.
    Problem.objects.filter(pk=problem.pk).update(description="Edited here")
    Observation.objects.filter(pk=result_row.pk).update(status="amended")
    VitalSigns.objects.filter(pk=vitals.pk).update(heart_rate=None)
    token = make_token(clinician, "user/*.read")
    c = api(token, f"Condition/{problem.pk}").json()
    assert "source" not in c["meta"] and c["code"]["text"] == "Edited here"
    assert (c["onsetDateTime"], c["abatementDateTime"]) == ("2019-03", "2019-03-04T10:22:00-05:00")
    o = api(token, f"Observation/{result_row.pk}").json()
    assert o["status"] == "amended"
    value, rng = o["valueQuantity"]["value"], o["referenceRange"][0]
    assert (value, rng["low"]["value"], rng["high"]["value"]) == (1.405, 0.5, 120.0)
    assert type(rng["high"]["value"]) is float and o["effectiveDateTime"] == lab["effectiveDateTime"]
    w = api(token, f"Observation/{vitals.pk}-wt").json()
    assert w["valueQuantity"]["value"] == 120.0 and type(w["valueQuantity"]["value"]) is float
    # A value changed here is the column's, whatever was sent.
    Problem.objects.filter(pk=problem.pk).update(onset_date="2019-03-02")
    Observation.objects.filter(pk=result_row.pk).update(value_quantity="1.5")
    c = api(token, f"Condition/{problem.pk}").json()
    assert (c["onsetDateTime"], c["abatementDateTime"]) == ("2019-03-02", "2019-03-04T10:22:00-05:00")
    assert api(token, f"Observation/{result_row.pk}").json()["valueQuantity"]["value"] == 1.5


def test_importing_the_same_bundle_twice_is_idempotent_and_still_served_as_received(
    importer, clinician, make_token, api
):
    """A second import of the bundle updates what the first made (no second row, link or kept resource), takes the
    digests again from the rows it updated, and a value sent differently the second time is the new one."""
    from encounters.models import Problem
    from fhirapi.models import ImportedRecord

    bundle = load("Kermit")
    first_result = bundle_import(actor=importer, bundle=bundle, source="synthea", care_team=[clinician])
    counts = (KeptResource.objects.count(), ImportedRecord.objects.count(), Problem.objects.count())
    again = copy.deepcopy(bundle)
    cond = first(again, "Condition")
    cond["onsetDateTime"] = "2001-07"
    cond.pop("abatementDateTime", None)
    second = bundle_import(actor=importer, bundle=again, source="synthea")
    assert second.patient_ids == first_result.patient_ids and not second.issues
    assert (KeptResource.objects.count(), ImportedRecord.objects.count(), Problem.objects.count()) == counts
    assert not second.created.get("problem") and second.updated["problem"]
    [pid] = second.patient_ids
    token = make_token(clinician, "user/*.read")
    served = api(token, f"Patient/{pid}/$everything").json()["entry"]
    sources = [e["resource"]["meta"].get("source", "") for e in served]
    assert len(served) == len(bundle["entry"]) and all(s.startswith("synthea#") for s in sources)
    rec = ImportedRecord.objects.get(source="synthea", resource_type="Condition", source_id=cond["id"])
    assert rec.row_digest.startswith("2:")
    c = api(token, f"Condition/{rec.served_id}").json()
    assert c["onsetDateTime"] == "2001-07" and "abatementDateTime" not in c
    Problem.objects.filter(pk=rec.target_id).update(description="Edited here")  # the row's own mapping now
    c = api(token, f"Condition/{rec.served_id}").json()
    assert "source" not in c["meta"] and c["onsetDateTime"] == "2001-07"
