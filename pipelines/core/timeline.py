"""A ticker's timeline: the signals every pipeline scored for it, newest event first.

Context signals (hiring, a held 13F change) are kept here even when they alert no one, so the
timeline is where an analyst sees them next to the trial, patent and insider signals of the same
ticker. A replay or a backfill scores the same event again in another run; the timeline shows each
event once, as its latest run scored it.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .signal_models import Signal


def timeline(session: Session, ticker: str | None = None, *, since: datetime | None = None,
             until: datetime | None = None, pipeline: str | None = None, min_score: float | None = None,
             signal_types: Sequence[str] = (), limit: int = 50) -> list[Signal]:
    """The latest scoring of each (signal type, event), filtered, by event time (else detection time)."""
    s = Signal
    latest = select(func.max(s.id)).group_by(s.signal_type, s.event_key)
    when = func.coalesce(s.event_time, s.detected_at)
    if ticker is not None:
        latest = latest.where(s.ticker == ticker.upper())
    if pipeline is not None:
        latest = latest.where(s.pipeline == pipeline)
    if signal_types:
        latest = latest.where(s.signal_type.in_(sorted({t.strip().lower() for t in signal_types})))
    q = select(s).where(s.id.in_(latest)).order_by(when.desc(), s.id.desc()).limit(limit)
    if since is not None:
        q = q.where(when >= since)
    if until is not None:
        q = q.where(when <= until)
    if min_score is not None:
        q = q.where(s.score >= min_score)
    return list(session.scalars(q))
