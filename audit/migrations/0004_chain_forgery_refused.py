# The database refuses what the application's role could forge (issue 18 #2):
#
# - a chain link that is not the exact successor of the last link: seq must be last + 1, prev_hash the last
#   chain_hash (or the genesis hash), chain_hash = sha256(prev_hash ':' content_hash) recomputed here, the event
#   must be queued as unlinked (it exists and is not linked yet) and event_time must be its time. The content hash
#   itself is recomputed by the linker before it extends the chain and by audit_verify (audit/services.py);
# - an access event whose time is not now (the product's INSERT sends clock_timestamp(); any supplied time further
#   than a minute from the database's clock is refused);
# - an audit partition for a month far from now (audit_partition_ensure: last month to three months ahead).
#
# The owner of the tables and superusers are trusted (they could disable the triggers anyway): the benchmark's
# seeder loads months of history as the owner, tests forge as a superuser to show what audit_verify catches.
# Every function names its tables with their schema (a temporary table of the same name cannot stand in) and the
# event trigger, which runs on every page view, does one comparison unless the time is off.

from django.db import migrations

FORGERY_SQL = """
-- pg_temp last and every name qualified: a temporary table called pg_class or audit_chainlink cannot stand in.
CREATE FUNCTION audit_trusted(rel oid) RETURNS boolean LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp AS $$
  SELECT pg_catalog.pg_has_role(current_user, c.relowner, 'MEMBER') FROM pg_catalog.pg_class c WHERE c.oid = rel
$$;

CREATE FUNCTION audit_event_time_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.occurred_at BETWEEN pg_catalog.clock_timestamp() - interval '1 minute'
                         AND pg_catalog.clock_timestamp() + interval '1 minute' THEN
    RETURN NEW;
  END IF;
  IF public.audit_trusted(TG_RELID) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'access event time % refused: the database sets event times (now)', NEW.occurred_at
    USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_accessevent_time BEFORE INSERT ON audit_accessevent
  FOR EACH ROW EXECUTE FUNCTION audit_event_time_check();

CREATE FUNCTION audit_link_check() RETURNS trigger LANGUAGE plpgsql
  SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
  last_seq bigint;
  last_hash text;
  queued_at timestamptz;
BEGIN
  IF public.audit_trusted(TG_RELID) THEN
    RETURN NEW;
  END IF;
  SELECT l.seq, l.chain_hash INTO last_seq, last_hash FROM public.audit_chainlink l ORDER BY l.seq DESC LIMIT 1;
  last_seq := coalesce(last_seq, 0);
  last_hash := coalesce(last_hash, repeat('0', 64));
  IF NEW.seq IS DISTINCT FROM last_seq + 1 OR NEW.prev_hash IS DISTINCT FROM last_hash THEN
    RAISE EXCEPTION 'chain link #% refused: only #% following hash % may be appended', NEW.seq, last_seq + 1,
      last_hash USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NEW.content_hash !~ '^[0-9a-f]{64}$'
     OR NEW.chain_hash IS DISTINCT FROM encode(sha256(convert_to(NEW.prev_hash || ':' || NEW.content_hash,
                                                                 'UTF8')), 'hex') THEN
    RAISE EXCEPTION 'chain link #% refused: its chain hash is not sha256(prev_hash:content_hash)', NEW.seq
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT u.occurred_at INTO queued_at FROM public.audit_unlinked u WHERE u.event_id = NEW.event_id;
  IF NOT FOUND OR NEW.event_time IS DISTINCT FROM queued_at THEN
    RAISE EXCEPTION 'chain link #% refused: event % is not an unlinked event of that time', NEW.seq,
      NEW.event_id USING ERRCODE = 'insufficient_privilege';
  END IF;
  NEW.linked_at := clock_timestamp();
  RETURN NEW;
END $$;
CREATE TRIGGER audit_chainlink_successor BEFORE INSERT ON audit_chainlink
  FOR EACH ROW EXECUTE FUNCTION audit_link_check();

-- As migration 0003's, but only last month to three months ahead unless the caller (session_user: inside this
-- SECURITY DEFINER function current_user is the owner) is the owner or a superuser.
CREATE OR REPLACE FUNCTION audit_partition_ensure(month date) RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
  first date := date_trunc('month', month)::date;
  this date := date_trunc('month', now())::date;
  name text := 'audit_accessevent_' || to_char(first, 'YYYYMM');
  grantee oid;
BEGIN
  IF (first < this - interval '1 month' OR first > this + interval '3 months')
     AND NOT pg_has_role(session_user, (SELECT c.relowner FROM pg_catalog.pg_class c
                                         WHERE c.oid = 'public.audit_accessevent'::regclass), 'MEMBER') THEN
    RAISE EXCEPTION 'audit partition for % refused: only last month to three months ahead', first
      USING ERRCODE = 'insufficient_privilege';
  END IF;
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

FORGERY_REVERSE = """
DROP TRIGGER IF EXISTS audit_chainlink_successor ON audit_chainlink;
DROP TRIGGER IF EXISTS audit_accessevent_time ON audit_accessevent;
DROP FUNCTION IF EXISTS audit_link_check();
DROP FUNCTION IF EXISTS audit_event_time_check();
DROP FUNCTION IF EXISTS audit_trusted(oid);
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_unlinked_queue_write_log_protection_partition_function")]

    operations = [migrations.RunSQL(FORGERY_SQL, FORGERY_REVERSE)]
