"""Thin task wrappers, generated from the registry: `pipelines.<pipeline>.<step>` and dispatch.

A task unpacks ids, calls the engine (pipelines.core) and turns its Outcome into Celery terms:
return the run id to continue the chain, raise Ignore to stop it, or retry with a countdown.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from celery import Celery, Task, chain
from celery.exceptions import Ignore

from notifications.lease import redis_client
from pipelines.core.executor import Delivery
from pipelines.core.model import Pipeline
from pipelines.core.registry import RECONCILE_TASK, Registry

from .alert_tasks import register_alert_tasks, request_delivery
from .runtime import runtime, set_sender


class PipelineTask(Task):
    acks_late = True
    reject_on_worker_lost = True
    typing = True


def _delivery(task: Task) -> Delivery:
    info = task.request.delivery_info or {}
    # Kombu's Redis transport marks a restored message in its headers; the delivery_info copy is
    # only set when the stored payload already had one, so read both.
    redelivered = bool(info.get("redelivered") or getattr(task.request, "redelivered", False))
    return Delivery(task_id=task.request.id, worker=task.request.hostname, redelivered=redelivered,
                    retries=task.request.retries)


def step_chain(app: Celery, pipeline: Pipeline, run_id: int) -> Any:
    first, *rest = pipeline.steps
    sigs = [app.signature(pipeline.task_name(first.name), args=(run_id,), immutable=True)]
    sigs += [app.signature(pipeline.task_name(s.name)) for s in rest]
    return chain(*sigs)


def make_sender(app: Celery):  # type: ignore[no-untyped-def]
    def send(pipeline: Pipeline, run_id: int) -> None:
        step_chain(app, pipeline, run_id).apply_async()
    return send


def _register_step(app: Celery, pipeline: Pipeline, step_name: str, soft: int, hard: int) -> None:
    def run_step(self: Task, run_id: int) -> int:
        outcome = runtime().runner.run(run_id, step_name, _delivery(self))
        if outcome.run_finished:
            request_delivery(self.app, run_id)
        if outcome.action == "continue":
            return run_id
        if outcome.action == "retry":
            raise self.retry(countdown=outcome.countdown, max_retries=None)
        raise Ignore()  # stops the chain; the ledger already says why

    # Chains pass results by message; storing each step's result in the backend would be a wasted
    # Redis write per task (the ledger is the record).
    app.task(run_step, name=pipeline.task_name(step_name), bind=True, base=PipelineTask, shared=False,
             ignore_result=True, soft_time_limit=soft, time_limit=hard)


REQUEST_KEY_PREFIX = "signals:dispatch-request:"
REQUEST_KEY_TTL = 7 * 86400  # far longer than any visibility timeout: redeliveries come well within it


def _pinned_request_time(task: Task, redis_url: str) -> str:
    """The request time of a manual dispatch sent without `requested_at` (a plain `celery call`).

    A manual run's interval ends at its request time, so a redelivered message that took a new
    "now" would open a second run. The first delivery pins the time under the task id, which
    Celery keeps across redeliveries; later deliveries read it back and open the same run.
    """
    key = REQUEST_KEY_PREFIX + str(task.request.id)
    now = datetime.now(timezone.utc).isoformat()
    client = redis_client(redis_url)
    if client.set(key, now, nx=True, ex=REQUEST_KEY_TTL):
        return now
    pinned = client.get(key)
    if isinstance(pinned, bytes):
        return pinned.decode()
    return pinned or now


def _register_dispatch(app: Celery, pipeline: Pipeline) -> None:
    def dispatch(self: Task, trigger: str = "schedule", conf: dict[str, Any] | None = None,
                 requested_at: str | None = None, replay_of: int | None = None) -> int | None:
        """Open a run and send its chain. A redelivered manual request opens no second run: the
        request time (`requested_at`, or one pinned on first delivery) fixes its interval."""
        rt = runtime()
        if trigger == "schedule":
            opened = rt.dispatcher.tick(pipeline.name)
        elif trigger == "manual":
            now = datetime.fromisoformat(requested_at or _pinned_request_time(self, rt.settings.CELERY_BROKER_URL))
            opened = rt.dispatcher.manual(pipeline.name, conf or {}, now=now, replay_of=replay_of)
        else:
            raise ValueError(f"dispatch trigger must be schedule or manual, not {trigger!r}")
        return opened.run_id if opened else None

    app.task(dispatch, name=pipeline.dispatch_task, bind=True, base=PipelineTask, shared=False, soft_time_limit=60,
             time_limit=90)


def register_tasks(app: Celery, registry: Registry) -> None:
    set_sender(make_sender(app))
    register_alert_tasks(app)
    for pipeline in registry.pipelines:
        _register_dispatch(app, pipeline)
        for step in pipeline.steps:
            _register_step(app, pipeline, step.name, step.soft_time_limit, step.time_limit)

    def reconcile(self: Task) -> dict[str, Any]:
        report = runtime().dispatcher.reconcile()
        return {"dispatched": report.dispatched, "failed_stuck": report.failed_stuck}

    app.task(reconcile, name=RECONCILE_TASK, bind=True, base=PipelineTask, shared=False, soft_time_limit=240,
             time_limit=280)
