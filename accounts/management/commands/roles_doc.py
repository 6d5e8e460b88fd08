from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.roles import roles_markdown


class Command(BaseCommand):
    help = "Write docs/roles.md from accounts/roles.py."

    def handle(self, *args, **options):
        path = Path(settings.BASE_DIR) / "docs" / "roles.md"
        path.write_text(roles_markdown())
        self.stdout.write(f"wrote {path}")
