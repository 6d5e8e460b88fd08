"""Password change (signed in) and reset (by email from a Celery task: locmem in this process, files from the worker)."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from tests.conftest import wait_until
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
NEW = "a-much-longer-new-passphrase-42"


def test_password_change(login, client, nurse):
    login(nurse)

    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": NEW, "new_password2": NEW},
    )

    assert response.status_code == 302
    assert response.url == reverse("accounts:password_change_done")
    nurse.refresh_from_db()
    assert nurse.check_password(NEW)
    assert client.get("/").status_code == 200  # still signed in (session hash updated)


def test_password_change_applies_the_validators(login, client, nurse):
    login(nurse)

    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": "short", "new_password2": "short"},
    )

    assert response.status_code == 200
    assert "too short" in response.content.decode()


def test_nobody_may_choose_a_password_the_sign_in_page_would_refuse(login, client, nurse):
    login(nurse)
    huge = "correct horse battery staple " * 40  # 1160 characters

    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": huge, "new_password2": huge},
    )

    assert response.status_code == 200
    assert "This password is too long" in response.content.decode()


def test_password_change_records_the_new_session_key(client, nurse):
    from django.contrib.sessions.models import Session

    from accounts.models import UserSession

    client.post("/accounts/login/", {"username": "nurse.nina", "password": PASSWORD})
    old_key = client.session.session_key

    client.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": NEW, "new_password2": NEW},
    )

    new_key = client.session.session_key
    assert new_key != old_key  # Django rotates the key on a password change
    assert list(UserSession.objects.filter(user=nurse).values_list("session_key", flat=True)) == [new_key]
    nurse.is_active = False
    nurse.save()
    assert not Session.objects.filter(session_key=new_key).exists()
    assert not UserSession.objects.filter(user=nurse).exists()
    assert client.get("/").status_code == 302


def test_password_change_needs_the_second_factor_first(client, clinician):
    client.force_login(clinician)  # password only, no device yet

    response = client.get(reverse("accounts:password_change"))

    assert response.status_code == 302
    assert response.url == reverse("accounts:mfa_enroll")


def reset_request(client, email, django_capture_on_commit_callbacks):
    """POST the reset form; returns (response, the SQL it ran, the callbacks it queued for after the commit)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks() as callbacks:
        response = client.post(reverse("accounts:password_reset"), {"email": email})
    return response, [q["sql"] for q in queries.captured_queries], callbacks


def test_password_reset_does_the_same_work_for_known_and_unknown_addresses(
    client, nurse, django_capture_on_commit_callbacks
):
    """Issue 18 #8: a known address took measurably longer (the mail was built and sent in the request). Now the
    page only queues a task: no lookup, no mail in the request, the same queries and one queued task either way."""
    client.get(reverse("accounts:password_reset"))  # session and CSRF set up before measuring
    known, known_sql, known_queued = reset_request(
        client, "nurse.nina@clinic.test", django_capture_on_commit_callbacks
    )
    unknown, unknown_sql, unknown_queued = reset_request(
        client, "nobody@clinic.test", django_capture_on_commit_callbacks
    )

    assert known.status_code == unknown.status_code == 302
    assert known.url == unknown.url == reverse("accounts:password_reset_done")
    assert mail.outbox == []  # nothing sent while the user waits
    assert known_sql == unknown_sql
    assert not [q for q in known_sql if "auth_user" in q]
    assert len(known_queued) == len(unknown_queued) == 1


def test_the_reset_task_mails_known_addresses_only(nurse):
    from accounts.tasks import password_reset_email

    password_reset_email("nobody@clinic.test", "testserver", False)
    assert mail.outbox == []

    password_reset_email("nurse.nina@clinic.test", "testserver", False)
    assert [m.to for m in mail.outbox] == [["nurse.nina@clinic.test"]]
    assert mail.outbox[0].subject == "Reset your Open EHR password"
    assert "http://testserver/accounts/password/reset/" in mail.outbox[0].body


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_password_reset_by_email_from_the_worker_and_the_link_sets_a_new_password(
    celery_worker_proc, client, nurse
):
    before = set(celery_worker_proc.mail_dir.iterdir())
    response = client.post(reverse("accounts:password_reset"), {"email": "nurse.nina@clinic.test"})
    assert response.url == reverse("accounts:password_reset_done")

    def sent():
        for f in set(celery_worker_proc.mail_dir.iterdir()) - before:
            text = f.read_text()
            if "nurse.nina@clinic.test" in text:
                return text
        return None

    message = wait_until(sent, timeout=30)
    assert "Reset your Open EHR password" in message
    link = re.search(r"http://testserver(/accounts/password/reset/\S+/)", message).group(1)

    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    assert "Choose a new password" in form_page.content.decode()
    set_url = form_page.redirect_chain[-1][0]
    done = client.post(set_url, {"new_password1": NEW, "new_password2": NEW})

    assert done.url == reverse("accounts:password_reset_complete")
    nurse.refresh_from_db()
    assert nurse.check_password(NEW)
    assert client.get(link, follow=True).context["validlink"] is False  # the link works once
