"""End to end through real Redis, PostgreSQL and Celery worker and beat processes."""
from __future__ import annotations

import json
import os
import signal
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy import select

from pipelines.core.db import session_factory
from pipelines.core.ledger import PipelineRun, QuarantinedRecord, RunArtifact, StepRun
from tests.support.services import BROKER_DB, redis_url, wait_for

pytestmark = pytest.mark.integration


def _runs(url: str, pipeline: str | None = None) -> list[PipelineRun]:
    with session_factory(url)() as s:
        q = select(PipelineRun).order_by(PipelineRun.id)
        if pipeline:
            q = q.where(PipelineRun.pipeline == pipeline)
        return list(s.scalars(q))


def _steps(url: str, run_id: int) -> list[tuple[str, int, str]]:
    with session_factory(url)() as s:
        return [(r.step, r.attempt, r.state) for r in
                s.scalars(select(StepRun).where(StepRun.run_id == run_id).order_by(StepRun.id))]


def _executions(log_dir: Path) -> list[dict]:
    path = log_dir / "executions.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _client() -> Celery:
    return Celery(broker=redis_url(BROKER_DB))


def _finished(url: str, run_id: int) -> PipelineRun | None:
    run = next((r for r in _runs(url) if r.id == run_id), None)
    return run if run is not None and run.state in ("success", "failed") else None


def test_beat_dispatch_chain_ledger_end_to_end(stack_factory, clean_db, tmp_path):
    stack = stack_factory(DEMO_EVERY="2")
    stack.worker("w1", ["pipeline.demo_fast", "pipeline.demo", "maintenance"])
    stack.beat("beat")
    done = wait_for(lambda: [r for r in _runs(clean_db, "demo_fast")
                             if r.trigger == "schedule" and r.state == "success"], 60, "a scheduled run to succeed")
    run = done[0]
    assert [s[0] for s in _steps(clean_db, run.id)] == ["fetch", "detect", "score", "alert"]
    assert all(state == "success" for _, _, state in _steps(clean_db, run.id))
    assert run.scheduled_for == run.data_interval_end
    assert (run.data_interval_end - run.data_interval_start).total_seconds() == 2
    assert run.counts["fetch.fetched"] == 1 and run.counts["fetch.side_fetched"] == 1  # both parallel sources
    with session_factory(clean_db)() as s:
        names = set(s.scalars(select(RunArtifact.name).where(RunArtifact.run_id == run.id)))
    assert names == {"raw/interval.json", "raw/side.json"}
    # No interval ever got two runs, however often beat ticked.
    starts = [(r.pipeline, r.data_interval_start) for r in _runs(clean_db)]
    assert len(starts) == len(set(starts))


def test_two_dispatches_of_one_interval_make_one_run(stack_factory, clean_db):
    stack = stack_factory()
    stack.worker("w1", ["pipeline.demo"])
    client = _client()
    requested_at = datetime.now(timezone.utc).isoformat()
    for _ in range(2):  # the same request delivered twice, as after a redelivery
        client.send_task("pipelines.demo.dispatch", queue="pipeline.demo",
                         kwargs={"trigger": "manual", "requested_at": requested_at})
    wait_for(lambda: _runs(clean_db) and all(r.state == "success" for r in _runs(clean_db)), 30, "the run")
    time.sleep(1.0)
    runs = _runs(clean_db)
    assert len(runs) == 1
    assert [s[0] for s in _steps(clean_db, runs[0].id)] == ["fetch", "detect", "score", "alert"]


def test_a_plain_celery_call_redelivered_opens_one_run(stack_factory, clean_db):
    """`celery call ... --kwargs '{"trigger": "manual"}'` carries no request time; its task id,
    which a redelivery keeps, pins the one taken on first delivery."""
    stack = stack_factory()
    stack.worker("w1", ["pipeline.demo"])
    client = _client()
    for _ in range(2):  # the same message twice, as after a redelivery: same task id
        client.send_task("pipelines.demo.dispatch", queue="pipeline.demo", kwargs={"trigger": "manual"},
                         task_id="celery-call-redelivered")
        time.sleep(0.3)  # so a second "now" would differ
    client.send_task("pipelines.demo.dispatch", queue="pipeline.demo", kwargs={"trigger": "manual"})
    wait_for(lambda: len(_runs(clean_db)) == 2 and all(r.state == "success" for r in _runs(clean_db)), 30,
             "two runs: the redelivered request's and a new request's")
    time.sleep(1.0)
    assert len(_runs(clean_db)) == 2


def test_pool_process_killed_mid_step_is_redelivered_and_run_completes_once(stack_factory, clean_db, tmp_path):
    stack = stack_factory(DEMO_SLOW_STEP="detect", DEMO_SLEEP="4")
    stack.worker("w1", ["pipeline.demo"], concurrency=1)
    _client().send_task("pipelines.demo.dispatch", queue="pipeline.demo", kwargs={"trigger": "manual"})
    first = wait_for(lambda: [e for e in _executions(tmp_path) if e["step"] == "detect"], 30, "detect to start")
    os.kill(first[0]["pid"], signal.SIGKILL)  # the pool process running the step
    run_id = first[0]["run_id"]
    run = wait_for(lambda: _finished(clean_db, run_id), 60, "the run to finish")
    assert run.state == "success"
    steps = _steps(clean_db, run_id)
    assert [(s, st) for s, _, st in steps if s == "detect"] == [("detect", "lost"), ("detect", "success")]
    assert [s for s, _, st in steps if st == "success"] == ["fetch", "detect", "score", "alert"]
    executed = [e["step"] for e in _executions(tmp_path)]
    assert executed.count("detect") == 2 and executed.count("score") == 1 and executed.count("alert") == 1
    assert len(_runs(clean_db)) == 1


def test_whole_worker_killed_mid_step_then_another_worker_completes_run(stack_factory, clean_db, tmp_path):
    # A short visibility timeout so the unacked message comes back within the test.
    stack = stack_factory(DEMO_SLOW_STEP="score", DEMO_SLEEP="3", VISIBILITY_TIMEOUT="12",
                          DEMO_TIME_LIMIT="5")
    w1 = stack.worker("w1", ["pipeline.demo"], concurrency=1)
    _client().send_task("pipelines.demo.dispatch", queue="pipeline.demo", kwargs={"trigger": "manual"})
    first = wait_for(lambda: [e for e in _executions(tmp_path) if e["step"] == "score"], 30, "score to start")
    w1.kill9()  # main process and pool: nothing acks, nothing requeues; Redis must redeliver
    stack.worker("w2", ["pipeline.demo"], concurrency=1)
    run = wait_for(lambda: _finished(clean_db, first[0]["run_id"]), 60, "the run to finish on w2")
    assert run.state == "success"
    steps = _steps(clean_db, run.id)
    assert [st for s, _, st in steps if s == "score"] == ["lost", "success"]
    assert [s for s, _, st in steps if st == "success"] == ["fetch", "detect", "score", "alert"]
    assert [e["step"] for e in _executions(tmp_path)].count("alert") == 1


def test_transient_failures_retry_with_backoff_then_succeed(stack_factory, clean_db):
    stack = stack_factory(DEMO_TRANSIENT_STEP="fetch", DEMO_TRANSIENT_TIMES="2")
    stack.worker("w1", ["pipeline.demo"])
    _client().send_task("pipelines.demo.dispatch", queue="pipeline.demo", kwargs={"trigger": "manual"})
    run = wait_for(lambda: _runs(clean_db) and _finished(clean_db, _runs(clean_db)[0].id), 30, "the run")
    assert run.state == "success"
    assert [st for s, _, st in _steps(clean_db, run.id) if s == "fetch"] == ["retry", "retry", "success"]


def test_data_error_fails_the_run_with_step_and_error_and_keeps_bad_record(stack_factory, clean_db):
    stack = stack_factory(DEMO_FAIL_STEP="score")
    stack.worker("w1", ["pipeline.demo"])
    _client().send_task("pipelines.demo.dispatch", queue="pipeline.demo",
                        kwargs={"trigger": "manual", "conf": {"bad_record": "<raw payload>"}})
    run = wait_for(lambda: _runs(clean_db) and _finished(clean_db, _runs(clean_db)[0].id), 30, "the run")
    assert run.state == "failed" and run.failed_step == "score"
    assert "demo data error in score" in run.error
    assert [s for s, _, _ in _steps(clean_db, run.id)] == ["fetch", "detect", "score"]  # chain stopped
    with session_factory(clean_db)() as s:
        bad = s.scalars(select(QuarantinedRecord)).one()
    assert bad.raw == b"<raw payload>" and bad.step == "detect" and bad.run_id == run.id


def test_standby_beat_takes_over_within_90_seconds_after_kill_9(stack_factory, clean_db):
    stack = stack_factory(DEMO_EVERY="2")
    stack.worker("w1", ["pipeline.demo_fast", "pipeline.demo", "maintenance"], concurrency=2)
    active = stack.beat("beat-a")
    wait_for(lambda: [r for r in _runs(clean_db, "demo_fast") if r.trigger == "schedule"], 60, "beat-a to fire")
    standby = stack.beat("beat-b")
    time.sleep(3)
    active.kill9()
    killed_at = datetime.now(timezone.utc)
    wait_for(lambda: [r for r in _runs(clean_db, "demo_fast") if r.trigger == "schedule"
                      and r.created_at > killed_at and r.state == "success"], 90, "the standby beat to fire")
    took = (datetime.now(timezone.utc) - killed_at).total_seconds()
    assert took < 90
    assert "Sending due task" in standby.text()


def test_beat_entries_removed_from_code_disappear_when_beat_starts(stack_factory):
    import redis as redis_lib

    from tests.support.services import BEAT_DB

    stack = stack_factory()
    r = redis_lib.Redis.from_url(redis_url(BEAT_DB))
    beat = stack.beat("beat-with-demo")
    wait_for(lambda: r.exists("signals-test:dispatch-demo"), 30, "beat to save its entries")
    beat.stop()
    stack.env["PIPELINE_MODULES"] = ""  # the demo pipelines are gone from the code
    stack.env["PIPELINES_ENABLED"] = ""
    again = stack.beat("beat-without-demo")
    wait_for(lambda: "beat: Starting" in again.text() and r.exists("signals-test:maintenance-reconcile"), 30,
             "the second beat")
    wait_for(lambda: not r.exists("signals-test:dispatch-demo"), 30, "the stale entry to be removed")
    assert not r.zscore("signals-test::schedule", "signals-test:dispatch-demo-fast")
