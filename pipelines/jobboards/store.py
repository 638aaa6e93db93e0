"""Reading and writing the job-posting tables for one board poll at a time."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipelines.sources.jobs.tracking import PostingEvent

from .models import JobBoardPoll, JobPosting, JobPostingEvent
from pipelines.core.db import table_of, upsert_insert


def _insert(session: Session, model: type, values: dict[str, Any], conflict: list[str]) -> int | None:
    stmt = upsert_insert(session)(model).values(**values).on_conflict_do_nothing(index_elements=conflict)
    return session.execute(stmt.returning(table_of(model).c.id)).scalar_one_or_none()


def last_poll(session: Session, board: str, token: str) -> datetime | None:
    return session.scalar(select(func.max(JobBoardPoll.polled_at)).where(
        JobBoardPoll.board == board, JobBoardPoll.company_token == token))


def claim_poll(session: Session, values: dict[str, Any]) -> JobBoardPoll | None:
    """Insert the poll row first: a second delivery of the same poll finds it and applies nothing."""
    poll_id = _insert(session, JobBoardPoll, values, ["board", "company_token", "polled_at"])
    return session.get(JobBoardPoll, poll_id) if poll_id is not None else None


def postings_of(session: Session, board: str, token: str) -> dict[str, JobPosting]:
    return {p.posting_id: p for p in session.scalars(select(JobPosting).where(
        JobPosting.board == board, JobPosting.company_token == token))}


def add_events(session: Session, board: str, token: str, events: Iterable[PostingEvent], run_id: int) -> int:
    added = 0
    for e in events:
        added += _insert(session, JobPostingEvent, dict(board=board, company_token=token, posting_id=e.posting_id,
                                                        kind=e.kind, at=e.at, dept_group=e.group, run_id=run_id),
                         ["board", "company_token", "posting_id", "kind", "at"]) is not None
    return added


def events_since(session: Session, board: str, token: str, since: datetime, until: datetime) -> list[PostingEvent]:
    rows = session.scalars(select(JobPostingEvent).where(
        JobPostingEvent.board == board, JobPostingEvent.company_token == token,
        JobPostingEvent.at > since, JobPostingEvent.at <= until).order_by(JobPostingEvent.at))
    return [PostingEvent(r.posting_id, r.kind, r.at, r.dept_group) for r in rows]


def poll_at(session: Session, board: str, token: str, polled_at: datetime) -> JobBoardPoll | None:
    return session.scalar(select(JobBoardPoll).where(JobBoardPoll.board == board, JobBoardPoll.company_token == token,
                                                     JobBoardPoll.polled_at == polled_at))


def postings_by_id(session: Session, board: str, token: str, ids: Iterable[str]) -> list[JobPosting]:
    wanted = list(ids)
    if not wanted:
        return []
    return list(session.scalars(select(JobPosting).where(
        JobPosting.board == board, JobPosting.company_token == token, JobPosting.posting_id.in_(wanted))))
