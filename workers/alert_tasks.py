"""The `alerts` queue: `alerts.deliver` when a run finishes and `alerts.sweep` every ALERT_SWEEP_SECONDS.

Thin wrappers around notifications.outbox.deliver_all: the outbox rows are the source of truth, so
a lost or duplicated task message costs nothing but a pass that finds no due rows.
"""
from __future__ import annotations

import logging
from typing import Any

from celery import Celery, Task
from kombu.exceptions import KombuError

from notifications.outbox import DELIVER_TASK, SWEEP_TASK, deliver_all
from pipelines.core.registry import ALERTS_QUEUE
from pipelines.core.settings import get_settings

log = logging.getLogger("signals.alerts")


def request_delivery(app: Celery, run_id: int) -> None:
    """Ask the alerts queue to deliver a finished run's alerts now (the sweeper covers a lost message)."""
    try:
        app.send_task(DELIVER_TASK, kwargs={"run_id": run_id}, queue=ALERTS_QUEUE)
    except (KombuError, OSError) as exc:
        log.warning("could not ask for delivery of run %s (%s); the sweeper will send its alerts",
                    run_id, type(exc).__name__)


def register_alert_tasks(app: Celery) -> None:
    settings = get_settings()
    # A pass stops taking new batches after the budget; a batch already claimed may take up to a lease.
    budget = float(settings.ALERT_SWEEP_SECONDS)
    soft = int(budget + settings.ALERT_LEASE_SECONDS + 30)

    def deliver(self: Task, run_id: int | None = None) -> dict[str, Any]:
        return deliver_all(get_settings(), run_id=run_id, budget_seconds=budget).as_dict()

    def sweep(self: Task) -> dict[str, Any]:
        return deliver_all(get_settings(), budget_seconds=budget).as_dict()

    for fn, name in ((deliver, DELIVER_TASK), (sweep, SWEEP_TASK)):
        app.task(fn, name=name, bind=True, shared=False, ignore_result=True, soft_time_limit=soft,
                 time_limit=soft + 30)
