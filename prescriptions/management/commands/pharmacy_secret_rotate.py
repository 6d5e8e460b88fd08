"""`manage.py pharmacy_secret_rotate NCPDP_ID`: give a pharmacy a new random shared secret and print it (once)."""

from django.core.management.base import BaseCommand, CommandError

from prescriptions.models import Pharmacy
from prescriptions.services import pharmacy_secret_rotate


class Command(BaseCommand):
    help = "Set a new random shared secret for the messages a pharmacy sends us; prints it on stdout."

    def add_arguments(self, parser):
        parser.add_argument("ncpdp_id")

    def handle(self, *args, **options):
        try:
            secret = pharmacy_secret_rotate(ncpdp_id=options["ncpdp_id"])
        except Pharmacy.DoesNotExist as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(secret)
