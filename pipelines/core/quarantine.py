"""Reading the quarantine: bad input records, each kept with its raw payload and the error, by the step
that met them (`StepContext.quarantine`), while the rest of the batch went on."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .ledger import QuarantinedRecord


@dataclass(frozen=True)
class QuarantineEntry:
    """A quarantined record without its payload (a 13F table can be tens of MB): the payload's size."""

    id: int
    created_at: datetime
    run_id: int | None
    pipeline: str
    step: str
    source: str
    record_key: str
    error: str
    raw_bytes: int


def list_quarantine(session: Session, *, pipeline: str | None = None, run_id: int | None = None,
                    source: str | None = None, since: datetime | None = None, limit: int = 50) -> list[QuarantineEntry]:
    """The newest quarantined records first, filtered."""
    q = QuarantinedRecord
    stmt = (select(q.id, q.created_at, q.run_id, q.pipeline, q.step, q.source, q.record_key, q.error,
                   func.length(q.raw)).order_by(q.id.desc()).limit(limit))
    if pipeline is not None:
        stmt = stmt.where(q.pipeline == pipeline)
    if run_id is not None:
        stmt = stmt.where(q.run_id == run_id)
    if source is not None:
        stmt = stmt.where(q.source == source)
    if since is not None:
        stmt = stmt.where(q.created_at >= since)
    return [QuarantineEntry(*row) for row in session.execute(stmt)]


def quarantined_record(session: Session, record_id: int) -> QuarantinedRecord:
    """One quarantined record with its payload; KeyError when there is none."""
    record = session.get(QuarantinedRecord, record_id)
    if record is None:
        raise KeyError(f"no quarantined record {record_id}")
    return record
