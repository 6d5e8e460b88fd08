"""PatientAdmin goes through the door: a practice admin sees the patients of their departments (identity only, for
the care team), every list and opened record is recorded, anyone else's patient is a 404, and care-team changes
made there follow the same rules as on the chart."""

import pytest
from django.urls import reverse

from audit.models import AccessEvent
from patients.models import CareTeamMember, Department
from tests.factories import make_patient

pytestmark = pytest.mark.django_db

LIST = reverse("admin:patients_patient_changelist")


def change_url(p):
    return reverse("admin:patients_patient_change", args=[p.pk])


@pytest.fixture
def elsewhere(db):
    """A patient of another department (the practice admin's outsider)."""
    return make_patient(
        given_name="Eli", family_name="Elsewhere", department=Department.objects.create(name="ENT"), ssn=None
    )


def test_a_practice_admin_sees_only_their_departments_patients(
    login, admin_user, patient, other_patient, elsewhere
):
    resp = login(admin_user).get(LIST)
    assert resp.status_code == 200
    shown = [p.pk for p in resp.context["cl"].result_list]
    assert shown == [patient.pk]
    body = resp.content.decode()
    assert patient.mrn in body and other_patient.mrn not in body and elsewhere.mrn not in body
    ev = AccessEvent.objects.get(actor=admin_user, action="list")
    assert ev.patient_ids == [patient.pk] and ev.channel == "admin" and ev.category == "patient list"


def test_opening_a_patient_in_the_admin_is_recorded(login, admin_user, patient):
    resp = login(admin_user).get(change_url(patient))
    assert resp.status_code == 200
    evs = AccessEvent.objects.filter(actor=admin_user, patient_id=patient.pk, outcome="success")
    assert [(e.action, e.category, e.channel) for e in evs] == [("view", "care team", "admin")]
    body = resp.content.decode()
    # Identity and the care team; never contacts, identifiers or clinical data.
    assert patient.mrn in body and "dr.alice" in body
    assert "555-010-2000" not in body and "123-45-6789" not in body and "maria@example.test" not in body


@pytest.mark.parametrize("who", ["other_patient", "elsewhere"])
def test_outsiders_get_404_and_the_attempt_is_recorded(request, login, admin_user, who):
    target = request.getfixturevalue(who)
    resp = login(admin_user).get(change_url(target))
    assert resp.status_code == 404
    assert target.mrn not in resp.content.decode()
    assert AccessEvent.objects.filter(actor=admin_user, patient_id=target.pk, outcome="denied").count() == 1


def test_a_practice_admin_cannot_change_the_record_itself(login, admin_user, patient):
    resp = login(admin_user).get(change_url(patient))
    form = resp.context["adminform"].form
    assert "given_name" not in form.fields  # all read-only for them


def _inline_post(patient, *, add=None, delete=None, existing=()):
    data = {
        "care_team-TOTAL_FORMS": str(len(existing) + 1),
        "care_team-INITIAL_FORMS": str(len(existing)),
        "care_team-MIN_NUM_FORMS": "0",
        "care_team-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    for i, m in enumerate(existing):
        data[f"care_team-{i}-id"] = str(m.pk)
        data[f"care_team-{i}-patient"] = str(patient.pk)
        if delete is not None and m.pk == delete:
            data[f"care_team-{i}-DELETE"] = "on"
    n = len(existing)
    data[f"care_team-{n}-patient"] = str(patient.pk)
    if add is not None:
        data[f"care_team-{n}-user"] = str(add.pk)
        data[f"care_team-{n}-care_role"] = "Covering"
    return data


def test_a_practice_admin_adds_and_removes_care_team_members_through_the_services(
    login, admin_user, patient, colleague, nurse
):
    client = login(admin_user)
    members = list(CareTeamMember.objects.filter(patient=patient).order_by("pk"))
    resp = client.post(change_url(patient), _inline_post(patient, add=colleague, existing=members))
    assert resp.status_code == 302, resp.content.decode()[:2000]
    added = CareTeamMember.objects.get(patient=patient, user=colleague)
    assert added.added_by == admin_user
    assert AccessEvent.objects.filter(
        actor=admin_user, patient_id=patient.pk, detail__added="dr.bob"
    ).exists()
    assert login(colleague).get(reverse("patients:detail", args=[patient.pk])).status_code == 200

    nurse_member = CareTeamMember.objects.get(patient=patient, user=nurse)
    members = list(CareTeamMember.objects.filter(patient=patient).order_by("pk"))
    client = login(admin_user)
    resp = client.post(change_url(patient), _inline_post(patient, delete=nurse_member.pk, existing=members))
    assert resp.status_code == 302
    assert not CareTeamMember.objects.filter(pk=nurse_member.pk).exists()
    assert login(nurse).get(reverse("patients:detail", args=[patient.pk])).status_code == 404


def test_only_practice_admins_open_the_admin(login, front_desk, clinician):
    for user in (front_desk, clinician):
        resp = login(user).get(LIST)
        assert resp.status_code in (302, 403)
