"""PostgreSQL COPY in chunks: rows generated in Python, streamed as COPY text format through psycopg2."""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Iterable, Sequence

from django.db import connection

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
NULL = None


def text_value(v) -> str:
    """One value in COPY text format. Lists become PostgreSQL array literals (of simple, unquoted tokens)."""
    if v is None:
        return "\\N"
    if v is True:
        return "t"
    if v is False:
        return "f"
    if isinstance(v, list | tuple):
        return "{" + ",".join(str(x) for x in v) + "}"
    return str(v).translate(_ESCAPES)


def _column_list(columns: Sequence[str]) -> str:
    return ", ".join('"' + c + '"' for c in columns)  # quoted: "end" and "start" are column names


class _Writer:
    """Runs COPY in a background thread, so Python builds the next chunk while PostgreSQL loads this one
    (psycopg2 releases the GIL while it waits for the server). At most two chunks wait in memory.

    The connection is the writer's while it runs: the row generator must not query the database (psycopg2
    does not serialise a query against a COPY in progress on the same connection)."""

    def __init__(self, raw, sql: str):
        self.queue: queue.Queue = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(raw, sql), daemon=True)
        self.thread.start()

    def _run(self, raw, sql: str) -> None:
        while (text := self.queue.get()) is not None:
            if self.error is None:
                try:
                    raw.copy_expert(sql, io.StringIO(text))
                except BaseException as exc:  # handed to the producer at its next put() or at close()
                    self.error = exc

    def put(self, text: str) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(text)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


def copy_lines(table: str, columns: Sequence[str], lines: Iterable[str], *, chunk: int = 50_000) -> int:
    """COPY text-format lines (each ending in a newline), `chunk` lines per COPY statement, pipelined."""
    sql = f"COPY {table} ({_column_list(columns)}) FROM STDIN"
    n = 0
    batch: list[str] = []
    with connection.cursor() as cur:
        writer = _Writer(cur.cursor, sql)  # psycopg2's own cursor: copy_expert
        try:
            for line in lines:
                batch.append(line)
                if len(batch) >= chunk:
                    writer.put("".join(batch))
                    n += len(batch)
                    batch = []
            if batch:
                writer.put("".join(batch))
                n += len(batch)
        finally:
            writer.close()
    return n


def copy_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence], *, chunk: int = 50_000) -> int:
    """COPY rows (sequences of Python values) into table. Returns the number of rows written."""
    return copy_lines(
        table, columns, ("\t".join(text_value(v) for v in row) + "\n" for row in rows), chunk=chunk
    )


# ------------------------------------------------------------------ model-aware tables and spools
class SeedError(RuntimeError):
    """A model gained a column the seeder cannot fill by itself (required, unique or a primary key)."""


def _default_text(field, now: str) -> str:
    """The model's default for a column the seeder does not write, in COPY text format.

    Django keeps defaults in Python, not in the database: a column left out of COPY would be NULL and a NOT NULL
    column would refuse the row. So every column the seeder does not name gets the model's own default."""
    from django.contrib.postgres.fields import ArrayField
    from django.db import models

    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return now
    if field.has_default():
        value = field.get_default()
    elif field.null:
        return "\\N"
    elif field.blank and isinstance(field, models.CharField | models.TextField):
        value = ""
    else:
        raise SeedError(f"{field.model._meta.label}.{field.name} is required and the seeder does not fill it")
    if isinstance(field, models.JSONField):
        import json

        return text_value(json.dumps(value))
    if isinstance(field, ArrayField):
        return text_value(list(value or ()))
    return text_value(value)


class Table:
    """A model's table for COPY: the fields the seeder writes, in order, and every other column at its default."""

    def __init__(self, label: str, fields: Sequence[str]):
        from datetime import UTC, datetime

        from django.apps import apps
        from django.db import models

        self.model = apps.get_model(label)
        meta = self.model._meta
        self.table = meta.db_table
        self.columns = [meta.get_field(f).column for f in fields]
        now = datetime.now(UTC).isoformat()
        extra, texts = [], []
        for f in meta.concrete_fields:
            if f.column in self.columns:
                continue
            if f.primary_key and isinstance(
                f, models.AutoField | models.BigAutoField | models.SmallAutoField
            ):
                continue  # the table's sequence
            if f.primary_key or (f.unique and not f.null):  # NULLs do not collide
                raise SeedError(f"{meta.label}.{f.name} must be unique and the seeder does not fill it")
            extra.append(f.column)
            texts.append(_default_text(f, now))
        self.all_columns = self.columns + extra
        self.suffix = "".join("\t" + t for t in texts)

    def line(self, values: Sequence) -> str:
        return "\t".join(text_value(v) for v in values) + self.suffix + "\n"

    def copy(self, rows: Iterable[Sequence], *, chunk: int = 50_000) -> int:
        return copy_lines(self.table, self.all_columns, (self.line(r) for r in rows), chunk=chunk)

    def spool(self) -> Spool:
        return Spool(self)


class Spool:
    """Rows of a table that references another one being loaded: written to a temporary file while the other
    table's rows are generated, and loaded with one COPY after it (foreign keys then find their rows)."""

    def __init__(self, table: Table):
        import tempfile

        self.t = table
        self.file = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 (closed by load())
        self.rows = 0

    def add(self, values: Sequence) -> None:
        self.file.write(self.t.line(values))
        self.rows += 1

    def load(self) -> int:
        try:
            if self.rows:
                self.file.seek(0)
                sql = f"COPY {self.t.table} ({_column_list(self.t.all_columns)}) FROM STDIN"
                with connection.cursor() as cur:
                    cur.cursor.copy_expert(sql, self.file, size=1 << 20)
        finally:
            self.file.close()
        return self.rows
