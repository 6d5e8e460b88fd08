"""`manage.py load_catalog`: load (or refresh) the drug catalog and interaction knowledge. Idempotent."""

from django.core.management.base import BaseCommand

from prescriptions.catalog import catalog_load_reference


class Command(BaseCommand):
    help = "Load the medication catalog and drug-drug interactions from the shipped reference data."

    def handle(self, *args, **options):
        products, pairs = catalog_load_reference()
        self.stdout.write(self.style.SUCCESS(f"{products} products, {pairs} interaction pairs loaded"))
