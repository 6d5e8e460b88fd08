"""Least privilege in the database: the application's role owns nothing and cannot change, remove, truncate or
unprotect audit rows, yet runs the whole product (registration, reads, the linker, next months' partitions)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest
from django.conf import settings
from django.db import connection

from audit.dbroles import APPEND_ONLY_TABLES, url_with_user

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db


def _refused(conn, sql: str) -> str:
    conn.autocommit = True
    with conn.cursor() as cur, pytest.raises(psycopg2.Error) as exc:
        cur.execute(sql)
    return exc.value.pgerror or str(exc.value)


def _partition() -> str:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits "
            "WHERE inhparent = 'audit_accessevent'::regclass ORDER BY 1 LIMIT 1"
        )
        return cur.fetchone()[0]


@pytest.mark.parametrize("table", [*APPEND_ONLY_TABLES, "partition"])
def test_the_app_role_cannot_update_delete_truncate_or_unprotect_audit_rows(app_role_connection, table):
    table = _partition() if table == "partition" else table
    col = "seq" if table == "audit_chainlink" else "id"
    for sql in (
        f"UPDATE {table} SET {col} = {col} WHERE false",
        f"DELETE FROM {table} WHERE false",
        f"TRUNCATE {table}",
    ):
        assert "permission denied" in _refused(app_role_connection, sql), sql
    for sql in (
        f"ALTER TABLE {table} DISABLE TRIGGER ALL",
        f"ALTER TABLE {table} DISABLE TRIGGER USER",
        f"ALTER TABLE {table} OWNER TO {settings.DATABASE_APP_ROLE}",
        f"DROP TABLE {table}",
    ):
        assert "must be owner" in _refused(app_role_connection, sql), sql
    assert "permission denied" in _refused(app_role_connection, "SET session_replication_role = replica")


def test_the_app_role_owns_nothing_and_cannot_create_tables_or_forge_the_link_queue(app_role_connection):
    role = settings.DATABASE_APP_ROLE
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = %s",
            [role],
        )
        assert cur.fetchone()[0] == 0
        cur.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolbypassrls FROM pg_roles WHERE rolname = %s",
            [role],
        )
        assert cur.fetchone() == (False, False, False, False)
    assert "permission denied" in _refused(app_role_connection, "CREATE TABLE sneaky (id int)")
    for sql in (
        "INSERT INTO audit_unlinked VALUES (1, now())",
        "DELETE FROM audit_unlinked",
        "INSERT INTO django_migrations (app, name, applied) VALUES ('x', 'y', now())",
    ):
        assert "permission denied" in _refused(app_role_connection, sql), sql


def test_future_tables_get_the_grants_by_default():
    role = settings.DATABASE_APP_ROLE
    if not role:
        pytest.skip("no application role")
    with connection.cursor() as cur:
        cur.execute("SELECT array_to_string(defaclacl, ',') FROM pg_default_acl WHERE defaclobjtype = 'r'")
        acls = " ".join(r[0] for r in cur.fetchall())
    assert f"{role}=arwd/" in acls  # SELECT, INSERT, UPDATE, DELETE on tables created later


SCRIPT = r"""
import datetime, json, django
django.setup()
from django.db import connection, transaction
from accounts.roles import Role
from audit.models import AccessEvent, ChainLink
from audit.services import access_record, audit_ensure_partitions, audit_link_chain, audit_verify
from patients.selectors import patient_get
from patients.services import patient_register
from tests.factories import UserFactory

out = {}
with transaction.atomic():
    with connection.cursor() as cur:
        cur.execute("SELECT current_user")
        out["user"] = cur.fetchone()[0]
    desk = UserFactory(username="app.role.desk", roles=[Role.CLINICIAN])
    p = patient_register(actor=desk, data={"given_name": "Rolf", "family_name": "Rolle", "birth_date": "1977-07-07",
                                           "sex_at_birth": "M", "phones": [{"use": "mobile", "value": "555 777 1212"}]})
    patient_get(actor=desk, patient_id=p.pk)
    access_record(actor=desk, action="view", category="demographics", patient_id=p.pk)
    out["linked"] = audit_link_chain()
    out["verify"] = audit_verify(link_first=False).ok
    out["partitions"] = audit_ensure_partitions(months_ahead=3)  # through the SECURITY DEFINER function
    with connection.cursor() as cur:
        for key, sql in (("partition", "SELECT audit_partition_ensure('2099-01-01')"),
                         ("insert", "INSERT INTO audit_accessevent (occurred_at, actor_username, patient_ids, action,"
                                    " category, outcome, break_glass, channel, request_id, detail) VALUES ("
                                    "'2099-01-02', 'x', '{}', 'view', 'x', 'success', false, 'ui', gen_random_uuid(),"
                                    " '{}')")):
            try:
                with transaction.atomic():
                    cur.execute(sql)
            except Exception as exc:
                out[key] = type(exc).__name__ + ": " + str(exc).splitlines()[0]
        try:
            with transaction.atomic():
                cur.execute("UPDATE audit_accessevent SET category = 'x'")
        except Exception as exc:
            out["update"] = type(exc).__name__ + ": " + str(exc).splitlines()[0]
    transaction.set_rollback(True)
print("RESULT " + json.dumps(out))
"""


@pytest.mark.django_db(transaction=True)
def test_the_product_runs_as_the_app_role(app_role_connection):
    db = connection.settings_dict
    url = url_with_user(f"postgres://x@{db['HOST']}:{db['PORT']}/{db['NAME']}", settings.DATABASE_APP_ROLE)
    env = {**os.environ, "DATABASE_URL": url, "EHR_TEST_MODE": "1", "DJANGO_SETTINGS_MODULE": "ehr.settings"}
    env.pop("DATABASE_MIGRATE_URL", None)
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, proc.stdout[-2000:] + proc.stderr[-4000:]
    out = json.loads(lines[-1][7:])
    assert out["user"] == settings.DATABASE_APP_ROLE
    assert (
        out["linked"] >= 3 and out["verify"] is True
    )  # the registration's writes, the read, the explicit event
    assert out["partitions"] == []  # the near months exist already; asking again is no error
    assert (
        "refused" in out["partition"] and "refused" in out["insert"]
    )  # far months, far times (migration 0004)
    assert "permission denied" in out["update"]
