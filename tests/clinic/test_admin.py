"""The Django admin for practice admins (issue 17 item 9): readable section names instead of the libraries' codes,
and clinicians of other systems (made by the FHIR import) not listed as staff accounts."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from accounts.models import ExternalClinician
from fhirapi.services import _unknown_provider

pytestmark = pytest.mark.django_db


def test_admin_sections_have_readable_names(login, admin_user):
    page = login(admin_user).get(reverse("admin:index")).content.decode()
    for readable in (
        "Sign-in attempts and lockouts",
        "Authenticator apps",
        "Recovery codes",
        "Staff accounts",
    ):
        assert readable in page, readable
    for code in (">Axes<", ">Otp_Totp<", ">Otp_Static<", "OTP_TOTP", ">Auditlog<", ">Oauth2_Provider<"):
        assert code not in page, code
    # The app pages and breadcrumbs read the same words.
    page = login(admin_user).get(reverse("admin:app_list", args=["otp_totp"])).content.decode()
    assert "Authenticator apps" in page and "Otp_Totp" not in page


def test_outside_clinicians_are_not_listed_as_staff(login, admin_user, clinician):
    User = get_user_model()
    ext = User.objects.create(
        username="ext.abc123", first_name="Olivia", last_name="Outside", is_active=False
    )
    ExternalClinician.objects.create(user=ext, source="Synthea")
    unknown = User.objects.get(pk=_unknown_provider())
    assert ExternalClinician.objects.filter(user=unknown).exists()
    client = login(admin_user)
    staff = client.get(reverse("admin:auth_user_changelist")).content.decode()
    assert "dr.alice" in staff and "ext.abc123" not in staff and "ext.unknown-provider" not in staff
    outside = client.get(reverse("admin:auth_user_changelist") + "?kind=outside").content.decode()
    assert "ext.abc123" in outside and "dr.alice" not in outside
    dept = client.get(reverse("admin:patients_department_add")).content.decode()
    assert "Outside" not in dept and "ext.abc123" not in dept


def test_the_fhir_import_marks_the_clinicians_it_makes(db):
    from fhirapi.services import bundle_import, import_account

    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": "urn:uuid:pr-1",
                "resource": {
                    "resourceType": "Practitioner",
                    "id": "pr-1",
                    "name": [{"family": "Faraway", "given": ["Frances"]}],
                },
            }
        ],
    }
    bundle_import(actor=import_account(), bundle=bundle, source="Elsewhere")
    user = get_user_model().objects.get(last_name="Faraway")
    assert user.is_active is False and not user.has_usable_password()
    assert ExternalClinician.objects.get(user=user).source == "Elsewhere"
