"""Data freshness: is a pipeline's latest successful data interval as recent as its schedule says?

A scheduled run's data interval ends at its fire time. By `now`, the run of every fire time older
than the grace should have succeeded, so the newest such fire time is the oldest acceptable end of
the latest successful interval. The grace covers the slowest legitimate path: beat misses the tick,
catch-up dispatches it after DISPATCH_GRACE_SECONDS at the next reconcile, and the run then either
ends or is failed by reconcile within its `run_time_limit`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pipelines.core.model import Calendar, Pipeline
from pipelines.core.settings import Settings


@dataclass(frozen=True)
class Freshness:
    pipeline: str
    stale: bool
    lag_seconds: float | None  # now minus the end of the latest successful interval; None: no success yet
    allowed_seconds: float | None  # the largest lag that is still on schedule; None: no schedule
    detail: str


def freshness_grace(pipeline: Pipeline, settings: Settings) -> float:
    """Seconds after a fire time by which its run must have succeeded."""
    return float(pipeline.run_time_limit + settings.RECONCILE_INTERVAL_SECONDS + settings.DISPATCH_GRACE_SECONDS)


def evaluate(pipeline: str, calendar: Calendar | None, now: datetime, grace_seconds: float,
             last_success_end: datetime | None, first_scheduled_end: datetime | None) -> Freshness:
    """Freshness of one pipeline from two ledger facts: its latest success and its first scheduled run.

    A pipeline that never ran on schedule is not stale (a fresh install does not backfill itself,
    as catch-up does not); one whose first scheduled run is overdue and never succeeded is.
    """
    lag = (now - last_success_end).total_seconds() if last_success_end is not None else None
    if calendar is None:
        return Freshness(pipeline, False, lag, None, "manual only: no schedule to fall behind")
    due = calendar.previous_fire(now - timedelta(seconds=grace_seconds))
    if due is None:
        return Freshness(pipeline, False, lag, None, "no fire time is overdue yet")
    allowed = (now - due).total_seconds()
    expected = f"a run for the fire time {due.isoformat()} was due {grace_seconds:.0f}s after it"
    if last_success_end is not None:
        if last_success_end >= due:
            return Freshness(pipeline, False, lag, allowed,
                             f"latest successful interval ended {last_success_end.isoformat()}")
        return Freshness(pipeline, True, lag, allowed,
                         f"stale: latest successful interval ended {last_success_end.isoformat()}; {expected}")
    if first_scheduled_end is None or first_scheduled_end > due:
        return Freshness(pipeline, False, None, allowed, "no scheduled run is overdue yet")
    return Freshness(pipeline, True, None, allowed,
                     f"stale: no successful run since the first scheduled one ({first_scheduled_end.isoformat()}); "
                     f"{expected}")
