from django.core.management.base import BaseCommand

from audit.services import audit_link_chain


class Command(BaseCommand):
    help = "Link committed audit events into the hash chain once (Celery beat normally does this every 2 s)."

    def handle(self, *args, **options):
        linked = audit_link_chain()
        self.stdout.write(f"linked {linked} events")
