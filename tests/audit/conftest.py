import pytest


@pytest.fixture
def app_role_connection(db):
    """A psycopg2 connection to the test database as the application's role (DATABASE_APP_ROLE, created by
    `python3 dev.py test` in the cluster; trust authentication in development and tests)."""
    import psycopg2
    from django.conf import settings
    from django.db import connection

    role = settings.DATABASE_APP_ROLE
    if not role:
        pytest.skip("DATABASE_APP_ROLE is not set (the suite's database user is not a superuser)")
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cur.fetchone() is None:
            pytest.skip(f"role {role} does not exist in this cluster")
    db = connection.settings_dict
    conn = psycopg2.connect(
        host=db["HOST"],
        port=db["PORT"],
        dbname=db["NAME"],
        user=role,
        options="-c statement_timeout=10000 -c lock_timeout=5000",
    )
    yield conn
    conn.close()
