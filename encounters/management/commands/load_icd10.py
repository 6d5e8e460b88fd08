from django.core.management.base import BaseCommand

from encounters.findings import icd10_load


class Command(BaseCommand):
    help = "Load (or refresh) the ICD-10-CM code list shipped in data/terminology into the Icd10Code table."

    def handle(self, *args, **options):
        from core.refdata import iter_icd10cm

        n = icd10_load(iter_icd10cm())
        self.stdout.write(self.style.SUCCESS(f"Loaded {n} ICD-10-CM codes."))
