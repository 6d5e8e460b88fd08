"""The chart version: a counter on each patient row that the database bumps whenever anything the chart page shows
changes, so the page's rendered body can be cached under (patient, version) and never served stale.

- A BEFORE UPDATE trigger on patients_patient bumps it when any other column of the row changes (demographics).
- Each table whose rows the chart page shows gets three statement-level triggers (insert, update, delete) that
  bump the version of every patient the statement touched, read from the statement's transition tables: one
  UPDATE per statement, so a bulk import of a thousand rows costs one UPDATE, not a thousand. An update that moves
  a row to another patient (a merge) bumps both.

Triggers, not application code: a write that bypasses the services (the admin, a data fix in psql, a migration)
still invalidates the cache. Each app's migration adds its tables' triggers with `triggers_operation(tables)`.

A bulk load (the bench's seed, bench/seeders.py) may `SET ehr.chart_version_bump = 'off'` for its session: the
statement triggers then bump nothing, and the load must bump the versions of the patients it wrote to itself, once,
before it ends (BULK_BUMP_SQL). Only the session that set it is affected.
"""

from django.db import migrations

# The statement triggers' function: bump every patient the statement touched, read from its transition tables.
_BUMP_BODY = """  IF TG_OP = 'INSERT' THEN
    UPDATE patients_patient SET chart_version = chart_version + 1
     WHERE id IN (SELECT patient_id FROM new_rows);
  ELSIF TG_OP = 'DELETE' THEN
    UPDATE patients_patient SET chart_version = chart_version + 1
     WHERE id IN (SELECT patient_id FROM old_rows);
  ELSE
    UPDATE patients_patient SET chart_version = chart_version + 1
     WHERE id IN (SELECT patient_id FROM new_rows UNION SELECT patient_id FROM old_rows);
  END IF;
  RETURN NULL;
"""
# Migration 0006 adds the bulk-load switch in front of it.
_BULK_SWITCH = """  IF current_setting('ehr.chart_version_bump', true) = 'off' THEN
    RETURN NULL;
  END IF;
"""


def _bump_function_sql(*, create: str, switch: bool) -> str:
    return (
        f"\n{create} FUNCTION patient_chart_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
        f"{_BULK_SWITCH if switch else ''}{_BUMP_BODY}END $$;\n"
    )


FUNCTIONS_SQL = """
CREATE FUNCTION patient_chart_version_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.chart_version = OLD.chart_version AND NEW IS DISTINCT FROM OLD THEN
    NEW.chart_version := OLD.chart_version + 1;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER patient_chart_version_row BEFORE UPDATE ON patients_patient
  FOR EACH ROW EXECUTE FUNCTION patient_chart_version_row();
""" + _bump_function_sql(create="CREATE", switch=False)

# Migration 0006: the function with the switch; its reverse is the function as 0005 created it.
BUMP_FUNCTION_SQL = _bump_function_sql(create="CREATE OR REPLACE", switch=True)
BUMP_FUNCTION_V1_SQL = _bump_function_sql(create="CREATE OR REPLACE", switch=False)

# What a bulk load that switched the bump off runs before it ends: every patient's version once (one statement).
BULK_BUMP_SQL = "UPDATE patients_patient SET chart_version = chart_version + 1"

DROP_FUNCTIONS_SQL = """
DROP TRIGGER patient_chart_version_row ON patients_patient;
DROP FUNCTION patient_chart_version_row();
DROP FUNCTION patient_chart_version_bump();
"""


def triggers_sql(table: str) -> str:
    return f"""
CREATE TRIGGER {table}_chart_ins AFTER INSERT ON {table}
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION patient_chart_version_bump();
CREATE TRIGGER {table}_chart_upd AFTER UPDATE ON {table}
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION patient_chart_version_bump();
CREATE TRIGGER {table}_chart_del AFTER DELETE ON {table}
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION patient_chart_version_bump();
"""


def drop_triggers_sql(table: str) -> str:
    return "".join(f"DROP TRIGGER {table}_chart_{op} ON {table};\n" for op in ("ins", "upd", "del"))


def triggers_operation(tables: list[str], *, with_functions: bool = False) -> migrations.RunSQL:
    """The RunSQL that adds (and, reversed, drops) the triggers of `tables`; the first migration also the functions."""
    forward = "".join(triggers_sql(t) for t in tables)
    backward = "".join(drop_triggers_sql(t) for t in tables)
    if with_functions:
        forward, backward = FUNCTIONS_SQL + forward, backward + DROP_FUNCTIONS_SQL
    return migrations.RunSQL(forward, backward)
