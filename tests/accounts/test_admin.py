"""The Django admin: practice admins (and superusers) only, by role, behind a verified second factor."""

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import mail
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Practitioner
from accounts.roles import Role
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
User = get_user_model()
NEW = "a-much-longer-new-passphrase-42"


def user_form(user, **changes):
    """The change form of a practice admin as posted back unchanged, with `changes` applied."""
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on",
        "groups": list(user.groups.values_list("pk", flat=True)),
        "date_joined_0": "2024-01-01",
        "date_joined_1": "00:00:00",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def role_pks(*names):
    return list(Group.objects.filter(name__in=names).values_list("pk", flat=True))


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

    def test_a_practice_admin_whose_role_needs_no_mfa_still_needs_it_for_the_admin(
        self, client, admin_user, settings
    ):
        settings.MFA_REQUIRED_ROLES = ["clinician"]
        client.force_login(admin_user)

        assert client.get("/").status_code == 200
        assert client.get("/admin/").url == reverse("accounts:mfa_enroll")

    def test_a_nurse_marked_staff_is_refused_even_verified(self, login, nurse):
        # Past the derivation of is_staff (a plain update): the site itself checks the role.
        User.objects.filter(pk=nurse.pk).update(is_staff=True)
        client = login(nurse)

        assert client.get("/admin/", follow=True).status_code == 403
        assert client.get("/admin/auth/user/", follow=True).status_code == 403

    def test_a_practice_admin_needs_no_staff_flag(self, login, admin_user):
        User.objects.filter(pk=admin_user.pk).update(is_staff=False)
        client = login(admin_user)

        assert client.get("/admin/").status_code == 200
        assert client.get("/admin/auth/user/").status_code == 200

    def test_a_superuser_without_a_role_gets_in(self, login):
        root = UserFactory(username="root", is_superuser=True)

        assert login(root).get("/admin/").status_code == 200

    def test_the_otp_admin_site_itself_refuses_an_unverified_session(self, rf, admin_user):
        from django.contrib import admin
        from django_otp.admin import OTPAdminSite

        import ehr.urls  # noqa: F401  (swaps the site's class)

        request = rf.get("/admin/")
        request.user = admin_user
        request.user.is_verified = lambda: False

        assert isinstance(admin.site, OTPAdminSite)
        assert not admin.site.has_permission(request)
        request.user.is_verified = lambda: True
        assert admin.site.has_permission(request)

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
        assert "Roles" in html and "Nurse" in html and "Front desk" in html
        assert 'name="is_superuser"' not in html
        assert 'name="is_staff"' not in html  # derived from the roles
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

    def test_a_practice_admin_adds_a_user_who_chooses_their_own_password(
        self, login, client, admin_user, django_capture_on_commit_callbacks
    ):
        login(admin_user)
        form = client.get("/admin/auth/user/add/").content.decode()
        assert 'name="password1"' not in form and 'name="usable_password"' not in form

        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                "/admin/auth/user/add/",
                {
                    "username": "desk.dora",
                    "first_name": "Dora",
                    "last_name": "Desk",
                    "email": "dora@clinic.test",
                    "groups": role_pks(Role.FRONT_DESK),
                    # Ignored: a practice admin never sets a password.
                    "usable_password": "true",
                    "password1": "a-long-enough-passphrase-1",
                    "password2": "a-long-enough-passphrase-1",
                },
            )

        assert response.status_code == 302, response.context["adminform"].form.errors
        dora = User.objects.get(username="desk.dora")
        assert list(dora.groups.values_list("name", flat=True)) == [Role.FRONT_DESK]
        assert not dora.is_superuser and not dora.is_staff
        assert not dora.has_usable_password()
        assert [m.to for m in mail.outbox] == [["dora@clinic.test"]]
        assert mail.outbox[0].subject == "Your Open EHR account"
        link = re.search(r"http://testserver(/accounts/password/reset/\S+/)", mail.outbox[0].body).group(1)
        client.post(reverse("accounts:logout"))
        set_url = client.get(link, follow=True).redirect_chain[-1][0]
        client.post(set_url, {"new_password1": NEW, "new_password2": NEW})
        dora.refresh_from_db()
        assert dora.check_password(NEW)

    def test_a_new_account_needs_an_email_address(self, login, admin_user):
        response = login(admin_user).post(
            "/admin/auth/user/add/", {"username": "no.mail", "groups": role_pks(Role.NURSE)}
        )

        assert response.status_code == 200
        assert "email" in response.context["adminform"].form.errors

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

    def test_a_lower_case_dea_number_is_stored_in_capitals(self, login, admin_user):
        doc = UserFactory(username="dr.carol", last_name="Carter", roles=[Role.CLINICIAN])
        data = {
            "user": doc.pk,
            "credentials": "DO",
            "specialty": "",
            "npi": "1003000126",
            "dea_number": " bc1234563 ",
            "dea_expires": "",
            "phone": "",
        }

        response = login(admin_user).post("/admin/accounts/practitioner/add/", data)

        assert response.status_code == 302, response.context["adminform"].form.errors
        assert Practitioner.objects.get(user=doc).dea_number == "BC1234563"

    def test_a_taken_npi_is_refused_in_plain_words(self, login, admin_user, clinician):
        doc = UserFactory(username="dr.carol", last_name="Carter", roles=[Role.CLINICIAN])
        data = {
            "user": doc.pk,
            "credentials": "",
            "specialty": "",
            "npi": clinician.practitioner.npi,
            "dea_number": "",
            "dea_expires": "",
            "phone": "",
        }

        response = login(admin_user).post("/admin/accounts/practitioner/add/", data)

        assert response.status_code == 200
        assert response.context["adminform"].form.errors["npi"] == [
            "Another practitioner already has this NPI."
        ]

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


class TestNoAccountTakeover:
    """A practice admin must not be able to become someone else: no passwords, no authenticator secrets, no
    changing the address that receives reset links."""

    def test_authenticator_secrets_are_hidden_everywhere_in_the_admin(
        self, login, admin_user, clinician, settings
    ):
        device = TOTPDevice.objects.create(user=clinician, name="phone", confirmed=True)
        client = login(admin_user)

        assert settings.OTP_ADMIN_HIDE_SENSITIVE_DATA is True
        changelist = client.get("/admin/otp_totp/totpdevice/").content.decode()
        page = client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/").content.decode()
        assert "qrcode" not in changelist
        assert device.key not in page and "qrcode" not in page
        assert client.get(f"/admin/otp_totp/totpdevice/{device.pk}/config/").status_code == 403
        assert client.get(f"/admin/otp_totp/totpdevice/{device.pk}/qrcode/").status_code == 403

    def test_even_a_superuser_cannot_read_a_qr_code(self, login, clinician):
        device = TOTPDevice.objects.create(user=clinician, name="phone", confirmed=True)
        client = login(UserFactory(username="root", is_superuser=True))

        assert client.get(f"/admin/otp_totp/totpdevice/{device.pk}/config/").status_code == 403
        assert client.get(f"/admin/otp_totp/totpdevice/{device.pk}/qrcode/").status_code == 403

    def test_recovery_codes_are_not_shown(self, login, admin_user, clinician):
        device = StaticDevice.objects.create(user=clinician, name="Recovery codes", confirmed=True)
        StaticToken.objects.create(device=device, token="zz9secret")

        html = login(admin_user).get(f"/admin/otp_static/staticdevice/{device.pk}/change/").content.decode()

        assert "zz9secret" not in html

    def test_a_practice_admin_cannot_set_a_password(self, login, admin_user, clinician):
        client = login(admin_user)
        url = f"/admin/auth/user/{clinician.pk}/password/"

        change_page = client.get(f"/admin/auth/user/{clinician.pk}/change/").content.decode()
        assert "../password/" not in change_page and 'name="password"' not in change_page
        assert client.get(url).status_code == 403
        response = client.post(url, {"set_usable_password": "true", "password1": NEW, "password2": NEW})

        assert response.status_code == 403
        clinician.refresh_from_db()
        assert clinician.check_password(PASSWORD)

    def test_a_superuser_still_can(self, login, clinician):
        client = login(UserFactory(username="root", is_superuser=True))
        url = f"/admin/auth/user/{clinician.pk}/password/"

        assert client.get(url).status_code == 200
        client.post(url, {"set_usable_password": "true", "password1": NEW, "password2": NEW})
        clinician.refresh_from_db()
        assert clinician.check_password(NEW)

    def test_a_practice_admin_cannot_change_the_address_reset_links_go_to(self, login, admin_user, clinician):
        client = login(admin_user)

        response = client.post(
            f"/admin/auth/user/{clinician.pk}/change/", user_form(clinician, email="mallory@evil.test")
        )

        assert response.status_code == 302
        clinician.refresh_from_db()
        assert clinician.email == "dr.alice@clinic.test"

    def test_the_admin_action_sends_reset_emails_to_the_people_themselves(
        self, login, client, admin_user, nurse, clinician
    ):
        inactive = UserFactory(username="gone.gary", is_active=False)
        login(admin_user)

        response = client.post(
            "/admin/auth/user/",
            {"action": "send_password_reset", "_selected_action": [nurse.pk, clinician.pk, inactive.pk]},
            follow=True,
        )

        assert response.status_code == 200
        assert sorted(m.to[0] for m in mail.outbox) == ["dr.alice@clinic.test", "nurse.nina@clinic.test"]
        assert "Not sent (inactive or no email address): gone.gary" in response.content.decode()
        assert LogEntry.objects.filter(
            object_id=str(nurse.pk), change_message="Sent a password reset email."
        ).exists()
        nurse_mail = next(m for m in mail.outbox if m.to == ["nurse.nina@clinic.test"])
        link = re.search(r"http://testserver(/accounts/password/reset/\S+/)", nurse_mail.body).group(1)
        client.post(reverse("accounts:logout"))
        set_url = client.get(link, follow=True).redirect_chain[-1][0]
        client.post(set_url, {"new_password1": NEW, "new_password2": NEW})
        nurse.refresh_from_db()
        assert nurse.check_password(NEW)


class TestSeparationOfDuties:
    def test_a_practice_admin_is_offered_only_clinician_nurse_and_front_desk(self, login, admin_user, nurse):
        html = login(admin_user).get(f"/admin/auth/user/{nurse.pk}/change/").content.decode()
        offered = set(re.findall(r'<input type="checkbox" name="groups" value="(\d+)"', html))

        assert offered == {str(pk) for pk in role_pks(Role.CLINICIAN, Role.NURSE, Role.FRONT_DESK)}

    @pytest.mark.parametrize("role", [Role.PRACTICE_ADMIN, Role.PRIVACY_OFFICER])
    def test_a_practice_admin_cannot_grant_the_privileged_roles(self, login, admin_user, nurse, role):
        response = login(admin_user).post(
            f"/admin/auth/user/{nurse.pk}/change/", user_form(nurse, groups=role_pks(Role.NURSE, role))
        )

        assert response.status_code == 200
        assert "groups" in response.context["adminform"].form.errors
        assert set(nurse.groups.values_list("name", flat=True)) == {Role.NURSE}

    def test_nor_take_them_away(self, login, admin_user, privacy):
        other_admin = UserFactory(username="admin.bea", roles=[Role.PRACTICE_ADMIN])
        client = login(admin_user)

        for person in (other_admin, privacy):
            page = client.get(f"/admin/auth/user/{person.pk}/change/").content.decode()
            assert "Roles only a superuser assigns" in page
            response = client.post(
                f"/admin/auth/user/{person.pk}/change/", user_form(person, groups=role_pks(Role.FRONT_DESK))
            )
            assert response.status_code == 302

        assert set(other_admin.groups.values_list("name", flat=True)) == {
            Role.PRACTICE_ADMIN,
            Role.FRONT_DESK,
        }
        assert set(privacy.groups.values_list("name", flat=True)) == {Role.PRIVACY_OFFICER, Role.FRONT_DESK}

    def test_a_new_account_cannot_be_made_privacy_officer_by_a_practice_admin(self, login, admin_user):
        response = login(admin_user).post(
            "/admin/auth/user/add/",
            {"username": "spy", "email": "spy@clinic.test", "groups": role_pks(Role.PRIVACY_OFFICER)},
        )

        assert response.status_code == 200
        assert not User.objects.filter(username="spy").exists()

    def test_a_superuser_assigns_every_role(self, login, nurse):
        client = login(UserFactory(username="root", is_superuser=True))

        response = client.post(
            f"/admin/auth/user/{nurse.pk}/change/",
            user_form(nurse, groups=role_pks(Role.PRIVACY_OFFICER, Role.PRACTICE_ADMIN)),
        )

        assert response.status_code == 302, response.context["adminform"].form.errors
        assert set(nurse.groups.values_list("name", flat=True)) == {Role.PRIVACY_OFFICER, Role.PRACTICE_ADMIN}


class TestStaffStatusFollowsTheRoles:
    def test_practice_admins_and_superusers_are_staff_and_nobody_else(self, nurse):
        made_admin = UserFactory(username="new.admin", roles=[Role.PRACTICE_ADMIN])
        root = UserFactory(username="root", is_superuser=True)
        nurse.is_staff = True
        nurse.save()

        for user, staff in ((made_admin, True), (root, True), (nurse, False)):
            user.refresh_from_db()
            assert user.is_staff is staff, user

    def test_adding_and_removing_the_role_either_way_round(self, nurse):
        group = Group.objects.get(name=Role.PRACTICE_ADMIN)

        nurse.groups.add(group)
        assert nurse.is_staff and User.objects.get(pk=nurse.pk).is_staff
        nurse.groups.remove(group)
        assert not nurse.is_staff and not User.objects.get(pk=nurse.pk).is_staff
        group.user_set.add(nurse)
        assert User.objects.get(pk=nurse.pk).is_staff
        group.user_set.clear()
        assert not User.objects.get(pk=nurse.pk).is_staff
