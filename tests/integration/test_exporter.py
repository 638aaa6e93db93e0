"""The exporter against real PostgreSQL and Redis, and end to end with real worker and beat processes."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone

import pytest
import redis
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from observability.heartbeat import write_heartbeat
from observability.probe import HealthConfig
from observability.server import ExporterOptions, make_server
from pipelines.core.db import session_factory
from pipelines.core.ledger import PipelineRun
from pipelines.core.registry import load_registry
from pipelines.core.signal_models import AlertOutbox
from tests.support.services import BEAT_DB, BROKER_DB, REPO, Proc, flush_engine_redis, free_port, redis_url, wait_for

pytestmark = pytest.mark.integration
DEMO = ("tests.support.demo_pipeline",)
QUEUES = ["pipeline.demo", "pipeline.demo_fast", "alerts", "maintenance"]


@pytest.fixture
def serve(settings):
    flush_engine_redis()
    servers = []

    def start(settings=settings, **health):
        server = make_server(settings, load_registry(DEMO, ("demo", "demo_fast")),
                             ExporterOptions(host="127.0.0.1", port=0, health=HealthConfig(**health)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _get(url: str) -> tuple[int, dict]:
    response = requests.get(url, timeout=15)
    return response.status_code, response.json()


def _checks(body: dict) -> dict[str, dict]:
    return {c["name"]: c for c in body["checks"]}


def _metrics(url: str) -> dict[tuple[str, tuple], float]:
    text = requests.get(url + "/metrics", timeout=15).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _broker() -> redis.Redis:
    return redis.Redis.from_url(redis_url(BROKER_DB))


def test_live_ready_and_names(serve):
    url = serve()
    assert _get(url + "/live") == (200, {"status": "alive"})
    status, body = _get(url + "/ready")
    assert status == 200 and body["status"] == "healthy"
    assert [(c["name"], c["status"]) for c in body["checks"]] == [("database", "pass"), ("redis", "pass")]
    assert all(c["duration_seconds"] >= 0 for c in body["checks"])
    status, body = _get(url + "/health/no_such_pipeline")
    assert status == 404 and body["known"] == ["demo", "demo_fast"]
    assert _get(url + "/")[1]["endpoints"][-2:] == ["/health/demo", "/health/demo_fast"]


def test_workers_and_beat_from_heartbeats_and_the_redbeat_lock(serve, settings):
    url = serve()
    status, body = _get(url + "/health")
    assert status == 503
    checks = _checks(body)
    assert {checks[f"workers:{q}"]["status"] for q in QUEUES} == {"fail"}
    assert checks["beat"]["status"] == "fail" and "no beat holds" in checks["beat"]["detail"]

    write_heartbeat(_broker(), "one@host-a", ["pipeline.demo", "alerts"])
    write_heartbeat(_broker(), "two@host-b", ["pipeline.demo", "maintenance"])
    lock = settings.REDBEAT_KEY_PREFIX + ":lock"
    beat_redis = redis.Redis.from_url(redis_url(BEAT_DB))
    beat_redis.set(lock, "0123456789abcdef", px=(settings.REDBEAT_LOCK_TIMEOUT - 2) * 1000)  # ticked 2 s ago
    status, body = _get(url + "/health/demo")
    checks = _checks(body)
    assert checks["workers:pipeline.demo"]["workers"] == 2
    assert checks["workers:pipeline.demo"]["hosts"] == ["one@host-a", "two@host-b"]
    assert checks["beat"]["status"] == "pass" and 2 <= checks["beat"]["last_tick_seconds_ago"] < 3
    assert "workers:pipeline.demo_fast" not in checks  # another pipeline's queue is not demo's concern
    assert status == 200, body
    m = _metrics(url)
    assert m[("workers_alive", (("queue", "pipeline.demo"),))] == 2
    assert m[("workers_alive", (("queue", "pipeline.demo_fast"),))] == 0
    assert m[("beat_lock_held", ())] == 1
    assert m[("health_check_status", (("check", "workers:pipeline.demo_fast"),))] == 0
    assert m[("health_check_status", (("check", "workers:alerts"),))] == 1

    beat_redis.set(lock, "0123456789abcdef", px=(settings.REDBEAT_LOCK_TIMEOUT - 40) * 1000)  # a stuck beat
    checks = _checks(_get(url + "/health/demo")[1])
    assert checks["beat"]["status"] == "fail" and 40 <= checks["beat"]["last_tick_seconds_ago"] < 41


def test_queue_length_and_backlog_count_priority_lists(serve):
    url = serve(backlog_max=3)
    broker = _broker()
    broker.lpush("pipeline.demo", "m1", "m2", "m3")
    broker.lpush("pipeline.demo\x06\x169", "m4")  # kombu's list for priority 9 of the same queue
    broker.lpush("alerts", "a1")
    m = _metrics(url)
    assert m[("queue_length", (("queue", "pipeline.demo"),))] == 4
    assert m[("queue_length", (("queue", "alerts"),))] == 1
    assert m[("queue_length", (("queue", "maintenance"),))] == 0
    checks = _checks(_get(url + "/health/demo")[1])
    assert checks["backlog:pipeline.demo"]["status"] == "fail" and checks["backlog:pipeline.demo"]["length"] == 4
    assert checks["backlog:alerts"]["status"] == "pass"
    assert _checks(_get(url + "/health/demo_fast")[1])["backlog:pipeline.demo_fast"]["status"] == "pass"


def _run(pipeline: str, end: datetime, state: str = "success", trigger: str = "schedule") -> PipelineRun:
    return PipelineRun(pipeline=pipeline, trigger=trigger, scheduled_for=end,
                       data_interval_start=end - timedelta(minutes=10), data_interval_end=end, conf={}, state=state,
                       try_number=1, created_at=end, counts={})


def test_freshness_and_run_lag_from_the_ledger(serve, settings):
    grace = 1200.0
    url = serve(freshness_grace_seconds=grace)
    now = datetime.now(timezone.utc)
    # demo fires every 600 s, demo_fast every 3600 s (tests/support/demo_pipeline.py), on epoch multiples.
    fast_due = datetime.fromtimestamp(math.floor((now.timestamp() - grace) / 3600) * 3600, timezone.utc)
    old = now - timedelta(days=3)
    with session_factory(settings.DATABASE_URL).begin() as s:
        s.add_all([_run("demo", old), _run("demo", now - timedelta(hours=1), state="failed"),
                   _run("demo_fast", fast_due), _run("demo_fast", now - timedelta(days=9))])
    status, body = _get(url + "/health")
    after = datetime.now(timezone.utc)
    checks = _checks(body)
    assert status == 503
    demo, fast = checks["freshness:demo"], checks["freshness:demo_fast"]
    assert demo["status"] == "fail" and old.isoformat() in demo["detail"]
    assert (now - old).total_seconds() - 1 <= demo["lag_seconds"] <= (after - old).total_seconds() + 1
    assert grace < demo["allowed_seconds"] <= grace + 600 + 2
    assert fast["status"] == "pass"
    assert grace <= fast["allowed_seconds"] <= grace + 3600 + 2
    m = _metrics(url)
    assert m[("pipeline_run_lag_seconds", (("pipeline", "demo"),))] > m[("pipeline_run_lag_allowed_seconds",
                                                                        (("pipeline", "demo"),))]
    assert m[("health_check_status", (("check", "freshness:demo"),))] == 0
    assert m[("health_check_status", (("check", "freshness:demo_fast"),))] == 1


def test_alert_outbox_age(serve, settings):
    url = serve(outbox_max_age_seconds=900)
    now = datetime.now(timezone.utc)

    def row(key: str, channel: str, state: str, age: timedelta) -> AlertOutbox:
        return AlertOutbox(idempotency_key=key, kind="signal", tier="high", channel=channel, pipeline="demo",
                           payload={}, state=state, attempts=0, next_attempt_at=now, created_at=now - age,
                           possible_duplicate=False)

    with session_factory(settings.DATABASE_URL).begin() as s:
        s.add_all([row("k1", "slack", "pending", timedelta(minutes=5)),
                   row("k2", "email", "sent", timedelta(days=2)),  # delivered long ago: not pending
                   row("k3", "email", "sending", timedelta(minutes=2))])
    checks = _checks(_get(url + "/health")[1])
    assert checks["outbox"]["status"] == "pass" and checks["outbox"]["pending"] == 2
    with session_factory(settings.DATABASE_URL).begin() as s:
        s.add(row("k4", "sms", "pending", timedelta(hours=2)))
    checks = _checks(_get(url + "/health")[1])
    assert checks["outbox"]["status"] == "fail" and checks["outbox"]["pending_by_channel"] == {
        "email": 1, "slack": 1, "sms": 1}
    m = _metrics(url)
    assert 7200 <= m[("alerts_pending_oldest_seconds", ())] < 7200 + 30
    assert m[("alerts_pending", (("channel", "sms"),))] == 1


def test_backend_down_fails_ready_and_health_but_never_live(serve, settings):
    dead = f"127.0.0.1:{free_port()}"
    url = serve(settings.replace(DATABASE_URL=f"postgresql://postgres@{dead}/nowhere"), timeout_seconds=2)
    assert _get(url + "/live")[0] == 200
    status, body = _get(url + "/ready")
    assert status == 503 and _checks(body)["database"]["status"] == "fail"
    status, body = _get(url + "/health")
    checks = _checks(body)
    assert status == 503 and checks["freshness:demo"]["detail"] == "not checked: the database check failed"
    assert checks["redis"]["status"] == "pass"

    url = serve(settings.replace(CELERY_BROKER_URL=f"redis://{dead}/0"), timeout_seconds=2)
    assert _get(url + "/live")[0] == 200
    status, body = _get(url + "/ready")
    assert status == 503 and _checks(body)["redis"]["status"] == "fail"
    assert _checks(_get(url + "/health")[1])["workers:alerts"]["detail"] == "not checked: the redis check failed"


def _exporter(stack, tmp_path) -> tuple[str, Proc]:
    port = free_port()
    log = tmp_path / "exporter.log"
    popen = subprocess.Popen([sys.executable, "-m", "workers.cli", "exporter", "--host", "127.0.0.1", "--port",
                              str(port)], cwd=REPO, env=stack.env, stdout=open(log, "wb"),
                             stderr=subprocess.STDOUT, start_new_session=True)
    proc = Proc("exporter", popen, log)
    stack.procs.append(proc)
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return requests.get(url + "/live", timeout=2).status_code == 200
        except requests.ConnectionError:
            return popen.poll() is not None

    wait_for(answers, 60, "the exporter to answer")
    assert popen.poll() is None, proc.text()
    return url, proc


def _successes(url: str, pipeline: str) -> int:
    with session_factory(url)() as s:
        return s.scalar(select(func.count()).select_from(PipelineRun).where(
            PipelineRun.pipeline == pipeline, PipelineRun.state == "success"))


def test_end_to_end_with_prefork_workers_beat_and_the_exporter_process(stack_factory, clean_db, tmp_path):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    stack = stack_factory(DEMO_EVERY="2", PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    worker = stack.worker("w1", QUEUES, concurrency=2)
    beat = stack.beat("beat")
    url, _ = _exporter(stack, tmp_path)
    wait_for(lambda: _successes(clean_db, "demo_fast") >= 2, 60, "two scheduled runs to succeed")

    status, body = _get(url + "/health")
    assert status == 200, json.dumps(body, indent=1)
    before = _successes(clean_db, "demo_fast")
    m = _metrics(url)
    after = _successes(clean_db, "demo_fast")
    # Counted by the prefork children in their own files, summed by the exporter.
    assert before <= m[("pipeline_executions_total", (("pipeline", "demo_fast"), ("status", "success")))] <= after
    assert m[("pipeline_executions_total", (("pipeline", "demo"), ("status", "failed")))] == 0  # pre-initialised
    assert m[("workers_alive", (("queue", "pipeline.demo_fast"),))] == 1
    assert m[("beat_lock_held", ())] == 1
    assert m[("pipeline_run_lag_seconds", (("pipeline", "demo_fast"),))] < 30
    assert m[("health_check_status", (("check", "beat"),))] == 1

    worker.stop()  # warm shutdown removes the worker's heartbeat at once
    status, body = _get(url + "/health/demo_fast")
    assert status == 503 and _checks(body)["workers:pipeline.demo_fast"]["status"] == "fail"
    assert _get(url + "/ready")[0] == 200 and _get(url + "/live")[0] == 200
    beat.stop()  # releases the RedBeat lock
    assert _checks(_get(url + "/health")[1])["beat"]["detail"].startswith("no beat holds the RedBeat lock")


def test_sidecar_mode_serves_worker_metrics_without_cluster_queries(settings, tmp_path):
    server = make_server(settings, load_registry(DEMO, ("demo", "demo_fast")),
                         ExporterOptions(host="127.0.0.1", port=0, multiproc_dir=str(tmp_path),
                                         cluster_metrics=False))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        text = requests.get(server.url + "/metrics", timeout=15).text
    finally:
        server.shutdown()
        server.server_close()
    families = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert families["pipeline_executions"] == "counter"  # declared, written by no worker yet
    assert "health_check_status" not in families and "queue_length" not in families
