"""Opening runs in the ledger: scheduled, manual, backfill and catch-up, each exactly once.

The dispatcher inserts the run row first (insert-if-absent on (pipeline, data_interval_start)) and
only then sends the step chain, so duplicate beat ticks and redelivered dispatch messages are no-ops.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .db import execute_autocommit, is_sqlite
from .ledger import PipelineRun, RunState, StepRun, StepState, Trigger, utcnow
from .model import Pipeline
from .settings import Settings

Interval = tuple[datetime, datetime]
REPROCESS_MODES = ("none", "failed", "all")
RESEND_AFTER = timedelta(seconds=60)


@dataclass(frozen=True)
class RunRequest:
    pipeline: str
    trigger: str
    interval: Interval
    scheduled_for: datetime | None = None
    conf: dict[str, Any] = field(default_factory=dict)
    parent_run_id: int | None = None
    replay_of: int | None = None


@dataclass(frozen=True)
class Opened:
    run_id: int
    action: str  # "new" | "rerun" | "resend" (row exists, chain never sent) | "exists"

    @property
    def should_send(self) -> bool:
        return self.action in ("new", "rerun", "resend")


def _aware(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt!r}: give a UTC offset")
    return dt.astimezone(timezone.utc)


def due_interval(pipeline: Pipeline, settings: Settings, now: datetime) -> tuple[datetime, Interval] | None:
    """The interval whose fire time fell due at most DISPATCH_GRACE_SECONDS before `now`.

    Beat ticks on a UTC superset of the fire times; this decides, in the pipeline's own zone,
    whether the tick is a real fire time (see beat_schedule).
    """
    calendar = pipeline.calendar_for(settings)
    if calendar is None:
        return None
    fire = calendar.previous_fire(now + timedelta(seconds=1))
    if fire is None or (now - fire).total_seconds() > settings.DISPATCH_GRACE_SECONDS:
        return None
    return fire, interval_ending(pipeline, settings, fire)


def interval_ending(pipeline: Pipeline, settings: Settings, fire: datetime) -> Interval:
    calendar = pipeline.calendar_for(settings)
    previous = calendar.previous_fire(fire) if calendar else None
    start = previous if previous is not None else fire - timedelta(seconds=pipeline.default_lookback_seconds)
    return start, fire


def manual_interval(pipeline: Pipeline, now: datetime, conf: dict[str, Any]) -> Interval:
    """A manual run covers the last lookback period up to now, unless conf names the interval.

    Its start carries microseconds, so it never collides with a scheduled interval's start.
    """
    if "data_interval_start" in conf or "data_interval_end" in conf:
        end = _aware(datetime.fromisoformat(conf.get("data_interval_end", now.isoformat())))
        start = _aware(datetime.fromisoformat(conf["data_interval_start"])) if "data_interval_start" in conf \
            else end - timedelta(seconds=pipeline.default_lookback_seconds)
    else:
        end = now
        start = now - timedelta(seconds=pipeline.default_lookback_seconds)
    if start >= end:
        raise ValueError("data_interval_start must be before data_interval_end")
    return start, end


def scheduled_intervals(pipeline: Pipeline, settings: Settings, start: datetime,
                        end: datetime) -> list[tuple[datetime, Interval]]:
    """(fire time, interval) for every fire time in [start, end]."""
    calendar = pipeline.calendar_for(settings)
    if calendar is None:
        raise ValueError(f"pipeline {pipeline.name} has no schedule")
    fires = calendar.fire_times(_aware(start), _aware(end) + timedelta(seconds=1))
    return [(f, interval_ending(pipeline, settings, f)) for f in fires]


_RUN_COLUMNS = ("pipeline", "trigger", "scheduled_for", "data_interval_start", "data_interval_end", "conf", "state",
                "try_number", "parent_run_id", "replay_of", "created_at", "queued_at", "counts")


def _insert_run(insert):  # type: ignore[no-untyped-def]
    # Built once per dialect: a statement built per call costs more Python than its round trip.
    table = PipelineRun.__table__
    return (insert(table).values({c: bindparam(c, type_=table.c[c].type) for c in _RUN_COLUMNS})
            .on_conflict_do_nothing(index_elements=["pipeline", "data_interval_start"]).returning(table.c.id))


_INSERT_RUN = {"postgresql": _insert_run(postgresql.insert), "sqlite": _insert_run(sqlite.insert)}


def _run_values(req: RunRequest) -> dict[str, Any]:
    now = utcnow()
    return dict(pipeline=req.pipeline, trigger=req.trigger, scheduled_for=req.scheduled_for,
                data_interval_start=req.interval[0], data_interval_end=req.interval[1], conf=req.conf,
                state=RunState.QUEUED, try_number=1, parent_run_id=req.parent_run_id,
                replay_of=req.replay_of, created_at=now, queued_at=now, counts={})


def _insert_statement(dialect: str):  # type: ignore[no-untyped-def]
    stmt = _INSERT_RUN.get(dialect)
    if stmt is None:
        raise RuntimeError(f"unsupported database dialect {dialect}")
    return stmt


def insert_if_absent(database_url: str, req: RunRequest) -> int | None:
    """The run's id when this call created it (one autocommitted statement); None when its
    interval already has a run."""
    dialect = "sqlite" if is_sqlite(database_url) else "postgresql"
    rows = execute_autocommit(database_url, _insert_statement(dialect), _run_values(req))
    return rows[0].id if rows else None


def open_run(session: Session, req: RunRequest, reprocess: str = "none") -> Opened:
    """Insert the run if its interval is new; otherwise decide by `reprocess` whether to run it again."""
    if reprocess not in REPROCESS_MODES:
        raise ValueError(f"reprocess must be one of {REPROCESS_MODES}")
    run_id = session.execute(_insert_statement(session.get_bind().dialect.name), _run_values(req)).scalar_one_or_none()
    if run_id is not None:
        return Opened(run_id, "new")
    run = session.scalar(select(PipelineRun).where(PipelineRun.pipeline == req.pipeline,
                                                   PipelineRun.data_interval_start == req.interval[0])
                         .with_for_update())
    assert run is not None
    if run.state == RunState.QUEUED and utcnow() - (run.queued_at or run.created_at) > RESEND_AFTER and \
            session.scalar(select(func.count()).select_from(StepRun).where(
                StepRun.run_id == run.id, StepRun.state != StepState.SUPERSEDED)) == 0:
        # Queued long ago and no step ever started: the dispatcher died between the insert and the
        # send (or the chain was lost). A younger row belongs to a dispatcher still at work or a
        # chain still in the queue; a duplicate chain would be dropped by the executor anyway.
        run.queued_at = utcnow()
        return Opened(run.id, "resend")
    rerun = (reprocess == "all" and run.state in RunState.FINISHED) or \
            (reprocess == "failed" and run.state == RunState.FAILED)
    if not rerun:
        return Opened(run.id, "exists")
    run.state, run.try_number = RunState.QUEUED, run.try_number + 1
    run.error = run.failed_step = run.finished_at = run.started_at = None
    run.queued_at = utcnow()
    run.trigger, run.counts = req.trigger, {}
    if req.conf:
        run.conf = req.conf
    # Earlier attempts stay in step_runs as history; mark them so the new try starts clean.
    session.execute(update(StepRun).where(StepRun.run_id == run.id, StepRun.state == StepState.SUCCESS)
                    .values(state=StepState.SUPERSEDED))
    return Opened(run.id, "rerun")


def missing_intervals(session: Session, pipeline: Pipeline, settings: Settings,
                      now: datetime) -> list[tuple[datetime, Interval]]:
    """Fire times without a run, since the pipeline's first scheduled run, within the look-back.

    Older than the dispatch grace only, so catch-up never races a beat tick. A pipeline that never
    ran on schedule has nothing to catch up: a fresh install does not backfill by itself.
    """
    if pipeline.calendar_for(settings) is None:
        return []
    first = session.scalar(select(func.min(PipelineRun.data_interval_end)).where(
        PipelineRun.pipeline == pipeline.name, PipelineRun.trigger != Trigger.MANUAL))
    if first is None:
        return []
    since = max(now - timedelta(hours=settings.RECONCILE_LOOKBACK_HOURS), first)
    until = now - timedelta(seconds=settings.DISPATCH_GRACE_SECONDS)
    if until <= since:
        return []
    expected = scheduled_intervals(pipeline, settings, since, until)
    if not expected:
        return []
    have = set(session.scalars(select(PipelineRun.data_interval_start).where(
        PipelineRun.pipeline == pipeline.name,
        PipelineRun.data_interval_start >= expected[0][1][0])))
    return [(fire, iv) for fire, iv in expected if iv[0] not in have]


def fail_stuck_runs(session: Session, settings: Settings, pipelines: Iterable[Pipeline], now: datetime) -> list[int]:
    """Fail runs still queued or running past their whole time budget (lost chains, dead workers)."""
    from .executor import fail_run  # the executor imports this module

    failed: list[int] = []
    for p in pipelines:
        cutoff = now - timedelta(seconds=p.run_time_limit)
        stuck = session.scalars(select(PipelineRun).where(
            PipelineRun.pipeline == p.name,
            PipelineRun.state.in_([RunState.QUEUED, RunState.RUNNING]),
            PipelineRun.created_at < cutoff).with_for_update()).all()
        for run in stuck:
            since = run.started_at or run.queued_at or run.created_at
            if since < cutoff:
                step = session.scalar(select(StepRun.step).where(StepRun.run_id == run.id)
                                      .order_by(StepRun.id.desc()).limit(1)) or "dispatch"
                fail_run(session, settings, run, step,
                         f"stuck: no progress for over {p.run_time_limit} s (failed by reconcile)")
                failed.append(run.id)
    return failed


def run_steps(session: Session, run_id: int) -> list[StepRun]:
    return list(session.scalars(select(StepRun).where(StepRun.run_id == run_id).order_by(StepRun.id)))


def list_runs(session: Session, pipeline: str | None = None, state: str | None = None,
              limit: int = 50) -> list[PipelineRun]:
    q = select(PipelineRun).order_by(PipelineRun.id.desc()).limit(limit)
    if pipeline:
        q = q.where(PipelineRun.pipeline == pipeline)
    if state:
        q = q.where(PipelineRun.state == state)
    return list(session.scalars(q))


__all__ = ["RunRequest", "Opened", "open_run", "insert_if_absent", "due_interval", "manual_interval",
           "scheduled_intervals", "missing_intervals", "fail_stuck_runs", "list_runs", "run_steps",
           "Trigger"]
