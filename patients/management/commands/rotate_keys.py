from django.core.management.base import BaseCommand

from patients import crypto
from patients.services import patients_rotate_keys


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted field of every model with the first key in FIELD_ENCRYPTION_KEYS. "
        "Afterwards the older keys can be removed from the setting."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=1000)

    def handle(self, *args, batch=1000, **options):
        version = crypto.current_key_version()

        def report(label, rows):
            self.stdout.write(f"{label}: {rows} rows re-encrypted")

        total = patients_rotate_keys(batch=batch, on_model=report)
        self.stdout.write(self.style.SUCCESS(f"{total} rows now use key version {version}"))
