"""Load the demo clinic: staff in every role, about 200 patients with history, schedules and prescriptions.

`python3 dev.py run` calls it with --if-empty on every start, so it runs once per data folder.
Demo accounts get a TOTP device with a fixed secret so that `manage.py demo_totp USER` can show the current code
(only while DEBUG is on); a real installation creates users in the admin and each enrols their own device.
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
from audit.models import Action
from audit.services import access_record
from patients.models import Department, Patient
from patients.services import care_team_grant, mrn_next, patient_derive

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


def demo_totp_key(username: str) -> str:
    import hashlib

    return hashlib.sha256(f"open-ehr-demo:{username}".encode()).hexdigest()[:40]


class Command(BaseCommand):
    help = "Load the demo clinic (staff, ~200 patients with history)."

    def add_arguments(self, parser):
        parser.add_argument("--if-empty", action="store_true", help="Do nothing if the demo was loaded before.")
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
                    defaults={"first_name": first, "last_name": last, "email": f"{username}@clinic.example",
                              "is_staff": role == Role.PRACTICE_ADMIN},
                )
                user.set_password(DEMO_PASSWORD)
                user.save()
                user.groups.add(Group.objects.get(name=role))
                dept.members.add(user)
                if prac:
                    npi, dea, specialty, cred = prac
                    Practitioner.objects.get_or_create(
                        user=user, defaults={"npi": npi, "dea_number": dea, "specialty": specialty,
                                             "credentials": cred, "dea_expires": date.today() + timedelta(days=700)})
                TOTPDevice.objects.get_or_create(user=user, name="Demo authenticator",
                                                 defaults={"key": demo_totp_key(username), "confirmed": True})
                staff[username] = user
            clinicians = [staff["dr.house"], staff["dr.grey"], staff["dr.quinn"]]
            made = []
            for i in range(patients):
                sex = rng.choice("FM")
                first = fake.first_name_female() if sex == "F" else fake.first_name_male()
                birth = fake.date_of_birth(minimum_age=0, maximum_age=95)
                p = Patient(
                    given_name=first, family_name=fake.last_name(), birth_date=birth, sex_at_birth=sex,
                    middle_name=fake.first_name() if rng.random() < 0.3 else "",
                    preferred_name=(first[:3] if rng.random() < 0.08 else ""),
                    pronouns={"F": "she/her", "M": "he/him"}[sex] if rng.random() < 0.5 else "",
                    race=[rng.choice(["2106-3", "2054-5", "2028-9", "1002-5", "2076-8", "2131-1"])],
                    ethnicity=rng.choice(["2135-2", "2186-5", "2186-5", "ASKU"]),
                    preferred_language=rng.choice(["en"] * 8 + ["es", "vi"]),
                    phones=[{"use": "mobile", "value": f"555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"}],
                    email=f"{first.lower()}.{i}@mail.example",
                    addresses=[{"use": "home", "line": fake.street_address(), "city": fake.city(),
                                "state": fake.state_abbr(), "postal_code": fake.zipcode(), "country": "US"}],
                    emergency_contacts=[{"name": fake.name(), "relationship": rng.choice(["spouse", "parent",
                                                                                          "sibling", "friend"]),
                                         "phone": f"555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"}],
                    ssn=f"{rng.randint(100, 665):03d}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
                    department=dept,
                )
                if i % 40 == 7:
                    p.deceased_date = min(date.today(), birth + timedelta(days=365 * 60))
                    if p.deceased_date < birth:
                        p.deceased_date = None
                p.mrn = mrn_next()
                patient_derive(p)
                made.append(p)
            Patient.objects.bulk_create(made)
            for idx, p in enumerate(made):
                care_team_grant(patient=p, user=clinicians[idx % len(clinicians)], care_role="Primary care physician")
                care_team_grant(patient=p, user=staff["nurse.joy"], care_role="Nurse")
            # A near-duplicate pair for the merge and duplicate-detection demo.
            twin = made[3]
            dup = Patient(given_name=twin.given_name, family_name=twin.family_name + "e", birth_date=twin.birth_date,
                          sex_at_birth=twin.sex_at_birth, phones=twin.phones, department=dept)
            dup.mrn = mrn_next()
            patient_derive(dup)
            dup.save(force_insert=True)
            access_record(actor=None, action=Action.CREATE, category="demographics", channel="command",
                          patient_ids=[p.pk for p in made] + [dup.pk], detail={"demo_data": len(made) + 1})
            for module in ("encounters.demo", "prescriptions.demo"):
                try:
                    mod = __import__(module, fromlist=["demo_build"])
                except ModuleNotFoundError:
                    continue
                mod.demo_build(patients=made, providers=clinicians, front_desk=staff["front.desk"], rng=rng)
        self.stdout.write(self.style.SUCCESS(f"Demo clinic loaded: {len(made) + 1} patients, {len(STAFF)} staff."))
