"""Data freshness against a real market calendar: weekends, the DST change and the grace."""
from __future__ import annotations

from datetime import datetime, time, timezone

from beat_schedule.calendars import DailyAt
from observability.freshness import evaluate, freshness_grace
from pipelines.core.model import Pipeline, RetryPolicy, Step, StepResult
from pipelines.core.settings import Settings

# 06:00 New York on weekdays. US daylight time began Sunday 2026-03-08, so Friday 2026-03-06
# fired at 11:00 UTC (EST, UTC-5) and Monday 2026-03-09 at 10:00 UTC (EDT, UTC-4).
CAL = DailyAt(time(6, 0), days="weekdays")
FRIDAY_FIRE = datetime(2026, 3, 6, 11, 0, tzinfo=timezone.utc)
MONDAY_FIRE = datetime(2026, 3, 9, 10, 0, tzinfo=timezone.utc)
HOUR = 3600.0


def test_success_for_the_last_due_fire_time_is_fresh():
    now = datetime(2026, 3, 9, 12, 0, tzinfo=timezone.utc)
    f = evaluate("p", CAL, now, HOUR, last_success_end=MONDAY_FIRE, first_scheduled_end=FRIDAY_FIRE)
    assert not f.stale
    assert f.lag_seconds == 2 * HOUR
    assert f.allowed_seconds == 2 * HOUR  # Monday's fire (10:00) is the newest one past its grace


def test_missing_the_monday_run_is_stale_once_its_grace_is_over():
    now = datetime(2026, 3, 9, 12, 0, tzinfo=timezone.utc)
    f = evaluate("p", CAL, now, HOUR, last_success_end=FRIDAY_FIRE, first_scheduled_end=FRIDAY_FIRE)
    assert f.stale
    assert f.lag_seconds == (now - FRIDAY_FIRE).total_seconds() == 3 * 86400 + HOUR
    assert f.allowed_seconds == 2 * HOUR
    assert "2026-03-06T11:00:00+00:00" in f.detail and "2026-03-09T10:00:00+00:00" in f.detail


def test_inside_the_grace_the_weekend_gap_is_allowed():
    # 10:30 UTC Monday: Monday's run may still be running, so Friday's success is still fresh.
    now = datetime(2026, 3, 9, 10, 30, tzinfo=timezone.utc)
    f = evaluate("p", CAL, now, HOUR, last_success_end=FRIDAY_FIRE, first_scheduled_end=FRIDAY_FIRE)
    assert not f.stale
    assert f.allowed_seconds == (now - FRIDAY_FIRE).total_seconds() == 2 * 86400 + 23.5 * HOUR


def test_never_succeeded_is_stale_only_after_its_first_scheduled_run_is_overdue():
    now = datetime(2026, 3, 9, 12, 0, tzinfo=timezone.utc)
    fresh_install = evaluate("p", CAL, now, HOUR, last_success_end=None, first_scheduled_end=None)
    assert not fresh_install.stale and fresh_install.lag_seconds is None
    not_overdue = evaluate("p", CAL, datetime(2026, 3, 9, 10, 30, tzinfo=timezone.utc), HOUR,
                           last_success_end=None, first_scheduled_end=MONDAY_FIRE)
    assert not not_overdue.stale
    failing = evaluate("p", CAL, now, HOUR, last_success_end=None, first_scheduled_end=FRIDAY_FIRE)
    assert failing.stale and "no successful run" in failing.detail


def test_manual_pipeline_is_never_stale_but_reports_its_lag():
    now = datetime(2026, 3, 9, 12, 0, tzinfo=timezone.utc)
    f = evaluate("p", None, now, HOUR, last_success_end=FRIDAY_FIRE, first_scheduled_end=None)
    assert not f.stale and f.allowed_seconds is None
    assert f.lag_seconds == 3 * 86400 + HOUR


def test_grace_covers_time_limits_retries_catch_up_and_dispatch_grace():
    def step(ctx):  # pragma: no cover - never run
        return StepResult()

    pipeline = Pipeline(name="p", description="", calendar=CAL, retry=RetryPolicy(max_retries=2),
                        steps=(Step("fetch", step, io=True, time_limit=100), Step("score", step, time_limit=50)))
    settings = Settings({"RECONCILE_INTERVAL_SECONDS": 300, "DISPATCH_GRACE_SECONDS": 120})
    # fetch: 100 s x (1 try + 2 retries); score: 50 s; the run budget adds 600 s of slack.
    assert freshness_grace(pipeline, settings) == (100 * 3 + 50 + 600) + 300 + 120
