"""The dispatcher and the run ledger on PostgreSQL: one run per interval, catch-up, backfill, replay."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from pipelines.core.db import session_factory
from pipelines.core.dispatch import Dispatcher
from pipelines.core.executor import run_locally
from pipelines.core.ledger import PipelineRun, StepRun
from pipelines.core.signal_models import AlertOutbox

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 2, 15, 0, tzinfo=timezone.utc)  # a multiple of 600 s: a demo fire time


class Recorder:
    def __init__(self) -> None:
        self.sent: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, pipeline, run_id: int) -> None:
        with self.lock:
            self.sent.append(run_id)


def _runs(settings):
    with session_factory(settings.DATABASE_URL)() as s:
        return list(s.scalars(select(PipelineRun).order_by(PipelineRun.data_interval_start)))


def test_duplicate_ticks_of_one_interval_open_one_run(settings, demo_registry):
    sender = Recorder()
    dispatcher = Dispatcher(settings, demo_registry, sender)
    first = dispatcher.tick("demo", now=T0 + timedelta(seconds=2))
    again = dispatcher.tick("demo", now=T0 + timedelta(seconds=40))
    assert first.action == "new" and again.action == "exists" and again.run_id == first.run_id
    # Ten dispatchers racing on the same interval (redelivered messages, two beats) still open one.
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        Dispatcher(settings, demo_registry, sender).tick("demo", now=T0 + timedelta(seconds=601)))) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.action for r in results).count("new") == 1
    runs = _runs(settings)
    assert len(runs) == 2 and len(sender.sent) == 2
    assert runs[0].data_interval_start == T0 - timedelta(seconds=600) and runs[0].data_interval_end == T0
    assert runs[0].trigger == "schedule" and runs[0].scheduled_for == T0 and runs[0].queued_at is not None


def test_a_tick_that_is_not_a_fire_time_opens_nothing(settings, demo_registry):
    dispatcher = Dispatcher(settings, demo_registry, Recorder())
    assert dispatcher.tick("demo", now=T0 + timedelta(seconds=settings.DISPATCH_GRACE_SECONDS + 1)) is None


def test_reconcile_dispatches_missed_intervals_once_and_fails_stuck_runs(settings, demo_registry):
    sender = Recorder()
    dispatcher = Dispatcher(settings, demo_registry, sender)
    dispatcher.tick("demo", now=T0)
    now = T0 + timedelta(hours=1)  # beat was down for an hour
    report = dispatcher.reconcile(now=now)
    # Fire times T0+600 .. T0+3000 are missed; T0+3600-grace is still the dispatcher's to take.
    assert report.dispatched == {"demo": 5}
    catch_up = [r for r in _runs(settings) if r.trigger == "catch-up"]
    assert [r.data_interval_end for r in catch_up] == [T0 + timedelta(seconds=600 * i) for i in range(1, 6)]
    assert dispatcher.reconcile(now=now).dispatched == {}
    # A run left running past its whole budget is failed, with a failure alert queued.
    with session_factory(settings.DATABASE_URL).begin() as s:
        run = s.get(PipelineRun, catch_up[0].id)
        run.state, run.created_at, run.started_at = "running", now - timedelta(days=1), now - timedelta(days=1)
    report = dispatcher.reconcile(now=now)
    assert report.failed_stuck == [catch_up[0].id]
    with session_factory(settings.DATABASE_URL)() as s:
        run = s.get(PipelineRun, catch_up[0].id)
        assert run.state == "failed" and "stuck" in run.error
        kinds = {(o.kind, o.channel) for o in s.scalars(select(AlertOutbox).where(AlertOutbox.run_id == run.id))}
    assert ("failure", "console") in kinds


def test_a_fresh_install_does_not_backfill_by_itself(settings, demo_registry):
    assert Dispatcher(settings, demo_registry, Recorder()).reconcile(now=T0).dispatched == {}


def test_backfill_one_run_per_interval_with_reprocess_modes(settings, demo_registry):
    dispatcher = Dispatcher(settings, demo_registry, lambda p, rid: run_locally(settings, demo_registry, rid))
    start, end = T0, T0 + timedelta(hours=1)
    opened = dispatcher.backfill("demo", start, end)
    assert [o.action for o in opened] == ["new"] * 7  # fire times T0 .. T0+3600 inclusive
    assert all(r.state == "success" and r.trigger == "backfill" for r in _runs(settings))
    assert {o.action for o in dispatcher.backfill("demo", start, end)} == {"exists"}
    with session_factory(settings.DATABASE_URL).begin() as s:
        s.get(PipelineRun, opened[2].run_id).state = "failed"
    again = dispatcher.backfill("demo", start, end, reprocess="failed")
    assert [o.action for o in again].count("rerun") == 1 and again[2].action == "rerun"
    with session_factory(settings.DATABASE_URL)() as s:
        run = s.get(PipelineRun, opened[2].run_id)
        assert run.state == "success" and run.try_number == 2
        attempts = select(StepRun).where(StepRun.run_id == run.id, StepRun.step == "fetch")
        states = [st.state for st in s.scalars(attempts)]
    assert states == ["superseded", "success"]
    assert {o.action for o in dispatcher.backfill("demo", start, end, reprocess="all")} == {"rerun"}
    assert len(_runs(settings)) == 7


def test_replay_recomputes_from_raw_inputs_without_fetching(settings, demo_registry, tmp_path, monkeypatch):
    dispatcher = Dispatcher(settings, demo_registry, lambda p, rid: run_locally(settings, demo_registry, rid))
    source = dispatcher.manual("demo", {"x": 1}, now=T0)
    replay = dispatcher.manual("demo", {}, now=T0 + timedelta(minutes=5), replay_of=source.run_id)
    with session_factory(settings.DATABASE_URL)() as s:
        run = s.get(PipelineRun, replay.run_id)
        assert run.state == "success" and run.replay_of == source.run_id
        assert run.counts["fetch.replayed_from"] == source.run_id
        assert run.counts["detect.changes"] == 3  # detect read the source run's artifact
    executed = [line for line in (tmp_path / "executions.log").read_text().splitlines()]
    assert sum('"step": "fetch"' in line for line in executed) == 1  # only the source run fetched


def test_a_run_whose_dispatcher_died_before_sending_is_sent_by_the_next_dispatch(settings, demo_registry):
    sender = Recorder()
    died = Dispatcher(settings, demo_registry, lambda p, rid: (_ for _ in ()).throw(ConnectionError("broker gone")))
    with pytest.raises(ConnectionError):
        died.tick("demo", now=T0)
    dispatcher = Dispatcher(settings, demo_registry, sender)
    assert dispatcher.tick("demo", now=T0 + timedelta(seconds=5)).action == "exists"  # maybe still sending
    with session_factory(settings.DATABASE_URL).begin() as s:
        run = s.scalars(select(PipelineRun)).one()
        run.created_at = run.queued_at = datetime.now(timezone.utc) - timedelta(minutes=5)
    again = dispatcher.tick("demo", now=T0 + timedelta(seconds=30))
    assert again.action == "resend" and sender.sent == [again.run_id]
    assert len(_runs(settings)) == 1
    assert datetime.now(timezone.utc) - _runs(settings)[0].queued_at < timedelta(minutes=1)
