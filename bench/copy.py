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
