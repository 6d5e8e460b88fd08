from django.db import migrations

# The break-the-glass report scans only emergency events: a small partial index instead of the whole table.
# Created on the partitioned parent, so PostgreSQL creates it on every partition, present and future.
SQL = """
CREATE INDEX IF NOT EXISTS audit_ev_break_glass ON audit_accessevent (occurred_at)
  WHERE break_glass OR action = 'break_glass';
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunSQL(SQL, "DROP INDEX IF EXISTS audit_ev_break_glass")]
