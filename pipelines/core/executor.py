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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import metrics
from .artifacts import RunArtifacts
from .db import session_factory
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


class StepRunner:
    def __init__(self, settings: Settings, registry: Registry,
                 dispatch_child: Callable[[str, Mapping[str, Any], int], int] | None = None) -> None:
        self.settings = settings
        self.registry = registry
        self._dispatch_child = dispatch_child
        self._sessions = session_factory(settings.DATABASE_URL)

    # -- the ledger around a step -------------------------------------------------------------
    def _begin(self, session: Session, pipeline: Pipeline, run_id: int, step: str,
               delivery: Delivery) -> tuple[str, int]:
        run = session.get(PipelineRun, run_id, with_for_update=True)
        if run is None:
            return "stop", 0
        if run.state in (RunState.FAILED, RunState.SKIPPED):
            return "stop", 0
        attempts = list(session.scalars(select(StepRun).where(StepRun.run_id == run_id, StepRun.step == step)
                                        .order_by(StepRun.attempt)))
        if any(a.state == StepState.SUCCESS for a in attempts):
            nxt = pipeline.next_step(step)
            started_next = nxt is not None and session.scalar(
                select(func.count()).select_from(StepRun).where(StepRun.run_id == run_id, StepRun.step == nxt.name,
                                                                StepRun.state != StepState.SUPERSEDED))
            return ("stop" if started_next or nxt is None else "skip"), 0
        running = [a for a in attempts if a.state == StepState.RUNNING]
        if running and not delivery.redelivered:
            return "stop", 0
        for a in running:
            a.state, a.finished_at = StepState.LOST, utcnow()
            a.error = "worker lost mid-step; the message was redelivered"
        lost = sum(1 for a in attempts if a.state == StepState.LOST)
        if lost > self.settings.REDELIVERY_CAP:
            self._fail_run(session, run, step, f"step {step} redelivered {lost} times after worker loss "
                                               f"(REDELIVERY_CAP={self.settings.REDELIVERY_CAP})")
            return "failed", 0
        attempt = (attempts[-1].attempt if attempts else 0) + 1
        session.add(StepRun(run_id=run_id, step=step, attempt=attempt, state=StepState.RUNNING,
                            task_id=delivery.task_id, worker=delivery.worker, started_at=utcnow(), counts={}))
        if run.state == RunState.QUEUED:
            run.state, run.started_at = RunState.RUNNING, run.started_at or utcnow()
        return "run", attempt

    def _fail_run(self, session: Session, run: PipelineRun, step: str, error: str) -> None:
        fail_run(session, self.settings, run, step, error)

    def _finish(self, run_id: int, step: str, attempt: int, state: str, error: str | None,
                counts: dict[str, int], fail_run: bool, started: float) -> bool:
        """Record the attempt's end; returns True when the run finished with it."""
        with self._sessions.begin() as session:
            run = session.get(PipelineRun, run_id, with_for_update=True)
            row = session.scalar(select(StepRun).where(StepRun.run_id == run_id, StepRun.step == step,
                                                       StepRun.attempt == attempt))
            if row is not None:
                row.state, row.finished_at, row.error, row.counts = state, utcnow(), error, counts
            pipeline = self.registry.get(run.pipeline)
            metrics.step_finished(run.pipeline, step, state, time.monotonic() - started)
            if state == StepState.SUCCESS:
                run.counts = {**(run.counts or {}), **{f"{step}.{k}": v for k, v in counts.items()}}
                if pipeline.next_step(step) is None and run.state == RunState.RUNNING:
                    run.state, run.finished_at = RunState.SUCCESS, utcnow()
                    metrics.run_finished(run.pipeline, "success", run.started_at, run.finished_at)
                    return True
            elif fail_run and run.state not in RunState.FINISHED:
                self._fail_run(session, run, step, error or "failed")
                return True
        return False

    # -- running the step functions -----------------------------------------------------------
    def _context(self, session: Session, run: PipelineRun, step: str) -> StepContext:
        def quarantine(source: str, record_key: str, error: str, raw: bytes | str) -> None:
            raw_bytes = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else raw
            session.add(QuarantinedRecord(run_id=run.id, pipeline=run.pipeline, step=step, source=source,
                                          record_key=record_key[:255], error=error, raw=raw_bytes))
            log.warning("quarantined %s record %s: %s", source, record_key, error,
                        extra={"pipeline": run.pipeline, "run_id": run.id, "step": step})

        return StepContext(run_id=run.id, pipeline=run.pipeline, step=step,
                           data_interval_start=run.data_interval_start, data_interval_end=run.data_interval_end,
                           trigger=run.trigger, conf=dict(run.conf or {}), settings=self.settings, session=session,
                           artifacts=RunArtifacts(session, run.id, step), quarantine=quarantine,
                           dispatch_child=(lambda name, conf: self._dispatch_child(name, conf, run.id))
                           if self._dispatch_child else None)

    def _call(self, run_id: int, step: str, fn: Callable[[StepContext], StepResult | None]) -> dict[str, int]:
        # One session per function: parallel sources run in threads and must not share one.
        with self._sessions.begin() as session:
            run = session.get(PipelineRun, run_id)
            result = fn(self._context(session, run, step))
        return dict(result.counts) if result else {}

    def _execute(self, pipeline: Pipeline, run_id: int, step: str) -> dict[str, int]:
        functions = pipeline.step(step).functions
        if len(functions) == 1:
            return self._call(run_id, step, functions[0])
        counts: dict[str, int] = {}
        with ThreadPoolExecutor(max_workers=len(functions), thread_name_prefix=f"{pipeline.name}-{step}") as pool:
            for part in pool.map(lambda f: self._call(run_id, step, f), functions):
                counts.update(part)
        return counts

    def run(self, run_id: int, step: str, delivery: Delivery) -> Outcome:
        with self._sessions.begin() as session:
            name = session.scalar(select(PipelineRun.pipeline).where(PipelineRun.id == run_id))
            if name is None:
                return Outcome("stop", detail=f"run {run_id} does not exist")
            pipeline = self.registry.get(name)
            try:
                decision, attempt = self._begin(session, pipeline, run_id, step, delivery)
            except IntegrityError:
                decision, attempt = "stop", 0  # another copy inserted the same attempt first
        if decision == "skip":
            return Outcome("continue", detail="step already succeeded")
        if decision in ("stop", "failed"):
            return Outcome("stop" if decision == "stop" else "failed", detail=decision,
                           run_finished=decision == "failed")
        started = time.monotonic()
        spec = pipeline.step(step)
        try:
            counts = self._execute(pipeline, run_id, step)
        except TransientError as exc:
            retry = pipeline.retry
            if spec.io and delivery.retries < retry.max_retries:
                delay = backoff_delay(delivery.retries, retry.backoff_base, retry.backoff_max, retry.jitter,
                                      exc.retry_after)
                self._finish(run_id, step, attempt, StepState.RETRY, f"transient: {exc}", {}, False, started)
                return Outcome("retry", countdown=delay, detail=str(exc))
            finished = self._finish(run_id, step, attempt, StepState.FAILED,
                                    f"transient error, retries exhausted: {exc}", {}, True, started)
            return Outcome("failed", detail=str(exc), run_finished=finished)
        except (DataError, ConfigError) as exc:
            kind = "data error" if isinstance(exc, DataError) else "configuration error"
            finished = self._finish(run_id, step, attempt, StepState.FAILED, f"{kind}: {exc}", {}, True, started)
            return Outcome("failed", detail=str(exc), run_finished=finished)
        except Exception as exc:  # noqa: BLE001 - recorded in the ledger with its traceback, then re-raised
            error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"
            self._finish(run_id, step, attempt, StepState.FAILED, error, {}, True, started)
            raise
        finished = self._finish(run_id, step, attempt, StepState.SUCCESS, None, counts, False, started)
        return Outcome("continue", run_finished=finished)


def run_locally(settings: Settings, registry: Registry, run_id: int,
                sleep: Callable[[float], Any] = time.sleep) -> str:
    """Run every step of a run in this process, in order (the embedded mode); returns the run state.

    Child runs a master pipeline dispatches run here too, before the master's next step.
    """
    from .dispatch import Dispatcher

    def child(name: str, conf: Mapping[str, Any], parent: int) -> int:
        dispatcher = Dispatcher(settings, registry, lambda p, rid: run_locally(settings, registry, rid, sleep))
        return dispatcher.manual(name, dict(conf), parent_run_id=parent).run_id

    runner = StepRunner(settings, registry, dispatch_child=child)
    with runner._sessions() as session:
        pipeline = registry.get(session.get(PipelineRun, run_id).pipeline)
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
        return session.get(PipelineRun, run_id).state
