"""TOTP enrolment and verification (django-otp), recovery codes, and who must use a second factor."""

import base64
import time
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import totp_now
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
ENROLL = "/accounts/mfa/enroll/"
VERIFY = "/accounts/mfa/verify/"


def secret_of(device) -> str:
    return base64.b32encode(device.bin_key).decode().rstrip("=")


def sign_in(client, user):
    response = client.post(reverse("accounts:login"), {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.content
    return client.get(response.url)


def enrol(client, user) -> list[str]:
    client.get(ENROLL)
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    response = client.post(ENROLL, {"token": totp_now(secret_of(device))})
    assert response.status_code == 200
    return response.context["codes"]


def confirmed_device(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


class TestEnrolment:
    @pytest.mark.parametrize("persona", ["clinician", "admin_user", "privacy"])
    def test_roles_that_require_mfa_are_sent_to_enrolment(self, client, persona, request):
        user = request.getfixturevalue(persona)

        response = sign_in(client, user)

        assert response.status_code == 302
        assert response.url == ENROLL
        assert client.get("/patients/").url == ENROLL

    def test_enrolment_page_shows_a_qr_code_and_the_key(self, client, clinician):
        sign_in(client, clinician)

        response = client.get(ENROLL)

        html = response.content.decode()
        device = TOTPDevice.objects.get(user=clinician, confirmed=False)
        assert "<svg" in html
        assert 'role="img" aria-label="QR code for your authenticator app"' in html
        assert secret_of(device) in html
        assert "Your role requires a second factor" in html
        assert "otpauth://" in device.config_url and "Open%20EHR" in device.config_url

    def test_reloading_the_page_keeps_the_same_key(self, client, clinician):
        sign_in(client, clinician)
        client.get(ENROLL)
        client.get(ENROLL)

        assert TOTPDevice.objects.filter(user=clinician).count() == 1

    def test_a_right_code_confirms_the_device_and_issues_ten_recovery_codes(self, client, clinician):
        sign_in(client, clinician)

        codes = enrol(client, clinician)

        assert len(codes) == len(set(codes)) == 10
        assert TOTPDevice.objects.get(user=clinician).confirmed
        assert StaticToken.objects.filter(device__user=clinician).count() == 10
        assert client.get("/").status_code == 200  # verified now

    def test_a_wrong_code_is_refused(self, client, clinician):
        sign_in(client, clinician)
        client.get(ENROLL)

        response = client.post(ENROLL, {"token": "000000"})

        assert response.status_code == 200
        assert "That code did not match" in response.content.decode()
        assert not TOTPDevice.objects.filter(user=clinician, confirmed=True).exists()
        assert client.get("/").url == ENROLL

    def test_nurses_need_no_second_factor_but_may_enrol(self, client, nurse):
        assert sign_in(client, nurse).status_code == 200

        page = client.get(ENROLL).content.decode()
        assert "keeps your account safe" in page
        assert len(enrol(client, nurse)) == 10
        assert TOTPDevice.objects.filter(user=nurse, confirmed=True).exists()

    def test_a_user_with_a_device_cannot_enrol_a_new_one_without_verifying(self, client, nurse):
        confirmed_device(nurse)
        client.force_login(nurse)

        assert client.get(ENROLL).url == VERIFY


class TestVerification:
    def test_a_user_with_a_device_must_verify_even_if_the_role_does_not_require_it(self, client, nurse):
        confirmed_device(nurse)

        response = sign_in(client, nurse)

        assert response.status_code == 302
        assert response.url == f"{VERIFY}?next=%2F"

    def test_the_right_code_signs_in_and_follows_next(self, client, clinician):
        device = confirmed_device(clinician)
        client.force_login(clinician)

        response = client.post(f"{VERIFY}?next=/patients/", {"token": totp_now(secret_of(device))})

        assert response.url == "/patients/"
        assert client.get("/").status_code == 200

    def test_next_off_site_is_ignored(self, client, clinician):
        device = confirmed_device(clinician)
        client.force_login(clinician)

        response = client.post(f"{VERIFY}?next=https://evil.example/", {"token": totp_now(secret_of(device))})

        assert response.url == "/"

    @pytest.mark.parametrize(
        "nxt",
        [
            "foo",
            "home",
            "accounts:security",
            "patients/",
            "//evil.example/",
            "/\\evil.example/",
            "javascript:alert(1)",
        ],
    )
    def test_a_next_that_is_not_a_local_path_goes_home_never_a_500(self, client, clinician, nxt):
        """Issue 18 #4: ?next=foo was resolved as a URL name (NoReverseMatch, a 500) even after a right code."""
        device = confirmed_device(clinician)
        client.force_login(clinician)

        page = client.get(VERIFY, {"next": nxt})
        response = client.post(f"{VERIFY}?{urlencode({'next': nxt})}", {"token": totp_now(secret_of(device))})
        again = client.get(VERIFY, {"next": nxt})  # verified now: straight on

        assert page.status_code == 200
        assert response.status_code == again.status_code == 302
        assert response.url == again.url == "/"

    def test_the_same_code_cannot_be_used_twice(self, client, clinician):
        device = confirmed_device(clinician)
        code = totp_now(secret_of(device))
        client.force_login(clinician)
        client.post(VERIFY, {"token": code})
        client.post(reverse("accounts:logout"))
        client.force_login(clinician)
        device.refresh_from_db()
        device.throttle_reset()

        response = client.post(VERIFY, {"token": code})

        assert response.status_code == 200
        assert "not valid" in response.content.decode()

    def test_repeated_wrong_codes_are_throttled_with_a_clear_message(self, client, clinician):
        device = confirmed_device(clinician)
        client.force_login(clinician)

        first = client.post(VERIFY, {"token": "000000"})
        right_but_too_soon = client.post(VERIFY, {"token": totp_now(secret_of(device))})

        assert "That code is not valid" in first.content.decode()
        assert right_but_too_soon.status_code == 200
        assert "Too many wrong codes in a row. Wait" in right_but_too_soon.content.decode()
        assert client.get("/").status_code == 302  # still not verified

        # Once the back-off (1 s after the first failure, doubling after each) has passed, the code works.
        device.refresh_from_db()
        device.throttling_failure_timestamp = timezone.now() - timedelta(seconds=10)
        device.save()
        assert client.post(VERIFY, {"token": totp_now(secret_of(device))}).status_code == 302
        assert client.get("/").status_code == 200

    def test_a_recovery_code_works_once(self, client, clinician):
        sign_in(client, clinician)
        codes = enrol(client, clinician)
        client.post(reverse("accounts:logout"))

        sign_in(client, clinician)
        used = client.post(VERIFY, {"token": codes[0]}, follow=True)
        assert "You signed in with a recovery code; 9 remain." in used.content.decode()
        client.post(reverse("accounts:logout"))

        sign_in(client, clinician)
        TOTPDevice.objects.filter(user=clinician).update(throttling_failure_count=0)
        again = client.post(VERIFY, {"token": codes[0]})
        assert again.status_code == 200
        assert "not valid" in again.content.decode()
        assert StaticToken.objects.filter(device__user=clinician).count() == 9

    def test_security_page_needs_the_second_factor(self, client, clinician):
        confirmed_device(clinician)
        client.force_login(clinician)

        assert client.get(reverse("accounts:security")).url.startswith(VERIFY)


class TestRecoveryCodes:
    def test_making_new_codes_replaces_the_old_ones(self, client, clinician):
        sign_in(client, clinician)
        old = enrol(client, clinician)

        response = client.post(reverse("accounts:recovery_codes"))

        new = response.context["codes"]
        assert len(new) == 10
        tokens = set(StaticToken.objects.filter(device__user=clinician).values_list("token", flat=True))
        assert tokens == set(new)
        assert not tokens & set(old)

    def test_security_page_counts_the_codes_left(self, login, client, clinician):
        login(clinician)

        html = client.get(reverse("accounts:security")).content.decode()

        assert "Enrolled" in html
        assert "Recovery codes left" in html

    def test_codes_cannot_be_made_by_get(self, login, client, clinician):
        login(clinician)

        assert client.get(reverse("accounts:recovery_codes")).status_code == 405


def test_totp_now_matches_the_device():
    device = TOTPDevice(key="3132333435363738393031323334353637383930")  # RFC 6238 test key
    assert totp_now(secret_of(device), at=59) == "287082"  # RFC 6238 appendix B, SHA-1, 6 digits
    assert len(totp_now(secret_of(device), at=time.time())) == 6
