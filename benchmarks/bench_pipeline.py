"""An empty four-step pipeline for the engine benchmark, plus raw no-op Celery tasks to compare with.

Loaded by the benchmark's worker through PIPELINE_MODULES; the raw tasks are registered on the same
app by `benchmarks.bench_app`, so both run on the same worker, broker and Redis.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timedelta, timezone

import redis

from pipelines.core.model import Pipeline, Step, StepContext, StepResult


@dataclass(frozen=True)
class EveryMillis:
    """Fire times every `ms` milliseconds since the epoch: dense enough that every beat tick is due."""

    ms: int

    def fire_times(self, start: datetime, end: datetime) -> list[datetime]:
        t = -(-int(start.timestamp() * 1000) // self.ms) * self.ms
        out = []
        while t < end.timestamp() * 1000:
            out.append(datetime.fromtimestamp(t / 1000, timezone.utc))
            t += self.ms
        return out

    def previous_fire(self, before: datetime) -> datetime:
        t = (int(before.timestamp() * 1000) - 1) // self.ms * self.ms
        return datetime.fromtimestamp(t / 1000, timezone.utc)

    def next_fire(self, after: datetime) -> datetime:
        return self.previous_fire(after + timedelta(milliseconds=1)) + timedelta(milliseconds=self.ms)

    def utc_cron(self) -> dict[str, str]:
        return {"every_seconds": "1"}

    def describe(self) -> str:
        return f"every {self.ms} ms"


def fetch(ctx: StepContext) -> StepResult:
    ctx.artifacts.put("raw/empty.json", b"{}", "application/json")
    return StepResult(counts={"fetched": 1})


def _noop(ctx: StepContext) -> StepResult:
    return StepResult()


@lru_cache(maxsize=None)
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)  # one client per process, as the raw chain's last task has


def alert(ctx: StepContext) -> StepResult:
    key = ctx.conf.get("done_key")
    if key:  # the benchmark waits on this, like the raw chain's last task
        _redis(ctx.settings.CELERY_RESULT_BACKEND).rpush(key, repr(time.time()))
    return StepResult()


PIPELINE = Pipeline(
    name="bench", description="empty four-step pipeline for benchmarks",
    steps=(Step("fetch", fetch, io=True, soft_time_limit=30, time_limit=40), Step("detect", _noop),
           Step("score", _noop), Step("alert", alert, io=True)),
    calendar=EveryMillis(250), default_lookback_seconds=60)
