"""Least privilege in PostgreSQL: an owner role for migrations, an application role for run time.

Why: "the application cannot change audit rows" means little if the application connects as the tables' owner,
who may `ALTER TABLE ... DISABLE TRIGGER`, or as a superuser, who may do anything. So:

- the owner role (DATABASE_MIGRATE_URL) owns every table, runs `manage.py migrate` and nothing else;
- the application role (DATABASE_URL for web, worker and beat) owns nothing, holds SELECT/INSERT/UPDATE/DELETE on
  the application's tables, and only SELECT/INSERT on the audit tables (audit_accessevent, audit_chainlink,
  auditlog_logentry): no UPDATE, DELETE or TRUNCATE, and no way to disable their triggers. It reads the linker's
  queue (audit_unlinked, kept by SECURITY DEFINER triggers) and creates next months' partitions only through the
  SECURITY DEFINER function audit_partition_ensure (migration 0003).

`grants_apply` (re)applies the application role's privileges; it runs after every `migrate` (post_migrate, see
apps.py) and from `manage.py db_grants`, and sets ALTER DEFAULT PRIVILEGES so tables created later get them too.
`roles_create` and `database_prepare` make both roles and the owner's database; a superuser runs them (`python3
dev.py run` in the embedded cluster, docker-compose's `db-roles` service in production, `manage.py db_roles`). They
use psycopg2 alone, so ehr/devstack.py can call them before Django is configured.
"""

from __future__ import annotations

import contextlib
import logging
from urllib.parse import quote, urlsplit, urlunsplit

log = logging.getLogger("audit")

# Written once, never changed or removed by the application.
APPEND_ONLY_TABLES = ("audit_accessevent", "audit_chainlink", "auditlog_logentry")
# Kept by triggers running with the owner's rights; the application only reads them.
READ_ONLY_TABLES = ("audit_unlinked", "django_migrations")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def grants_apply(*, connection, app_role: str) -> list[str]:
    """Give `app_role` the run-time privileges on the current database, and nothing more. Returns the statements
    run. Run as the tables' owner (or a superuser)."""
    role = _q(app_role)
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [app_role])
        if cur.fetchone() is None:
            log.warning(
                "database role %s does not exist: no grants applied (see docs/deployment.md)", app_role
            )
            return []
        cur.execute("SELECT current_database()")
        db = cur.fetchone()[0]
        cur.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = to_regclass('audit_accessevent')"
        )
        partitions = [r[0] for r in cur.fetchall()]
        cur.execute(
            "SELECT to_regclass(t) IS NOT NULL FROM unnest(%s::text[]) AS t",
            [list(APPEND_ONLY_TABLES + READ_ONLY_TABLES)],
        )
        present = [
            t
            for t, ok in zip(
                APPEND_ONLY_TABLES + READ_ONLY_TABLES, [r[0] for r in cur.fetchall()], strict=True
            )
            if ok
        ]
        cur.execute("SELECT to_regprocedure('audit_partition_ensure(date)') IS NOT NULL")
        has_function = cur.fetchone()[0]
        stmts = [
            f"GRANT CONNECT ON DATABASE {_q(db)} TO {role}",
            f"GRANT USAGE ON SCHEMA public TO {role}",
            f"REVOKE CREATE ON SCHEMA public FROM {role}",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
            f"REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA public FROM {role}",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}",
        ]
        for table in present:
            if table in APPEND_ONLY_TABLES:
                stmts.append(f"REVOKE UPDATE, DELETE ON {_q(table)} FROM {role}")
            else:
                stmts.append(f"REVOKE INSERT, UPDATE, DELETE ON {_q(table)} FROM {role}")
        # Through the parent only: the parent's privileges are the ones checked there.
        stmts += [f"REVOKE ALL ON {p} FROM {role}" for p in partitions]
        if has_function:
            stmts.append(f"GRANT EXECUTE ON FUNCTION audit_partition_ensure(date) TO {role}")
        for sql in stmts:
            cur.execute(sql)
        cur.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
            "WHERE r.rolname = %s AND c.relnamespace = 'public'::regnamespace",
            [app_role],
        )
        owned = cur.fetchone()[0]
    if owned:
        log.warning(
            "database role %s owns %s objects: it could disable the audit triggers; reassign them to the "
            "owner role (docs/deployment.md)",
            app_role,
            owned,
        )
    return stmts


def url_with_user(url: str, user: str, password: str = "") -> str:
    """`url` with another user (and password): the same server and database, another role."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    cred = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    netloc = f"{cred}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _connect(url: str, dbname: str | None = None):
    import psycopg2

    parts = urlsplit(url)
    conn = psycopg2.connect(
        host=parts.hostname or None,
        port=parts.port or None,
        user=parts.username or None,
        password=parts.password or None,
        dbname=dbname or (parts.path.lstrip("/") or "postgres"),
    )
    conn.autocommit = True
    return conn


def is_superuser(url: str) -> bool:
    with contextlib.closing(_connect(url, "postgres")) as conn, conn.cursor() as cur:
        cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        return bool(cur.fetchone()[0])


def roles_create(
    *,
    superuser_url: str,
    owner: str = "ehr_owner",
    owner_password: str = "",
    app: str = "ehr_app",
    app_password: str = "",
) -> None:
    """Create (or bring in line) the owner and application roles, as a superuser: both may log in; neither is a
    superuser, nor creates roles or databases. Idempotent, and safe when several processes run it at once."""
    import psycopg2
    from psycopg2 import sql

    with contextlib.closing(_connect(superuser_url, "postgres")) as conn, conn.cursor() as cur:
        for role, password in ((owner, owner_password), (app, app_password)):
            # Exists already, or another process just made it (pg_authid's unique index).
            with contextlib.suppress(psycopg2.errors.DuplicateObject, psycopg2.errors.UniqueViolation):
                cur.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
            query = sql.SQL(
                "ALTER ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
            ).format(sql.Identifier(role))
            if password:
                query = query + sql.SQL(" PASSWORD {}").format(sql.Literal(password))
            cur.execute(query)


def database_prepare(*, superuser_url: str, database: str, owner: str = "ehr_owner") -> None:
    """Create `database` owned by the owner role if missing; otherwise make the owner role own it, its public
    schema, and what an earlier single-role setup created there (tables, sequences, views, functions; not the
    extensions' objects). As a superuser; idempotent."""
    import psycopg2
    from psycopg2 import sql

    with contextlib.closing(_connect(superuser_url, "postgres")) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database])
        if cur.fetchone() is None:
            with contextlib.suppress(psycopg2.errors.DuplicateDatabase):
                cur.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(database), sql.Identifier(owner)
                    )
                )
        cur.execute(
            sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(database), sql.Identifier(owner))
        )
    with contextlib.closing(_connect(superuser_url, database)) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(owner)))
        cur.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        cur.execute(
            """
            SELECT format('ALTER %%s %%s OWNER TO %%I',
                          CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                                         WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,
                          c.oid::regclass, %s)
              FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
             WHERE c.relnamespace = 'public'::regnamespace AND r.rolname <> %s
               AND c.relkind IN ('r', 'p', 'S', 'v', 'm')
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
               -- a serial or identity column's sequence follows its table (and refuses to be moved alone)
               AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid
                                                      AND d.deptype IN ('a', 'i')))
        """,
            [owner, owner],
        )
        for (stmt,) in cur.fetchall():
            cur.execute(stmt)
        cur.execute(
            """
            SELECT format('ALTER FUNCTION %%s OWNER TO %%I', p.oid::regprocedure, %s)
              FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner
             WHERE p.pronamespace = 'public'::regnamespace AND r.rolname <> %s
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
        """,
            [owner, owner],
        )
        for (stmt,) in cur.fetchall():
            cur.execute(stmt)


@contextlib.contextmanager
def as_owner(connection, url: str):
    """Run the block on `connection` as the role of `url` (its user, password, host and port; the database name
    stays, so a test database keeps its own). For `migrate`: DDL needs the owner."""
    import environ

    cfg = environ.Env.db_url_config(url)
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update({k: cfg[k] for k in ("USER", "PASSWORD", "HOST", "PORT") if k in cfg})
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
