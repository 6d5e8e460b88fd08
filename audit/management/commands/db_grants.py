from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from audit.dbroles import as_owner, grants_apply


class Command(BaseCommand):
    help = (
        "Re-apply the application role's database privileges (DML only; no UPDATE, DELETE or TRUNCATE on the "
        "audit tables). `migrate` does this after every run; see docs/deployment.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("--role", default="", help="the application role (default: DATABASE_APP_ROLE)")
        parser.add_argument("--database", default="default")

    def handle(self, *args, role="", database="default", **options):
        role = role or settings.DATABASE_APP_ROLE
        if not role:
            raise CommandError("No application role: set DATABASE_APP_ROLE (or pass --role).")
        conn = connections[database]
        if settings.DATABASE_MIGRATE_URL:
            with as_owner(conn, settings.DATABASE_MIGRATE_URL):
                stmts = grants_apply(connection=conn, app_role=role)
        else:
            stmts = grants_apply(connection=conn, app_role=role)
        if not stmts:
            raise CommandError(f"Role {role} does not exist.")
        self.stdout.write(self.style.SUCCESS(f"{len(stmts)} statements applied for role {role}"))
