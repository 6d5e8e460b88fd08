"""Demo staff for `manage.py demo_data` (development only): one account in every role, three clinicians with
practitioner records, each with a TOTP device whose secret is derived from the username (`manage.py demo_totp USER`
shows the current code while DEBUG is on). A real installation creates users in the admin and each enrols a device.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import Practitioner
from .roles import Role

DEMO_PASSWORD = "demo-password-2026"
STAFF = [
    # username, first, last, role, practitioner (npi, dea, specialty, credentials)
    ("dr.house", "Gregory", "House", Role.CLINICIAN, ("1234567893", "AH1234563", "Internal medicine", "MD")),
    ("dr.grey", "Meredith", "Grey", Role.CLINICIAN, ("1245319599", "BG1388568", "Family medicine", "MD")),
    ("dr.quinn", "Michaela", "Quinn", Role.CLINICIAN, ("1679576722", "", "Pediatrics", "MD")),
    ("nurse.joy", "Joy", "Adams", Role.NURSE, None),
    ("front.desk", "Frank", "Desk", Role.FRONT_DESK, None),
    ("admin", "Ada", "Admin", Role.PRACTICE_ADMIN, None),
    ("privacy", "Priya", "Vance", Role.PRIVACY_OFFICER, None),
]


def _practitioner_make(user, prac: tuple[str, str, str, str]) -> None:
    npi, dea, specialty, cred = prac
    Practitioner.objects.get_or_create(
        user=user,
        defaults={
            "npi": npi,
            "dea_number": dea,
            "specialty": specialty,
            "credentials": cred,
            "dea_expires": date.today() + timedelta(days=700),
        },
    )


def demo_staff_create() -> dict:
    """The demo accounts (username -> user), each in its role's group, with a confirmed TOTP device."""
    User = get_user_model()
    staff = {}
    for username, first, last, role, prac in STAFF:
        user, _ = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{username}@clinic.example",
                "is_staff": role == Role.PRACTICE_ADMIN,
            },
        )
        user.set_password(DEMO_PASSWORD)
        user.save()
        user.groups.add(Group.objects.get(name=role))
        if prac:
            _practitioner_make(user, prac)
        TOTPDevice.objects.get_or_create(
            user=user,
            name="Demo authenticator",
            defaults={"confirmed": True},  # the key: the model's default, a fresh random one
        )
        staff[username] = user
    return staff
