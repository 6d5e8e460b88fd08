"""The inbox page, the item opened in place (htmx) and the actions answered with the item's row."""

from django.urls import reverse

from inbox.models import InboxEvent, InboxItem, Kind, PatientNotice, Priority, State
from patients.services import care_team_grant
from tests.inbox.conftest import post

HX = {"HTTP_HX_REQUEST": "true"}


def test_filters_and_counts(login, clinician, patient):
    post(clinician, patient, kind=Kind.TASK, title="Call patient")
    post(clinician, patient, kind=Kind.CRITICAL_RESULT, priority=Priority.CRITICAL, title="Potassium 6.9")
    c = login(clinician)
    body = c.get(reverse("inbox:inbox")).content.decode()
    assert "Potassium 6.9" in body and "Call patient" in body and "Critical result" in body
    body = c.get(reverse("inbox:inbox") + "?kind=task").content.decode()
    assert "Call patient" in body and "Potassium 6.9" not in body
    # An unknown kind or queue is not an error page with a traceback: all kinds, or the product's 404.
    assert c.get(reverse("inbox:inbox") + "?kind=nonsense").status_code == 200
    assert c.get(reverse("inbox:inbox") + "?queue=team:abc").status_code == 404


def test_home_shows_the_count_and_the_nav_links_the_inbox(login, clinician, patient):
    post(clinician, patient, kind=Kind.CRITICAL_RESULT, priority=Priority.CRITICAL)
    post(clinician, patient)
    body = login(clinician).get(reverse("home")).content.decode()
    assert 'data-testid="inbox-count-mine">2<' in body and "1 critical" in body
    assert f'href="{reverse("inbox:inbox")}"' in body


def test_open_in_place_and_sign_off(login, clinician, patient):
    item = post(clinician, patient, priority=Priority.ABNORMAL, title="LDL 190")
    c = login(clinician)
    r = c.get(reverse("inbox:item", args=[item.pk]), **HX)
    assert r.status_code == 200 and b'data-testid="sign-form"' in r.content and b"<html" not in r.content
    r = c.post(reverse("inbox:sign_off", args=[item.pk]), {"comment": "Start a statin"}, **HX)
    assert r.status_code == 200 and b"Signed off." in r.content
    item.refresh_from_db()
    assert item.state == State.DONE and item.comment == "Start a statin"


def test_a_refused_action_shows_why_in_place_and_keeps_the_text(login, clinician, patient):
    item = post(clinician, patient, kind=Kind.CRITICAL_RESULT, priority=Priority.CRITICAL)
    c = login(clinician)
    r = c.post(reverse("inbox:sign_off", args=[item.pk]), {"comment": ""}, **HX)
    assert r.status_code == 200 and b"Write a few words." in r.content
    r = c.post(reverse("inbox:task", args=[item.pk]), {"title": "Call patient", "due": "2020-02-31"}, **HX)
    assert b"Enter a valid date" in r.content and b'value="Call patient"' in r.content
    # Without htmx: the item's page with the message, 400, nothing saved.
    r = c.post(reverse("inbox:sign_off", args=[item.pk]), {"comment": ""})
    assert r.status_code == 400 and b"Write a few words." in r.content
    assert InboxItem.objects.get(pk=item.pk).state == State.NEW
    assert not InboxItem.objects.filter(kind=Kind.TASK).exists()


def test_forward_task_and_notice_through_the_views(login, clinician, colleague, patient):
    care_team_grant(patient=patient, user=colleague, care_role="Covering")
    item = post(clinician, patient)
    c = login(clinician)
    r = c.post(
        reverse("inbox:task", args=[item.pk]),
        {"title": "Call patient", "due": "", "assignee": clinician.pk},
        **HX,
    )
    assert b"Task created for you" in r.content
    r = c.post(reverse("inbox:notify", args=[item.pk]), {"message": "Normal result."}, **HX)
    assert b"pending delivery" in r.content and PatientNotice.objects.count() == 1
    r = c.post(reverse("inbox:forward", args=[item.pk]), {"to_user": colleague.pk, "note": "FYI"}, **HX)
    assert b"Forwarded to Bob Baker." in r.content
    assert InboxItem.objects.get(pk=item.pk).assignee == colleague
    assert InboxEvent.objects.filter(item=item, kind="forwarded", note="FYI").exists()
    # Without htmx: back to the inbox with a message.
    task = InboxItem.objects.get(kind=Kind.TASK)
    r = c.post(reverse("inbox:sign_off", args=[task.pk]), {"comment": "Called"})
    assert r.status_code == 302 and r["Location"] == reverse("inbox:inbox")
