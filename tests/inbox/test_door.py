"""Every read and action goes through the one door: outsiders 404 (recorded as denied), a user who may see the
patient but not their clinical record a plain 403, someone outside the item's queues 404; lists show only what
the viewer may open and record one event naming those patients."""

import pytest
from django.http import Http404
from django.urls import reverse

from audit import categories
from audit.models import AccessEvent
from core.exceptions import ActionDenied
from inbox import selectors, services
from inbox.models import InboxItem, State
from patients.models import CareTeamMember
from patients.services import care_team_remove
from tests.audit.helpers import mark
from tests.inbox.conftest import post


def test_an_outsider_gets_404_and_the_attempt_is_recorded(clinician, colleague, patient):
    item = post(clinician, patient)
    since = mark()
    with pytest.raises(Http404) as caught:
        selectors.item_get(actor=colleague, item_id=item.pk)
    assert not isinstance(caught.value, ActionDenied)
    assert AccessEvent.objects.filter(
        id__gt=since, actor=colleague, outcome="denied", patient_id=patient.pk
    ).exists()
    with pytest.raises(Http404):
        services.item_sign_off(actor=colleague, item_id=item.pk, comment="mine now")
    assert InboxItem.objects.get(pk=item.pk).state == State.NEW


def test_front_desk_who_sees_the_patient_gets_a_plain_403(login, clinician, front_desk, patient):
    item = post(clinician, patient)
    r = login(front_desk).get(reverse("inbox:item", args=[item.pk]))
    assert r.status_code == 403
    assert b"see this patient&#x27;s results and inbox items" in r.content
    r = login(front_desk).post(reverse("inbox:sign_off", args=[item.pk]), {"comment": "x"})
    assert r.status_code == 403 and b"act on this patient&#x27;s inbox items" in r.content
    assert InboxItem.objects.get(pk=item.pk).state == State.NEW


def test_someone_on_the_care_team_but_not_in_the_queue_gets_404(clinician, nurse, patient):
    item = post(clinician, patient)
    with pytest.raises(Http404):
        selectors.item_get(actor=nurse, item_id=item.pk)
    with pytest.raises(Http404):
        services.item_forward(actor=nurse, item_id=item.pk, to_user_id=clinician.pk)


def test_team_members_share_the_team_queue(clinician, nurse, patient, team):
    item = post(None, patient, team=team)
    assert selectors.item_get(actor=nurse, item_id=item.pk).pk == item.pk
    page = selectors.inbox_page(actor=nurse, queue=f"team:{team.pk}")
    assert [i.pk for i in page.items] == [item.pk]
    assert selectors.inbox_page(actor=nurse).items == []  # not in her own queue
    # A team the user is not in is no queue of theirs.
    with pytest.raises(Http404):
        selectors.inbox_page(actor=nurse, queue="team:999999")


def test_losing_access_to_the_patient_takes_their_items_out_of_the_list(
    clinician, admin_user, patient, other_patient
):
    kept = post(clinician, patient)
    post(clinician, other_patient)  # a patient the clinician may not open (posted by a misconfigured source)
    page = selectors.inbox_page(actor=clinician)
    assert [i.pk for i in page.items] == [kept.pk]
    assert page.queues[0].total == 1
    member = CareTeamMember.objects.get(patient=patient, user=clinician)
    care_team_remove(actor=admin_user, patient_id=patient.pk, member_id=member.pk)
    assert selectors.inbox_page(actor=clinician).items == []
    with pytest.raises(Http404):
        selectors.item_get(actor=clinician, item_id=kept.pk)


def test_the_list_records_one_event_naming_the_patients_shown(clinician, patient, department):
    from patients.services import care_team_grant
    from tests.factories import make_patient

    second = make_patient(given_name="Ana", family_name="Lopez", ssn="111-22-3333")
    care_team_grant(patient=second, user=clinician, care_role="PCP")
    post(clinician, patient)
    post(clinician, second)
    since = mark()
    selectors.inbox_page(actor=clinician)
    [event] = AccessEvent.objects.filter(id__gt=since)
    assert event.action == "list" and event.category == categories.INBOX
    assert sorted(map(str, event.patient_ids)) == sorted([str(patient.pk), str(second.pk)])


def test_an_unmatched_item_is_seen_only_by_its_queue(clinician, nurse, team):
    from inbox import sources

    item, _ = sources.unmatched_result_post(source_ref="msg:1", title="Result for unknown patient", team=team)
    assert item.patient is None
    assert [i.pk for i in selectors.inbox_page(actor=nurse, queue=f"team:{team.pk}").items] == [item.pk]
    assert selectors.item_get(actor=clinician, item_id=item.pk).pk == item.pk
