"""`import_fhir`: Synthea bundles in, re-import without duplicates, bad bundles refused whole, the report of what
was not modelled, one audit event per bundle, and who may import."""

import copy
import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command

from audit.models import AccessEvent
from fhirapi.importing import BundleRefused
from fhirapi.services import bundle_import, import_account

SYNTHEA = Path(__file__).resolve().parents[2] / "data" / "fhir" / "synthea"
BUNDLES = sorted(SYNTHEA.glob("*.json"))


def load(name_part: str) -> dict:
    return json.loads(next(p for p in BUNDLES if name_part in p.name).read_text())


def count(bundle: dict, rtype: str) -> int:
    return sum(1 for e in bundle["entry"] if e["resource"]["resourceType"] == rtype)


@pytest.fixture
def importer(db):
    return import_account()


def test_synthea_bundle_lands_in_the_chart(importer, clinician):
    from encounters.models import Allergy, Encounter, Immunization, MedicationStatement, Observation, Problem
    from patients.models import Patient

    bundle = load("Kermit")
    result = bundle_import(actor=importer, bundle=bundle, source="synthea", care_team=[clinician])
    [pid] = result.patient_ids
    p = Patient.objects.get(pk=pid)
    src = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    assert p.family_name == src["name"][0]["family"] and p.given_name == src["name"][0]["given"][0]
    assert str(p.birth_date) == src["birthDate"]
    assert p.ssn and p.ssn == next(i["value"] for i in src["identifier"] if i["system"].endswith("us-ssn"))
    assert Encounter.objects.filter(patient=p).count() == count(bundle, "Encounter")
    assert Problem.objects.filter(patient=p).count() == count(bundle, "Condition")
    assert Allergy.objects.filter(patient=p).count() == count(bundle, "AllergyIntolerance")
    assert Immunization.objects.filter(patient=p).count() == count(bundle, "Immunization")
    assert MedicationStatement.objects.filter(patient=p, source="imported").count() == count(
        bundle, "MedicationRequest"
    )
    # Non-vital observations are results; vital-sign ones are grouped into sets.
    labs = sum(
        1
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"]["category"][0]["coding"][0]["code"] != "vital-signs"
    )
    assert Observation.objects.filter(patient=p).count() == labs
    assert p.vital_signs.exists() and p.vital_signs.filter(systolic__isnull=False).exists()
    # The banner knows about the imported allergies.
    p.refresh_from_db()
    assert p.allergy_status == "has" and p.allergy_summary
    assert result.not_modelled["Claim"] == count(bundle, "Claim")
    assert result.not_modelled["Organization"] == 1
    # Nothing lost: every resource of the bundle is stored, mapped or kept as received.
    from fhirapi.models import KeptResource

    assert result.resources == len(bundle["entry"])
    kept = KeptResource.objects.filter(patient=p)
    assert kept.filter(resource_type="Claim").count() == count(bundle, "Claim")
    assert kept.filter(resource_type="Procedure").count() == count(bundle, "Procedure")
    # The care team given on the command line may open the chart.
    from patients.access import patient_access_for

    assert patient_access_for(clinician, pid).clinical


def test_reimport_updates_without_duplicates(importer):
    from encounters.models import Encounter, Observation, VitalSigns
    from patients.models import Patient

    bundle = load("Liz_Conn")
    first = bundle_import(actor=importer, bundle=bundle, source="synthea")
    counts = (
        Patient.objects.count(),
        Encounter.objects.count(),
        Observation.objects.count(),
        VitalSigns.objects.count(),
    )
    changed = copy.deepcopy(bundle)
    pat = next(e["resource"] for e in changed["entry"] if e["resource"]["resourceType"] == "Patient")
    pat["name"][0]["family"] = "Conn-Smith"
    second = bundle_import(actor=importer, bundle=changed, source="synthea")
    assert second.patient_ids == first.patient_ids
    assert (
        Patient.objects.count(),
        Encounter.objects.count(),
        Observation.objects.count(),
        VitalSigns.objects.count(),
    ) == counts
    assert Patient.objects.get(pk=first.patient_ids[0]).family_name == "Conn-Smith"
    assert second.updated["encounter"] == count(bundle, "Encounter") and not second.created.get("encounter")
    # Another source is another system: its ids do not collide with these.
    third = bundle_import(actor=importer, bundle=bundle, source="elsewhere")
    assert third.patient_ids != first.patient_ids


def test_one_audit_event_per_bundle(importer):
    before = AccessEvent.objects.count()
    result = bundle_import(actor=importer, bundle=load("Buster"), source="synthea", label="Buster.json")
    events = AccessEvent.objects.filter(category="FHIR import")
    assert events.count() == 1
    ev = events.get()
    assert ev.patient_ids == result.patient_ids and ev.actor == importer and ev.channel == "command"
    assert ev.detail["created"]["encounter"] == count(load("Buster"), "Encounter")
    # Patient saves are logged by auditlog as well (their events are the only others).
    assert AccessEvent.objects.count() - before >= 1


def _refused(importer, bundle, *, reason: str, resource: str | None = None):
    from encounters.models import Encounter
    from patients.models import Patient

    before = (Patient.objects.count(), Encounter.objects.count())
    with pytest.raises(BundleRefused) as err:
        bundle_import(actor=importer, bundle=bundle, source="synthea")
    assert reason in err.value.reason
    if resource:
        assert err.value.resource == resource
    assert (Patient.objects.count(), Encounter.objects.count()) == before  # nothing half-imported
    return err.value


def test_bad_bundles_and_bad_patients_are_refused_whole(importer):
    good = load("Lemuel")
    _refused(importer, {"resourceType": "Patient"}, reason="not a FHIR Bundle")
    _refused(importer, {**good, "type": "history"}, reason="cannot be imported")

    # A problem in the Patient itself refuses the bundle; problems in other resources do not
    # (tests/fhir/test_import_partial.py).
    nameless = copy.deepcopy(good)
    pat = next(e for e in nameless["entry"] if e["resource"]["resourceType"] == "Patient")
    del pat["resource"]["name"]
    _refused(
        importer, nameless, reason="Patient.name is required", resource=f"Patient/{pat['resource']['id']}"
    )

    no_patient = copy.deepcopy(good)
    no_patient["entry"] = [e for e in no_patient["entry"] if e["resource"]["resourceType"] != "Patient"]
    _refused(importer, no_patient, reason="no Patient resource")


def test_only_holders_of_the_permission_may_import(clinician, admin_user):
    for user in (clinician, admin_user):
        with pytest.raises(PermissionDenied):
            bundle_import(actor=user, bundle=load("Buster"), source="synthea")


def test_command_reports_and_fails_on_a_refused_bundle(importer, tmp_path, department, clinician):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.json").write_text(json.dumps(load("Willy")))
    (folder / "broken.json").write_text("{ not json")
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="1 bundle"):
        call_command(
            "import_fhir",
            str(folder),
            "--source",
            "synthea",
            "--department",
            department.name,
            "--care-team",
            clinician.username,
            stdout=out,
            stderr=err,
        )
    text = out.getvalue()
    assert "Imported 1 of 2 bundles" in text
    assert "kept as received (types the product does not model): " in text and "Claim" in text
    assert "kept with the resource as received" in text and "Patient.maritalStatus" in text
    assert "REFUSED" in err.getvalue() and "broken.json" in err.getvalue()
    from patients.models import Patient

    assert Patient.objects.filter(department=department).count() == 1


def test_all_shipped_bundles_import(importer):
    for path in BUNDLES:
        result = bundle_import(actor=importer, bundle=json.loads(path.read_text()), source="synthea")
        assert len(result.patient_ids) == 1, path.name
