"""A master pipeline's two steps: dispatch the children, then wait for them and report as one.

Children are opened through `ctx.dispatch_child` with this run as their parent: Celery chains under a
worker, in-process runs under `signals run --local` (which finish before `trigger` returns). The
children's data interval ends where the master's does, and `--conf CHILD.KEY=VALUE` passes KEY=VALUE
to that child only.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from pipelines.core.errors import ConfigError, DataError, TransientError
from pipelines.core.ledger import PipelineRun, RunState
from pipelines.core.model import StepContext, StepFn, StepResult

POLL_SECONDS = 15  # how soon `collect` looks again while children run


def child_conf(ctx: StepContext, child: str) -> dict[str, Any]:
    conf: dict[str, Any] = {"data_interval_end": ctx.data_interval_end.isoformat()}
    prefix = f"{child}."
    conf.update({k[len(prefix):]: v for k, v in ctx.conf.items() if k.startswith(prefix)})
    return conf


def _children_of(ctx: StepContext) -> dict[str, PipelineRun]:
    runs = ctx.session.scalars(select(PipelineRun).where(PipelineRun.parent_run_id == ctx.run_id)
                               .order_by(PipelineRun.id))
    return {r.pipeline: r for r in runs}  # the newest run per child pipeline


def trigger_children(children: Sequence[str]) -> StepFn:
    """The `trigger` step: open each child run not yet opened for this master run (a retry skips the rest)."""

    def trigger(ctx: StepContext) -> StepResult:
        if ctx.dispatch_child is None:
            raise ConfigError(f"{ctx.pipeline} can only run where child runs can be sent (a worker or --local)")
        opened = set(_children_of(ctx))
        dispatched = 0
        for name in children:
            if name not in opened:
                ctx.dispatch_child(name, child_conf(ctx, name))
                dispatched += 1
        return StepResult(counts={"children": len(children), "dispatched": dispatched,
                                  "already_open": len(opened & set(children))})

    return trigger


def collect_children(children: Sequence[str]) -> StepFn:
    """The `collect` step: retry until every child run has finished, then fail if any child failed."""

    def collect(ctx: StepContext) -> StepResult:
        runs = _children_of(ctx)
        missing = [name for name in children if name not in runs]
        if missing:
            raise DataError(f"child run(s) never opened for run {ctx.run_id}: {', '.join(missing)}",
                            source=ctx.pipeline, record_key=str(ctx.run_id))
        mine = [runs[name] for name in children]
        running = [r for r in mine if r.state not in RunState.FINISHED]
        if running:
            raise TransientError("children still running: " + ", ".join(f"{r.pipeline} (run {r.id}, {r.state})"
                                                                         for r in running),
                                 retry_after=POLL_SECONDS)
        failed = [r for r in mine if r.state == RunState.FAILED]
        if failed:
            detail = "; ".join(f"{r.pipeline} (run {r.id}, step {r.failed_step}: "
                               f"{(r.error or 'failed').strip().splitlines()[-1][:200]})" for r in failed)
            raise DataError(f"child pipeline(s) failed: {detail}", source=ctx.pipeline, record_key=str(ctx.run_id))
        counts = {"children": len(mine), "succeeded": sum(r.state == RunState.SUCCESS for r in mine),
                  "skipped": sum(r.state == RunState.SKIPPED for r in mine)}
        for r in mine:
            counts[f"{r.pipeline}.signals"] = int((r.counts or {}).get("score.signals", 0))
        return StepResult(counts=counts)

    return collect
