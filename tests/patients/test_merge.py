"""Merging duplicates moves everything linked to the duplicate; unmerging puts back exactly what moved."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts import roles
from patients.access import patient_access_for
from patients.models import CareTeamMember, Patient, PatientMerge
from patients.services import care_team_grant, patient_merge, patient_unmerge
from tests.factories import make_patient

pytestmark = pytest.mark.django_db


@pytest.fixture
def duplicate(department, colleague):
    dup = make_patient(given_name="Maria", family_name="Garcia", department=department, ssn=None)
    care_team_grant(patient=dup, user=colleague, care_role="Specialist")
    return dup


def team(p):
    return sorted(CareTeamMember.objects.filter(patient=p).values_list("pk", flat=True))


def test_merge_moves_care_team_and_unmerge_restores_exactly(front_desk, patient, duplicate, colleague, clinician):
    survivor_team, dup_team = team(patient), team(duplicate)
    assert not patient_access_for(colleague, patient.pk).has(roles.VIEW_CLINICAL)

    merge = patient_merge(actor=front_desk, survivor_id=patient.pk, duplicate_id=duplicate.pk, reason="Same ID")
    duplicate.refresh_from_db()
    assert duplicate.merged_into_id == patient.pk
    assert team(patient) == sorted(survivor_team + dup_team) and team(duplicate) == []
    assert merge.moved == {"patients.CareTeamMember.patient": [str(pk) for pk in dup_team]}
    # The duplicate's clinician now treats the survivor.
    assert patient_access_for(colleague, patient.pk).has(roles.VIEW_CLINICAL)

    patient_unmerge(actor=front_desk, merge_id=merge.pk)
    duplicate.refresh_from_db()
    assert duplicate.merged_into_id is None
    assert team(patient) == survivor_team and team(duplicate) == dup_team
    # ... and the access the merge gave is gone again; the duplicate's own access is back.
    assert not patient_access_for(colleague, patient.pk).has(roles.VIEW_CLINICAL)
    assert patient_access_for(colleague, duplicate.pk).has(roles.VIEW_CLINICAL)
    assert patient_access_for(clinician, patient.pk).has(roles.VIEW_CLINICAL)
    assert PatientMerge.objects.get(pk=merge.pk).unmerged_by == front_desk


def test_unmerge_twice_is_refused(front_desk, patient, duplicate):
    merge = patient_merge(actor=front_desk, survivor_id=patient.pk, duplicate_id=duplicate.pk, reason="Same ID")
    patient_unmerge(actor=front_desk, merge_id=merge.pk)
    with pytest.raises(ValidationError):
        patient_unmerge(actor=front_desk, merge_id=merge.pk)


def test_merge_through_the_pages(login, front_desk, patient, duplicate):
    client = login(front_desk)
    assert client.get(reverse("patients:merge", args=[patient.pk])).status_code == 200
    resp = client.post(reverse("patients:merge", args=[patient.pk]), {"duplicate_mrn": duplicate.mrn,
                                                                      "reason": "Same person"})
    assert resp.status_code == 302
    merge = PatientMerge.objects.get()
    resp = client.post(reverse("patients:unmerge", args=[patient.pk, merge.pk]))
    assert resp.status_code == 302
    assert Patient.objects.get(pk=duplicate.pk).merged_into_id is None


@pytest.mark.parametrize(("mrn", "reason", "message"), [
    ("1234", "x", "An MRN is 8 digits."),
    ("00000000", "Same person", "No patient you can see has that MRN."),
])
def test_merge_bad_input(login, front_desk, patient, mrn, reason, message):
    resp = login(front_desk).post(reverse("patients:merge", args=[patient.pk]), {"duplicate_mrn": mrn,
                                                                                 "reason": reason})
    assert resp.status_code == 200 and message in resp.content.decode()
    assert not PatientMerge.objects.exists()


def test_merge_into_itself_is_refused(login, front_desk, patient):
    resp = login(front_desk).post(reverse("patients:merge", args=[patient.pk]), {"duplicate_mrn": patient.mrn,
                                                                                 "reason": "oops"})
    assert resp.status_code == 200 and "two different records" in resp.content.decode()


def test_cannot_merge_a_record_one_cannot_see(login, front_desk, patient, other_patient):
    resp = login(front_desk).post(reverse("patients:merge", args=[patient.pk]),
                                  {"duplicate_mrn": other_patient.mrn, "reason": "Same person"})
    assert resp.status_code == 200 and "No patient you can see" in resp.content.decode()
    other_patient.refresh_from_db()
    assert other_patient.merged_into_id is None


def test_who_may_merge(login, clinician, patient, duplicate):
    # Clinicians have no merge_patient permission (front desk owns identity).
    assert login(clinician).get(reverse("patients:merge", args=[patient.pk])).status_code == 403
