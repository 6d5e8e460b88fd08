"""Sign in, sign out, and the lockout after repeated failures (django-axes with our AXES_LOCKOUT_CALLABLE)."""

import re

import pytest
from django.conf import settings
from django.urls import reverse

from accounts.views import LOCKOUT_MESSAGE
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
LOGIN = "/accounts/login/"
WRONG = "not-the-password"
GENERIC = "That username and password did not match."


def post_login(client, username, password):
    return client.post(LOGIN, {"username": username, "password": password})


def normalized(response, username: str) -> str:
    """The page with what legitimately differs between two requests (CSRF tokens, the name typed) blanked."""
    html = response.content.decode()
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', 'name="csrfmiddlewaretoken" value=""', html)
    html = re.sub(r'"X-CSRFToken": "[^"]+"', '"X-CSRFToken": ""', html)
    return html.replace(username, "USERNAME")


def test_login_page_labels_every_field(client):
    html = client.get(LOGIN).content.decode()

    assert '<label for="id_username">' in html
    assert '<label for="id_password">' in html
    assert 'autocomplete="current-password"' in html


def test_a_nurse_signs_in_and_lands_home(client, nurse):
    response = post_login(client, "nurse.nina", PASSWORD)

    assert response.status_code == 302
    assert response.url == "/"
    assert client.get("/").status_code == 200


def test_next_is_followed_only_on_this_site(client, nurse):
    ok = client.post(LOGIN + "?next=/patients/", {"username": "nurse.nina", "password": PASSWORD})
    client.logout()
    evil = client.post(
        LOGIN + "?next=https://evil.example/", {"username": "nurse.nina", "password": PASSWORD}
    )

    assert ok.url == "/patients/"
    assert evil.url == "/"


def test_a_wrong_password_and_an_unknown_user_get_the_same_page(client, nurse):
    known = post_login(client, "nurse.nina", WRONG)
    unknown = post_login(client, "nurse.nino", WRONG)

    assert known.status_code == unknown.status_code == 200
    assert GENERIC in known.content.decode()
    assert normalized(known, "nurse.nina") == normalized(unknown, "nurse.nino")


def test_an_inactive_user_gets_the_same_message(client, nurse):
    nurse.is_active = False
    nurse.save()

    response = post_login(client, "nurse.nina", PASSWORD)

    assert response.status_code == 200
    assert GENERIC in response.content.decode()


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("n" * 300, WRONG, "usernames have at most 150 characters"),
        ("n" * 151, WRONG, "usernames have at most 150 characters"),  # fits axes' column, not the user table
        ("nurse.nina", "p" * 100_000, "passwords have at most 1024 characters"),
        ("ghost.gus", "p" * 100_000, "passwords have at most 1024 characters"),
    ],
)
def test_oversized_input_is_refused_with_a_plain_message(client, nurse, username, password, message):
    from axes.models import AccessAttempt

    response = post_login(client, username, password)

    assert response.status_code == 200
    html = response.content.decode()
    assert message in html and 'role="alert"' in html
    assert "_auth_user_id" not in client.session
    assert not AccessAttempt.objects.exists()  # refused before authentication


def test_the_length_message_is_the_same_for_known_and_unknown_users(client, nurse):
    huge = "p" * 5000

    known = post_login(client, "nurse.nina", huge)
    unknown = post_login(client, "nurse.nino", huge)

    assert normalized(known, "nurse.nina") == normalized(unknown, "nurse.nino")


def test_logout_needs_post_and_ends_the_session(login, client, nurse):
    login(nurse)

    assert client.get(reverse("accounts:logout")).status_code == 405
    response = client.post(reverse("accounts:logout"))

    assert response.status_code == 302
    assert response.url == reverse("accounts:login")
    assert client.get("/").status_code == 302


class TestLockout:
    def test_fifth_failure_locks_and_then_the_right_password_is_refused(self, client, nurse):
        assert settings.AXES_FAILURE_LIMIT == 5
        for _ in range(4):
            assert post_login(client, "nurse.nina", WRONG).status_code == 200

        fifth = post_login(client, "nurse.nina", WRONG)
        right = post_login(client, "nurse.nina", PASSWORD)

        for response in (fifth, right):
            assert response.status_code == 429
            assert LOCKOUT_MESSAGE in response.content.decode()
            assert "_auth_user_id" not in client.session
        assert [t.name for t in right.templates][0] == "accounts/login.html"

    def test_unknown_and_known_usernames_look_identical_before_and_after_lockout(self, client, nurse):
        pages = []
        for attempt in range(6):
            known = post_login(client, "nurse.nina", WRONG)
            unknown = post_login(client, "ghost.gus", WRONG)
            assert known.status_code == unknown.status_code == (200 if attempt < 4 else 429), attempt
            assert normalized(known, "nurse.nina") == normalized(unknown, "ghost.gus"), attempt
            pages.append(known)
        assert LOCKOUT_MESSAGE not in pages[3].content.decode()
        assert LOCKOUT_MESSAGE in pages[4].content.decode()

    def test_lockout_is_per_account_not_per_address(self, client, nurse, front_desk):
        for _ in range(5):
            post_login(client, "nurse.nina", WRONG)

        assert post_login(client, "desk.dan", PASSWORD).status_code == 302

    def test_unlocking_by_deleting_the_attempts_lets_the_user_in(self, client, nurse):
        from axes.models import AccessAttempt

        for _ in range(5):
            post_login(client, "nurse.nina", WRONG)
        AccessAttempt.objects.filter(
            username="nurse.nina"
        ).delete()  # what a practice admin does in the admin

        assert post_login(client, "nurse.nina", PASSWORD).status_code == 302

    def test_success_resets_the_count(self, client, nurse):
        for _ in range(4):
            post_login(client, "nurse.nina", WRONG)
        assert post_login(client, "nurse.nina", PASSWORD).status_code == 302
        client.post(reverse("accounts:logout"))

        for _ in range(4):
            assert post_login(client, "nurse.nina", WRONG).status_code == 200


def _time_passes(seconds: float, **which) -> None:
    """Move the recorded failures back in time (what waiting does), e.g. _time_passes(16, username="nurse.nina")."""
    from datetime import timedelta

    from axes.models import AccessAttempt
    from django.db.models import F

    AccessAttempt.objects.filter(**which).update(attempt_time=F("attempt_time") - timedelta(seconds=seconds))


class TestGrowingDelay:
    """Issue 18 #5: the username lock is a growing delay, not 15 minutes for anyone who types a name five times."""

    def test_after_the_fifth_failure_the_account_waits_15_seconds_then_may_try(self, client, nurse):
        for _ in range(5):
            fifth = post_login(client, "nurse.nina", WRONG)
        too_soon = post_login(client, "nurse.nina", PASSWORD)
        assert fifth.status_code == too_soon.status_code == 429
        assert "for this account. Wait 15 seconds" in too_soon.content.decode()

        _time_passes(16, username="nurse.nina")

        assert post_login(client, "nurse.nina", PASSWORD).status_code == 302

    def test_each_further_failure_doubles_the_wait(self, client, nurse):
        for _ in range(5):
            post_login(client, "nurse.nina", WRONG)
        _time_passes(16, username="nurse.nina")
        sixth = post_login(client, "nurse.nina", WRONG)
        assert sixth.status_code == 429
        assert "Wait 30 seconds" in sixth.content.decode()

        _time_passes(16, username="nurse.nina")
        refused = post_login(client, "nurse.nina", PASSWORD)  # 14 s left; not counted as a failure
        assert refused.status_code == 429
        assert "Wait 15 seconds" in refused.content.decode()

        _time_passes(15, username="nurse.nina")
        assert post_login(client, "nurse.nina", PASSWORD).status_code == 302


class TestAddressLimit:
    """Issue 18 #5: password spraying from one address (one try on many accounts) is slowed."""

    SPRAYER = "203.0.113.9"

    def spray(self, client, count):
        return [
            client.post(LOGIN, {"username": f"user{i}", "password": WRONG}, REMOTE_ADDR=self.SPRAYER)
            for i in range(count)
        ]

    def test_the_address_waits_after_its_own_threshold(self, client, nurse):
        assert settings.LOGIN_ADDRESS_FAILURE_LIMIT == 20
        responses = self.spray(client, 20)

        assert [r.status_code for r in responses[:19]] == [200] * 19
        assert responses[19].status_code == 429
        assert "from your network address. Wait 15 seconds" in responses[19].content.decode()
        # Every account is slowed from that address, even with the right password; elsewhere nobody is.
        here = client.post(LOGIN, {"username": "nurse.nina", "password": PASSWORD}, REMOTE_ADDR=self.SPRAYER)
        assert here.status_code == 429
        assert "_auth_user_id" not in client.session
        elsewhere = client.post(
            LOGIN, {"username": "nurse.nina", "password": PASSWORD}, REMOTE_ADDR="198.51.100.7"
        )
        assert elsewhere.status_code == 302

    def test_the_address_may_try_again_after_the_wait(self, client, nurse):
        self.spray(client, 20)
        _time_passes(16, ip_address=self.SPRAYER)

        ok = client.post(LOGIN, {"username": "nurse.nina", "password": PASSWORD}, REMOTE_ADDR=self.SPRAYER)

        assert ok.status_code == 302
