"""Load the demo clinic: staff in every role, about 200 patients with history, schedules and prescriptions.

`python3 dev.py run` calls it with --if-empty on every start, so it runs once per data folder.
Demo accounts get a TOTP device whose secret is generated here, at load time (random, like an enrolment: nothing
in the source predicts it), so that `manage.py demo_totp USER` can show the current code (only while DEBUG is on);
a real installation creates users in the admin and each enrols their own device.
"""

import random
from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Practitioner
from accounts.roles import Role
from fhirapi.demo import demo_import_synthea
from patients.demo import demo_patients_create
from patients.models import Department

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


class Command(BaseCommand):
    help = "Load the demo clinic (staff, ~200 patients with history)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing if the demo was loaded before."
        )
        parser.add_argument("--patients", type=int, default=200)
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Load even though DEBUG is off. The demo accounts share a published password: never on a real "
            "clinic's server.",
        )

    def handle(self, *args, if_empty=False, patients=200, seed=2026, allow_production=False, **opts):
        # Every demo account's password is in this file: refuse unless this is a development server (DEBUG, as
        # `python3 dev.py run` sets) or someone asked for it by name.
        if not settings.DEBUG and not allow_production:
            raise CommandError(
                "Refusing to load demo data: DEBUG is off, so this looks like a production server, and the demo "
                "accounts all share a password published in the source code. Use a development server "
                "(python3 dev.py run), or pass --allow-production if you really mean it."
            )
        User = get_user_model()
        if if_empty and User.objects.filter(username="dr.house").exists():
            return
        rng = random.Random(seed)
        from faker import Faker

        fake = Faker(["en_US", "es_MX"])
        Faker.seed(seed)
        with transaction.atomic():
            dept = Department.objects.get_or_create(name="Family Medicine")[0]
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
                dept.members.add(user)
                if prac:
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
                # The key is the model's default: a fresh random one (django_otp.util.random_hex).
                TOTPDevice.objects.get_or_create(
                    user=user, name="Demo authenticator", defaults={"confirmed": True}
                )
                staff[username] = user
            clinicians = [staff["dr.house"], staff["dr.grey"], staff["dr.quinn"]]
            made = demo_patients_create(
                count=patients,
                department=dept,
                clinicians=clinicians,
                nurse=staff["nurse.joy"],
                rng=rng,
                fake=fake,
            )
            for module in ("encounters.demo", "prescriptions.demo"):
                try:
                    mod = __import__(module, fromlist=["demo_build"])
                except ModuleNotFoundError:
                    continue
                mod.demo_build(patients=made, providers=clinicians, front_desk=staff["front.desk"], rng=rng)
            imported = demo_import_synthea(department=dept, care_team=[staff["dr.house"], staff["nurse.joy"]])
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo clinic loaded: {len(made) + 1 + imported} patients ({imported} imported from the Synthea FHIR "
                f"bundles in data/fhir/synthea), {len(STAFF)} staff."
            )
        )
