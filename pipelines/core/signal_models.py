"""Scored signals, the alert outbox and the dedup ledger.

Scoring writes signals and their outbox rows in one transaction (the transactional outbox), so an
alert can never be lost between a committed score and a broker message. Delivery claims rows,
sends and marks them; a sweeper re-sends what was left pending.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .ledger import Base, BigId, UTCDateTime, utcnow


class Signal(Base):
    __tablename__ = "signals"
    # A redelivered or retried score step writes the same signals again: one row per run and event.
    __table_args__ = (
        UniqueConstraint("run_id", "signal_type", "event_key", name="uq_signals_run_event"),
        Index("ix_signals_detected", "detected_at"),
        Index("ix_signals_ticker", "ticker"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("pipeline_runs.id", ondelete="SET NULL"))
    pipeline: Mapped[str] = mapped_column(String(64))
    signal_type: Mapped[str] = mapped_column(String(64))
    event_key: Mapped[str] = mapped_column(String(255))
    ticker: Mapped[str | None] = mapped_column(String(16))
    company: Mapped[str | None] = mapped_column(String(255))
    score: Mapped[float] = mapped_column(Float)
    tier: Mapped[str] = mapped_column(String(16))  # critical | high | realtime | info
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    components: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    links: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    event_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    held: Mapped[bool] = mapped_column(Boolean, default=False)
    hold_reason: Mapped[str | None] = mapped_column(Text)
    alert_state: Mapped[str] = mapped_column(String(16))  # queued | suppressed | held | below_threshold


class AlertDedup(Base):
    """The last alert of each (ticker, signal type, event key): decides re-alerts in the window."""

    __tablename__ = "alert_dedup"

    dedup_key: Mapped[str] = mapped_column(String(320), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_score: Mapped[float] = mapped_column(Float)
    last_tier: Mapped[str] = mapped_column(String(16))
    suppressed: Mapped[int] = mapped_column(Integer, default=0)


class AlertOutbox(Base):
    __tablename__ = "alert_outbox"
    __table_args__ = (
        # The idempotency key: one delivery per channel per alert generation, whatever redelivers.
        UniqueConstraint("idempotency_key", name="uq_alert_outbox_key"),
        Index("ix_alert_outbox_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(400))
    kind: Mapped[str] = mapped_column(String(16))  # signal | failure | digest
    tier: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))  # email | slack | sms | console
    signal_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("signals.id", ondelete="SET NULL"))
    run_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("pipeline_runs.id", ondelete="SET NULL"))
    pipeline: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # AlertMessage.to_dict()
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    provider_id: Mapped[str | None] = mapped_column(String(255))
    last_error: Mapped[str | None] = mapped_column(Text)
    possible_duplicate: Mapped[bool] = mapped_column(Boolean, default=False)
