"""Beat entries, generated from the pipeline registry.

Each scheduled pipeline gets one RedBeat entry: a UTC crontab that fires at every one of its
fire times in both EST and EDT (`Calendar.utc_cron()`), sending the pipeline's small dispatch task.
The dispatcher then decides in America/New_York, with zoneinfo, whether the tick is a real fire time,
so Celery's crontab never does DST arithmetic. Entries removed from code disappear when beat
starts (RedBeat deletes statics no longer declared).
"""
from __future__ import annotations

from typing import Any

from celery.schedules import crontab, schedule

from notifications.outbox import SWEEP_TASK
from pipelines.core.registry import (
    ALERTS_QUEUE,
    MAINTENANCE_QUEUE,
    RECONCILE_TASK,
    Registry,
)
from pipelines.core.settings import Settings


def _expires(cron: dict[str, str]) -> int:
    # A tick that waited longer than its own grace is worthless: reconcile covers it.
    return 600 if cron.get("minute") == "*" else 1800


def beat_entries(registry: Registry, settings: Settings) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    for pipeline in registry.pipelines:
        calendar = pipeline.calendar_for(settings)
        if calendar is None:
            continue
        cron = dict(calendar.utc_cron())
        # Calendars finer than a minute (tests, benchmarks) ask for an interval instead.
        when = schedule(int(cron["every_seconds"])) if "every_seconds" in cron else \
            crontab(minute=cron["minute"], hour=cron["hour"])
        entries[f"dispatch-{pipeline.name.replace('_', '-')}"] = {
            "task": pipeline.dispatch_task,
            "schedule": when,
            "kwargs": {"trigger": "schedule"},
            "options": {"queue": pipeline.queue, "expires": min(settings.DISPATCH_GRACE_SECONDS, _expires(cron))},
        }
    entries["maintenance-reconcile"] = {
        "task": RECONCILE_TASK,
        "schedule": schedule(settings.RECONCILE_INTERVAL_SECONDS),
        "options": {"queue": MAINTENANCE_QUEUE, "expires": settings.RECONCILE_INTERVAL_SECONDS},
    }
    # Re-sends what no `alerts.deliver` message covered: lost messages, retries, expired leases, digests.
    entries["alerts-sweep"] = {
        "task": SWEEP_TASK,
        "schedule": schedule(settings.ALERT_SWEEP_SECONDS),
        "options": {"queue": ALERTS_QUEUE, "expires": settings.ALERT_SWEEP_SECONDS},
    }
    return entries
