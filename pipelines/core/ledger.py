"""The run ledger: runs, step attempts, content-addressed artifacts and quarantined records.

PostgreSQL in production, SQLite embedded; the schema is created by Alembic migrations
(`signals db upgrade`), never by `create_all` outside tests of the models themselves.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (JSON, BigInteger, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# SQLite has no BIGINT autoincrement; BigInteger on PostgreSQL, INTEGER PRIMARY KEY on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC; SQLite returns naive values, so re-attach UTC on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class RunState:
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"
    FINISHED = (SUCCESS, FAILED, SKIPPED)


class StepState:
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    RETRY = "retry"  # a transient failure; the task was scheduled to run again
    LOST = "lost"  # the worker died mid-step; found when the message was redelivered
    SUPERSEDED = "superseded"  # a success from an earlier try of a run that was run again


class Trigger:
    SCHEDULE = "schedule"
    MANUAL = "manual"
    BACKFILL = "backfill"
    CATCH_UP = "catch-up"
    ALL = (SCHEDULE, MANUAL, BACKFILL, CATCH_UP)


class PipelineRun(Base):
    __tablename__ = "pipeline_runs"
    # One run per (pipeline, data interval): a duplicate beat tick or a redelivered dispatch
    # message can never start a second run of the same interval.
    __table_args__ = (
        UniqueConstraint("pipeline", "data_interval_start", name="uq_pipeline_runs_interval"),
        Index("ix_pipeline_runs_state", "state"),
        Index("ix_pipeline_runs_pipeline_end", "pipeline", "data_interval_end"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    pipeline: Mapped[str] = mapped_column(String(64))
    trigger: Mapped[str] = mapped_column(String(16))
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime())
    data_interval_start: Mapped[datetime] = mapped_column(UTCDateTime())
    data_interval_end: Mapped[datetime] = mapped_column(UTCDateTime())
    conf: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default=RunState.QUEUED)
    try_number: Mapped[int] = mapped_column(Integer, default=1)
    parent_run_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("pipeline_runs.id"))
    replay_of: Mapped[int | None] = mapped_column(BigId, ForeignKey("pipeline_runs.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    failed_step: Mapped[str | None] = mapped_column(String(64))


class StepRun(Base):
    __tablename__ = "step_runs"
    __table_args__ = (UniqueConstraint("run_id", "step", "attempt", name="uq_step_runs_attempt"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(BigId, ForeignKey("pipeline_runs.id", ondelete="CASCADE"), index=True)
    step: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    task_id: Mapped[str | None] = mapped_column(String(64))
    worker: Mapped[str | None] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)


class Artifact(Base):
    """Raw payloads, stored once by content hash, so any run can be replayed from its inputs."""

    __tablename__ = "artifacts"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the raw bytes
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(128))
    compressed: Mapped[bytes] = mapped_column(LargeBinary)  # zlib; payloads are text and shrink ~5x
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RunArtifact(Base):
    __tablename__ = "run_artifacts"
    __table_args__ = (UniqueConstraint("run_id", "name", name="uq_run_artifacts_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(BigId, ForeignKey("pipeline_runs.id", ondelete="CASCADE"), index=True)
    step: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    key: Mapped[str] = mapped_column(String(64), ForeignKey("artifacts.key"))


class QuarantinedRecord(Base):
    """A bad input record, kept with its raw payload and the error, while the batch goes on."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("pipeline_runs.id", ondelete="SET NULL"),
                                               index=True)
    pipeline: Mapped[str] = mapped_column(String(64))
    step: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(255))
    record_key: Mapped[str] = mapped_column(String(255))
    error: Mapped[str] = mapped_column(Text)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
