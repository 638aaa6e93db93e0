"""Alert delivery with real parts: PostgreSQL outbox, Redis leases and rate limits, an aiosmtpd SMTP
server, http.server stand-ins for the Slack webhook and the Twilio API, worker processes (spawned and
Celery) scoring and sending at once, and a Celery worker killed with -9 in the middle of a send."""
from __future__ import annotations

import base64
import email
import email.policy
import json
import logging
import multiprocessing
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Self
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from celery import Celery
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from notifications.digest_job import digest_send_time
from notifications.lease import (
    AlertLeases,
    RateSlot,
    Sent,
    Taken,
    lease_key,
    redis_client,
)
from notifications.outbox import (
    DELIVER_TASK,
    claim,
    deliver_pending,
    oldest_pending_age,
)
from pipelines.core import migrate
from pipelines.core.alerting import alert_step
from pipelines.core.db import session_factory
from pipelines.core.ledger import PipelineRun
from pipelines.core.model import StepContext
from pipelines.core.ratelimit import RedisRateLimiter
from pipelines.core.settings import Settings, load_settings
from pipelines.core.signal_models import AlertDedup, AlertOutbox, Signal
from pipelines.core.signals import Recorded, SignalRecord, record_signals
from tests.support.http_server import Answer, LocalHttpServer, Request
from tests.support.services import BROKER_DB, flush_engine_redis, redis_url, wait_for

pytestmark = pytest.mark.integration

WEBHOOK = "/services/T000/B000/webhook-secret-part"
SMS_TO = ["+15551110001", "+15551110002"]


# ---------------------------------------------------------------- local stand-ins for the providers

class HttpSink(LocalHttpServer):
    """Records each request; answers from `script` in order, then `default`. With `hold_first`, the
    first request is held open until `release` is set (a send in progress)."""

    def __init__(self, script: list[tuple[int, dict[str, str], str]] | None = None,
                 default: tuple[int, dict[str, str], str] = (200, {}, "ok"), hold_first: bool = False) -> None:
        self.script, self.default, self.hold_first = list(script or []), default, hold_first
        self.held, self.release = threading.Event(), threading.Event()
        super().__init__(self.answer)

    def answer(self, request: Request) -> Answer:
        arrival = self.requests.index(request)  # the n-th request gets the n-th scripted answer
        status, headers, text = self.script[arrival] if arrival < len(self.script) else self.default
        if self.hold_first and arrival == 0:
            self.held.set()
            self.release.wait(30)
        return status, text.encode(), None, headers

    def ok(self) -> list[Request]:
        return [r for r in self.requests if r.status is not None and r.status < 300]

    def close(self) -> None:
        self.release.set()
        super().close()


def slack_texts(sink: HttpSink) -> list[str]:
    return [json.loads(r.body)["text"] for r in sink.ok()]


class SmtpSink:
    """aiosmtpd on 127.0.0.1:0 keeping every accepted message."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                sink.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
                return "250 Message accepted"

        class Ephemeral(Controller):
            def _trigger_server(self):  # aiosmtpd probes self.port; use the port the OS chose
                self.port = self.server.sockets[0].getsockname()[1]
                super()._trigger_server()

        self.controller = Ephemeral(Handler(), hostname="127.0.0.1", port=0)

    def of_kind(self, kind: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages if m["X-Signals-Kind"] == kind]

    def __enter__(self) -> Self:
        self.controller.start()
        self.port = self.controller.port
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


def twilio_created(index: int = 0) -> tuple[int, dict[str, str], str]:
    return 201, {"Content-Type": "application/json"}, json.dumps({"sid": f"SM{index:04d}", "status": "queued"})


@pytest.fixture(autouse=True)
def fresh_redis():
    flush_engine_redis()  # leases and rate-limit windows of an earlier test must not leak in


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


def channel_env(smtp: SmtpSink | None, slack: HttpSink | None, twilio: HttpSink | None, **more: str) -> dict[str, str]:
    """Settings as environment variables, so Celery worker processes and this process agree."""
    env = {"CONSOLE_ALERTS_ENABLED": "false", "EMAIL_ENABLED": "false", "SLACK_ENABLED": "false",
           "SMS_ENABLED": "false", "SLACK_MAX_PER_SECOND": "0", "SMS_MAX_PER_SECOND": "0",
           "ALERT_RETRY_BASE_SECONDS": "0.2", "ALERT_RETRY_MAX_SECONDS": "1.5"}
    if smtp:
        env.update(EMAIL_ENABLED="true", SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp.port), SMTP_SECURITY="none",
                   EMAIL_FROM="Signals <alerts@signals.example.org>", EMAIL_TO="ana@example.org")
    if slack:
        env.update(SLACK_ENABLED="true", SLACK_WEBHOOK_URL=slack.url + WEBHOOK)
    if twilio:
        env.update(SMS_ENABLED="true", TWILIO_BASE_URL=twilio.url, TWILIO_ACCOUNT_SID="AC00",
                   TWILIO_AUTH_TOKEN="tok-secret", TWILIO_FROM="+15559990000", SMS_TO=",".join(SMS_TO))
    env.update(more)
    return env


def configure(monkeypatch, env: dict[str, str]) -> Settings:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return load_settings()


# ---------------------------------------------------------------- scoring as a score step does

def score(settings: Settings, records: list[SignalRecord], pipeline: str = "demo", *, digest: bool = False) -> int:
    """Open a run and record its signals in one transaction, as a pipeline's score step does."""
    now = datetime.now(UTC)
    with session_factory(settings.DATABASE_URL).begin() as session:
        run = PipelineRun(pipeline=pipeline, trigger="manual", data_interval_start=now, data_interval_end=now,
                          conf={}, state="running", counts={})
        session.add(run)
        session.flush()
        ctx = StepContext(run_id=run.id, pipeline=pipeline, step="score", data_interval_start=now,
                          data_interval_end=now, trigger="manual", conf={}, settings=settings, session=session,
                          artifacts=None, quarantine=lambda *a: None)
        record_signals(ctx, records)
        if digest:
            alert_step(ctx)
        return run.id


def signal(ticker: str, value: float, key: str = "", title: str = "", **kw) -> SignalRecord:
    return SignalRecord(signal_type="insider_buy", event_key=key or f"evt-{ticker}", score=value,
                        title=title or f"{ticker} insiders bought", summary=f"{ticker} summary", ticker=ticker,
                        company=f"{ticker} Corp", **kw)


def outbox(settings: Settings) -> list[AlertOutbox]:
    with session_factory(settings.DATABASE_URL)() as s:
        return list(s.scalars(select(AlertOutbox).order_by(AlertOutbox.id)))


def drain(settings: Settings, timeout: float = 20.0) -> None:
    """Deliver until no row is pending or sending (retries included)."""
    def settled() -> bool:
        deliver_pending(settings)
        return all(r.state not in ("pending", "sending") for r in outbox(settings) if r.kind != "digest")
    wait_for(settled, timeout, "every alert to be delivered", interval=0.1)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# ---------------------------------------------------------------- routing and dedup, end to end

def test_thresholds_route_to_email_slack_and_sms_with_a_lower_watchlist_threshold(settings, smtp, monkeypatch):
    with HttpSink() as slack, HttpSink(default=twilio_created()) as twilio:
        configured = configure(monkeypatch, channel_env(smtp, slack, twilio, ALERT_WATCHLIST="WAT"))
        score(configured, [signal("HIGH", 7.0), signal("CRIT", 9.0), signal("WAT", 5.5), signal("LOW", 6.9),
                           signal("OTHER", 5.5)])
        report = deliver_pending(configured)
    assert report.sent == 7 and report.failed == report.retry == 0
    ids = sorted(m["X-Signals-Alert-Id"] for m in smtp.of_kind("signal"))
    assert ids == ["CRIT|insider_buy|evt-CRIT|g1", "HIGH|insider_buy|evt-HIGH|g1", "WAT|insider_buy|evt-WAT|g1"]
    assert sorted(t.split()[1] for t in slack_texts(slack)) == ["CRIT", "HIGH", "WAT"]
    assert {r.path for r in slack.requests} == {WEBHOOK}
    assert [parse_qs(r.body.decode())["To"][0] for r in twilio.requests] == SMS_TO
    auth = "Basic " + base64.b64encode(b"AC00:tok-secret").decode()
    assert all(r.headers["Authorization"] == auth for r in twilio.requests)
    assert all(parse_qs(r.body.decode())["Body"][0].startswith("CRITICAL CRIT 9.0/10") for r in twilio.requests)
    rows = outbox(configured)
    assert {r.state for r in rows} == {"sent"} and all(r.sent_at and r.attempts == 1 for r in rows)
    email_row = next(r for r in rows if r.idempotency_key == "email|HIGH|insider_buy|evt-HIGH|g1")
    mail = next(m for m in smtp.messages if m["X-Signals-Alert-Id"] == "HIGH|insider_buy|evt-HIGH|g1")
    assert email_row.provider_id == mail["Message-ID"].strip()


def test_same_signal_in_the_window_alerts_once_and_again_on_a_rise_or_a_higher_tier(settings, smtp, monkeypatch):
    with HttpSink() as slack, HttpSink(default=twilio_created()) as twilio:
        configured = configure(monkeypatch, channel_env(smtp, slack, twilio))
        for value in (7.2, 7.2, 7.9, 8.2, 9.0):  # alert, same, +0.7, +1.0 over the last alert, into critical
            score(configured, [signal("ABC", value)])
            deliver_pending(configured)
    with session_factory(configured.DATABASE_URL)() as s:
        states = list(s.scalars(select(Signal.alert_state).order_by(Signal.id)))
    assert states == ["queued", "suppressed", "suppressed", "queued", "queued"]
    assert [m["X-Signals-Alert-Id"] for m in smtp.of_kind("signal")] == \
        ["ABC|insider_buy|evt-ABC|g1", "ABC|insider_buy|evt-ABC|g2", "ABC|insider_buy|evt-ABC|g3"]
    assert [t.split()[0] for t in slack_texts(slack)] == ["HIGH", "HIGH", "CRITICAL"]
    assert len(twilio.requests) == len(SMS_TO)  # only the critical one texts


def _score_and_send(values: dict, start, done) -> None:
    """One worker process: score the shared signal, then deliver whatever is due."""
    settings = Settings(values)
    start.wait(60)
    score(settings, [signal("RACE", 9.4)])
    done.put(deliver_pending(settings).sent)


def test_worker_processes_scoring_and_sending_the_same_signal_at_once_deliver_it_once(settings, smtp, monkeypatch):
    workers = 4
    with HttpSink() as slack, HttpSink(default=twilio_created()) as twilio:
        configured = configure(monkeypatch, channel_env(smtp, slack, twilio))
        ctx = multiprocessing.get_context("spawn")
        start, done = ctx.Barrier(workers), ctx.Queue()
        procs = [ctx.Process(target=_score_and_send, args=(configured.values, start, done)) for _ in range(workers)]
        for proc in procs:
            proc.start()
        sent = [done.get(timeout=90) for _ in procs]
        for proc in procs:
            proc.join(30)
        assert all(proc.exitcode == 0 for proc in procs)
        deliver_pending(configured)  # nothing may be left to send
    assert sum(sent) == 3  # email, slack and sms rows, whichever processes sent them
    assert [m["X-Signals-Alert-Id"] for m in smtp.of_kind("signal")] == ["RACE|insider_buy|evt-RACE|g1"]
    assert len(slack.requests) == 1 and len(twilio.requests) == len(SMS_TO)
    with session_factory(configured.DATABASE_URL)() as s:
        states = sorted(s.scalars(select(Signal.alert_state)))
    assert states == ["queued"] + ["suppressed"] * (workers - 1)


def _record(settings: Settings, records: list[SignalRecord], run_id: int | None = None) -> tuple[int, Recorded]:
    """record_signals in one transaction, in a new run or (a redelivered step) in `run_id`."""
    now = datetime.now(UTC)
    with session_factory(settings.DATABASE_URL).begin() as session:
        if run_id is None:
            run = PipelineRun(pipeline="demo", trigger="manual", data_interval_start=now, data_interval_end=now,
                              conf={}, state="running", counts={})
            session.add(run)
            session.flush()
            run_id = run.id
        ctx = StepContext(run_id=run_id, pipeline="demo", step="score", data_interval_start=now,
                          data_interval_end=now, trigger="manual", conf={}, settings=settings, session=session,
                          artifacts=None, quarantine=lambda *a: None)
        return run_id, record_signals(ctx, records)


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_one_batch_of_new_duplicate_suppressed_and_re_alerted_signals(settings, monkeypatch, tmp_path, backend):
    configured = configure(monkeypatch, channel_env(None, None, None, SLACK_ENABLED="true",
                                                    SLACK_WEBHOOK_URL="http://127.0.0.1:9/never-called",
                                                    CONSOLE_ALERTS_ENABLED="true"))
    if backend == "sqlite":
        configured = configured.replace(DATABASE_URL=f"sqlite:///{tmp_path}/signals.db")
        migrate.upgrade(configured.DATABASE_URL)
    _, first = _record(configured, [signal("OLD", 7.5), signal("RISE", 7.2)])
    assert (first.signals, first.alerts_queued, first.suppressed, first.duplicates) == (2, 4, 0, 0)
    batch = [signal("NEW", 7.5), signal("OLD", 7.6), signal("RISE", 8.3), signal("NEW", 7.5), signal("LOW", 3.0),
             signal("HLD", 8.0, held=True, hold_reason="4/A")]
    run_id, second = _record(configured, batch)
    assert second == Recorded(signals=5, alerts_queued=4, suppressed=1, held=1, duplicates=1)
    again = _record(configured, batch, run_id)[1]  # the same step delivered twice: nothing new
    assert again == Recorded(signals=0, alerts_queued=0, suppressed=0, held=0, duplicates=6)
    rows = outbox(configured)
    assert [r.idempotency_key for r in rows] == [
        "slack|OLD|insider_buy|evt-OLD|g1", "console|OLD|insider_buy|evt-OLD|g1",
        "slack|RISE|insider_buy|evt-RISE|g1", "console|RISE|insider_buy|evt-RISE|g1",
        # the step's order is the delivery order
        "slack|NEW|insider_buy|evt-NEW|g1", "console|NEW|insider_buy|evt-NEW|g1",
        "slack|RISE|insider_buy|evt-RISE|g2", "console|RISE|insider_buy|evt-RISE|g2"]
    with session_factory(configured.DATABASE_URL)() as s:
        signals = {(r.run_id, r.ticker): r for r in s.scalars(select(Signal))}
        dedup = {r.dedup_key.split("|")[0]: r for r in s.scalars(select(AlertDedup))}
    assert {t: r.alert_state for (run, t), r in signals.items() if run == run_id} == {
        "NEW": "queued", "OLD": "suppressed", "RISE": "queued", "LOW": "below_threshold", "HLD": "held"}
    assert len(signals) == 7
    new_rows = [r for r in rows if "|NEW|" in r.idempotency_key or "|g2" in r.idempotency_key]
    assert [r.signal_id for r in new_rows] == [signals[(run_id, "NEW")].id] * 2 + [signals[(run_id, "RISE")].id] * 2
    assert all(r.run_id == run_id and r.state == "pending" for r in new_rows)
    assert new_rows[2].payload["score"] == 8.3 and new_rows[2].payload["alert_id"] == "RISE|insider_buy|evt-RISE|g2"
    assert sorted(dedup) == ["NEW", "OLD", "RISE"]
    assert (dedup["OLD"].generation, dedup["OLD"].suppressed, dedup["OLD"].last_score) == (1, 1, 7.5)
    assert (dedup["RISE"].generation, dedup["RISE"].suppressed, dedup["RISE"].last_score) == (2, 0, 8.3)
    assert (dedup["NEW"].generation, dedup["NEW"].suppressed) == (1, 0)


def _overlapping(count: int) -> list[SignalRecord]:
    return [signal(f"K{i:02d}", 8.5) for i in range(count)]


def _score_shuffled(values: dict, seed: int, start, done) -> None:
    """One worker process: score the shared batch in an order of its own."""
    batch = _overlapping(40)
    random.Random(seed).shuffle(batch)
    start.wait(60)
    try:
        score(Settings(values), batch)
    except DBAPIError as exc:  # a deadlock, say: reported to the test rather than lost with the process
        done.put(f"worker {seed}: {exc}")
        return
    done.put(seed)


def test_workers_recording_overlapping_batches_in_any_order_at_once_neither_deadlock_nor_alert_twice(
        settings, monkeypatch):
    configured = configure(monkeypatch, channel_env(None, None, None, CONSOLE_ALERTS_ENABLED="true"))
    score(configured, [signal(f"K{i:02d}", 7.2) for i in range(0, 40, 2)])  # half exist: 8.5 re-alerts them
    workers = 4
    ctx = multiprocessing.get_context("spawn")
    start, done = ctx.Barrier(workers), ctx.Queue()
    procs = [ctx.Process(target=_score_shuffled, args=(configured.values, seed, start, done))
             for seed in range(workers)]
    for proc in procs:
        proc.start()
    finished = [done.get(timeout=90) for _ in procs]
    for proc in procs:
        proc.join(30)
    assert sorted(map(str, finished)) == [str(seed) for seed in range(workers)]
    assert all(proc.exitcode == 0 for proc in procs)
    expected = [f"console|K{i:02d}|insider_buy|evt-K{i:02d}|g1" for i in range(40)]
    expected += [f"console|K{i:02d}|insider_buy|evt-K{i:02d}|g2" for i in range(0, 40, 2)]
    assert sorted(r.idempotency_key for r in outbox(configured)) == sorted(expected)
    with session_factory(configured.DATABASE_URL)() as s:
        states = [state for run, state in s.execute(select(Signal.run_id, Signal.alert_state)) if run != 1]
    assert states.count("queued") == 40 and states.count("suppressed") == 40 * (workers - 1)


# ---------------------------------------------------------------- leases: live senders and dead ones

def test_a_live_slow_sender_keeps_its_lease_when_its_row_is_taken_over(settings, monkeypatch):
    with HttpSink(hold_first=True) as slack:
        configured = configure(monkeypatch, channel_env(None, slack, None, ALERT_LEASE_SECONDS="30"))
        score(configured, [signal("SLOW", 7.5)])
        first = threading.Thread(target=deliver_pending, args=(configured,))
        first.start()
        assert slack.held.wait(10)
        # Another worker whose clock is past the database lease takes the row over, but the first
        # sender still holds the Redis lease: it must skip, not send a second message.
        later = deliver_pending(configured, now=datetime.now(UTC) + timedelta(seconds=31))
        slack.release.set()
        first.join(10)
    assert later.claimed == 1 and later.busy == 1 and later.sent == 0 and later.possible_duplicates == 0
    assert len(slack.requests) == 1
    (row,) = outbox(configured)
    assert row.state == "sent" and not row.possible_duplicate


def test_a_sender_that_died_after_sending_is_recorded_as_sent_without_a_second_message(settings, monkeypatch):
    with HttpSink() as slack:
        configured = configure(monkeypatch, channel_env(None, slack, None, ALERT_LEASE_SECONDS="5"))
        score(configured, [signal("GONE", 7.5)])
        # A worker claims the row, sends the alert and dies before recording the send.
        with session_factory(configured.DATABASE_URL).begin() as s:
            (row,) = claim(s, now=datetime.now(UTC), lease_seconds=5, limit=10)
        AlertLeases(redis_client(configured.CELERY_BROKER_URL), 5).mark_sent(Sent(row.key, row.tag, None))
        report = deliver_pending(configured, now=datetime.now(UTC) + timedelta(seconds=6))
    assert report.recovered == 1 and report.sent == 0 and slack.requests == []
    (stored,) = outbox(configured)
    assert stored.state == "sent" and stored.attempts == 2 and not stored.possible_duplicate


def test_a_sent_marker_of_an_older_row_with_the_same_key_does_not_stop_a_new_alert(settings, monkeypatch):
    with HttpSink() as slack:
        configured = configure(monkeypatch, channel_env(None, slack, None))
        # What a database reset leaves behind: Redis remembers "slack|NEW|...|g1" as sent by row 1.
        AlertLeases(redis_client(configured.CELERY_BROKER_URL), 120).mark_sent(
            Sent("slack|NEW|insider_buy|evt-NEW|g1", "1.1700000000000000", None))
        score(configured, [signal("NEW", 7.5)])
        report = deliver_pending(configured)
    assert report.sent == 1 and report.recovered == 0
    assert [t.split()[1] for t in slack_texts(slack)] == ["NEW"]


def test_one_round_trip_takes_the_lease_and_a_rate_slot_and_a_held_lease_takes_no_slot(settings):
    client = redis_client(settings.CELERY_BROKER_URL)
    leases = AlertLeases(client, 30)
    slot = RateSlot.of(RedisRateLimiter(settings.CELERY_BROKER_URL, 2.0), "alerts:test")  # 2 per window
    first = leases.take("slack|A|g1", None, slot)
    assert first.token and first.slot
    assert leases.take("slack|A|g1", None, slot) == Taken(None, False)  # held: no slot used up
    second = leases.take("slack|B|g1", Sent("slack|A|g1", "1.17", "p1"), slot)
    assert second.token and second.slot
    assert client.get(lease_key("slack|A|g1")) == b"sent:1.17:p1"  # the marker went in the same call
    third = leases.take("slack|C|g1", None, slot)  # the window is full: the lease, but no slot
    assert third.token and not third.slot
    assert client.zcard("signals:ratelimit:alerts:test") == 2


class TimeLimitHit(Exception):
    """Stands in for Celery's SoftTimeLimitExceeded, which the outbox must not swallow."""


def test_an_interrupted_batch_leaves_the_alert_in_flight_leased_and_returns_the_rest(settings, monkeypatch):
    import notifications.outbox as outbox_module

    real_send = outbox_module.send_row
    calls = []

    def send_then_interrupt(channel, kind, payload, *args):
        calls.append(payload["ticker"])
        if len(calls) == 2:
            raise TimeLimitHit("soft time limit")
        return real_send(channel, kind, payload, *args)

    with HttpSink() as slack:
        configured = configure(monkeypatch, channel_env(None, slack, None))
        score(configured, [signal("ONE", 7.5), signal("TWO", 7.5), signal("THREE", 7.5)])
        monkeypatch.setattr(outbox_module, "send_row", send_then_interrupt)
        with pytest.raises(TimeLimitHit):
            deliver_pending(configured)
    states = {r.idempotency_key.split("|")[1]: (r.state, r.attempts, r.lease_until is not None)
              for r in outbox(configured)}
    assert states == {"ONE": ("sent", 1, False), "TWO": ("sending", 1, True), "THREE": ("pending", 0, False)}
    assert slack_texts(slack) == ["HIGH ONE 7.5/10: ONE insiders bought"]


def _celery() -> Celery:
    return Celery(broker=redis_url(BROKER_DB))


def test_worker_killed_mid_send_is_replaced_and_the_alert_delivered_with_one_counted_duplicate(
        stack_factory, settings, monkeypatch, tmp_path):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    with HttpSink(hold_first=True) as slack:
        env = channel_env(None, slack, None, ALERT_LEASE_SECONDS="3", ALERT_SWEEP_SECONDS="1")
        configured = configure(monkeypatch, env)
        stack = stack_factory(**env, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
        score(configured, [signal("KILL", 7.5)])
        doomed = stack.worker("alerts-a", ["alerts"])
        _celery().send_task(DELIVER_TASK, queue="alerts")
        assert slack.held.wait(30), "the first send never reached the webhook"
        doomed.kill9()
        stack.worker("alerts-b", ["alerts"])
        stack.beat("beat")
        wait_for(lambda: outbox(configured)[0].state == "sent", 60, "the sweeper to re-send the alert")
    (row,) = outbox(configured)
    assert row.possible_duplicate and row.attempts == 2
    assert len(slack.requests) == 2  # the one killed mid-send and the re-send: at most one duplicate
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(metrics_dir))
    assert registry.get_sample_value("alerts_possible_duplicates_total", {"channel": "slack"}) == 1.0
    assert registry.get_sample_value("alerts_sent_total", {"channel": "slack", "outcome": "sent"}) == 1.0


# ---------------------------------------------------------------- channels down, rate limits, skipping

def test_channels_down_for_a_while_deliver_everything_once_they_recover(settings, smtp, monkeypatch, caplog):
    slack_script = [(500, {}, "rollup_error"), (500, {}, "rollup_error"), (429, {"Retry-After": "1"}, "rate_limited")]
    with HttpSink(script=slack_script) as slack, \
            HttpSink(script=[(500, {}, "oops")], default=twilio_created()) as twilio:
        configured = configure(monkeypatch, channel_env(smtp, slack, twilio, ALERT_RETRY_BASE_SECONDS="0.6"))
        tickers = ["AAA", "BBB", "CCC", "DDD", "EEE"]
        score(configured, [signal(t, 9.2 if t == "AAA" else 7.5) for t in tickers])
        before = datetime.now(UTC)
        with caplog.at_level(logging.INFO, logger="signals.alerts"):
            first = deliver_pending(configured)
        slack_rows = [r for r in outbox(configured) if r.channel == "slack"]
        assert "webhook-secret-part" not in caplog.text and "tok-secret" not in caplog.text
        assert "HTTP 500" in caplog.text  # the failure is logged, by host only
        assert not [r for r in slack_rows if "webhook-secret-part" in r.last_error]
        assert first.failed == 0 and {r.state for r in slack_rows} == {"pending"}
        assert ["HTTP 500" in r.last_error for r in slack_rows] == [True] * len(tickers)
        assert sum(r.last_error.startswith("not tried") for r in slack_rows) == len(tickers) - 1
        # Pushed back past the attempt (not "past now": on a busy machine a 0.6 s backoff may have run out).
        assert all(r.next_attempt_at > before for r in slack_rows)
        drain(configured)
    assert sorted(t.split()[1] for t in slack_texts(slack)) == tickers
    assert len(slack.requests) == len(tickers) + len(slack_script)
    assert [r.status for r in slack.requests][:3] == [500, 500, 429]
    reached = [parse_qs(r.body.decode())["To"][0] for r in twilio.ok()]
    assert sorted(reached) == SMS_TO  # each number texted once, although the first try failed
    assert len(smtp.of_kind("signal")) == len(tickers)
    rows = outbox(configured)
    assert {r.state for r in rows} == {"sent"} and all(r.last_error is None for r in rows)
    assert max(r.attempts for r in rows if r.channel == "slack") >= 3


def test_slack_rate_limit_makes_senders_wait_and_drops_nothing(settings, monkeypatch):
    with HttpSink() as slack:
        configured = configure(monkeypatch, channel_env(None, slack, None, SLACK_MAX_PER_SECOND="2"))
        score(configured, [signal(f"R{i}", 7.5) for i in range(5)])
        report = deliver_pending(configured)
    assert report.sent == 5
    arrivals = [r.at for r in slack.requests]
    assert sorted(t.split()[1] for t in slack_texts(slack)) == [f"R{i}" for i in range(5)]
    assert arrivals[-1] - arrivals[0] >= 2.0  # 2 per second: 5 posts span at least two windows
    assert all(sum(1 for b in arrivals if a <= b < a + 1.0) <= 2 for a in arrivals)


def test_an_enabled_but_unconfigured_channel_is_skipped_with_one_log_line(settings, smtp, monkeypatch, caplog):
    env = channel_env(smtp, None, None, SLACK_ENABLED="true", SLACK_WEBHOOK_URL="")
    configured = configure(monkeypatch, env)
    before = metric("alerts_sent_total", channel="slack", outcome="skipped")
    with caplog.at_level(logging.INFO, logger="signals.alerts"):
        score(configured, [signal("ONE", 7.5), signal("TWO", 8.0)])
        deliver_pending(configured)
        score(configured, [signal("THREE", 7.5)])
        deliver_pending(configured)
    rows = outbox(configured)
    assert {r.state for r in rows if r.channel == "slack"} == {"skipped"}
    assert {r.state for r in rows if r.channel == "email"} == {"sent"} and len(smtp.messages) == 3
    assert all("SLACK_WEBHOOK_URL" in r.last_error for r in rows if r.channel == "slack")
    slack_lines = [r for r in caplog.records if r.name == "signals.alerts" and "slack" in r.getMessage()]
    assert len(slack_lines) == 1 and slack_lines[0].levelno == logging.WARNING
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert metric("alerts_sent_total", channel="slack", outcome="skipped") - before == 3


# ---------------------------------------------------------------- failure alerts and the digest

def test_a_failed_run_on_a_celery_worker_emails_the_step_and_error(stack_factory, settings, smtp, monkeypatch):
    with HttpSink() as slack:
        env = channel_env(smtp, slack, None, DEMO_FAIL_STEP="score")
        stack = stack_factory(**env)
        stack.worker("w1", ["pipeline.demo", "alerts"])  # no beat: delivery must follow the run at once
        _celery().send_task("pipelines.demo.dispatch", queue="pipeline.demo", kwargs={"trigger": "manual"})
        wait_for(lambda: smtp.of_kind("failure") and slack.requests, 45, "the failure alert")
    (mail,) = smtp.of_kind("failure")
    with session_factory(settings.DATABASE_URL)() as s:
        run = s.scalars(select(PipelineRun)).one()
    assert run.state == "failed" and run.failed_step == "score"
    assert mail["Subject"].strip().startswith(f"[FAILURE] demo run {run.id} failed at score: ")
    text = mail.get_body(("plain",)).get_content()
    assert "Step:     score" in text and "demo data error in score" in text
    assert slack_texts(slack) == [f"FAILURE: demo run {run.id} failed at score: data error: demo data error in score"]


def test_the_daily_digest_goes_out_once_with_the_days_signals(settings, smtp, monkeypatch):
    configured = configure(monkeypatch, channel_env(smtp, None, None))
    score(configured, [signal("AAA", 9.1, title="AAA cluster buy"), signal("BBB", 7.4, title="BBB buy"),
                       signal("CCC", 3.0, title="CCC small buy"),
                       signal("HLD", 8.5, title="HLD amended filing", held=True, hold_reason="4/A")], "form4")
    score(configured, [signal("BBB", 7.9, title="BBB buy")], "form4", digest=True)
    score(configured, [signal("DDD", 8.0, key="NCT01", title="DDD trial completed")], "ctgov", digest=True)
    old = score(configured, [signal("OLD", 8.0, title="OLD signal from two days ago")], "ctgov")
    with session_factory(configured.DATABASE_URL).begin() as s:
        s.execute(update(Signal).where(Signal.run_id == old)
                  .values(detected_at=datetime.now(UTC) - timedelta(days=2)))
    local = datetime.now(ZoneInfo(configured.TIMEZONE))
    day = local.date() if local.time() < datetime.strptime("23:30", "%H:%M").time() else \
        local.date() + timedelta(days=1)
    (row,) = [r for r in outbox(configured) if r.kind == "digest"]
    assert row.idempotency_key == f"email|digest|{day.isoformat()}"
    due = datetime.combine(day, datetime.strptime("23:30", "%H:%M").time(), tzinfo=ZoneInfo(configured.TIMEZONE))
    assert row.next_attempt_at == row.created_at == due.astimezone(UTC) == digest_send_time(day, configured)
    drain(configured)
    assert smtp.of_kind("digest") == []  # not before 23:30
    deliver_pending(configured, now=due + timedelta(minutes=1))
    deliver_pending(configured, now=due + timedelta(minutes=2))
    (digest,) = smtp.of_kind("digest")
    subject = f"Investment signals daily digest — {day.isoformat()}: 4 signals (top: AAA 9.1)"
    assert digest["Subject"].strip() == subject
    text = digest.get_body(("plain",)).get_content()
    assert "form4 — 3 signal(s)" in text and "ctgov — 1 signal(s)" in text
    for title in ("AAA cluster buy", "BBB buy", "CCC small buy", "DDD trial completed"):
        assert title in text
    assert "HLD amended filing" not in text and "OLD signal" not in text
    assert text.count("BBB buy") == 1 and "7.9" in text.split("BBB buy")[0].rsplit("\n", 2)[-2]
    assert "DDD trial completed" in digest.get_body(("html",)).get_content()


def test_oldest_pending_age_counts_due_alerts_and_digests_from_their_send_time(settings, smtp, monkeypatch):
    configured = configure(monkeypatch, channel_env(smtp, None, None))
    score(configured, [signal("AGE", 7.5)], digest=True)
    alert_row = next(r for r in outbox(configured) if r.kind == "signal")
    digest_row = next(r for r in outbox(configured) if r.kind == "digest")
    with session_factory(configured.DATABASE_URL)() as s:
        assert oldest_pending_age(s, now=alert_row.created_at + timedelta(seconds=42)) == pytest.approx(42)
    deliver_pending(configured)
    with session_factory(configured.DATABASE_URL)() as s:
        assert oldest_pending_age(s, now=alert_row.created_at + timedelta(seconds=42)) == 0.0  # digest not due
        assert oldest_pending_age(s, now=digest_row.next_attempt_at + timedelta(seconds=90)) == pytest.approx(90)
