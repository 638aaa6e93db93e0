"""Tables of the clinical_trials pipeline (migration 0003_ctgov).

Dates are stored as the registry gives them ("2026-12" or "2026-12-15"): a month-only date is a
window, and padding it to a day would invent precision the diff then trusts.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from pipelines.core.ledger import Base, BigId, UTCDateTime, utcnow


class TrackedFields:
    """The tracked fields of one study version (issue 6), shared by the latest row and the history."""

    brief_title: Mapped[str | None] = mapped_column(Text)
    overall_status: Mapped[str | None] = mapped_column(String(32))
    why_stopped: Mapped[str | None] = mapped_column(Text)
    primary_completion_date: Mapped[str | None] = mapped_column(String(10))
    primary_completion_type: Mapped[str | None] = mapped_column(String(16))
    completion_date: Mapped[str | None] = mapped_column(String(10))
    completion_type: Mapped[str | None] = mapped_column(String(16))
    enrollment_count: Mapped[int | None] = mapped_column(Integer)
    enrollment_type: Mapped[str | None] = mapped_column(String(16))
    has_results: Mapped[bool | None] = mapped_column(Boolean)
    results_first_posted: Mapped[str | None] = mapped_column(String(10))
    lead_sponsor_name: Mapped[str | None] = mapped_column(Text)
    lead_sponsor_class: Mapped[str | None] = mapped_column(String(16))
    phases: Mapped[list[str]] = mapped_column(JSON)
    conditions: Mapped[list[str]] = mapped_column(JSON)
    interventions: Mapped[list[str]] = mapped_column(JSON)
    last_update_posted: Mapped[str | None] = mapped_column(String(10))


class CtgovStudy(TrackedFields, Base):
    """The latest snapshot of each study seen, with the version it is and who saw it."""

    __tablename__ = "ctgov_studies"
    __table_args__ = (Index("ix_ctgov_studies_sponsor", "lead_sponsor_name"),)

    nct_id: Mapped[str] = mapped_column(String(11), primary_key=True)
    version_no: Mapped[int] = mapped_column(Integer)
    version_run_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("pipeline_runs.id", ondelete="SET NULL"))
    last_seen_run_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("pipeline_runs.id",
                                                                           ondelete="SET NULL"))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CtgovStudyVersion(TrackedFields, Base):
    """Every version of every study: a new row whenever a tracked field changes."""

    __tablename__ = "ctgov_study_versions"
    __table_args__ = (
        UniqueConstraint("nct_id", "version_no", name="uq_ctgov_versions_study_version"),
        Index("ix_ctgov_study_versions_run_id", "run_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    nct_id: Mapped[str] = mapped_column(String(11))
    version_no: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("pipeline_runs.id", ondelete="SET NULL"))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CtgovChangeEvent(Base):
    """A detected change between a version and the one before it; once per (study version, event key)."""

    __tablename__ = "ctgov_change_events"
    __table_args__ = (
        UniqueConstraint("nct_id", "version_no", "event_key", name="uq_ctgov_events_version_key"),
        Index("ix_ctgov_events_type", "event_type"),
        Index("ix_ctgov_change_events_run_id", "run_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    nct_id: Mapped[str] = mapped_column(String(11))
    version_no: Mapped[int] = mapped_column(Integer)
    event_key: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(48))
    field: Mapped[str] = mapped_column(String(48))
    old_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    new_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    event_time: Mapped[str | None] = mapped_column(String(10))
    run_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("pipeline_runs.id", ondelete="SET NULL"))
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


TABLES = ("ctgov_change_events", "ctgov_study_versions", "ctgov_studies")
