"""The `signals` command line as an operator uses it, against real Redis, PostgreSQL and workers."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.support.services import REPO, free_port, wait_for

pytestmark = pytest.mark.integration


def signals(env, *args, timeout=120, check=True):
    proc = subprocess.run([sys.executable, "-m", "workers.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"signals {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_run_wait_runs_and_run_show_through_redis(stack_factory):
    stack = stack_factory()
    stack.worker("w1", ["pipeline.demo"])
    env = stack.env
    out = signals(env, "run", "demo", "--conf", "limit=5", "--wait", "--timeout", "60")
    assert "success" in out.stdout
    runs = json.loads(signals(env, "runs", "--json").stdout)
    assert len(runs) == 1 and runs[0]["state"] == "success" and runs[0]["conf"] == {"limit": 5}
    assert runs[0]["trigger"] == "manual"
    shown = json.loads(signals(env, "run-show", str(runs[0]["id"]), "--json").stdout)
    assert [s["step"] for s in shown["steps"]] == ["fetch", "detect", "score", "alert"]
    assert all(s["worker"].startswith("w1@") for s in shown["steps"])
    assert json.loads(signals(env, "runs", "--state", "failed", "--json").stdout) == []


def test_plain_celery_call_dispatches_a_run(stack_factory):
    stack = stack_factory()
    stack.worker("w1", ["pipeline.demo"])
    subprocess.run([sys.executable, "-m", "celery", "-A", "workers.app", "call", "pipelines.demo.dispatch",
                    "--kwargs", '{"trigger": "manual"}', "--queue", "pipeline.demo"], cwd=REPO, env=stack.env,
                   check=True, capture_output=True, timeout=60)
    wait_for(lambda: [r for r in json.loads(signals(stack.env, "runs", "--json").stdout)
                      if r["state"] == "success"], 30, "the run")


def test_local_run_backfill_and_schedule(stack_factory, tmp_path):
    env = stack_factory().env  # no worker: --local needs no broker
    assert "success" in signals(env, "run", "demo", "--local").stdout
    out = signals(env, "backfill", "demo", "--start", "2026-03-02T10:00", "--end", "2026-03-02T11:00", "--local")
    assert "7 interval(s): 7 new" in out.stdout
    out = signals(env, "backfill", "demo", "--start", "2026-03-02T10:00", "--end", "2026-03-02T11:00", "--local")
    assert "7 exists" in out.stdout
    plan = signals(env, "backfill", "demo", "--start", "2026-03-02", "--end", "2026-03-02", "--dry-run").stdout
    assert len(plan.strip().splitlines()) == 144  # a whole ET day of 10-minute intervals
    fires = json.loads(signals(env, "schedule", "demo", "--from", "2026-03-08T01:55", "--count", "3", "--json").stdout)
    assert [f["fire_at_utc"] for f in fires] == ["2026-03-08T07:00:00+00:00", "2026-03-08T07:10:00+00:00",
                                                 "2026-03-08T07:20:00+00:00"]
    assert fires[0]["fire_at_local"] == "2026-03-08T03:00:00-04:00"  # after the spring-forward gap
    assert set(fires[0]) == {"pipeline", "fire_at_utc", "fire_at_local"}
    bad = signals(env, "run", "nope", "--local", check=False)
    assert bad.returncode == 2 and "unknown pipeline 'nope'" in bad.stderr


def test_signals_up_runs_the_stack_and_ctrl_c_stops_all_of_it(stack_factory, tmp_path):
    env = dict(stack_factory().env, FLOWER_PORT=str(free_port()), FLOWER_BASIC_AUTH="ops:pw",
               EXPORTER_PORT=str(free_port()))
    log = open(tmp_path / "up.log", "wb")
    up = subprocess.Popen([sys.executable, "-m", "workers.cli", "up", "--single-worker"], cwd=REPO, env=env,
                          stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: b"stack up" in (tmp_path / "up.log").read_bytes(), 60, "signals up")
        children = psutil.Process(up.pid).children(recursive=True)
        assert len(children) >= 3  # worker (+pool), beat, flower
        out = signals(env, "run", "demo", "--wait", "--timeout", "60")
        assert "success" in out.stdout
        os.killpg(up.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
        assert up.wait(timeout=90) == 0
        time.sleep(0.5)
        assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
        print((tmp_path / "up.log").read_text(errors="replace")[-3000:])
