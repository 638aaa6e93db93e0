"""Recording scored signals and queueing their alerts, in the score step's own transaction.

A score step calls `record_signals(ctx, records)`. Each signal row and the outbox rows of its
alerts commit together (or not at all), so a committed score always has its alert queued.

Dedup: the same (ticker, signal type, event key) alerts once per ALERT_DEDUP_WINDOW_HOURS. Inside
the window it alerts again only when the score rose by ALERT_RESCORE_STEP or crossed into a higher
tier. The decision takes a row lock on `alert_dedup` (PostgreSQL), and the outbox idempotency key
(channel, dedup key, generation) is unique, so concurrent workers scoring the same signal queue it
once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from notifications.message import AlertMessage, Link, ScoreComponent
from notifications.routing import TIER_RANK, Route, failure_channels, route_signal

from .ledger import PipelineRun
from .model import StepContext
from .settings import Settings
from .signal_models import AlertDedup, AlertOutbox, Signal

SIGNALS_DETECTED = Counter("signals_detected", "Signals scored, by pipeline and type", ["pipeline", "signal_type"])
DEDUP_SUPPRESSED = Counter("alerts_dedup_suppressed", "Alerts not queued because the dedup window held them",
                           ["pipeline"])


@dataclass(frozen=True)
class SignalRecord:
    """A scored signal as a score step hands it over: what happened, its score and why."""

    signal_type: str
    event_key: str  # stable across runs for the same underlying event
    score: float
    title: str
    summary: str
    ticker: str | None = None
    company: str | None = None
    components: tuple[ScoreComponent, ...] = ()
    links: tuple[Link, ...] = ()
    event_time: datetime | None = None
    realtime: bool = False  # e.g. significant Form 4 activity: Slack as soon as it is scored
    held: bool = False  # amended or inconsistent input: stored, never alerted
    hold_reason: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 10.0:
            raise ValueError(f"signal {self.event_key}: score {self.score} is outside 0..10")

    @property
    def dedup_key(self) -> str:
        return f"{(self.ticker or '-').upper()}|{self.signal_type}|{self.event_key}"


@dataclass(frozen=True)
class Recorded:
    signals: int = 0
    alerts_queued: int = 0
    suppressed: int = 0
    held: int = 0
    duplicates: int = 0  # already recorded by an earlier delivery of the same step

    def counts(self) -> dict[str, int]:
        return {"signals": self.signals, "alerts_queued": self.alerts_queued, "alerts_suppressed": self.suppressed,
                "signals_held": self.held}


def _insert(session: Session, model: type, values: dict[str, Any], conflict: list[str]) -> Any:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(model).values(**values).on_conflict_do_nothing(index_elements=conflict)
    pk = list(model.__table__.primary_key.columns)[0]
    return session.execute(stmt.returning(pk)).scalar_one_or_none()


def _dedup_generation(session: Session, key: str, score: float, tier: str, now: datetime,
                      settings: Settings) -> int | None:
    """The alert generation to send, or None when the dedup window suppresses it."""
    created = _insert(session, AlertDedup, dict(dedup_key=key, generation=1, window_started_at=now,
                                                last_score=score, last_tier=tier, suppressed=0), ["dedup_key"])
    if created is not None:
        return 1
    row = session.get(AlertDedup, key, with_for_update=True, populate_existing=True)
    window = timedelta(hours=settings.ALERT_DEDUP_WINDOW_HOURS)
    rose = score >= row.last_score + settings.ALERT_RESCORE_STEP
    higher = TIER_RANK[tier] > TIER_RANK.get(row.last_tier, 0)
    if now - row.window_started_at >= window or rose or higher:
        row.generation += 1
        row.window_started_at, row.last_score, row.last_tier = now, score, tier
        return row.generation
    row.suppressed += 1
    return None


def queue_alert(session: Session, message: AlertMessage, channels: Iterable[str], *, signal_id: int | None,
                run_id: int | None, key_prefix: str) -> int:
    """One outbox row per channel; an existing idempotency key is left as it is."""
    queued = 0
    for channel in channels:
        row_id = _insert(session, AlertOutbox, dict(
            idempotency_key=f"{channel}|{key_prefix}", kind=message.kind, tier=message.tier, channel=channel,
            signal_id=signal_id, run_id=run_id, pipeline=message.pipeline, payload=message.to_dict(),
            state="pending", attempts=0, next_attempt_at=datetime.now(timezone.utc), created_at=message.detected_at,
            possible_duplicate=False), ["idempotency_key"])
        queued += row_id is not None
    return queued


def record_signals(ctx: StepContext, records: Iterable[SignalRecord]) -> Recorded:
    """Store the step's signals and queue their alerts in the step's transaction."""
    session, settings = ctx.session, ctx.settings
    now = datetime.now(timezone.utc)
    totals = dict(signals=0, alerts_queued=0, suppressed=0, held=0, duplicates=0)
    for rec in records:
        route: Route | None = None if rec.held else route_signal(rec.score, rec.ticker, rec.realtime, settings)
        tier = route.tier if route else "info"
        values = dict(run_id=ctx.run_id, pipeline=ctx.pipeline, signal_type=rec.signal_type,
                      event_key=rec.event_key, ticker=rec.ticker, company=rec.company, score=round(rec.score, 2),
                      tier=tier, title=rec.title, summary=rec.summary,
                      components=[{"name": c.name, "value": c.value, "explanation": c.explanation}
                                  for c in rec.components],
                      links=[{"label": lk.label, "url": lk.url} for lk in rec.links], details=dict(rec.details),
                      event_time=rec.event_time, detected_at=now, held=rec.held, hold_reason=rec.hold_reason or None,
                      alert_state="held" if rec.held else ("queued" if route else "below_threshold"))
        signal_id = _insert(session, Signal, values, ["run_id", "signal_type", "event_key"])
        if signal_id is None:
            totals["duplicates"] += 1
            continue
        totals["signals"] += 1
        totals["held"] += rec.held
        SIGNALS_DETECTED.labels(ctx.pipeline, rec.signal_type).inc()
        if route is None:
            continue
        generation = _dedup_generation(session, rec.dedup_key, rec.score, tier, now, settings)
        if generation is None:
            session.get(Signal, signal_id).alert_state = "suppressed"
            totals["suppressed"] += 1
            DEDUP_SUPPRESSED.labels(ctx.pipeline).inc()
            continue
        alert_id = f"{rec.dedup_key}|g{generation}"
        message = AlertMessage(alert_id=alert_id, kind="signal", tier=tier, pipeline=ctx.pipeline,
                               title=rec.title, summary=rec.summary, signal_type=rec.signal_type,
                               ticker=rec.ticker or "", company=rec.company or "", score=round(rec.score, 2),
                               components=rec.components, links=rec.links, event_time=rec.event_time,
                               detected_at=now, run_id=ctx.run_id)
        totals["alerts_queued"] += queue_alert(session, message, route.channels, signal_id=signal_id,
                                               run_id=ctx.run_id, key_prefix=alert_id)
    session.flush()
    return Recorded(**totals)


def queue_failure_alert(session: Session, settings: Settings, run: PipelineRun, step: str, error: str) -> int:
    """Alert on a failed run, with the step and the error (one per run and try)."""
    now = datetime.now(timezone.utc)
    headline = (error or "failed").strip().splitlines()[-1][:300] if error else "failed"
    message = AlertMessage(alert_id=f"failure|run{run.id}|try{run.try_number}", kind="failure", tier="high",
                           pipeline=run.pipeline, title=f"Pipeline {run.pipeline} failed in step {step}",
                           summary=headline, detected_at=now, run_id=run.id, step=step, error=error or "")
    return queue_alert(session, message, failure_channels(settings), signal_id=None, run_id=run.id,
                       key_prefix=message.alert_id)
