"""Settings of every database session the product opens (ehr/apps.py)."""

import pytest
from django.db import connection, connections


@pytest.mark.django_db
def test_sessions_run_without_jit_compilation():
    fresh = connections.create_connection("default")  # a new session, as a web or worker process opens one
    try:
        for conn in (connection, fresh):
            with conn.cursor() as cur:
                cur.execute("SHOW jit")
                assert cur.fetchone()[0] == "off"
    finally:
        fresh.close()
