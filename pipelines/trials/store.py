"""Reading and writing the ctgov tables in bulk, idempotently, on PostgreSQL and SQLite.

Every write is insert-if-absent on a natural key (version: study + number; event: study + version
+ event key), so a retried or re-run detect step writes nothing twice. The latest-snapshot row is an
upsert that never moves a study back to an older version.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .models import CtgovChangeEvent, CtgovStudy, CtgovStudyVersion
from .snapshots import COLUMNS

# Well under SQLite's bound-parameter limit and PostgreSQL's comfortable IN-list size.
CHUNK = 500


@dataclass(frozen=True)
class LatestRow:
    nct_id: str
    version_no: int
    version_run_id: int | None
    values: Mapping[str, Any]


@dataclass(frozen=True)
class VersionRow:
    nct_id: str
    version_no: int
    run_id: int | None
    values: Mapping[str, Any]


def chunks(items: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _insert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise RuntimeError(f"unsupported database dialect {dialect}")


def _values(row: Any) -> dict[str, Any]:
    return {c: getattr(row, c) for c in COLUMNS}


def load_latest(session: Session, nct_ids: Sequence[str]) -> dict[str, LatestRow]:
    """The latest stored snapshot of each of these studies that has one."""
    rows = session.scalars(select(CtgovStudy).where(CtgovStudy.nct_id.in_(nct_ids)))
    return {r.nct_id: LatestRow(r.nct_id, r.version_no, r.version_run_id, _values(r)) for r in rows}


def load_versions(session: Session, nct_ids: Sequence[str]) -> dict[str, list[VersionRow]]:
    """Every stored version of these studies, oldest first."""
    found: dict[str, list[VersionRow]] = {}
    rows = session.scalars(select(CtgovStudyVersion).where(CtgovStudyVersion.nct_id.in_(nct_ids))
                           .order_by(CtgovStudyVersion.nct_id, CtgovStudyVersion.version_no))
    for r in rows:
        found.setdefault(r.nct_id, []).append(VersionRow(r.nct_id, r.version_no, r.run_id, _values(r)))
    return found


def insert_versions(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    rows = list(rows)
    if rows:
        stmt = _insert(session)(CtgovStudyVersion).on_conflict_do_nothing(index_elements=["nct_id", "version_no"])
        session.execute(stmt, rows)


def insert_events(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    rows = list(rows)
    if rows:
        stmt = _insert(session)(CtgovChangeEvent).on_conflict_do_nothing(
            index_elements=["nct_id", "version_no", "event_key"])
        session.execute(stmt, rows)


def upsert_latest(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    """Insert or refresh the latest row of each study; an older version never overwrites a newer one."""
    rows = list(rows)
    if not rows:
        return
    stmt = _insert(session)(CtgovStudy)
    refreshed = [*COLUMNS, "version_no", "version_run_id", "last_seen_run_id", "last_seen_at"]
    stmt = stmt.on_conflict_do_update(index_elements=["nct_id"],
                                      set_={c: getattr(stmt.excluded, c) for c in refreshed},
                                      where=CtgovStudy.version_no <= stmt.excluded.version_no)
    session.execute(stmt, rows)


def touch_latest(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    """Mark studies seen again in their current version (bulk UPDATE by primary key)."""
    rows = list(rows)
    if rows:
        session.execute(update(CtgovStudy), rows)
