"""The care team grants access: users and groups join through a choice of active staff and teams; removing them
revokes it (their next request is a 404). Who may hand out clinical access: the treating clinician and the practice
admin of the patient's department, never front desk."""

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from accounts.roles import Role
from audit.models import AccessEvent
from patients.models import CareTeamMember
from patients.selectors import care_team_candidates, patient_get_for_care_team
from patients.services import care_team_add, care_team_grant
from tests.factories import UserFactory, chart_changed

pytestmark = pytest.mark.django_db


@pytest.fixture
def cardiology(colleague):
    team = Group.objects.create(name="Cardiology team")
    colleague.groups.add(team)
    return team


@pytest.fixture
def desk2(db):
    return UserFactory(username="desk.dora", first_name="Dora", last_name="Desk", roles=[Role.FRONT_DESK])


def add(client, patient, member, role="Covering"):
    return client.post(
        reverse("patients:care_team_add", args=[patient.pk]), {"member": member, "care_role": role}
    )


def chart(client, patient):
    return client.get(reverse("patients:detail", args=[patient.pk]))


def test_the_add_form_offers_active_staff_and_teams_with_their_roles(
    login, clinician, colleague, desk2, patient, cardiology
):
    UserFactory(username="dr.gone", roles=[Role.CLINICIAN], is_active=False)
    UserFactory(username="privacy.two", roles=[Role.PRIVACY_OFFICER])
    resp = chart(login(clinician), patient)
    choices = dict(resp.context["care_team_form"].fields["member"].choices)
    assert choices[f"user:{colleague.pk}"] == "Bob Baker (dr.bob) — Clinician (prescriber)"
    assert choices[f"user:{desk2.pk}"] == "Dora Desk (desk.dora) — Front desk"
    assert choices[f"group:{cardiology.pk}"].startswith("Cardiology team — team")
    labels = " ".join(choices.values())
    assert "dr.gone" not in labels and "privacy.two" not in labels  # inactive; no care role
    assert "dr.alice" not in labels and "nurse.nina" not in labels  # already on the team
    assert all(name not in labels for name in ("Front desk —", "Clinician —"))  # role groups are not teams
    body = resp.content.decode()
    assert 'data-testid="care-team-add"' in body and "Bob Baker (dr.bob)" in body


def test_front_desk_is_offered_non_clinical_staff_only(
    clinician, colleague, desk2, front_desk, patient, cardiology
):
    access_patient = patient_get_for_care_team(actor=front_desk, patient_id=patient.pk, record=False)
    values = {v for v, _ in care_team_candidates(actor=front_desk, patient=access_patient)}
    # Front-desk staff (themselves included); no clinician, no team (a team gets every permission).
    assert values == {f"user:{desk2.pk}", f"user:{front_desk.pk}"}


def test_adding_a_user_grants_and_removing_revokes(login, client, clinician, colleague, patient):
    resp = add(login(clinician), patient, f"user:{colleague.pk}")
    assert resp.status_code == 302
    member = CareTeamMember.objects.get(patient=patient, user=colleague)
    assert member.care_role == "Covering" and member.added_by == clinician
    assert chart(login(colleague), patient).status_code == 200

    resp = login(clinician).post(reverse("patients:care_team_remove", args=[patient.pk, member.pk]))
    assert resp.status_code == 302
    assert not CareTeamMember.objects.filter(pk=member.pk).exists()
    assert chart(login(colleague), patient).status_code == 404


def test_adding_a_group_grants_its_members_within_their_roles_and_removing_revokes(
    login, clinician, colleague, patient, cardiology, desk2
):
    cardiology.user_set.add(desk2)
    resp = add(login(clinician), patient, f"group:{cardiology.pk}", role="Consulting cardiology")
    assert resp.status_code == 302
    member = CareTeamMember.objects.get(patient=patient, group=cardiology)
    page = chart(login(colleague), patient)
    assert page.status_code == 200 and page.context["patient"].access.clinical
    desk_view = chart(login(desk2), patient)
    assert (
        desk_view.status_code == 200 and not desk_view.context["patient"].access.clinical
    )  # roles still bound
    assert "Cardiology team (team)" in chart(login(clinician), patient).content.decode()

    resp = login(clinician).post(reverse("patients:care_team_remove", args=[patient.pk, member.pk]))
    assert resp.status_code == 302
    assert chart(login(colleague), patient).status_code == 404
    assert chart(login(desk2), patient).status_code == 404


def test_front_desk_cannot_grant_clinical_access(login, front_desk, colleague, patient, cardiology):
    client = login(front_desk)
    for member in (f"user:{colleague.pk}", f"group:{cardiology.pk}"):
        assert add(client, patient, member).status_code == 403
    assert not CareTeamMember.objects.filter(patient=patient, user=colleague).exists()
    assert not CareTeamMember.objects.filter(patient=patient, group=cardiology).exists()
    denied = AccessEvent.objects.filter(
        actor=front_desk, outcome="denied", category="care team", patient_id=patient.pk
    )
    assert denied.count() == 2
    assert chart(login(colleague), patient).status_code == 404


def test_front_desk_manages_non_clinical_members(login, front_desk, desk2, patient, nurse):
    client = login(front_desk)
    assert add(client, patient, f"user:{desk2.pk}", role="Scheduler").status_code == 302
    member = CareTeamMember.objects.get(patient=patient, user=desk2)
    nurse_member = CareTeamMember.objects.get(patient=patient, user=nurse)
    # The page offers removal of the front-desk member only.
    team = {m.pk: m.removable for m in chart(client, patient).context["care_team"]}
    assert team[member.pk] is True and team[nurse_member.pk] is False
    assert (
        client.post(reverse("patients:care_team_remove", args=[patient.pk, nurse_member.pk])).status_code
        == 403
    )
    assert client.post(reverse("patients:care_team_remove", args=[patient.pk, member.pk])).status_code == 302
    assert CareTeamMember.objects.filter(pk=nurse_member.pk).exists()


def test_a_practice_admin_of_the_department_may_add_clinicians(admin_user, colleague, patient, other_patient):
    member = care_team_add(actor=admin_user, patient_id=patient.pk, user=colleague, care_role="Covering")
    assert member.added_by == admin_user
    from django.http import Http404

    with pytest.raises(Http404):  # not their department
        care_team_add(actor=admin_user, patient_id=other_patient.pk, user=colleague, care_role="Covering")


def test_a_nurse_on_the_team_cannot_add_a_clinician(nurse, colleague, patient):
    with pytest.raises(PermissionDenied):
        care_team_add(actor=nurse, patient_id=patient.pk, user=colleague, care_role="Covering")


@pytest.mark.parametrize("member", ["user:999999", "group:999999", "admin:1", "user:abc", ""])
def test_a_tampered_or_unknown_member_is_refused_with_a_message(login, clinician, patient, member):
    before = CareTeamMember.objects.count()
    resp = add(login(clinician), patient, member)
    assert resp.status_code == 302
    assert CareTeamMember.objects.count() == before
    msgs = [str(m) for m in resp.wsgi_request._messages]
    assert any("Choose an active staff member or team" in m for m in msgs)


def test_an_inactive_user_cannot_be_added(login, clinician, patient):
    gone = UserFactory(username="dr.gone", roles=[Role.CLINICIAN], is_active=False)
    add(login(clinician), patient, f"user:{gone.pk}")
    assert not CareTeamMember.objects.filter(user=gone).exists()


def test_a_role_group_is_not_a_team(login, clinician, patient):
    role_group = Group.objects.get(name=Role.CLINICIAN)
    add(login(clinician), patient, f"group:{role_group.pk}")
    assert not CareTeamMember.objects.filter(group=role_group).exists()


def test_outsider_gets_404_and_wrong_method_405(login, colleague, clinician, patient, other_patient, desk2):
    assert add(login(colleague), patient, f"user:{desk2.pk}").status_code == 404
    assert add(login(clinician), other_patient, f"user:{desk2.pk}").status_code == 404
    assert login(clinician).get(reverse("patients:care_team_add", args=[patient.pk])).status_code == 405


def test_chart_query_count_does_not_grow_with_the_staff_list(
    login, clinician, patient, django_assert_max_num_queries
):
    client = login(clinician)
    chart(client, patient)

    def count():
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from patients.selectors import care_team_staff_forget

        care_team_staff_forget()  # both counts read the staff list (it is cached briefly between charts)
        chart_changed(patient)  # and both draw the chart page (not the cached one)
        with CaptureQueriesContext(connection) as ctx:
            chart(client, patient)
        return len(ctx.captured_queries)

    few = count()
    for i in range(8):
        u = UserFactory(username=f"dr.extra{i}", roles=[Role.CLINICIAN])
        if i % 2:
            care_team_grant(patient=patient, user=u, care_role="Covering")
    assert count() <= few + 1  # (one for the extra members' practitioner rows at most)
