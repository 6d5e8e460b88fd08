"""Load the demo clinic: staff in every role, about 200 patients with history, schedules and prescriptions.

`python3 dev.py run` calls it with --if-empty on every start, so it runs once per data folder.
The one command that assembles the demo: each app keeps its own builder (accounts/demo.py, patients/demo.py,
encounters/demo.py, prescriptions/demo.py, fhirapi/demo.py) and this command, above the apps, calls them in order.
No app imports another app's demo module. Demo accounts get a TOTP device whose secret is generated at load time
(random, like an enrolment: nothing in the source predicts it), so that `manage.py demo_totp USER` can show the
current code (only while DEBUG is on).
"""

import random

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from faker import Faker

from accounts.demo import STAFF, demo_staff_create
from encounters import demo as encounters_demo
from fhirapi.demo import demo_import_synthea
from inbox import demo as inbox_demo
from orders import demo as orders_demo
from patients.demo import demo_department_create, demo_patients_create
from prescriptions import demo as prescriptions_demo

# The clinical builders, in order: each takes the demo patients, the clinicians, the front desk and the random
# source (scheduling and the record first, then the prescriptions that hang off their encounters, the orders and
# results, then the inbox that lists what is waiting).
CLINICAL_BUILDERS = (
    encounters_demo.demo_build,
    prescriptions_demo.demo_build,
    orders_demo.demo_build,
    inbox_demo.demo_build,
)


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
        # Every demo account's password is in accounts/demo.py: refuse unless this is a development server (DEBUG,
        # as `python3 dev.py run` sets) or someone asked for it by name.
        if not settings.DEBUG and not allow_production:
            raise CommandError(
                "Refusing to load demo data: DEBUG is off, so this looks like a production server, and the demo "
                "accounts all share a password published in the source code. Use a development server "
                "(python3 dev.py run), or pass --allow-production if you really mean it."
            )
        if if_empty and get_user_model().objects.filter(username="dr.house").exists():
            return
        rng = random.Random(seed)
        fake = Faker(["en_US", "es_MX"])
        Faker.seed(seed)
        with transaction.atomic():
            staff = demo_staff_create()
            dept = demo_department_create(members=staff.values())
            clinicians = [staff["dr.house"], staff["dr.grey"], staff["dr.quinn"]]
            made = demo_patients_create(
                count=patients,
                department=dept,
                clinicians=clinicians,
                nurse=staff["nurse.joy"],
                rng=rng,
                fake=fake,
            )
            for build in CLINICAL_BUILDERS:
                build(patients=made, providers=clinicians, front_desk=staff["front.desk"], rng=rng)
            imported = demo_import_synthea(department=dept, care_team=[staff["dr.house"], staff["nurse.joy"]])
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo clinic loaded: {len(made) + 1 + imported} patients ({imported} imported from the Synthea FHIR "
                f"bundles in data/fhir/synthea), {len(STAFF)} staff."
            )
        )
