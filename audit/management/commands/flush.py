"""`manage.py flush`, which cannot erase the audit trail.

In production the append-only tables refuse TRUNCATE (a trigger, and the application role has no such privilege),
so Django's flush fails there, as it should. The test suite flushes the database after every transactional test:
in test mode (EHR_TEST_MODE, a test database on a superuser connection) the triggers are set aside for that one
statement (session_replication_role, a superuser's setting) and the test database's chain checkpoints, which
describe the chain just erased, are forgotten.
"""

from django.conf import settings
from django.core.management.commands.flush import Command as DjangoFlushCommand
from django.db import connections

from audit import anchor


class Command(DjangoFlushCommand):
    def handle(self, **options):
        if not settings.TEST_MODE:
            return super().handle(**options)
        conn = connections[options["database"]]
        with conn.cursor() as cur:
            cur.execute("SET session_replication_role = replica")
        try:
            super().handle(**options)
        finally:
            with conn.cursor() as cur:
                cur.execute("SET session_replication_role = origin")
        anchor.checkpoints_forget()
