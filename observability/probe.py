"""The checks behind /health and the scrape-time gauges, read from the shared database and Redis.

Nothing here is per-process state: every replica of the exporter, on any host, computes the same
answer from PostgreSQL (run ledger, alert outbox) and Redis (queues, worker heartbeats, RedBeat
lock). Each check reports its status, how long it took and the figures it found; a check whose
backend failed its own check is reported failed at once instead of waiting on the same timeout.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping

import redis
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from pipelines.core.db import get_engine, is_sqlite, normalize_url
from pipelines.core.ledger import PipelineRun, RunState, Trigger
from pipelines.core.model import Pipeline
from pipelines.core.settings import Settings
from pipelines.core.signal_models import AlertOutbox

from .freshness import evaluate, freshness_grace
from .heartbeat import read_workers, workers_per_queue
from .sentry import scrub_text

# Kombu's Redis transport keeps messages sent with a priority in sibling lists (kombu redis.py
# `_q_for_pri`, sep "\x06\x16", steps 0/3/6/9); a queue's length is the sum of all four.
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
_PENDING_STATES = ("pending", "sending")


@dataclass(frozen=True)
class CheckResult:
    name: str
    healthy: bool
    duration_seconds: float
    detail: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": "pass" if self.healthy else "fail",
                "duration_seconds": round(self.duration_seconds, 4), "detail": self.detail, **self.data}


@dataclass(frozen=True)
class HealthConfig:
    """Thresholds; None derives the value from the settings and each pipeline's schedule."""

    backlog_max: int = 100
    outbox_max_age_seconds: float = 900.0
    freshness_grace_seconds: float | None = None
    beat_tick_max_age_seconds: float | None = None
    timeout_seconds: float = 3.0


def _error_text(exc: BaseException) -> str:
    # SQLAlchemy and redis-py messages can quote a connection string; keep the first line, scrubbed.
    message = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return scrub_text(f"{type(exc).__name__}: {message[0] if message else ''}")


class Probe:
    """Connections to the database and Redis, and one method per check."""

    def __init__(self, settings: Settings, config: HealthConfig | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.settings = settings
        self.config = config or HealthConfig()
        self.clock = clock
        timeout = self.config.timeout_seconds
        self._engine = self._make_engine(settings.DATABASE_URL, timeout)
        options = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
        self._broker = redis.Redis.from_url(settings.CELERY_BROKER_URL, **options)
        self._beat_redis = redis.Redis.from_url(settings.REDBEAT_REDIS_URL, **options)

    @staticmethod
    def _make_engine(url: str, timeout: float) -> Engine:
        if is_sqlite(url):
            return get_engine(url)
        # Our own small pool with timeouts: a health check must answer even when the database hangs.
        return create_engine(normalize_url(url), pool_pre_ping=True, pool_size=2, max_overflow=2,
                             connect_args={"connect_timeout": max(1, int(timeout)),
                                           "options": f"-c statement_timeout={int(timeout * 1000)}"})

    def close(self) -> None:
        if not is_sqlite(self.settings.DATABASE_URL):
            self._engine.dispose()
        self._broker.close()
        self._beat_redis.close()

    # -- backends --------------------------------------------------------------------------------
    def database(self) -> CheckResult:
        started = time.monotonic()
        try:
            with self._engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            return CheckResult("database", False, time.monotonic() - started, _error_text(exc))
        return CheckResult("database", True, time.monotonic() - started, "SELECT 1 answered")

    def redis(self) -> CheckResult:
        started = time.monotonic()
        try:
            self._broker.ping()
            self._beat_redis.ping()
        except redis.RedisError as exc:
            return CheckResult("redis", False, time.monotonic() - started, _error_text(exc))
        return CheckResult("redis", True, time.monotonic() - started, "broker and RedBeat Redis answered PING")

    # -- Redis-backed checks ---------------------------------------------------------------------
    def workers(self, queues: Iterable[str]) -> list[CheckResult]:
        queues = list(queues)
        started = time.monotonic()
        try:
            beats = read_workers(self._broker)
        except redis.RedisError as exc:
            took = time.monotonic() - started
            return [CheckResult(f"workers:{q}", False, took, _error_text(exc), {"queue": q}) for q in queues]
        took = time.monotonic() - started
        counts = workers_per_queue(beats, queues)
        results = []
        for q in queues:
            hosts = [b.hostname for b in beats if q in b.queues]
            detail = f"{len(hosts)} worker(s) consuming" if hosts else "no live worker consumes this queue"
            results.append(CheckResult(f"workers:{q}", counts[q] > 0, took, detail,
                                       {"queue": q, "workers": counts[q], "hosts": hosts}))
        return results

    def backlog(self, queues: Iterable[str]) -> list[CheckResult]:
        queues = list(queues)
        started = time.monotonic()
        try:
            pipe = self._broker.pipeline(transaction=False)
            for q in queues:
                for suffix in _PRIORITY_SUFFIXES:
                    pipe.llen(q + suffix)
            lengths = pipe.execute()
        except redis.RedisError as exc:
            took = time.monotonic() - started
            return [CheckResult(f"backlog:{q}", False, took, _error_text(exc), {"queue": q}) for q in queues]
        took = time.monotonic() - started
        step = len(_PRIORITY_SUFFIXES)
        results = []
        for i, q in enumerate(queues):
            length = int(sum(lengths[i * step:(i + 1) * step]))
            ok = length <= self.config.backlog_max
            results.append(CheckResult(f"backlog:{q}", ok, took,
                                       f"{length} message(s) waiting (limit {self.config.backlog_max})",
                                       {"queue": q, "length": length}))
        return results

    def beat(self) -> CheckResult:
        prefix = self.settings.REDBEAT_KEY_PREFIX
        lock_key = prefix + ":lock"  # RedBeatConfig: key_prefix + ':lock'
        started = time.monotonic()
        try:
            pipe = self._beat_redis.pipeline(transaction=False)
            pipe.get(lock_key)
            pipe.pttl(lock_key)
            pipe.zcard(prefix + ":schedule")
            token, pttl, entries = pipe.execute()
        except redis.RedisError as exc:
            return CheckResult("beat", False, time.monotonic() - started, _error_text(exc))
        took = time.monotonic() - started
        if token is None:
            return CheckResult("beat", False, took, f"no beat holds the RedBeat lock {lock_key}",
                               {"lock_held": False, "schedule_entries": entries})
        # Beat re-sets the lock's TTL to the full timeout on every tick (redbeat `tick`), so the
        # TTL already spent is the time since its last tick.
        since_tick = max(0.0, self.settings.REDBEAT_LOCK_TIMEOUT - max(pttl, 0) / 1000.0)
        limit = self.config.beat_tick_max_age_seconds or max(3.0 * self.settings.BEAT_MAX_LOOP_INTERVAL, 15.0)
        holder = token.decode(errors="replace")[:8] if isinstance(token, bytes) else str(token)[:8]
        detail = f"lock held by {holder}..., last tick {since_tick:.1f}s ago (limit {limit:.0f}s)"
        return CheckResult("beat", since_tick <= limit, took, detail,
                           {"lock_held": True, "last_tick_seconds_ago": round(since_tick, 3),
                            "schedule_entries": entries})

    # -- ledger-backed checks --------------------------------------------------------------------
    def freshness(self, pipelines: Iterable[Pipeline]) -> list[CheckResult]:
        pipelines = list(pipelines)
        names = [p.name for p in pipelines]
        started = time.monotonic()
        try:
            with self._engine.connect() as conn:
                latest = dict(conn.execute(
                    select(PipelineRun.pipeline, func.max(PipelineRun.data_interval_end))
                    .where(PipelineRun.state == RunState.SUCCESS, PipelineRun.pipeline.in_(names))
                    .group_by(PipelineRun.pipeline)).all())
                first = dict(conn.execute(
                    select(PipelineRun.pipeline, func.min(PipelineRun.data_interval_end))
                    .where(PipelineRun.trigger != Trigger.MANUAL, PipelineRun.pipeline.in_(names))
                    .group_by(PipelineRun.pipeline)).all())
        except SQLAlchemyError as exc:
            took = time.monotonic() - started
            return [CheckResult(f"freshness:{n}", False, took, _error_text(exc), {"pipeline": n}) for n in names]
        took = time.monotonic() - started
        now = self.clock()
        results = []
        for p in pipelines:
            grace = self.config.freshness_grace_seconds
            fresh = evaluate(p.name, p.calendar_for(self.settings), now,
                             freshness_grace(p, self.settings) if grace is None else grace,
                             latest.get(p.name), first.get(p.name))
            results.append(CheckResult(f"freshness:{p.name}", not fresh.stale, took, fresh.detail,
                                       {"pipeline": p.name, "lag_seconds": fresh.lag_seconds,
                                        "allowed_seconds": fresh.allowed_seconds}))
        return results

    def outbox(self) -> CheckResult:
        started = time.monotonic()
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(
                    select(AlertOutbox.channel, func.count(), func.min(AlertOutbox.created_at))
                    .where(AlertOutbox.state.in_(_PENDING_STATES)).group_by(AlertOutbox.channel)).all()
        except SQLAlchemyError as exc:
            return CheckResult("outbox", False, time.monotonic() - started, _error_text(exc))
        took = time.monotonic() - started
        now = self.clock()
        by_channel = {channel: int(count) for channel, count, _ in rows}
        oldest = min((created for _, _, created in rows if created is not None), default=None)
        age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
        limit = self.config.outbox_max_age_seconds
        detail = (f"{sum(by_channel.values())} alert(s) pending, the oldest {age:.0f}s old (limit {limit:.0f}s)"
                  if by_channel else "no alert pending")
        return CheckResult("outbox", age <= limit, took, detail,
                           {"pending": sum(by_channel.values()), "pending_by_channel": by_channel,
                            "oldest_pending_seconds": round(age, 3)})
