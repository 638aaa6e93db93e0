"""Delivering the alert outbox: claim due rows, take each alert's Redis lease, send, record the result.

1. Claim (one short transaction): rows `pending` whose `next_attempt_at` has come, and rows
   `sending` whose lease ran out, which means their sender died mid-send: the alert may already have
   gone out, so the row is flagged `possible_duplicate` and counted when it is sent again.
   PostgreSQL claims with FOR UPDATE SKIP LOCKED, so concurrent workers take disjoint rows.
2. Send, row by row, outside any transaction: take the alert's Redis lease (notifications.lease;
   another worker holding it means skip) and, in the same round trip, a slot in the channel's rate
   window (when the window is full, wait for one: queue, never drop), send through the channel.
3. Write back in batches: sent (with the provider id); `ChannelUnavailable` back to pending with
   exponential backoff that honours Retry-After (never dropped; the rest of the batch for that
   channel waits with it); `ChannelRejected` failed; a channel that is off or not configured
   skipped (build_channels logs one line per channel).

No Celery here: workers.alert_tasks wraps `deliver_all` as `alerts.deliver` and `alerts.sweep`.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from prometheus_client import Counter
from sqlalchemy import Table, and_, bindparam, func, or_, select, text, update
from sqlalchemy.orm import Session

from pipelines.core.db import is_postgresql, session_factory
from pipelines.core.errors import DataError, TransientError
from pipelines.core.executor import backoff_delay
from pipelines.core.ledger import UTCDateTime
from pipelines.core.settings import Settings
from pipelines.core.signal_models import AlertOutbox

from .channels import ChannelRejected
from .delivery_channels import ChannelSet, channel_set, rate_limiter, send_row
from .lease import AlertLeases, RateSlot, Sent, redis_client

DELIVER_TASK = "alerts.deliver"
SWEEP_TASK = "alerts.sweep"

log = logging.getLogger("signals.alerts")

ALERTS_SENT = Counter("alerts_sent", "Alert deliveries by channel and outcome (sent, retry, failed, skipped)",
                      ["channel", "outcome"])
POSSIBLE_DUPLICATES = Counter("alerts_possible_duplicates",
                              "Alerts sent again because their first sender died mid-send", ["channel"])

# A defect in rendering or a channel is retried with backoff, never dropped; anything else (a task
# time limit, an interrupt) propagates and leaves the row in flight to its lease, since the alert
# may have gone out.
_DEFECTS = (ArithmeticError, AttributeError, LookupError, OSError, TypeError, ValueError)

_T = cast(Table, AlertOutbox.__table__)
_WRITE_BACK_EVERY = 100  # outcomes per write-back; the sent marker in Redis covers a crash in between
_WRITE_BACK_SECONDS = 1.0

# One statement shape for every outcome (SQLite: an executemany). A row another worker already
# marked sent is left alone.
_WRITE_BACK = (
    update(_T).where(_T.c.id == bindparam("b_id"), _T.c.state != "sent").values(
        state=bindparam("b_state"), lease_until=None,
        next_attempt_at=func.coalesce(bindparam("b_next", type_=UTCDateTime()), _T.c.next_attempt_at),
        sent_at=bindparam("b_sent_at", type_=UTCDateTime()), provider_id=bindparam("b_provider"),
        last_error=bindparam("b_error"), attempts=_T.c.attempts - bindparam("b_undo"),
        possible_duplicate=bindparam("b_dup"))
)


@dataclass(frozen=True)
class DeliveryReport:
    """What one delivery pass did. `busy`: another worker held the lease; `recovered`: found already
    sent by a sender that died before recording it."""

    claimed: int = 0
    sent: int = 0
    retry: int = 0
    failed: int = 0
    skipped: int = 0
    busy: int = 0
    recovered: int = 0
    possible_duplicates: int = 0

    def __add__(self, other: DeliveryReport) -> DeliveryReport:
        return DeliveryReport(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Claimed:
    id: int
    key: str
    kind: str
    channel: str
    payload: dict[str, Any]
    attempts: int  # including this one
    stale: bool  # taken over from a sender whose lease ran out
    flagged: bool  # possible_duplicate before this claim
    created_at: datetime

    @property
    def tag(self) -> str:
        """This row, told apart from any older row that had the same idempotency key."""
        return f"{self.id}.{int(self.created_at.timestamp() * 1_000_000)}"


@dataclass(frozen=True)
class Result:
    row_id: int
    state: str  # sent | pending | failed | skipped
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    provider_id: str | None = None
    error: str | None = None
    undo_attempt: bool = False  # the claim counted an attempt that never happened
    possible_duplicate: bool = False

    def params(self) -> dict[str, Any]:
        return {"b_id": self.row_id, "b_state": self.state, "b_next": self.next_attempt_at, "b_sent_at": self.sent_at,
                "b_provider": self.provider_id, "b_error": self.error, "b_undo": int(self.undo_attempt),
                "b_dup": self.possible_duplicate}


# PostgreSQL: the whole batch in one statement of fixed shape (arrays, so the statement is prepared
# once), where psycopg2's executemany would make one round trip per row.
_PG_WRITE_BACK = text("""
UPDATE alert_outbox AS o
SET state = v.state, lease_until = NULL, next_attempt_at = COALESCE(v.next_at, o.next_attempt_at),
    sent_at = v.sent_at, provider_id = v.provider, last_error = v.error, attempts = o.attempts - v.undo,
    possible_duplicate = v.dup
FROM unnest(CAST(:ids AS bigint[]), CAST(:states AS text[]), CAST(:next_at AS timestamptz[]),
            CAST(:sent_at AS timestamptz[]), CAST(:provider AS text[]), CAST(:error AS text[]),
            CAST(:undo AS integer[]), CAST(:dup AS boolean[]))
     AS v(id, state, next_at, sent_at, provider, error, undo, dup)
WHERE o.id = v.id AND o.state <> 'sent'
""")


def _write_back(session: Session, results: Sequence[Result]) -> None:
    if session.get_bind().dialect.name != "postgresql":
        session.execute(_WRITE_BACK, [r.params() for r in results])
        return
    session.execute(_PG_WRITE_BACK, {
        "ids": [r.row_id for r in results], "states": [r.state for r in results],
        "next_at": [r.next_attempt_at for r in results], "sent_at": [r.sent_at for r in results],
        "provider": [r.provider_id for r in results], "error": [r.error for r in results],
        "undo": [int(r.undo_attempt) for r in results], "dup": [r.possible_duplicate for r in results]})


def retry_delay(attempts: int, retry_after: float | None, settings: Settings) -> float:
    """Seconds before the next attempt after `attempts` failed ones: doubling, jittered, >= Retry-After."""
    return backoff_delay(max(0, attempts - 1), float(settings.ALERT_RETRY_BASE_SECONDS),
                         float(settings.ALERT_RETRY_MAX_SECONDS), True, retry_after)


def _due(now: datetime) -> Any:
    return or_(and_(_T.c.state == "pending", _T.c.next_attempt_at <= now),
               and_(_T.c.state == "sending", _T.c.lease_until < now))


def claim(session: Session, *, now: datetime, lease_seconds: int, limit: int,
          run_id: int | None = None) -> list[Claimed]:
    """Mark up to `limit` due rows `sending` under a lease; the caller commits."""
    lease_until = now + timedelta(seconds=lease_seconds)
    if is_postgresql(session):
        return _claim_pg(session, now=now, lease_until=lease_until, limit=limit, run_id=run_id)
    query = (select(_T.c.id, _T.c.idempotency_key, _T.c.kind, _T.c.channel, _T.c.payload, _T.c.attempts,
                    _T.c.state, _T.c.possible_duplicate, _T.c.created_at)
             .where(_due(now)).order_by(_T.c.next_attempt_at, _T.c.id).limit(limit))
    if run_id is not None:
        query = query.where(_T.c.run_id == run_id)
    rows = session.execute(query).all()
    if not rows:
        return []
    # The due test again: on SQLite the select above locks nothing, so another process may have
    # claimed a row in between; only the rows this UPDATE changed are ours.
    taken = set(session.scalars(
        update(_T).where(_T.c.id.in_([r.id for r in rows]), _due(now))
        .values(state="sending", lease_until=lease_until, attempts=_T.c.attempts + 1,
                possible_duplicate=or_(_T.c.possible_duplicate, _T.c.state == "sending"))
        .returning(_T.c.id)))
    return [Claimed(id=r.id, key=r.idempotency_key, kind=r.kind, channel=r.channel, payload=dict(r.payload),
                    attempts=r.attempts + 1, stale=r.state == "sending", flagged=bool(r.possible_duplicate),
                    created_at=r.created_at)
            for r in rows if r.id in taken]


def _claim_pg(session: Session, *, now: datetime, lease_until: datetime, limit: int,
              run_id: int | None) -> list[Claimed]:
    """The claim in one statement: a CTE locks due rows (SKIP LOCKED), the UPDATE marks them. A row
    another worker changed before our lock is re-checked by PostgreSQL (READ COMMITTED re-evaluates
    the WHERE on the locked version), so no second due test is needed."""
    picked = select(_T.c.id, _T.c.state, _T.c.possible_duplicate).where(
        _due(now), *([_T.c.run_id == run_id] if run_id is not None else []))
    cte = picked.order_by(_T.c.next_attempt_at, _T.c.id).limit(limit).with_for_update(skip_locked=True).cte()
    rows = session.execute(
        update(_T).where(_T.c.id == cte.c.id)
        .values(state="sending", lease_until=lease_until, attempts=_T.c.attempts + 1,
                possible_duplicate=or_(_T.c.possible_duplicate, cte.c.state == "sending"))
        .returning(_T.c.id, _T.c.idempotency_key, _T.c.kind, _T.c.channel, _T.c.payload, _T.c.attempts,
                   _T.c.created_at, _T.c.next_attempt_at, cte.c.state.label("was"),
                   cte.c.possible_duplicate.label("flagged"))).all()
    # RETURNING has no order; the batch goes out oldest first, as the SELECT picked it.
    return [Claimed(id=r.id, key=r.idempotency_key, kind=r.kind, channel=r.channel, payload=dict(r.payload),
                    attempts=r.attempts, stale=r.was == "sending", flagged=bool(r.flagged), created_at=r.created_at)
            for r in sorted(rows, key=lambda r: (r.next_attempt_at, r.id))]


class _Clock:
    """`now` given by the caller (tests) or the wall clock, advanced by the monotonic clock."""

    def __init__(self, now: datetime | None) -> None:
        self.base = now or datetime.now(UTC)
        self.started = time.monotonic()

    def now(self) -> datetime:
        return self.base + timedelta(seconds=time.monotonic() - self.started)


class _Batch:
    """Sends one claimed batch and writes the results back."""

    def __init__(self, settings: Settings, rows: Sequence[Claimed], clock: _Clock, channels: ChannelSet) -> None:
        self.settings, self.rows, self.clock, self.channels = settings, rows, clock, channels
        self.sessions = session_factory(settings.DATABASE_URL)
        self.lease_seconds = int(settings.ALERT_LEASE_SECONDS)
        self.leases = AlertLeases(redis_client(settings.CELERY_BROKER_URL), self.lease_seconds)
        self.results: list[Result] = []
        self.done: set[int] = set()
        self.in_flight: int | None = None
        self.unmarked: Sent | None = None  # sent, its Redis marker not yet written
        self.down: dict[str, tuple[datetime, str]] = {}  # channel -> (retry at, error)
        self.counts: dict[str, int] = {"claimed": len(rows)}
        self.leased_at = self.flushed_at = time.monotonic()

    def _count(self, name: str, channel: str | None = None, outcome: str | None = None) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1
        if channel and outcome:
            ALERTS_SENT.labels(channel, outcome).inc()

    def _record(self, result: Result) -> None:
        self.results.append(result)
        self.done.add(result.row_id)
        if len(self.results) >= _WRITE_BACK_EVERY or time.monotonic() - self.flushed_at > _WRITE_BACK_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.results:
            with self.sessions.begin() as session:
                _write_back(session, self.results)
            self.results = []
        self.flushed_at = time.monotonic()

    def _renew(self) -> None:
        """Extend the database lease of rows still waiting (rate limits can make a batch slow)."""
        if time.monotonic() - self.leased_at < self.lease_seconds / 2:
            return
        waiting = [r.id for r in self.rows if r.id not in self.done]
        with self.sessions.begin() as session:
            session.execute(update(_T).where(_T.c.id.in_(waiting), _T.c.state == "sending")
                            .values(lease_until=self.clock.now() + timedelta(seconds=self.lease_seconds)))
        self.leased_at = time.monotonic()

    def run(self) -> DeliveryReport:
        try:
            for row in self.rows:
                self._renew()
                self.handle(row)
        finally:
            if self.unmarked is not None:
                self.leases.mark_sent(self.unmarked)
            # Rows never attempted (an error stopped the batch) go back at once; the row in flight
            # keeps its lease, since it may have been sent.
            now = self.clock.now()
            for row in self.rows:
                if row.id not in self.done and row.id != self.in_flight:
                    self.results.append(Result(row.id, "pending", next_attempt_at=now, undo_attempt=True,
                                               possible_duplicate=row.flagged))
            self.flush()
        return DeliveryReport(**self.counts)

    def handle(self, row: Claimed) -> None:
        channel = self.channels.ready.get(row.channel)
        if channel is None:
            reason = self.channels.reason(row.channel)
            self._count("skipped", row.channel, "skipped")
            self._record(Result(row.id, "skipped", error=reason, possible_duplicate=row.flagged))
            return
        if row.channel in self.down:
            at, error = self.down[row.channel]
            self._count("retry", row.channel, "retry")
            self._record(Result(row.id, "pending", next_attempt_at=at, error=f"not tried: {error}",
                                undo_attempt=True, possible_duplicate=row.flagged))
            return
        limiter = rate_limiter(self.settings, row.channel)
        taken = self.leases.take(row.key, self.unmarked,
                                 RateSlot.of(limiter, f"alerts:{row.channel}") if limiter else None)
        self.unmarked = None
        token, slot = taken.token, taken.slot
        if token is None:
            token = self._held(row)
            if token is None:
                return
        self.in_flight = row.id
        if row.stale:
            self._count("possible_duplicates")
            POSSIBLE_DUPLICATES.labels(row.channel).inc()
            log.warning("re-sending alert %s on %s: its sender died mid-send (possible duplicate)",
                        row.key, row.channel)
        duplicate = row.flagged or row.stale
        try:
            if limiter is not None and not slot:  # the window was full: queue for a slot, never drop
                limiter.acquire(f"alerts:{row.channel}")
            result = send_row(channel, row.kind, row.payload, self.settings, self.sessions)
        except DataError as exc:
            self._fail(row, token, f"unreadable outbox payload: {exc}", duplicate)
        except (TransientError, ChannelRejected, *_DEFECTS) as exc:
            self._failure(row, token, exc, duplicate)
        else:
            # The marker goes out with the next lease request (one Redis round trip less per alert).
            self.unmarked = Sent(row.key, row.tag, result.provider_id)
            if not result.ok:
                log.warning("alert %s on %s partly delivered: %s", row.key, row.channel, result.detail)
            self._count("sent", row.channel, "sent")
            self._record(Result(row.id, "sent", sent_at=self.clock.now(), provider_id=result.provider_id,
                                error=None if result.ok else result.detail, possible_duplicate=duplicate))
        self.in_flight = None

    def _held(self, row: Claimed) -> str | None:
        """Deal with a lease `acquire` could not take; returns a token when it turned out to be free."""
        holder = self.leases.holder(row.key)
        if holder.sent is not None and holder.sent.row == row.tag:
            # A sender died after sending and before recording it: record it now, send nothing.
            self._count("recovered")
            self._record(Result(row.id, "sent", sent_at=self.clock.now(), provider_id=holder.sent.provider_id,
                                possible_duplicate=row.flagged))
            return None
        if holder.sent is not None:  # another row's marker: the key was used before (database reset)
            self.leases.release(row.key, holder.value)
            token = self.leases.acquire(row.key)
            if token is not None:
                return token
        self._count("busy")
        wait = timedelta(seconds=holder.seconds_left + 1.0)
        self._record(Result(row.id, "pending", next_attempt_at=self.clock.now() + wait, undo_attempt=True,
                            error="another worker holds the send lease", possible_duplicate=row.flagged or row.stale))
        return None

    def _fail(self, row: Claimed, token: str, error: str, duplicate: bool) -> None:
        self.leases.release(row.key, token)
        log.error("alert %s on %s failed for good: %s", row.key, row.channel, error)
        self._count("failed", row.channel, "failed")
        self._record(Result(row.id, "failed", error=error, possible_duplicate=duplicate))

    def _failure(self, row: Claimed, token: str, exc: Exception, duplicate: bool) -> None:
        if isinstance(exc, ChannelRejected):
            self._fail(row, token, str(exc), duplicate)
            return
        self.leases.release(row.key, token)
        if isinstance(exc, TransientError):  # ChannelUnavailable, or the rate limiter's Redis
            error, retry_after = str(exc), exc.retry_after
            log.warning("alert %s on %s will be retried: %s", row.key, row.channel, error)
        else:
            error, retry_after = f"{type(exc).__name__}: {exc}", None
            log.error("alert %s on %s: unexpected error, will be retried", row.key, row.channel, exc_info=exc)
        at = self.clock.now() + timedelta(seconds=retry_delay(row.attempts, retry_after, self.settings))
        if isinstance(exc, TransientError):
            self.down[row.channel] = (at, error)
        self._count("retry", row.channel, "retry")
        self._record(Result(row.id, "pending", next_attempt_at=at, error=error, possible_duplicate=duplicate))


def deliver_pending(settings: Settings, *, run_id: int | None = None, limit: int = 100,
                    now: datetime | None = None) -> DeliveryReport:
    """Claim up to `limit` due alerts (of `run_id` only, when given), send them and record the results."""
    clock = _Clock(now)
    with session_factory(settings.DATABASE_URL).begin() as session:
        rows = claim(session, now=clock.now(), lease_seconds=int(settings.ALERT_LEASE_SECONDS), limit=limit,
                     run_id=run_id)
    if not rows:
        return DeliveryReport()
    return _Batch(settings, rows, clock, channel_set(settings)).run()


def deliver_all(settings: Settings, *, run_id: int | None = None, budget_seconds: float | None = None,
                now: datetime | None = None) -> DeliveryReport:
    """Deliver batch after batch until nothing is due or the time budget is spent."""
    limit = int(settings.ALERT_BATCH_SIZE)
    started = time.monotonic()
    total = DeliveryReport()
    while True:
        report = deliver_pending(settings, run_id=run_id, limit=limit, now=now)
        total += report
        if report.claimed < limit or (budget_seconds is not None and time.monotonic() - started >= budget_seconds):
            return total


def oldest_pending_age(session: Session, now: datetime | None = None) -> float:
    """Seconds the oldest undelivered alert has waited since its time (0 when none): the gauge the
    exporter shows. A digest's time is its send time, so one waiting for 23:30 is not late."""
    now = now or datetime.now(UTC)
    oldest = session.scalar(select(func.min(_T.c.created_at)).where(_T.c.state.in_(("pending", "sending"))))
    return max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
