import os

from django.core.management.base import BaseCommand

from audit.dbroles import database_prepare, roles_create


class Command(BaseCommand):
    help = (
        "As a database superuser: create the owner and application roles and the database owned by the owner "
        "(idempotent). Passwords come from EHR_DB_OWNER_PASSWORD and EHR_DB_APP_PASSWORD. See "
        "docs/deployment.md (Database roles)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--superuser-url",
            default=os.environ.get("DATABASE_SUPERUSER_URL", ""),
            help="postgres://superuser:password@host:port/postgres (default: DATABASE_SUPERUSER_URL)",
        )
        parser.add_argument("--database", default="ehr")
        parser.add_argument("--owner", default="ehr_owner")
        parser.add_argument("--app", default="ehr_app")

    def handle(self, *args, superuser_url="", database="ehr", owner="ehr_owner", app="ehr_app", **options):
        if not superuser_url:
            self.stderr.write("Give --superuser-url or set DATABASE_SUPERUSER_URL.")
            raise SystemExit(2)
        roles_create(
            superuser_url=superuser_url,
            owner=owner,
            owner_password=os.environ.get("EHR_DB_OWNER_PASSWORD", ""),
            app=app,
            app_password=os.environ.get("EHR_DB_APP_PASSWORD", ""),
        )
        database_prepare(superuser_url=superuser_url, database=database, owner=owner)
        self.stdout.write(
            self.style.SUCCESS(
                f"roles {owner} (owner) and {app} (application) ready; database {database} owned by {owner}"
            )
        )
