"""`manage.py migrate`, as the owner role: Django's command, run on a connection that uses DATABASE_MIGRATE_URL's
credentials when it is set (the application's own DATABASE_URL role may not create or alter tables). The
application role's privileges are re-applied afterwards (post_migrate, audit/apps.py)."""

from django.conf import settings
from django.core.management.commands.migrate import Command as DjangoMigrateCommand
from django.db import connections

from audit.dbroles import as_owner


class Command(DjangoMigrateCommand):
    help = DjangoMigrateCommand.help + " Connects as DATABASE_MIGRATE_URL's role (the owner) when it is set."

    def handle(self, *args, **options):
        if not settings.DATABASE_MIGRATE_URL:
            return super().handle(*args, **options)
        with as_owner(connections[options["database"]], settings.DATABASE_MIGRATE_URL):
            return super().handle(*args, **options)
