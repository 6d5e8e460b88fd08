"""Password change (signed in) and reset (by email, through Django's mail backend: locmem in tests)."""

import re

import pytest
from django.core import mail
from django.urls import reverse

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


def test_password_reset_by_email_and_the_link_sets_a_new_password(client, nurse):
    response = client.post(reverse("accounts:password_reset"), {"email": "nurse.nina@clinic.test"})

    assert response.url == reverse("accounts:password_reset_done")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["nurse.nina@clinic.test"]
    assert message.subject == "Reset your Open EHR password"
    link = re.search(r"http://testserver(/accounts/password/reset/\S+/)", message.body).group(1)

    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    assert "Choose a new password" in form_page.content.decode()
    set_url = form_page.redirect_chain[-1][0]
    done = client.post(set_url, {"new_password1": NEW, "new_password2": NEW})

    assert done.url == reverse("accounts:password_reset_complete")
    nurse.refresh_from_db()
    assert nurse.check_password(NEW)
    assert client.get(link, follow=True).context["validlink"] is False  # the link works once


def test_password_reset_for_an_unknown_address_looks_the_same_and_sends_nothing(client, nurse):
    response = client.post(reverse("accounts:password_reset"), {"email": "nobody@clinic.test"})

    assert response.url == reverse("accounts:password_reset_done")
    assert mail.outbox == []
