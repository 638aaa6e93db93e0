"""Opening runs and handing them to a sender: the Celery chain, or the in-process runner.

The row is committed before the chain is sent: a dispatcher that dies in between leaves a queued
row with no step started, which the next dispatch of the same interval (a redelivered message,
catch-up or backfill) sends again once it is older than runs.RESEND_AFTER.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from . import metrics
from .db import session_factory
from .ledger import Trigger
from .model import Pipeline
from .registry import Registry
from .runs import (Interval, Opened, RunRequest, due_interval, fail_stuck_runs, insert_if_absent, manual_interval,
                   missing_intervals, open_run, scheduled_intervals)
from .settings import Settings

log = logging.getLogger("signals.dispatch")
Sender = Callable[[Pipeline, int], None]


@dataclass(frozen=True)
class ReconcileReport:
    dispatched: dict[str, int]
    failed_stuck: list[int]


class Dispatcher:
    def __init__(self, settings: Settings, registry: Registry, send: Sender) -> None:
        self.settings = settings
        self.registry = registry
        self.send = send
        self._sessions = session_factory(settings.DATABASE_URL)

    def open(self, pipeline: Pipeline, req: RunRequest, reprocess: str = "none") -> Opened:
        # A new interval (the usual case) is one autocommitted insert; an existing one needs the
        # locked read-and-decide of `open_run`.
        run_id = insert_if_absent(self.settings.DATABASE_URL, req)
        if run_id is not None:
            opened = Opened(run_id, "new")
        else:
            with self._sessions.begin() as session:
                opened = open_run(session, req, reprocess)
        if opened.should_send:
            self.send(pipeline, opened.run_id)
            metrics.run_dispatched(pipeline.name, req.trigger)
            log.info("dispatched %s run %s (%s, %s)", pipeline.name, opened.run_id, req.trigger, opened.action,
                     extra={"pipeline": pipeline.name, "run_id": opened.run_id})
        return opened

    def tick(self, name: str, now: datetime | None = None) -> Opened | None:
        """A beat tick: open the interval that just fell due, if this tick is a real fire time."""
        pipeline = self.registry.get(name)
        now = now or datetime.now(timezone.utc)
        due = due_interval(pipeline, self.settings, now)
        if due is None:
            return None
        fire, interval = due
        return self.open(pipeline, RunRequest(name, Trigger.SCHEDULE, interval, scheduled_for=fire))

    def manual(self, name: str, conf: dict[str, Any] | None = None, now: datetime | None = None,
               parent_run_id: int | None = None, replay_of: int | None = None) -> Opened:
        pipeline = self.registry.get(name)
        conf = dict(conf or {})
        interval = manual_interval(pipeline, now or datetime.now(timezone.utc), conf)
        return self.open(pipeline, RunRequest(name, Trigger.MANUAL, interval, conf=conf,
                                              parent_run_id=parent_run_id, replay_of=replay_of))

    def backfill(self, name: str, start: datetime, end: datetime, reprocess: str = "none",
                 progress: Callable[[int, int], None] | None = None) -> list[Opened]:
        """One run per scheduled interval in [start, end]; existing ones by the reprocess mode."""
        pipeline = self.registry.get(name)
        planned = scheduled_intervals(pipeline, self.settings, start, end)
        opened = []
        for i, (fire, interval) in enumerate(planned, 1):
            opened.append(self.open(pipeline, RunRequest(name, Trigger.BACKFILL, interval, scheduled_for=fire),
                                    reprocess))
            if progress:
                progress(i, len(planned))
        return opened

    def plan_backfill(self, name: str, start: datetime, end: datetime) -> list[tuple[datetime, Interval]]:
        return scheduled_intervals(self.registry.get(name), self.settings, start, end)

    def reconcile(self, now: datetime | None = None) -> ReconcileReport:
        """Dispatch intervals missed while beat or the workers were down; fail stuck runs."""
        now = now or datetime.now(timezone.utc)
        dispatched: dict[str, int] = {}
        for pipeline in self.registry.pipelines:
            with self._sessions() as session:
                missing = missing_intervals(session, pipeline, self.settings, now)
            for fire, interval in missing:
                self.open(pipeline, RunRequest(pipeline.name, Trigger.CATCH_UP, interval, scheduled_for=fire))
            if missing:
                dispatched[pipeline.name] = len(missing)
                log.warning("catch-up dispatched %d missed %s interval(s)", len(missing), pipeline.name)
        with self._sessions.begin() as session:
            stuck = fail_stuck_runs(session, self.settings, self.registry.pipelines, now)
        for run_id in stuck:
            log.error("failed stuck run %s", run_id, extra={"run_id": run_id})
        return ReconcileReport(dispatched, stuck)
