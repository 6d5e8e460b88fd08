# The hash chain's work queue (audit_unlinked, kept by triggers), append-only protection of the write log
# (auditlog_logentry) like the access events, TRUNCATE refused on every audit table, and a SECURITY DEFINER function
# through which the application's role (which owns nothing) creates next months' partitions.

from django.db import migrations, models

UNLINKED_SQL = """
-- Every inserted event is queued for the linker; inserting its chain link removes it from the queue. Both run
-- with the owner's rights (SECURITY DEFINER): the application's role can read the queue but not change it.
CREATE FUNCTION audit_queue_unlinked() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, public AS $$
BEGIN
  INSERT INTO public.audit_unlinked (event_id, occurred_at) VALUES (NEW.id, NEW.occurred_at);
  RETURN NULL;
END $$;
CREATE TRIGGER audit_accessevent_queue AFTER INSERT ON audit_accessevent
  FOR EACH ROW EXECUTE FUNCTION audit_queue_unlinked();

CREATE FUNCTION audit_dequeue_linked() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, public AS $$
BEGIN
  DELETE FROM public.audit_unlinked u USING new_links n WHERE u.event_id = n.event_id;
  RETURN NULL;
END $$;
CREATE TRIGGER audit_chainlink_dequeue AFTER INSERT ON audit_chainlink
  REFERENCING NEW TABLE AS new_links FOR EACH STATEMENT EXECUTE FUNCTION audit_dequeue_linked();

-- Events written before this migration and not linked yet.
INSERT INTO audit_unlinked (event_id, occurred_at)
  SELECT e.id, e.occurred_at FROM audit_accessevent e
   WHERE NOT EXISTS (SELECT 1 FROM audit_chainlink l WHERE l.event_id = e.id);
"""

UNLINKED_REVERSE = """
DROP TRIGGER IF EXISTS audit_chainlink_dequeue ON audit_chainlink;
DROP TRIGGER IF EXISTS audit_accessevent_queue ON audit_accessevent;
DROP FUNCTION IF EXISTS audit_dequeue_linked();
DROP FUNCTION IF EXISTS audit_queue_unlinked();
"""

# Row triggers on the partitioned parent reach every partition; a TRUNCATE trigger does not (statement triggers
# are not cloned), so each partition gets its own, here and in audit_partition_ensure.
PROTECT_SQL = """
CREATE TRIGGER auditlog_logentry_append_only BEFORE UPDATE OR DELETE ON auditlog_logentry
  FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER auditlog_logentry_no_truncate BEFORE TRUNCATE ON auditlog_logentry
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_chainlink_no_truncate BEFORE TRUNCATE ON audit_chainlink
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_accessevent_no_truncate BEFORE TRUNCATE ON audit_accessevent
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
DO $$
DECLARE part regclass;
BEGIN
  FOR part IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'audit_accessevent'::regclass LOOP
    EXECUTE format('CREATE TRIGGER audit_partition_no_truncate BEFORE TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()', part);
  END LOOP;
END $$;
"""

PROTECT_REVERSE = """
DROP TRIGGER IF EXISTS auditlog_logentry_append_only ON auditlog_logentry;
DROP TRIGGER IF EXISTS auditlog_logentry_no_truncate ON auditlog_logentry;
DROP TRIGGER IF EXISTS audit_chainlink_no_truncate ON audit_chainlink;
DROP TRIGGER IF EXISTS audit_accessevent_no_truncate ON audit_accessevent;
DO $$
DECLARE part regclass;
BEGIN
  FOR part IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'audit_accessevent'::regclass LOOP
    EXECUTE format('DROP TRIGGER IF EXISTS audit_partition_no_truncate ON %s', part);
  END LOOP;
END $$;
"""

# The monthly partition for the month of `month`, if missing: created by the function's owner (the migration
# role), with its TRUNCATE trigger, and with no privilege for anyone else (the application reads and writes
# through the parent, whose privileges are the ones checked). Returns whether it was created.
PARTITION_FUNCTION_SQL = """
CREATE FUNCTION audit_partition_ensure(month date) RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, public AS $$
DECLARE
  first date := date_trunc('month', month)::date;
  name text := 'audit_accessevent_' || to_char(first, 'YYYYMM');
  grantee oid;
BEGIN
  IF to_regclass('public.' || name) IS NOT NULL THEN
    RETURN false;
  END IF;
  EXECUTE format('CREATE TABLE public.%I PARTITION OF public.audit_accessevent FOR VALUES FROM (%L) TO (%L)',
                 name, first, (first + interval '1 month')::date);
  EXECUTE format('CREATE TRIGGER audit_partition_no_truncate BEFORE TRUNCATE ON public.%I '
                 'FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()', name);
  FOR grantee IN SELECT DISTINCT a.grantee FROM pg_class c, aclexplode(c.relacl) a
                  WHERE c.oid = ('public.' || name)::regclass AND a.grantee <> c.relowner LOOP
    IF grantee = 0 THEN
      EXECUTE format('REVOKE ALL ON public.%I FROM PUBLIC', name);
    ELSE
      EXECUTE format('REVOKE ALL ON public.%I FROM %I', name, pg_get_userbyid(grantee));
    END IF;
  END LOOP;
  RETURN true;
END $$;
REVOKE ALL ON FUNCTION audit_partition_ensure(date) FROM PUBLIC;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_break_glass_index"),
        ("auditlog", "0017_add_actor_email"),
    ]

    operations = [
        migrations.CreateModel(
            name="UnlinkedEvent",
            fields=[
                ("event_id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("occurred_at", models.DateTimeField(db_index=True)),
            ],
            options={"db_table": "audit_unlinked"},
        ),
        migrations.RunSQL(UNLINKED_SQL, UNLINKED_REVERSE),
        migrations.RunSQL(PROTECT_SQL, PROTECT_REVERSE),
        migrations.RunSQL(PARTITION_FUNCTION_SQL, "DROP FUNCTION IF EXISTS audit_partition_ensure(date)"),
    ]
