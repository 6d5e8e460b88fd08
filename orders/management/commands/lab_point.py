"""`manage.py lab_point FACILITY HOST PORT`: where a performing lab takes HL7 orders (MLLP). Used by dev.py run to
point the demo lab at the simulator it starts."""

from django.core.management.base import BaseCommand, CommandError

from orders.models import PerformingLab


class Command(BaseCommand):
    help = "Set the MLLP address of a performing lab (by its HL7 facility)."

    def add_arguments(self, parser):
        parser.add_argument("facility")
        parser.add_argument("host")
        parser.add_argument("port", type=int)

    def handle(self, *args, facility, host, port, **opts):
        updated = PerformingLab.objects.filter(facility=facility).update(host=host, port=port)
        if not updated:
            raise CommandError(f"no performing lab with facility {facility}")
        self.stdout.write(f"{facility} -> {host}:{port}")
