"""The Django admin: practice admins only, behind a verified second factor (OTPAdminSite)."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Practitioner
from accounts.roles import Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
User = get_user_model()


class TestWhoGetsIn:
    def test_anonymous_users_are_sent_to_the_one_login_page(self, client):
        response = client.get("/admin/", follow=True)

        assert response.redirect_chain[-1][0] == "/accounts/login/?next=/admin/"

    def test_unverified_staff_without_a_device_are_sent_to_enrolment(self, client, admin_user):
        client.force_login(admin_user)

        response = client.get("/admin/")

        assert response.status_code == 302
        assert response.url == reverse("accounts:mfa_enroll")

    def test_unverified_staff_with_a_device_must_verify(self, client, admin_user):
        TOTPDevice.objects.create(user=admin_user, name="phone", confirmed=True)
        client.force_login(admin_user)

        response = client.get("/admin/auth/user/")

        assert response.status_code == 302
        assert response.url.startswith(reverse("accounts:mfa_verify"))

    def test_staff_whose_role_needs_no_mfa_still_need_it_for_the_admin(self, client, nurse):
        nurse.is_staff = True
        nurse.save()
        client.force_login(nurse)

        assert client.get("/").status_code == 200
        assert client.get("/admin/").url == reverse("accounts:mfa_enroll")

    def test_the_otp_admin_site_itself_refuses_an_unverified_session(self, rf, admin_user):
        from django.contrib import admin

        import ehr.urls  # noqa: F401  (swaps the site's class)

        request = rf.get("/admin/")
        request.user = admin_user
        request.user.is_verified = lambda: False

        assert admin.site.__class__.__name__ == "OTPAdminSite"
        assert not admin.site.has_permission(request)

    def test_verified_non_staff_get_403_not_a_login_loop(self, login, front_desk):
        client = login(front_desk)

        response = client.get("/admin/", follow=True)

        assert response.status_code == 403

    def test_a_verified_practice_admin_gets_in(self, login, admin_user):
        client = login(admin_user)

        response = client.get("/admin/")

        assert response.status_code == 200
        html = response.content.decode()
        assert "Open EHR administration" in html
        assert "/admin/auth/user/" in html
        assert "/admin/accounts/practitioner/" in html


class TestUserAdmin:
    def test_changelist_shows_roles_and_hides_superusers(self, login, admin_user, clinician):
        root = UserFactory(username="root", is_superuser=True, is_staff=True)
        client = login(admin_user)

        html = client.get("/admin/auth/user/").content.decode()
        root_page = client.get(f"/admin/auth/user/{root.pk}/change/")

        assert "dr.alice" in html
        assert "Clinician (prescriber)" in html
        assert "root" not in html
        assert root_page.status_code == 302  # "does not exist" for a practice admin

    def test_roles_are_assigned_through_groups_and_no_superuser_lever_is_offered(
        self, login, admin_user, nurse
    ):
        client = login(admin_user)
        url = f"/admin/auth/user/{nurse.pk}/change/"

        html = client.get(url).content.decode()
        assert "Roles" in html and "Nurse" in html and "Privacy officer" in html
        assert 'name="is_superuser"' not in html
        assert 'name="user_permissions"' not in html

        groups = Group.objects.filter(name__in=[Role.NURSE, Role.FRONT_DESK]).values_list("pk", flat=True)
        response = client.post(
            url,
            {
                "username": nurse.username,
                "first_name": "Nina",
                "last_name": "Nurse",
                "email": nurse.email,
                "is_active": "on",
                "groups": list(groups),
                "last_login_0": "",
                "last_login_1": "",
                "date_joined_0": "2024-01-01",
                "date_joined_1": "00:00:00",
            },
        )

        assert response.status_code == 302, response.context["adminform"].form.errors
        assert set(nurse.groups.values_list("name", flat=True)) == {Role.NURSE, Role.FRONT_DESK}

    def test_only_role_groups_can_be_chosen(self, login, admin_user, nurse):
        Group.objects.create(name="legacy-superpowers")
        client = login(admin_user)

        html = client.get(f"/admin/auth/user/{nurse.pk}/change/").content.decode()

        assert "legacy-superpowers" not in html

    def test_a_practice_admin_cannot_change_their_own_roles(self, login, admin_user):
        client = login(admin_user)

        html = client.get(f"/admin/auth/user/{admin_user.pk}/change/").content.decode()

        assert 'name="groups"' not in html
        assert "practice_admin" in html  # shown, read-only

    def test_a_practice_admin_adds_a_user_with_a_role(self, login, admin_user):
        client = login(admin_user)
        front_desk = Group.objects.get(name=Role.FRONT_DESK)

        response = client.post(
            "/admin/auth/user/add/",
            {
                "username": "desk.dora",
                "first_name": "Dora",
                "last_name": "Desk",
                "email": "dora@clinic.test",
                "groups": [front_desk.pk],
                "usable_password": "true",
                "password1": "a-long-enough-passphrase-1",
                "password2": "a-long-enough-passphrase-1",
            },
        )

        assert response.status_code == 302, response.context["adminform"].form.errors
        dora = User.objects.get(username="desk.dora")
        assert list(dora.groups.values_list("name", flat=True)) == [Role.FRONT_DESK]
        assert not dora.is_superuser

    def test_deactivating_in_the_admin_signs_the_user_out(self, login, admin_user, nurse):
        from django.test import Client

        nurse_client = Client()
        nurse_client.force_login(nurse)
        client = login(admin_user)
        nurse.refresh_from_db()

        client.post(
            f"/admin/auth/user/{nurse.pk}/change/",
            {
                "username": nurse.username,
                "first_name": "Nina",
                "last_name": "Nurse",
                "email": nurse.email,
                "groups": list(nurse.groups.values_list("pk", flat=True)),
                "date_joined_0": "2024-01-01",
                "date_joined_1": "00:00:00",
            },
        )

        nurse.refresh_from_db()
        assert not nurse.is_active
        assert nurse_client.get("/").status_code == 302


class TestPractitionerAdmin:
    def test_a_practice_admin_adds_a_practitioner_with_checked_numbers(self, login, admin_user):
        doc = UserFactory(username="dr.carol", last_name="Carter", roles=[Role.CLINICIAN])
        client = login(admin_user)
        data = {
            "user": doc.pk,
            "credentials": "DO",
            "specialty": "Pediatrics",
            "npi": "1234567890",
            "dea_number": "AB1234564",
            "dea_expires": "",
            "phone": "",
        }

        bad = client.post("/admin/accounts/practitioner/add/", data)
        assert bad.status_code == 200
        errors = bad.context["adminform"].form.errors
        assert "npi" in errors and "dea_number" in errors

        good = client.post(
            "/admin/accounts/practitioner/add/", {**data, "npi": "1003000126", "dea_number": "BC1234563"}
        )
        assert good.status_code == 302
        assert Practitioner.objects.get(user=doc).npi == "1003000126"

    def test_only_clinicians_can_be_chosen(self, login, admin_user, nurse):
        client = login(admin_user)

        html = client.get("/admin/accounts/practitioner/add/").content.decode()

        assert "nurse.nina" not in html and "Nina" not in html


@pytest.mark.parametrize(
    "url",
    [
        "/admin/auth/user/",
        "/admin/auth/user/add/",
        "/admin/accounts/practitioner/",
        "/admin/axes/accessattempt/",
        "/admin/otp_totp/totpdevice/",
        "/admin/otp_static/staticdevice/",
    ],
)
def test_practice_admin_pages_open(login, admin_user, url):
    client = login(admin_user)

    assert client.get(url).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/admin/axes/accesslog/",
        "/admin/axes/accessfailurelog/",
        "/admin/otp_totp/totpdevice/add/",
        "/admin/auth/group/",
    ],
)
def test_superuser_pages_from_axes_and_otp_open_next_to_our_user_admin(login, url):
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    client = login(root)

    assert client.get(url).status_code == 200


def test_a_superuser_sees_the_superuser_levers(login):
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    client = login(root)

    html = client.get(f"/admin/auth/user/{root.pk}/change/").content.decode()

    assert 'name="is_superuser"' in html
