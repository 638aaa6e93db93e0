"""The worker heartbeat and ready files behind the Kubernetes and compose probes (workers/heartbeat.py)."""
from __future__ import annotations

import os
import signal
import time

import pytest
from celery import Celery

from tests.support.services import BROKER_DB, free_port, redis_url, wait_for
from workers.heartbeat import STALL_SECONDS, HeartbeatStep

pytestmark = pytest.mark.integration


def test_worker_keeps_the_heartbeat_fresh_and_removes_both_files_on_shutdown(stack_factory, tmp_path):
    heartbeat, ready = tmp_path / "probe" / "heartbeat", tmp_path / "probe" / "ready"
    heartbeat.parent.mkdir()
    heartbeat.write_text("")
    os.utime(heartbeat, (time.time() - 3600, time.time() - 3600))  # left by an earlier container
    stack = stack_factory()
    worker = stack._start("w-heartbeat", ["worker", "-Q", "maintenance", "-n", "hb@%h", "-c", "1",
                                          "--without-mingle", "--without-gossip", "--loglevel", "INFO",
                                          "--heartbeat-file", str(heartbeat), "--ready-file", str(ready)],
                          ready="ready.")
    wait_for(ready.exists, 10, "the ready file")
    first = heartbeat.stat().st_mtime
    assert time.time() - first < 30
    wait_for(lambda: heartbeat.stat().st_mtime > first, 15, "the heartbeat to be refreshed")
    os.killpg(worker.popen.pid, signal.SIGTERM)
    assert worker.popen.wait(timeout=30) == 0
    assert not heartbeat.exists() and not ready.exists()


def _step(tmp_path, broker: str) -> HeartbeatStep:
    step = HeartbeatStep(None, heartbeat_file=str(tmp_path / "hb"))
    step.app = Celery(broker=broker, set_as_current=False)
    return step


def test_a_stalled_loop_is_dead_only_while_the_broker_answers(tmp_path):
    up = _step(tmp_path, redis_url(BROKER_DB))
    assert up.alive()  # the loop just ticked
    up.last_tick -= STALL_SECONDS + 1
    assert not up.alive()  # broker fine, loop stuck: restart the worker
    down = _step(tmp_path, f"redis://127.0.0.1:{free_port()}/0")
    down.last_tick -= STALL_SECONDS + 1
    assert down.alive()  # the consumer is reconnecting; a restart would not help
