"""`signals run | runs | run-show | backfill | reconcile | pipelines`."""
from __future__ import annotations

import argparse
import time
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from pipelines.core.db import session_factory
from pipelines.core.dispatch import Dispatcher
from pipelines.core.executor import run_locally
from pipelines.core.ledger import PipelineRun, RunState
from pipelines.core.runs import REPROCESS_MODES, list_runs, run_steps

from .common import console, context, iso, parse_conf, parse_when, print_json, shown


def add_commands(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="start a manual run")
    run.add_argument("pipeline")
    run.add_argument("--conf", action="append", metavar="KEY=VALUE", help="run configuration (repeatable)")
    run.add_argument("--wait", action="store_true", help="wait until the run ends; exit 1 if it failed")
    run.add_argument("--local", action="store_true", help="run the chain in this process, no broker")
    run.add_argument("--replay", type=int, metavar="RUN_ID", help="re-compute from that run's raw inputs")
    run.add_argument("--timeout", type=float, default=3600, help="seconds --wait waits")
    run.set_defaults(func=_run)

    runs = sub.add_parser("runs", help="list run history")
    runs.add_argument("--pipeline")
    runs.add_argument("--state", choices=("queued", "running", "success", "failed", "skipped"))
    runs.add_argument("--limit", type=int, default=50)
    runs.add_argument("--json", action="store_true")
    runs.set_defaults(func=_runs)

    show = sub.add_parser("run-show", help="one run with its steps and errors")
    show.add_argument("run_id", type=int)
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_show)

    bf = sub.add_parser("backfill", help="one run per scheduled interval between two dates")
    bf.add_argument("pipeline")
    bf.add_argument("--start", required=True, help="ISO date or datetime (schedule zone if naive)")
    bf.add_argument("--end", required=True, help="ISO date or datetime, inclusive")
    bf.add_argument("--reprocess", choices=REPROCESS_MODES, default="none",
                    help="existing runs: none = leave them, failed = run failed ones again, all = run all again")
    bf.add_argument("--local", action="store_true", help="run each interval in this process")
    bf.add_argument("--dry-run", action="store_true", help="list the intervals only")
    bf.set_defaults(func=_backfill)

    rec = sub.add_parser("reconcile", help="dispatch missed intervals and fail stuck runs, once")
    rec.add_argument("--local", action="store_true", help="run what it dispatches in this process")
    rec.set_defaults(func=_reconcile)

    pl = sub.add_parser("pipelines", help="the pipeline registry: queues, steps, schedules")
    pl.add_argument("--json", action="store_true")
    pl.set_defaults(func=_pipelines)


def _dispatcher(local: bool) -> Dispatcher:
    settings, registry = context()
    if local:
        from notifications.outbox import deliver_all

        def run_here(pipeline, run_id: int) -> None:  # type: ignore[no-untyped-def]
            run_locally(settings, registry, run_id)
            deliver_all(settings, run_id=run_id)  # the embedded mode has no alerts worker

        return Dispatcher(settings, registry, run_here)
    from workers.tasks import make_sender
    from workers.app import app

    return Dispatcher(settings, registry, make_sender(app))


def _run(args: argparse.Namespace) -> int:
    settings, registry = context()
    pipeline = registry.get(args.pipeline)
    conf = parse_conf(args.conf)
    if args.local:
        opened = _dispatcher(True).manual(pipeline.name, conf, replay_of=args.replay)
        return _report_run(opened.run_id)
    # Like Airflow's trigger, the CLI opens the run in the ledger itself and sends its chain through
    # Redis to the workers: one hop fewer than a dispatch task (which beat and plain `celery call` use).
    opened = _dispatcher(False).manual(pipeline.name, conf, replay_of=args.replay)
    console.print(f"run {opened.run_id} of {pipeline.name} sent to queue {pipeline.queue}")
    if not args.wait:
        return 0
    run_id = opened.run_id
    sessions = session_factory(settings.DATABASE_URL)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        with sessions() as session:
            state = session.get_one(PipelineRun, run_id).state
        if state in RunState.FINISHED:
            return _report_run(run_id)
        time.sleep(0.5)
    console.print(f"run {run_id} still not finished after {args.timeout:.0f} s")
    return 1


def _report_run(run_id: int) -> int:
    _print_run(run_id, as_json=False)
    settings, _ = context()
    with session_factory(settings.DATABASE_URL)() as session:
        return 0 if session.get_one(PipelineRun, run_id).state == RunState.SUCCESS else 1


def _run_dict(run: PipelineRun) -> dict[str, object]:
    return {"id": run.id, "pipeline": run.pipeline, "trigger": run.trigger, "state": run.state,
            "scheduled_for": iso(run.scheduled_for), "data_interval_start": iso(run.data_interval_start),
            "data_interval_end": iso(run.data_interval_end), "try_number": run.try_number, "conf": run.conf,
            "created_at": iso(run.created_at), "started_at": iso(run.started_at),
            "finished_at": iso(run.finished_at), "counts": run.counts, "failed_step": run.failed_step,
            "error": run.error, "replay_of": run.replay_of, "parent_run_id": run.parent_run_id}


def _runs(args: argparse.Namespace) -> int:
    settings, _ = context()
    with session_factory(settings.DATABASE_URL)() as session:
        rows = list_runs(session, args.pipeline, args.state, args.limit)
        if args.json:
            print_json([_run_dict(r) for r in rows])
            return 0
        table = Table("id", "pipeline", "trigger", "state", "interval (UTC)", "started", "took")
        for r in rows:
            took = f"{(r.finished_at - r.started_at).total_seconds():.1f}s" if r.finished_at and r.started_at else ""
            table.add_row(str(r.id), r.pipeline, r.trigger, _state(r.state),
                          f"{r.data_interval_start:%Y-%m-%d %H:%M} -> {r.data_interval_end:%Y-%m-%d %H:%M}",
                          f"{r.started_at:%Y-%m-%d %H:%M:%S}" if r.started_at else "", took)
        console.print(table)
    return 0


def _state(state: str) -> str:
    colour = {"success": "green", "failed": "red", "running": "yellow"}.get(state)
    return f"[{colour}]{state}[/{colour}]" if colour else state


def _print_run(run_id: int, as_json: bool) -> None:
    settings, _ = context()
    with session_factory(settings.DATABASE_URL)() as session:
        run = session.get(PipelineRun, run_id)
        if run is None:
            raise KeyError(f"no run {run_id}")
        steps = run_steps(session, run_id)
        if as_json:
            out = _run_dict(run)
            out["steps"] = [{"step": s.step, "attempt": s.attempt, "state": s.state, "worker": s.worker,
                             "task_id": s.task_id, "started_at": iso(s.started_at),
                             "finished_at": iso(s.finished_at), "counts": s.counts, "error": s.error}
                            for s in steps]
            print_json(out)
            return
        console.print(f"run {run.id}  {run.pipeline}  {_state(run.state)}  trigger={run.trigger}  "
                      f"try={run.try_number}")
        console.print(f"interval {iso(run.data_interval_start)} -> {iso(run.data_interval_end)}")
        if run.counts:
            console.print("counts " + shown(", ".join(f"{k}={v}" for k, v in sorted(run.counts.items()))))
        table = Table("step", "attempt", "state", "worker", "took", "error")
        for s in steps:
            took = f"{(s.finished_at - s.started_at).total_seconds():.2f}s" if s.finished_at else ""
            # Errors quote outside data (a bad record's text): shown, not read as markup.
            table.add_row(s.step, str(s.attempt), _state(s.state), shown(s.worker or ""), took,
                          shown((s.error or "").splitlines()[0][:120]) if s.error else "")
        console.print(table)
        if run.error:
            console.print(f"[red]error[/red] in step {run.failed_step}: {shown(run.error)}", markup=True)


def _show(args: argparse.Namespace) -> int:
    _print_run(args.run_id, args.json)
    return 0


def _backfill(args: argparse.Namespace) -> int:
    settings, registry = context()
    tz = settings.TIMEZONE
    start, end = parse_when(args.start, tz), parse_when(args.end, tz, end_of_day=True)
    dispatcher = _dispatcher(args.local)
    if args.dry_run:
        for _fire, (s, e) in dispatcher.plan_backfill(args.pipeline, start, end):
            console.print(f"{iso(s)} -> {iso(e)}")
        return 0
    with Progress(TextColumn("backfill {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console) as progress:
        task = progress.add_task(args.pipeline, total=None)

        def tick(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        opened = dispatcher.backfill(args.pipeline, start, end, args.reprocess, progress=tick)
    by_action: dict[str, int] = {}
    for o in opened:
        by_action[o.action] = by_action.get(o.action, 0) + 1
    console.print(f"{len(opened)} interval(s): " + ", ".join(f"{v} {k}" for k, v in sorted(by_action.items())))
    return 0


def _reconcile(args: argparse.Namespace) -> int:
    report = _dispatcher(args.local).reconcile()
    console.print(f"dispatched {report.dispatched or 'nothing'}; failed stuck runs {report.failed_stuck or 'none'}")
    return 0


def _pipelines(args: argparse.Namespace) -> int:
    settings, registry = context()
    rows: list[dict[str, Any]] = []
    for p in registry.pipelines:
        cal = p.calendar_for(settings)
        rows.append({"name": p.name, "queue": p.queue, "steps": [s.name for s in p.steps],
                     "schedule": cal.describe() if cal else "manual", "description": p.description})
    if args.json:
        print_json(rows)
        return 0
    table = Table("pipeline", "queue", "steps", "schedule")
    for r in rows:
        table.add_row(r["name"], r["queue"], " -> ".join(r["steps"]), r["schedule"])
    console.print(table)
    return 0
