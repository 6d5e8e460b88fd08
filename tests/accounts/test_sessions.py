"""Automatic logoff: an idle timeout and an absolute lifetime; deactivating a user ends all their sessions."""

import time

import pytest
from django.contrib.sessions.models import Session
from django.test import Client, override_settings

from accounts.models import UserSession
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def age_session(client, **seconds_ago):
    session = client.session
    for key, ago in seconds_ago.items():
        session[key] = time.time() - ago
    session.save()


def test_the_default_idle_timeout_is_fifteen_minutes(settings):
    assert settings.SESSION_IDLE_TIMEOUT == 15 * 60


def test_sign_in_starts_both_clocks(client, nurse):
    client.post("/accounts/login/", {"username": "nurse.nina", "password": PASSWORD})

    session = client.session
    assert time.time() - session["auth_started"] < 5
    assert time.time() - session["last_activity"] < 5
    assert UserSession.objects.filter(user=nurse, session_key=session.session_key).exists()


def test_idle_for_longer_than_the_timeout_signs_out(login, client, nurse):
    login(nurse)
    age_session(client, last_activity=15 * 60 + 5)

    response = client.get("/patients/?q=x")

    assert response.status_code == 302
    assert response.url == "/accounts/login/?next=%2Fpatients%2F%3Fq%3Dx"
    assert "_auth_user_id" not in client.session
    page = client.get(response.url).content.decode()
    assert "You were signed out after a period of inactivity." in page


def test_activity_within_the_timeout_keeps_the_session_alive(login, client, nurse):
    login(nurse)
    age_session(client, last_activity=14 * 60)

    assert client.get("/").status_code == 200
    assert time.time() - client.session["last_activity"] < 5


@override_settings(SESSION_IDLE_TIMEOUT=60)
def test_background_polling_is_not_activity(login, client, nurse):
    login(nurse)
    age_session(client, last_activity=50)

    client.get("/", headers={"X-Background-Poll": "1"})
    assert time.time() - client.session["last_activity"] >= 50


def test_htmx_requests_are_told_to_go_to_the_login_page(login, client, nurse):
    login(nurse)
    age_session(client, last_activity=3600)

    response = client.get("/", headers={"HX-Request": "true"})

    assert response["HX-Redirect"] == "/accounts/login/"


def test_the_absolute_lifetime_ends_even_a_busy_session(login, client, nurse, settings):
    login(nurse)
    age_session(client, auth_started=settings.SESSION_ABSOLUTE_LIFETIME + 1, last_activity=1)

    response = client.get("/", follow=True)

    assert response.redirect_chain[0][0].startswith("/accounts/login/")
    assert "Your session reached its maximum length" in response.content.decode()


def test_deactivating_a_user_ends_all_their_sessions_at_once(nurse, front_desk):
    laptop, tablet, other = Client(), Client(), Client()
    for c in (laptop, tablet):
        c.post("/accounts/login/", {"username": "nurse.nina", "password": PASSWORD})
    other.post("/accounts/login/", {"username": "desk.dan", "password": PASSWORD})
    assert laptop.get("/").status_code == tablet.get("/").status_code == 200
    keys = [laptop.session.session_key, tablet.session.session_key]

    nurse.is_active = False
    nurse.save()

    assert not Session.objects.filter(session_key__in=keys).exists()
    assert not UserSession.objects.filter(user=nurse).exists()
    assert laptop.get("/").status_code == tablet.get("/").status_code == 302
    assert other.get("/").status_code == 200  # nobody else is touched


def test_saving_an_inactive_user_again_or_an_active_one_ends_nothing(login, client, nurse):
    login(nurse)
    nurse.first_name = "Nina-Marie"
    nurse.save()

    assert client.get("/").status_code == 200


def test_a_password_change_in_the_admin_records_the_new_session_key_too(login, client, admin_user):
    login(admin_user)
    UserSession.objects.create(user=admin_user, session_key=client.session.session_key)  # as sign-in does
    old_key = client.session.session_key
    new = "a-much-longer-new-passphrase-42"

    response = client.post(
        "/admin/password_change/", {"old_password": PASSWORD, "new_password1": new, "new_password2": new}
    )

    assert response.status_code == 302
    new_key = client.session.session_key
    assert new_key != old_key
    recorded = UserSession.objects.filter(user=admin_user).values_list("session_key", flat=True)
    assert list(recorded) == [new_key]


def test_a_deactivated_users_sessions_stay_ended_when_they_are_reactivated(nurse):
    """Sessions are read through Redis (accounts/sessions.py): ending them must drop the cached copies too."""
    laptop = Client()
    laptop.post("/accounts/login/", {"username": "nurse.nina", "password": PASSWORD})
    assert laptop.get("/").status_code == 200  # the session is now in the cache as well

    nurse.is_active = False
    nurse.save()
    nurse.is_active = True
    nurse.save()

    assert laptop.get("/").status_code == 302


def test_a_signed_in_page_reads_the_session_from_the_cache(login, client, nurse):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    login(nurse)
    client.get("/")
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/").status_code == 200
    assert not any("django_session" in q["sql"] for q in ctx.captured_queries)


def test_without_redis_sign_in_and_pages_still_work(nurse, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
        }
    }
    c = Client()
    resp = c.post("/accounts/login/", {"username": "nurse.nina", "password": PASSWORD})
    assert resp.status_code == 302
    assert c.get("/").status_code == 200
    c.post("/accounts/logout/")
    assert c.get("/").status_code == 302
