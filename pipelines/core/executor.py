"""Running one step of one run, with the ledger bookkeeping around it. No Celery here.

The Celery task wrapper (workers.tasks) and the in-process runner (`signals run --local`) both call
`StepRunner.run`, then act on the returned Outcome: continue the chain, stop it, or retry later.

Delivery is at-least-once (late acks), so a step message can arrive twice:
- the step already succeeded: skip it; continue the chain only if the next step never started;
- another attempt is still marked running and this message is a *redelivery*: that worker died,
  so the old attempt is marked lost and the step runs again, up to REDELIVERY_CAP times (Celery has
  no cap of its own, celery #9082) counted on the stable (run, step) key, not on the task id;
- another attempt is running and this is *not* a redelivery: a duplicate chain; drop it.
"""
from __future__ import annotations

import logging
import random
import time
import traceback
from contextlib import nullcontext
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import metrics
from .artifacts import RunArtifacts
from . import marks
from .db import execute_autocommit, is_sqlite, session_factory, table_of
from .errors import ConfigError, DataError, TransientError
from .ledger import PipelineRun, QuarantinedRecord, RunState, StepRun, StepState, utcnow
from .model import Pipeline, StepContext, StepResult
from .registry import Registry
from .settings import Settings
from .signals import queue_failure_alert

log = logging.getLogger("signals.executor")


@dataclass(frozen=True)
class Delivery:
    task_id: str | None = None
    worker: str | None = None
    redelivered: bool = False
    retries: int = 0  # how many times this step was already retried


@dataclass(frozen=True)
class Outcome:
    action: str  # "continue" | "stop" | "retry" | "failed"
    countdown: float = 0.0
    detail: str = ""
    run_finished: bool = False


def _fetch_steps(pipeline: Pipeline) -> set[str]:
    """The leading I/O steps, which read the upstream; everything after works from artifacts."""
    names: set[str] = set()
    for spec in pipeline.steps:
        if not spec.io:
            break
        names.add(spec.name)
    return names


def fail_run(session: Session, settings: Settings, run: PipelineRun, step: str, error: str) -> None:
    """End a run as failed and queue its failure alert in the same transaction."""
    run.state, run.finished_at, run.error, run.failed_step = RunState.FAILED, utcnow(), error, step
    metrics.run_finished(run.pipeline, "failed", run.started_at, run.finished_at)
    queue_failure_alert(session, settings, run, step, error)


def backoff_delay(retries: int, base: float, cap: float, jitter: bool, retry_after: float | None,
                  rng: Callable[[], float] = random.random) -> float:
    """Exponential backoff with full jitter, never shorter than the server's Retry-After."""
    delay = min(cap, base * (2 ** retries))
    if jitter:
        delay = delay * (0.5 + rng() / 2)  # keep at least half, so retries still spread out
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return delay


@dataclass(frozen=True)
class RunInfo:
    """What a step needs of its run, read once while the run row is locked."""

    id: int
    pipeline: str
    trigger: str
    data_interval_start: datetime
    data_interval_end: datetime
    conf: dict[str, Any]
    counts: dict[str, int]
    replay_of: int | None


# The hot path's statements, built once: a no-op step costs a few round trips, not ORM overhead.
_runs, _steps = table_of(PipelineRun), table_of(StepRun)
_LOCK_RUN = (select(_runs.c.id, _runs.c.pipeline, _runs.c.state, _runs.c.trigger, _runs.c.data_interval_start,
                    _runs.c.data_interval_end, _runs.c.conf, _runs.c.counts, _runs.c.replay_of)
             .where(_runs.c.id == bindparam("run_id")).with_for_update())
_STEP_ROWS = select(_steps.c.id, _steps.c.step, _steps.c.attempt, _steps.c.state).where(
    _steps.c.run_id == bindparam("run_id"))
_MARK_LOST = (update(_steps).where(_steps.c.id.in_(bindparam("ids", expanding=True)))
              .values(state=StepState.LOST, finished_at=bindparam("now"),
                      error="worker lost mid-step; the message was redelivered"))
_INSERT_ATTEMPT = insert(_steps).values(run_id=bindparam("b_run"), step=bindparam("b_step"),
                                        attempt=bindparam("b_attempt"), state=StepState.RUNNING,
                                        task_id=bindparam("b_task"), worker=bindparam("b_worker"),
                                        started_at=bindparam("now"), counts={})
_START_RUN = (update(_runs).where(_runs.c.id == bindparam("b_run"), _runs.c.state == RunState.QUEUED)
              .values(state=RunState.RUNNING, started_at=func.coalesce(_runs.c.started_at, bindparam("now"))))
_STEP_SUCCESS = (update(_steps).where(_steps.c.run_id == bindparam("b_run"), _steps.c.step == bindparam("b_step"),
                                      _steps.c.attempt == bindparam("b_attempt"))
                 .values(state=StepState.SUCCESS, finished_at=bindparam("now"), counts=bindparam("b_counts")))
_RUN_COUNTS = (update(_runs).where(_runs.c.id == bindparam("b_run"), _runs.c.state == RunState.RUNNING)
               .values(counts=bindparam("b_counts")).returning(_runs.c.started_at))
_RUN_DONE = (update(_runs).where(_runs.c.id == bindparam("b_run"), _runs.c.state == RunState.RUNNING)
             .values(counts=bindparam("b_counts"), state=RunState.SUCCESS, finished_at=bindparam("now"))
             .returning(_runs.c.started_at))


class StepRunner:
    """Runs one step between two ledger records: its start (lock the run, record the attempt,
    committed before the step runs so `run-show` and redelivery checks see it) and its success,
    committed in the step's own transaction so a step's effects and its "success" commit
    atomically. Only a failure adds a third. On PostgreSQL the first attempt's start and every
    success are one statement each (`marks`); anything unusual takes the full path in `_begin`.
    """

    def __init__(self, settings: Settings, registry: Registry,
                 dispatch_child: Callable[[str, Mapping[str, Any], int], int] | None = None) -> None:
        self.settings = settings
        self.registry = registry
        self._dispatch_child = dispatch_child
        self._sessions = session_factory(settings.DATABASE_URL)
        self._pg = not is_sqlite(settings.DATABASE_URL)

    # -- begin ----------------------------------------------------------------------------------
    def _begin_first(self, run_id: int, step: str,
                     delivery: Delivery) -> tuple[str, int, Pipeline | None, RunInfo | None] | None:
        """The common case in one round trip: attempt 1 of a step nothing has touched yet."""
        rows = execute_autocommit(self.settings.DATABASE_URL, marks.START,
                                  marks.start_params(run_id, step, delivery.task_id, delivery.worker, utcnow()),
                                  relaxed=self.settings.DATABASE_RELAXED_COMMIT)
        if not rows:
            return "stop", 0, None, None
        run = rows[0]
        if not run.recorded:
            return None
        return "run", 1, self.registry.get(run.pipeline), RunInfo(
            run.id, run.pipeline, run.trigger, run.data_interval_start, run.data_interval_end,
            dict(run.conf or {}), dict(run.counts or {}), run.replay_of)

    def _begin(self, session: Session, run_id: int, step: str,
               delivery: Delivery) -> tuple[str, int, Pipeline | None, RunInfo | None]:
        run = session.execute(_LOCK_RUN, {"run_id": run_id}).first()
        if run is None or run.state in (RunState.FAILED, RunState.SKIPPED):
            return "stop", 0, None, None
        pipeline = self.registry.get(run.pipeline)
        rows = session.execute(_STEP_ROWS, {"run_id": run_id}).all()
        attempts = sorted((r for r in rows if r.step == step), key=lambda r: r.attempt)
        if any(a.state == StepState.SUCCESS for a in attempts):
            nxt = pipeline.next_step(step)
            started_next = nxt is not None and any(r.step == nxt.name and r.state != StepState.SUPERSEDED
                                                   for r in rows)
            return ("stop" if started_next or nxt is None else "skip"), 0, pipeline, None
        running = [a for a in attempts if a.state == StepState.RUNNING]
        if running and not delivery.redelivered:
            return "stop", 0, pipeline, None
        now = utcnow()
        if running:
            session.execute(_MARK_LOST, {"ids": [a.id for a in running], "now": now})
        lost = sum(1 for a in attempts if a.state == StepState.LOST) + len(running)
        if lost > self.settings.REDELIVERY_CAP:
            fail_run(session, self.settings, session.get_one(PipelineRun, run_id), step,
                     f"step {step} redelivered {lost} times after worker loss "
                     f"(REDELIVERY_CAP={self.settings.REDELIVERY_CAP})")
            return "failed", 0, pipeline, None
        attempt = (attempts[-1].attempt if attempts else 0) + 1
        session.execute(_INSERT_ATTEMPT, {"b_run": run_id, "b_step": step, "b_attempt": attempt,
                                          "b_task": delivery.task_id, "b_worker": delivery.worker, "now": now})
        if run.state == RunState.QUEUED:
            session.execute(_START_RUN, {"b_run": run_id, "now": now})
        info = RunInfo(run.id, run.pipeline, run.trigger, run.data_interval_start, run.data_interval_end,
                       dict(run.conf or {}), dict(run.counts or {}), run.replay_of)
        return "run", attempt, pipeline, info

    # -- the step and its success record --------------------------------------------------------
    def _context(self, session: Session, run: RunInfo, step: str) -> StepContext:
        def quarantine(source: str, record_key: str, error: str, raw: bytes | str) -> None:
            raw_bytes = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else raw
            session.add(QuarantinedRecord(run_id=run.id, pipeline=run.pipeline, step=step, source=source,
                                          record_key=record_key[:255], error=error, raw=raw_bytes))
            log.warning("quarantined %s record %s: %s", source, record_key, error,
                        extra={"pipeline": run.pipeline, "run_id": run.id, "step": step})

        child = self._dispatch_child
        return StepContext(run_id=run.id, pipeline=run.pipeline, step=step,
                           data_interval_start=run.data_interval_start, data_interval_end=run.data_interval_end,
                           trigger=run.trigger, conf=dict(run.conf), settings=self.settings, session=session,
                           artifacts=RunArtifacts(session, run.id, step, run.replay_of), quarantine=quarantine,
                           dispatch_child=(lambda name, conf: child(name, conf, run.id)) if child else None)

    def _record_success(self, bind: Session | None, pipeline: Pipeline, run: RunInfo, step: str, attempt: int,
                        counts: dict[str, int]) -> bool:
        """In the step's transaction (`bind`), or by itself when the step had nothing to commit."""
        now = utcnow()
        merged = {**run.counts, **{f"{step}.{k}": v for k, v in counts.items()}}
        last = pipeline.next_step(step) is None
        if self._pg:
            params = marks.success_params(run.id, step, attempt, now, counts, merged, last)
            rows = (execute_autocommit(self.settings.DATABASE_URL, marks.SUCCESS, params) if bind is None
                    else bind.execute(marks.SUCCESS, params).all())
            started = rows[0].started_at if last and rows else None
        else:
            with self._sessions.begin() if bind is None else nullcontext(bind) as session:
                session.execute(_STEP_SUCCESS, {"b_run": run.id, "b_step": step, "b_attempt": attempt, "now": now,
                                                "b_counts": counts})
                done = session.execute(_RUN_DONE if last else _RUN_COUNTS,
                                       {"b_run": run.id, "b_counts": merged, "now": now}).first()
            started = done.started_at if last and done is not None else None
        if started is not None:
            metrics.run_finished(run.pipeline, "success", started, now)
            return True
        return False

    def _run_in_session(self, fn: Callable[[StepContext], StepResult | None], run: RunInfo, step: str,
                        on_success: Callable[[Session | None, dict[str, int]], bool] | None,
                        ) -> tuple[dict[str, int], bool]:
        """Run one step function in a session of its own; commit it, with the success record when
        given. A function that sent no SQL and added nothing has no transaction to commit, so its
        success is recorded by itself (one round trip instead of BEGIN, statement, COMMIT)."""
        session = self._sessions()
        try:
            result = fn(self._context(session, run, step))
            counts = dict(result.counts) if result else {}
            if not session.in_transaction() and not (session.new or session.dirty or session.deleted):
                session.close()
                return counts, on_success(None, counts) if on_success else False
            finished = on_success(session, counts) if on_success else False
            session.commit()
            return counts, finished
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def _execute(self, pipeline: Pipeline, run: RunInfo, step: str, attempt: int) -> bool:
        """Run the step's functions and record its success; returns True when the run finished."""
        if run.replay_of is not None and step in _fetch_steps(pipeline):
            # A replay re-computes from the raw inputs its source run stored; it never refetches.
            return self._record_success(None, pipeline, run, step, attempt, {"replayed_from": run.replay_of})

        def success(bind: Session | None, counts: dict[str, int]) -> bool:
            return self._record_success(bind, pipeline, run, step, attempt, counts)

        functions = pipeline.step(step).functions
        if len(functions) == 1:
            return self._run_in_session(functions[0], run, step, success)[1]
        counts: dict[str, int] = {}
        # Parallel sources run in threads, each with a session of its own; the success follows them.
        with ThreadPoolExecutor(max_workers=len(functions), thread_name_prefix=f"{pipeline.name}-{step}") as pool:
            for part, _ in pool.map(lambda fn: self._run_in_session(fn, run, step, None), functions):
                counts.update(part)
        return self._record_success(None, pipeline, run, step, attempt, counts)

    # -- failure --------------------------------------------------------------------------------
    def _record_failure(self, run_id: int, step: str, attempt: int, state: str, error: str,
                        fail_the_run: bool) -> bool:
        with self._sessions.begin() as session:
            run = session.get_one(PipelineRun, run_id, with_for_update=True)
            session.execute(update(StepRun).where(StepRun.run_id == run_id, StepRun.step == step,
                                                  StepRun.attempt == attempt)
                            .values(state=state, finished_at=utcnow(), error=error))
            if fail_the_run and run.state not in RunState.FINISHED:
                fail_run(session, self.settings, run, step, error)
                return True
        return False

    def run(self, run_id: int, step: str, delivery: Delivery) -> Outcome:
        try:
            begun = self._begin_first(run_id, step, delivery) if self._pg else None
            if begun is None:
                with self._sessions.begin() as session:  # the rare cases: durable, several statements
                    begun = self._begin(session, run_id, step, delivery)
            decision, attempt, pipeline, info = begun
        except IntegrityError:
            return Outcome("stop", detail="another delivery recorded this attempt first")
        if decision == "skip":
            return Outcome("continue", detail="step already succeeded")
        if decision != "run":
            return Outcome("failed" if decision == "failed" else "stop", detail=decision,
                           run_finished=decision == "failed")
        assert pipeline is not None and info is not None
        started = time.monotonic()
        spec = pipeline.step(step)

        def failed(state: str, error: str, fail_the_run: bool) -> bool:
            metrics.step_finished(pipeline.name, step, state, time.monotonic() - started)
            return self._record_failure(run_id, step, attempt, state, error, fail_the_run)

        try:
            finished = self._execute(pipeline, info, step, attempt)
        except TransientError as exc:
            retry = pipeline.retry
            if spec.io and delivery.retries < retry.max_retries:
                delay = backoff_delay(delivery.retries, retry.backoff_base, retry.backoff_max, retry.jitter,
                                      exc.retry_after)
                failed(StepState.RETRY, f"transient: {exc}", False)
                return Outcome("retry", countdown=delay, detail=str(exc))
            done = failed(StepState.FAILED, f"transient error, retries exhausted: {exc}", True)
            return Outcome("failed", detail=str(exc), run_finished=done)
        except (DataError, ConfigError) as exc:
            kind = "data error" if isinstance(exc, DataError) else "configuration error"
            done = failed(StepState.FAILED, f"{kind}: {exc}", True)
            return Outcome("failed", detail=str(exc), run_finished=done)
        except Exception as exc:  # noqa: BLE001 - recorded in the ledger with its traceback, then re-raised
            failed(StepState.FAILED, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}", True)
            raise
        metrics.step_finished(pipeline.name, step, StepState.SUCCESS, time.monotonic() - started)
        return Outcome("continue", run_finished=finished)


def run_locally(settings: Settings, registry: Registry, run_id: int,
                sleep: Callable[[float], Any] = time.sleep) -> str:
    """Run every step of a run in this process, in order (the embedded mode); returns the run state.

    Child runs a master pipeline dispatches run here too, before the master's next step.
    """
    from .dispatch import Dispatcher

    def child(name: str, conf: Mapping[str, Any], parent: int) -> int:
        def send(_pipeline: Pipeline, rid: int) -> None:
            run_locally(settings, registry, rid, sleep)

        dispatcher = Dispatcher(settings, registry, send)
        return dispatcher.manual(name, dict(conf), parent_run_id=parent).run_id

    runner = StepRunner(settings, registry, dispatch_child=child)
    with runner._sessions() as session:
        pipeline = registry.get(session.get_one(PipelineRun, run_id).pipeline)
    for spec in pipeline.steps:
        retries = 0
        while True:
            outcome = runner.run(run_id, spec.name, Delivery(task_id=None, worker="local", retries=retries))
            if outcome.action != "retry":
                break
            retries += 1
            sleep(outcome.countdown)
        if outcome.action != "continue":
            break
    with runner._sessions() as session:
        return session.get_one(PipelineRun, run_id).state
