"""Recording scored signals and queueing their alerts, in the score step's own transaction.

A score step calls `record_signals(ctx, records)`. Each signal row and the outbox rows of its
alerts commit together (or not at all), so a committed score always has its alert queued.

Dedup: the same (ticker, signal type, event key) alerts once per ALERT_DEDUP_WINDOW_HOURS. Inside
the window it alerts again only when the score rose by ALERT_RESCORE_STEP or crossed into a higher
tier. The decision holds a row lock on `alert_dedup` (PostgreSQL), and the outbox idempotency key
(channel, dedup key, generation) is unique, so concurrent workers scoring the same signal queue it
once.

A call costs a handful of multi-row statements whatever the number of signals (a single-row
statement per signal, dedup row and outbox row made recording cost more than sending): the signal
rows in one INSERT ... ON CONFLICT DO NOTHING RETURNING, the new dedup rows in another, the existing
ones locked with one SELECT ... FOR UPDATE and written back with one UPDATE, then the outbox rows.
"""
from __future__ import annotations

import json
from collections import Counter as Tally
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from prometheus_client import Counter
from sqlalchemy import JSON, Table, bindparam, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from notifications.message import AlertMessage, Link, ScoreComponent
from notifications.routing import TIER_RANK, Route, failure_channels, route_signal

from .ledger import PipelineRun
from .model import StepContext
from .settings import Settings
from .signal_models import AlertDedup, AlertOutbox, Signal
from .db import is_postgresql

SIGNALS_DETECTED = Counter("signals_detected", "Signals scored, by pipeline and type", ["pipeline", "signal_type"])
DEDUP_SUPPRESSED = Counter("alerts_dedup_suppressed", "Alerts not queued because the dedup window held them",
                           ["pipeline"])

_SIGNALS = cast(Table, Signal.__table__)
_DEDUP = cast(Table, AlertDedup.__table__)
_OUTBOX = cast(Table, AlertOutbox.__table__)


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


@dataclass(frozen=True)
class DedupState:
    """An `alert_dedup` row: the last alert of one dedup key."""

    generation: int
    window_started_at: datetime
    last_score: float
    last_tier: str
    suppressed: int


def dedup_decision(state: DedupState, score: float, tier: str, now: datetime,
                   settings: Settings) -> tuple[DedupState, bool]:
    """The row after this signal, and whether it alerts (a new generation) or the window holds it."""
    window = timedelta(hours=settings.ALERT_DEDUP_WINDOW_HOURS)
    rose = score >= state.last_score + settings.ALERT_RESCORE_STEP
    higher = TIER_RANK[tier] > TIER_RANK.get(state.last_tier, 0)
    if now - state.window_started_at >= window or rose or higher:
        return DedupState(state.generation + 1, now, score, tier, state.suppressed), True
    return DedupState(state.generation, state.window_started_at, state.last_score, state.last_tier,
                      state.suppressed + 1), False


def _insert_new(session: Session, table: Table, rows: Sequence[dict[str, Any]], conflict: list[str],
                *returning: Any) -> list[Any]:
    """Insert the rows in their order skipping existing keys; the inserted rows' `returning` columns."""
    if not rows:
        return []
    if is_postgresql(session):
        return _insert_unnest(session, table, rows, conflict, [c.name for c in returning])
    stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=conflict).returning(*returning)
    return list(session.execute(stmt, list(rows)).all())


_UNNEST: dict[tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]], Any] = {}


def _insert_unnest(session: Session, table: Table, rows: Sequence[dict[str, Any]], conflict: list[str],
                   returning: list[str]) -> list[Any]:
    """PostgreSQL: one array per column, unnested in order (WITH ORDINALITY), so ids and row locks
    follow the rows' order. A statement of fixed shape whatever the row count; it costs a fraction
    of a multi-row VALUES statement with a parameter per cell to build, send and parse."""
    names = tuple(rows[0])
    key = (table.name, names, tuple(conflict), tuple(returning))
    stmt = _UNNEST.get(key)
    if stmt is None:
        pg = postgresql.dialect()
        arrays = ", ".join(f"CAST(:{n} AS {table.c[n].type.compile(dialect=pg)}[])" for n in names)
        stmt = _UNNEST[key] = text(
            f"INSERT INTO {table.name} ({', '.join(names)}) SELECT {', '.join('v.' + n for n in names)} "
            f"FROM unnest({arrays}) WITH ORDINALITY AS v({', '.join(names)}, ord) ORDER BY v.ord "
            f"ON CONFLICT ({', '.join(conflict)}) DO NOTHING RETURNING {', '.join(returning)}")
    params: dict[str, list[Any]] = {}
    for n in names:
        kind = table.c[n].type
        if isinstance(kind, JSON):
            params[n] = [json.dumps(r[n]) for r in rows]
        elif isinstance(kind, TypeDecorator):  # UTCDateTime: aware datetimes only, stored as UTC
            params[n] = [kind.process_bind_param(r[n], session.get_bind().dialect) for r in rows]
        else:
            params[n] = [r[n] for r in rows]
    return list(session.execute(stmt, params).all())


# PostgreSQL: every changed dedup row in one statement of fixed shape (psycopg2's executemany would
# make one round trip per row). The rows are already locked by the SELECT ... FOR UPDATE.
_PG_DEDUP_UPDATE = text("""
UPDATE alert_dedup AS d
SET generation = v.generation, window_started_at = v.started, last_score = v.score, last_tier = v.tier,
    suppressed = v.suppressed
FROM unnest(CAST(:keys AS text[]), CAST(:generations AS integer[]), CAST(:started AS timestamptz[]),
            CAST(:scores AS double precision[]), CAST(:tiers AS text[]), CAST(:suppressed AS integer[]))
     AS v(dedup_key, generation, started, score, tier, suppressed)
WHERE d.dedup_key = v.dedup_key
""")

_DEDUP_UPDATE = update(_DEDUP).where(_DEDUP.c.dedup_key == bindparam("k")).values(
    generation=bindparam("g"), window_started_at=bindparam("w"), last_score=bindparam("s"),
    last_tier=bindparam("t"), suppressed=bindparam("n"))


def _write_dedup(session: Session, changed: dict[str, DedupState]) -> None:
    if not changed:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(_DEDUP_UPDATE, [{"k": k, "g": s.generation, "w": s.window_started_at, "s": s.last_score,
                                         "t": s.last_tier, "n": s.suppressed} for k, s in changed.items()])
        return
    states = list(changed.values())
    session.execute(_PG_DEDUP_UPDATE, {
        "keys": list(changed), "generations": [s.generation for s in states],
        "started": [s.window_started_at for s in states], "scores": [s.last_score for s in states],
        "tiers": [s.last_tier for s in states], "suppressed": [s.suppressed for s in states]})


def _dedup_generations(session: Session, wanted: Mapping[str, tuple[float, str]], now: datetime,
                       settings: Settings) -> dict[str, int | None]:
    """For each dedup key (score, tier): the alert generation to send, or None when the window holds it.

    Locks are taken in dedup-key order so that workers deciding overlapping keys at once cannot
    deadlock: the new rows are inserted sorted (a key another worker is inserting makes this one
    wait for its commit, then count as existing), and the existing rows are locked by one sorted
    SELECT ... FOR UPDATE. Rows this transaction created are invisible to the others until it
    commits, so no worker waits on them while holding an existing row.
    """
    keys = sorted(wanted)
    created = {key for (key,) in _insert_new(session, _DEDUP, [
        {"dedup_key": k, "generation": 1, "window_started_at": now, "last_score": wanted[k][0],
         "last_tier": wanted[k][1], "suppressed": 0} for k in keys], ["dedup_key"], _DEDUP.c.dedup_key)}
    result: dict[str, int | None] = {key: 1 for key in created}
    existing = [key for key in keys if key not in created]
    if not existing:
        return result
    query = (select(_DEDUP.c.dedup_key, _DEDUP.c.generation, _DEDUP.c.window_started_at, _DEDUP.c.last_score,
                    _DEDUP.c.last_tier, _DEDUP.c.suppressed)
             .where(_DEDUP.c.dedup_key.in_(existing)).order_by(_DEDUP.c.dedup_key).with_for_update())
    changed: dict[str, DedupState] = {}
    for row in session.execute(query):
        score, tier = wanted[row.dedup_key]
        state, alerts = dedup_decision(DedupState(row.generation, row.window_started_at, row.last_score,
                                                  row.last_tier, row.suppressed), score, tier, now, settings)
        changed[row.dedup_key] = state
        result[row.dedup_key] = state.generation if alerts else None
    _write_dedup(session, changed)
    return result


def _outbox_row(message: AlertMessage, channel: str, *, signal_id: int | None, run_id: int | None,
                key_prefix: str, payload: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {"idempotency_key": f"{channel}|{key_prefix}", "kind": message.kind, "tier": message.tier,
            "channel": channel, "signal_id": signal_id, "run_id": run_id, "pipeline": message.pipeline,
            "payload": payload, "state": "pending", "attempts": 0, "next_attempt_at": now,
            "created_at": message.detected_at, "possible_duplicate": False}


def _queue_rows(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert outbox rows in the given order (their delivery order); existing idempotency keys are left."""
    return len(_insert_new(session, _OUTBOX, rows, ["idempotency_key"], _OUTBOX.c.id))


def queue_alert(session: Session, message: AlertMessage, channels: Iterable[str], *, signal_id: int | None,
                run_id: int | None, key_prefix: str) -> int:
    """One outbox row per channel; an existing idempotency key is left as it is."""
    session.flush()  # Core statements below skip the ORM's autoflush; pending rows they refer to go first
    payload, now = message.to_dict(), datetime.now(UTC)
    return _queue_rows(session, [_outbox_row(message, channel, signal_id=signal_id, run_id=run_id,
                                             key_prefix=key_prefix, payload=payload, now=now)
                                 for channel in channels])


@dataclass(frozen=True)
class _Pending:
    """A record about to be stored, with its route (None: held or below every rule)."""

    rec: SignalRecord
    route: Route | None
    values: dict[str, Any]


def _prepare(ctx: StepContext, rec: SignalRecord, now: datetime) -> _Pending:
    route = None if rec.held else route_signal(rec.score, rec.ticker, rec.realtime, ctx.settings)
    tier = route.tier if route else "info"
    values = {"run_id": ctx.run_id, "pipeline": ctx.pipeline, "signal_type": rec.signal_type,
              "event_key": rec.event_key, "ticker": rec.ticker, "company": rec.company,
              "score": round(rec.score, 2), "tier": tier, "title": rec.title, "summary": rec.summary,
              "components": [{"name": c.name, "value": c.value, "explanation": c.explanation}
                             for c in rec.components],
              "links": [{"label": lk.label, "url": lk.url} for lk in rec.links], "details": dict(rec.details),
              "event_time": rec.event_time, "detected_at": now, "held": rec.held,
              "hold_reason": rec.hold_reason or None,
              "alert_state": "held" if rec.held else ("queued" if route else "below_threshold")}
    return _Pending(rec, route, values)


def record_signals(ctx: StepContext, records: Iterable[SignalRecord]) -> Recorded:
    """Store the step's signals and queue their alerts in the step's transaction."""
    session = ctx.session
    now = datetime.now(UTC)
    session.flush()  # the run row and anything else pending go before the Core statements below
    pending: dict[tuple[str, str], _Pending] = {}
    duplicates = 0
    for rec in records:
        if (rec.signal_type, rec.event_key) in pending:
            duplicates += 1  # the same event twice in one call: the signal row is unique per run
            continue
        pending[(rec.signal_type, rec.event_key)] = _prepare(ctx, rec, now)
    ids = {(r.signal_type, r.event_key): r.id for r in _insert_new(
        session, _SIGNALS, [p.values for p in pending.values()], ["run_id", "signal_type", "event_key"],
        _SIGNALS.c.id, _SIGNALS.c.signal_type, _SIGNALS.c.event_key)}
    new = [(ids[key], p) for key, p in pending.items() if key in ids]  # in the step's order
    duplicates += len(pending) - len(new)
    for signal_type, count in Tally(p.rec.signal_type for _, p in new).items():
        SIGNALS_DETECTED.labels(ctx.pipeline, signal_type).inc(count)
    # One inserted signal per (signal type, event key), hence one per dedup key.
    routed = [(signal_id, p, cast(Route, p.route)) for signal_id, p in new if p.route is not None]
    generations = _dedup_generations(session, {p.rec.dedup_key: (p.rec.score, route.tier)
                                               for _, p, route in routed}, now, ctx.settings) if routed else {}
    suppressed = [signal_id for signal_id, p, _ in routed if generations[p.rec.dedup_key] is None]
    if suppressed:
        session.execute(update(_SIGNALS).where(_SIGNALS.c.id.in_(suppressed)).values(alert_state="suppressed"))
        DEDUP_SUPPRESSED.labels(ctx.pipeline).inc(len(suppressed))
    rows: list[dict[str, Any]] = []
    for signal_id, p, route in routed:
        generation = generations[p.rec.dedup_key]
        if generation is None:
            continue
        rec, alert_id = p.rec, f"{p.rec.dedup_key}|g{generation}"
        message = AlertMessage(alert_id=alert_id, kind="signal", tier=route.tier, pipeline=ctx.pipeline,
                               title=rec.title, summary=rec.summary, signal_type=rec.signal_type,
                               ticker=rec.ticker or "", company=rec.company or "", score=round(rec.score, 2),
                               components=rec.components, links=rec.links, event_time=rec.event_time,
                               detected_at=now, run_id=ctx.run_id)
        payload = message.to_dict()
        rows += [_outbox_row(message, channel, signal_id=signal_id, run_id=ctx.run_id, key_prefix=alert_id,
                             payload=payload, now=now) for channel in route.channels]
    return Recorded(signals=len(new), alerts_queued=_queue_rows(session, rows), suppressed=len(suppressed),
                    held=sum(p.rec.held for _, p in new), duplicates=duplicates)


def queue_failure_alert(session: Session, settings: Settings, run: PipelineRun, step: str, error: str) -> int:
    """Alert on a failed run, with the step and the error (one per run and try)."""
    now = datetime.now(UTC)
    headline = (error or "failed").strip().splitlines()[-1][:300] if error else "failed"
    message = AlertMessage(alert_id=f"failure|run{run.id}|try{run.try_number}", kind="failure", tier="high",
                           pipeline=run.pipeline, title=f"Pipeline {run.pipeline} failed in step {step}",
                           summary=headline, detected_at=now, run_id=run.id, step=step, error=error or "")
    return queue_alert(session, message, failure_channels(settings), signal_id=None, run_id=run.id,
                       key_prefix=message.alert_id)
