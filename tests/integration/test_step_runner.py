"""StepRunner's decisions on a real database: the one-statement start of a fresh step on PostgreSQL,
and the full path it hands over to for everything else (duplicates, redeliveries, the cap, finished
runs), with the same ledger on SQLite."""
from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest
from sqlalchemy import Engine, event, insert, select, text, update

from pipelines.core import migrate
from pipelines.core.db import execute_autocommit, session_factory
from pipelines.core.dispatch import Dispatcher
from pipelines.core.executor import Delivery, StepRunner
from pipelines.core.artifacts import RunArtifacts
from pipelines.core.ledger import PipelineRun, RunArtifact, StepRun
from pipelines.core.settings import load_settings

pytestmark = pytest.mark.integration
NOW = datetime(2026, 3, 2, 15, 0, 5, tzinfo=timezone.utc)


@pytest.fixture(params=["postgresql", "sqlite"])
def ledger_settings(request, settings, tmp_path, monkeypatch):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
        migrate.upgrade(url)
        monkeypatch.setenv("DATABASE_URL", url)
        return load_settings()
    return settings


def _open(settings, registry, conf=None) -> int:
    return Dispatcher(settings, registry, lambda p, rid: None).manual("demo", conf or {}, now=NOW).run_id


def _steps(settings, run_id):
    with session_factory(settings.DATABASE_URL)() as s:
        return [(r.step, r.attempt, r.state) for r in
                s.scalars(select(StepRun).where(StepRun.run_id == run_id).order_by(StepRun.id))]


def _run(settings, run_id) -> PipelineRun:
    with session_factory(settings.DATABASE_URL)() as s:
        return s.get(PipelineRun, run_id)


def _add_attempt(settings, run_id, step, attempt, state) -> None:
    with session_factory(settings.DATABASE_URL).begin() as s:
        s.execute(insert(StepRun).values(run_id=run_id, step=step, attempt=attempt, state=state,
                                         started_at=NOW, counts={}))


def test_a_run_goes_through_all_steps_with_counts_and_utc_times(ledger_settings, demo_registry):
    runner = StepRunner(ledger_settings, demo_registry)
    run_id = _open(ledger_settings, demo_registry, {"k": "v"})
    outcomes = [runner.run(run_id, step, Delivery(task_id=f"t-{step}", worker="w1"))
                for step in ("fetch", "detect", "score", "alert")]
    assert [o.action for o in outcomes] == ["continue"] * 4
    assert [o.run_finished for o in outcomes] == [False, False, False, True]
    run = _run(ledger_settings, run_id)
    assert run.state == "success" and run.started_at <= run.finished_at
    assert run.counts == {"fetch.fetched": 1, "fetch.side_fetched": 1, "detect.changes": 3, "score.signals": 1,
                          "alert.alerts": 0}
    assert _steps(ledger_settings, run_id) == [(s, 1, "success") for s in ("fetch", "detect", "score", "alert")]
    with session_factory(ledger_settings.DATABASE_URL)() as s:
        names = set(s.scalars(select(RunArtifact.name).where(RunArtifact.run_id == run_id)))
        step_row = s.scalars(select(StepRun).where(StepRun.run_id == run_id, StepRun.step == "fetch")).one()
    assert names == {"raw/interval.json", "raw/side.json"}
    assert step_row.task_id == "t-fetch" and step_row.worker == "w1" and step_row.counts == {"fetched": 1,
                                                                                               "side_fetched": 1}
    # The interval the step saw came back from the start record in UTC, like the ORM's.
    runner2 = StepRunner(ledger_settings, demo_registry)
    with session_factory(ledger_settings.DATABASE_URL)() as s:
        payload = json.loads(RunArtifacts(s, run_id, "detect").get("raw/interval.json"))
    assert payload["start"].endswith("+00:00") and payload["conf"] == {"k": "v"}
    # Delivering a finished step again continues nowhere: its next step already ran.
    assert runner2.run(run_id, "detect", Delivery(task_id="dup")).action == "stop"


def test_a_step_that_succeeded_is_skipped_once_and_its_next_step_sent(ledger_settings, demo_registry):
    runner = StepRunner(ledger_settings, demo_registry)
    run_id = _open(ledger_settings, demo_registry)
    assert runner.run(run_id, "fetch", Delivery(task_id="a")).action == "continue"
    # Worker died after the commit, before the ack: the redelivered message continues the chain.
    again = runner.run(run_id, "fetch", Delivery(task_id="a", redelivered=True))
    assert again.action == "continue" and again.detail == "step already succeeded"
    assert _steps(ledger_settings, run_id) == [("fetch", 1, "success")]


def test_a_duplicate_of_a_running_step_is_dropped_and_a_redelivery_takes_over(ledger_settings, demo_registry):
    runner = StepRunner(ledger_settings, demo_registry)
    run_id = _open(ledger_settings, demo_registry)
    assert runner.run(run_id, "fetch", Delivery(task_id="a")).action == "continue"
    _add_attempt(ledger_settings, run_id, "detect", 1, "running")  # another worker is at it
    assert runner.run(run_id, "detect", Delivery(task_id="dup")).action == "stop"
    assert _steps(ledger_settings, run_id)[-1] == ("detect", 1, "running")
    # The same message redelivered means that worker died: its attempt is lost, attempt 2 runs.
    assert runner.run(run_id, "detect", Delivery(task_id="b", redelivered=True)).action == "continue"
    assert _steps(ledger_settings, run_id)[1:] == [("detect", 1, "lost"), ("detect", 2, "success")]


def test_the_redelivery_cap_fails_the_run(ledger_settings, demo_registry):
    runner = StepRunner(ledger_settings, demo_registry)
    run_id = _open(ledger_settings, demo_registry)
    cap = ledger_settings.REDELIVERY_CAP
    for attempt in range(1, cap + 1):
        _add_attempt(ledger_settings, run_id, "fetch", attempt, "lost")
    _add_attempt(ledger_settings, run_id, "fetch", cap + 1, "running")
    outcome = runner.run(run_id, "fetch", Delivery(task_id="x", redelivered=True))
    assert outcome.action == "failed" and outcome.run_finished
    run = _run(ledger_settings, run_id)
    assert run.state == "failed" and run.failed_step == "fetch" and "REDELIVERY_CAP" in run.error


def test_a_retry_records_a_new_attempt(ledger_settings, demo_registry):
    runner = StepRunner(ledger_settings, demo_registry)
    run_id = _open(ledger_settings, demo_registry)
    _add_attempt(ledger_settings, run_id, "fetch", 1, "retry")
    assert runner.run(run_id, "fetch", Delivery(task_id="r", retries=1)).action == "continue"
    assert _steps(ledger_settings, run_id) == [("fetch", 1, "retry"), ("fetch", 2, "success")]


def test_steps_of_a_failed_or_missing_run_do_nothing(ledger_settings, demo_registry):
    runner = StepRunner(ledger_settings, demo_registry)
    run_id = _open(ledger_settings, demo_registry)
    with session_factory(ledger_settings.DATABASE_URL).begin() as s:
        s.execute(update(PipelineRun).where(PipelineRun.id == run_id).values(state="failed"))
    assert runner.run(run_id, "fetch", Delivery(task_id="a")).action == "stop"
    assert runner.run(run_id + 1000, "fetch", Delivery(task_id="a")).action == "stop"
    assert _steps(ledger_settings, run_id) == []


def test_a_data_error_fails_the_step_and_the_run(ledger_settings, demo_registry, monkeypatch):
    monkeypatch.setenv("DEMO_FAIL_STEP", "detect")
    runner = StepRunner(ledger_settings, demo_registry)
    run_id = _open(ledger_settings, demo_registry, {"bad_record": "raw,bytes"})
    runner.run(run_id, "fetch", Delivery(task_id="a"))
    outcome = runner.run(run_id, "detect", Delivery(task_id="b"))
    assert outcome.action == "failed" and outcome.run_finished
    assert _steps(ledger_settings, run_id) == [("fetch", 1, "success"), ("detect", 1, "failed")]
    run = _run(ledger_settings, run_id)
    assert run.state == "failed" and run.failed_step == "detect" and "demo data error" in run.error
    # The next step of a failed run does nothing.
    assert runner.run(run_id, "score", Delivery(task_id="c")).action == "stop"


def test_a_fresh_no_op_step_is_two_statements_on_postgresql(settings, demo_registry):
    """Its start and its success, each one statement: the ledger's cost per step on the hot path."""
    runner = StepRunner(settings, demo_registry)
    run_id = _open(settings, demo_registry)
    runner.run(run_id, "fetch", Delivery(task_id="a"))
    runner.run(run_id, "detect", Delivery(task_id="b"))
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        assert runner.run(run_id, "score", Delivery(task_id="c")).action == "continue"
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    assert len(statements) == 2, statements
    assert "INSERT INTO step_runs" in statements[0] and "UPDATE pipeline_runs" in statements[1]


def test_steps_and_dispatch_survive_a_database_restart_of_their_pooled_connections(settings, demo_registry):
    """The hot-path engines check only idle connections; one the server dropped is retried once."""
    runner = StepRunner(settings, demo_registry)
    dispatcher = Dispatcher(settings, demo_registry, lambda p, rid: None)
    run_id = _open(settings, demo_registry)
    runner.run(run_id, "fetch", Delivery(task_id="a"))
    # What a server restart does to every connection this process holds in its pools.
    with session_factory(settings.DATABASE_URL)() as s:
        killed = s.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
    assert killed >= 2
    for step in ("detect", "score", "alert"):
        assert runner.run(run_id, step, Delivery(task_id=step)).action == "continue"
    assert _run(settings, run_id).state == "success"
    assert dispatcher.manual("demo", {}, now=datetime(2026, 3, 3, tzinfo=timezone.utc)).action == "new"


def test_start_records_skip_the_wal_flush_unless_turned_off(settings, demo_registry):
    url = settings.DATABASE_URL
    assert execute_autocommit(url, text("SHOW synchronous_commit"), {}, relaxed=True)[0][0] == "off"
    assert execute_autocommit(url, text("SHOW synchronous_commit"), {})[0][0] == "on"
    # Behind PgBouncer in transaction mode the startup option is refused: the setting turns it off.
    strict = settings.replace(DATABASE_RELAXED_COMMIT=False)
    runner = StepRunner(strict, demo_registry)
    run_id = _open(strict, demo_registry)
    used: set[str] = set()

    def seen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        used.add(conn.exec_driver_sql("SHOW synchronous_commit").scalar() if "step_runs" in statement else "")

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        for step in ("fetch", "detect", "score", "alert"):
            assert runner.run(run_id, step, Delivery(task_id=step)).action == "continue"
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    assert _run(strict, run_id).state == "success"
    assert used - {""} == {"on"}


def test_concurrent_deliveries_of_a_fresh_step_run_it_once(settings, demo_registry, tmp_path):
    """Duplicate chains racing on the one-statement start: one records attempt 1 and runs the step;
    the rest stop, or, once it has succeeded, pass the chain on (the next step collapses them)."""
    runner = StepRunner(settings, demo_registry)
    run_id = _open(settings, demo_registry)
    runner.run(run_id, "fetch", Delivery(task_id="a"))
    runner.run(run_id, "detect", Delivery(task_id="b"))
    barrier = threading.Barrier(8)

    def deliver(i: int):  # type: ignore[no-untyped-def]
        barrier.wait()
        return StepRunner(settings, demo_registry).run(run_id, "score", Delivery(task_id=f"dup-{i}"))

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(deliver, range(8)))
    ran = [o for o in outcomes if o.action == "continue" and o.detail != "step already succeeded"]
    assert len(ran) == 1 and all(o.action in ("continue", "stop") for o in outcomes)
    assert _steps(settings, run_id)[2:] == [("score", 1, "success")]
    executions = [json.loads(line) for line in (tmp_path / "executions.log").read_text().splitlines()]
    assert [e["step"] for e in executions if e["run_id"] == run_id].count("score") == 1
