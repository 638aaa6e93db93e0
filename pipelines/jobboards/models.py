"""Tables of the hiring pipeline (created by migration 0006_13f_hiring).

Posting ids are unique only within one board, so every key starts with (board, company token).
Dates a board shows are unreliable (domain notes §2.5): first/last seen are our own poll times.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pipelines.core.ledger import Base, BigId, UTCDateTime


class JobPosting(Base):
    __tablename__ = "job_postings"
    __table_args__ = (UniqueConstraint("board", "company_token", "posting_id", name="uq_job_postings_posting"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    board: Mapped[str] = mapped_column(String(16))
    company_token: Mapped[str] = mapped_column(String(128))
    posting_id: Mapped[str] = mapped_column(String(128))
    ticker: Mapped[str | None] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    department: Mapped[str | None] = mapped_column(Text)  # Greenhouse joins several
    dept_group: Mapped[str] = mapped_column(String(24))  # research_clinical | regulatory | commercial | other
    location: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # as the board states it
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(8))  # open | removed
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reposts: Mapped[int] = mapped_column(Integer, default=0)


class JobPostingEvent(Base):
    """opened / removed / reposted, dated by the poll that saw it; velocity is computed from these."""

    __tablename__ = "job_posting_events"
    __table_args__ = (
        UniqueConstraint("board", "company_token", "posting_id", "kind", "at", name="uq_job_posting_events"),
        Index("ix_job_posting_events_company_at", "board", "company_token", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    board: Mapped[str] = mapped_column(String(16))
    company_token: Mapped[str] = mapped_column(String(128))
    posting_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(10))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    dept_group: Mapped[str] = mapped_column(String(24))
    run_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("pipeline_runs.id", ondelete="SET NULL"))


class JobBoardPoll(Base):
    """One applied poll of one board; a poll no newer than the last applied one is never applied again."""

    __tablename__ = "job_board_polls"
    __table_args__ = (UniqueConstraint("board", "company_token", "polled_at", name="uq_job_board_polls"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    board: Mapped[str] = mapped_column(String(16))
    company_token: Mapped[str] = mapped_column(String(128))
    ticker: Mapped[str | None] = mapped_column(String(16))
    polled_at: Mapped[datetime] = mapped_column(UTCDateTime())
    baseline: Mapped[bool] = mapped_column(Boolean)  # the first poll: postings recorded, no events
    open_count: Mapped[int] = mapped_column(Integer)
    opened: Mapped[int] = mapped_column(Integer)
    removed: Mapped[int] = mapped_column(Integer)
    reposted: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("pipeline_runs.id", ondelete="SET NULL"))
