"""The bench staff: the bench clinician, a privacy officer, a front-desk user and 50 providers."""

from __future__ import annotations

import random

from .. import sizes
from .base import (
    BENCH_CLINICIAN,
    BENCH_DEPARTMENT,
    BENCH_FRONT_DESK,
    BENCH_PASSWORD,
    BENCH_PRIVACY,
    SeedContext,
    register,
)


# ------------------------------------------------------------------ staff
def _npi(rng: random.Random) -> str:
    from patients.mrn import luhn_digit

    body = "1" + f"{rng.randrange(10**8):08d}"
    # NPI check digit: Luhn over the prefix 80840 plus the first nine digits (accounts/validators.py).
    return body + luhn_digit("80840" + body)


@register(name="staff", order=10)
def seed_staff(ctx: SeedContext) -> int:
    """The bench clinician (care-team grants, a verified TOTP device, a password for signing), a privacy officer,
    a front-desk user in the bench department (calendar), 50 providers with practitioner records."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.models import Practitioner
    from accounts.roles import Role
    from patients.models import Department

    if ctx.clinician is not None:
        return 0
    User = get_user_model()
    made = 0

    def user(username: str, role: str, first: str, last: str):
        nonlocal made
        u, created = User.objects.get_or_create(
            username=username,
            defaults={"first_name": first, "last_name": last, "email": f"{username}@bench.test"},
        )
        if created:
            u.set_unusable_password()
            u.save(update_fields=["password"])
            u.groups.add(Group.objects.get(name=role))
            made += 1
        return u

    def practitioner(u, rng: random.Random) -> None:
        if not Practitioner.objects.filter(user=u).exists():
            npi = _npi(rng)
            while Practitioner.objects.filter(npi=npi).exists():
                npi = _npi(rng)
            Practitioner.objects.create(user=u, npi=npi, specialty="Family medicine", credentials="MD")

    rng = random.Random(17)  # staff are the same whatever the data seed
    ctx.clinician = user(BENCH_CLINICIAN, Role.CLINICIAN, "Bench", "Clinician")
    ctx.privacy = user(BENCH_PRIVACY, Role.PRIVACY_OFFICER, "Bench", "Privacy")
    ctx.front_desk = user(BENCH_FRONT_DESK, Role.FRONT_DESK, "Bench", "Desk")
    for u in (ctx.clinician, ctx.privacy, ctx.front_desk):
        TOTPDevice.objects.get_or_create(user=u, name="bench", defaults={"confirmed": True})
    if not ctx.clinician.has_usable_password():
        ctx.clinician.set_password(BENCH_PASSWORD)
        ctx.clinician.save(update_fields=["password"])
    practitioner(ctx.clinician, rng)
    ctx.providers = [
        user(f"bench.provider{i:02d}", Role.CLINICIAN, "Provider", f"{i:02d}")
        for i in range(1, sizes.PROVIDERS + 1)
    ]
    for p in ctx.providers:
        practitioner(p, rng)
    dept, _ = Department.objects.get_or_create(name=BENCH_DEPARTMENT)
    dept.members.add(ctx.front_desk)  # the desk sees names on the calendar (department grants view_schedule)
    ctx.department_id = dept.pk
    return made
