"""Bulk row loading inside the step's transaction: COPY on PostgreSQL, executemany elsewhere.

A 13F quarter is millions of rows; row-by-row INSERTs would take the whole polling window. COPY runs
on the session's own connection, so the rows commit or roll back with the rest of the step.
Callers only COPY rows under a parent row they have just inserted (a new filing or report version),
so no conflict handling is needed here: idempotence comes from that parent's unique key.
"""
from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from pipelines.core.db import is_postgresql

from .background_copy import READ_SIZE, wait_for_copy

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
BATCH_ROWS = 50_000  # bounds the text buffer of one COPY
NULL = "\\N"


def _field(value: Any) -> str:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value).translate(_ESCAPES)


def escape(value: str) -> str:
    """A text value for COPY text format."""
    # Two C scans clear almost every name; translate() is the slow, per-character path.
    if "\\" not in value and value.isprintable():
        return value
    return value.translate(_ESCAPES)


def copy_sql(table: Table, columns: Sequence[str]) -> str:
    return f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"


def copy_lines(session: Session, table: Table, columns: Sequence[str], lines: Iterable[str]) -> int:
    """COPY ready-made text-format lines (PostgreSQL only): the fast path for a hot table."""
    wait_for_copy(session)  # the connection is about to be used raw, outside the statement guard
    session.flush()  # rows this session added (the parent row) must reach the server first
    raw = session.connection().connection.driver_connection  # psycopg2, inside the session's transaction
    assert raw is not None  # a pooled connection is never detached while a session holds it
    sql = copy_sql(table, columns)
    count = 0
    batch: list[str] = []
    with raw.cursor() as cur:
        for line in lines:
            batch.append(line)
            if len(batch) >= BATCH_ROWS:
                cur.copy_expert(sql, io.StringIO("".join(batch)), size=READ_SIZE)
                count += len(batch)
                batch = []
        if batch:
            cur.copy_expert(sql, io.StringIO("".join(batch)), size=READ_SIZE)
            count += len(batch)
    return count


def insert_rows(session: Session, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Insert `rows` (tuples in `columns` order) into `table`; returns the row count."""
    if is_postgresql(session):
        return _copy(session, table, columns, rows)
    count = 0
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(dict(zip(columns, row, strict=True)))
        if len(batch) >= BATCH_ROWS:
            session.execute(insert(table), batch)
            count += len(batch)
            batch = []
    if batch:
        session.execute(insert(table), batch)
        count += len(batch)
    return count


def _copy(session: Session, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    return copy_lines(session, table, columns, ("\t".join(_field(v) for v in row) + "\n" for row in rows))
