"""Engine overhead: an empty four-step pipeline through the whole framework against a raw Celery chain.

Both run on the same worker, the same private Redis and the same PostgreSQL, in the same run:
  framework: the run opened in the ledger (as `signals run` does) -> chain of 4 steps, each with its
             step-attempt rows, an artifact and metrics; also measured through a dispatch task
             (beat's path: one more hop)
  raw:       chain(noop, noop, noop, noop), apply_async to result
Latency runs from the first call to the run's end: the raw chain's result arriving, the framework
run's finished_at in the ledger; one run at a time. Throughput is 1,000 runs sent at once. Then
RedBeat fires the pipeline every second and we measure beat fire (its "Sending due task" log line) to
the first step's start in the ledger.

    python -m benchmarks.engine_latency [--runs 300] [--burst 1000] [--beat-samples 120]
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import redis
from celery import Celery, chain
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines.core import migrate  # noqa: E402
from pipelines.core.db import session_factory  # noqa: E402
from pipelines.core.ledger import PipelineRun, StepRun  # noqa: E402
from tests.support.services import PrivateRedis, create_database, drop_database  # noqa: E402

console = Console()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def env_for(redis_url: str, db_url: str, work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"PYTHONPATH": str(REPO), "DATABASE_URL": db_url, "CELERY_BROKER_URL": f"{redis_url}/0",
                "CELERY_RESULT_BACKEND": f"{redis_url}/1", "REDBEAT_REDIS_URL": f"{redis_url}/2",
                "PIPELINE_MODULES": "benchmarks.bench_pipeline", "LOG_LEVEL": "INFO", "VAR_DIR": str(work),
                "PROMETHEUS_MULTIPROC_DIR": str(work / "metrics"), "CONSOLE_ALERTS_ENABLED": "false"})
    (work / "metrics").mkdir(exist_ok=True)
    return env


def start(env: dict[str, str], work: Path, name: str, *args: str) -> subprocess.Popen[bytes]:
    log = open(work / f"{name}.log", "wb")
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "benchmarks.bench_app", *args], cwd=REPO,
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_ready(work: Path, name: str, needle: str = "ready.", timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in (work / f"{name}.log").read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not start:\n" + (work / f"{name}.log").read_text(errors="replace")[-2000:])


def measure_raw(app: Celery, r: redis.Redis, runs: int) -> list[float]:
    """apply_async to result, as a client of a raw chain sees it (tooling.md's 9.5 ms baseline)."""
    out = []
    for _ in range(runs):
        t0 = time.time()
        chain(app.signature("rawbench.noop", queue="pipeline.bench", immutable=True),
              *[app.signature("rawbench.noop", queue="pipeline.bench") for _ in range(3)]).apply_async().get(
            timeout=30, interval=0.001)
        out.append(time.time() - t0)
    return out


def _wait_finished(sessions, run_id: int) -> float:  # type: ignore[no-untyped-def]
    while True:
        with sessions() as s:
            finished = s.scalar(select(PipelineRun.finished_at).where(PipelineRun.id == run_id))
        if finished is not None:
            return finished.timestamp()
        time.sleep(0.0005)


def measure_framework(app: Celery, r: redis.Redis, db_url: str, runs: int) -> list[float]:
    """`signals run`'s path: open the run in the ledger, send the chain; done when the ledger says so."""
    from pipelines.core.dispatch import Dispatcher
    from pipelines.core.registry import load_registry
    from pipelines.core.settings import load_settings
    from workers.tasks import step_chain

    registry = load_registry(("benchmarks.bench_pipeline",), ("bench",))
    dispatcher = Dispatcher(load_settings(), registry,
                            lambda p, rid: step_chain(app, p, rid).apply_async(queue=p.queue))
    sessions = session_factory(db_url)
    out = []
    for i in range(runs):
        key = f"fw:{i}"
        t0 = time.time()
        run_id = dispatcher.manual("bench", {"done_key": key}).run_id
        r.blpop([key], timeout=30)  # the last step's body ran; its success record follows
        out.append(_wait_finished(sessions, run_id) - t0)
    return out


def measure_dispatch_task(app: Celery, r: redis.Redis, db_url: str, runs: int) -> list[float]:
    """Beat's and `celery call`'s path: a dispatch task opens the run in a worker, then the chain."""
    sessions = session_factory(db_url)
    out = []
    for i in range(runs):
        key = f"dt:{i}"
        t0 = time.time()
        app.send_task("pipelines.bench.dispatch", queue="pipeline.bench",
                      kwargs={"trigger": "manual", "conf": {"done_key": key},
                              "requested_at": datetime.now(timezone.utc).isoformat()})
        r.blpop([key], timeout=30)
        with sessions() as s:
            run_id = s.scalar(select(PipelineRun.id).order_by(PipelineRun.id.desc()).limit(1))
        out.append(_wait_finished(sessions, run_id) - t0)
    return out


def burst_raw(app: Celery, r: redis.Redis, n: int) -> float:
    t0 = time.time()
    for _ in range(n):
        chain(app.signature("rawbench.noop", queue="pipeline.bench", immutable=True),
              app.signature("rawbench.noop", queue="pipeline.bench"),
              app.signature("rawbench.noop", queue="pipeline.bench"),
              app.signature("rawbench.done", kwargs={"key": "rawburst"}, queue="pipeline.bench")).apply_async()
    while r.llen("rawburst") < n:
        time.sleep(0.05)
    return time.time() - t0


def burst_framework(app: Celery, db_url: str, n: int) -> float:
    sessions = session_factory(db_url)
    with sessions() as s:
        before = s.scalar(select(func.count()).select_from(PipelineRun).where(PipelineRun.state == "success"))
    t0 = time.time()
    for _ in range(n):
        app.send_task("pipelines.bench.dispatch", queue="pipeline.bench",
                      kwargs={"trigger": "manual", "requested_at": datetime.now(timezone.utc).isoformat()})
    while True:
        with sessions() as s:
            done = s.scalar(select(func.count()).select_from(PipelineRun).where(PipelineRun.state == "success"))
        if done - before >= n:
            return time.time() - t0
        time.sleep(0.2)


_SEND = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*Sending due task dispatch-bench")


def measure_beat(env: dict[str, str], work: Path, db_url: str, samples: int) -> list[float]:
    beat = start(env, work, "beat", "beat", "--loglevel", "INFO")
    try:
        time.sleep(samples + 8)
    finally:
        beat.terminate()
        beat.wait(timeout=30)
    sends = []
    for line in (work / "beat.log").read_text(errors="replace").splitlines():
        m = _SEND.match(line)
        if m:  # log times are the machine's local time
            sends.append(datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").astimezone(timezone.utc))
    with session_factory(db_url)() as s:
        starts = sorted(s.scalars(select(StepRun.started_at).join(PipelineRun, PipelineRun.id == StepRun.run_id)
                                  .where(PipelineRun.trigger == "schedule", StepRun.step == "fetch")))
    # Each send opens one run; pair every send with the first fetch start after it.
    out, j = [], 0
    for sent in sends:
        while j < len(starts) and starts[j] < sent:
            j += 1
        if j < len(starts):
            out.append((starts[j] - sent).total_seconds())
            j += 1
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--beat-samples", type=int, default=120)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "engine_latency.md"))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="signals-bench-"))
    server = PrivateRedis(work)
    db_url = create_database()
    worker = None
    try:
        migrate.upgrade(db_url)
        env = env_for(server.url, db_url, work)
        os.environ.update(env)  # this process's settings too (the bench pipeline's alert step pushes)
        worker = start(env, work, "worker", "worker", "-Q", "pipeline.bench", "-c", "2", "--without-mingle",
                       "--without-gossip", "--loglevel", "INFO")
        wait_ready(work, "worker")
        app = Celery(broker=f"{server.url}/0", backend=f"{server.url}/1", set_as_current=False)
        r = redis.Redis.from_url(f"{server.url}/1")
        app.conf.result_backend = f"{server.url}/1"
        measure_raw(app, r, 20)  # warm-up: imports, connections, pool processes
        measure_framework(app, r, db_url, 20)
        measure_dispatch_task(app, r, db_url, 10)
        raw, fw, dt = [], [], []
        for _ in range(3):  # interleave so drift hits all alike
            raw += measure_raw(app, r, args.runs // 3)
            fw += measure_framework(app, r, db_url, args.runs // 3)
            dt += measure_dispatch_task(app, r, db_url, args.runs // 3)
        raw_burst = burst_raw(app, r, args.burst)
        fw_burst = burst_framework(app, db_url, args.burst)  # through dispatch tasks, as beat sends them
        beat = measure_beat(env, work, db_url, args.beat_samples)
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=60)
        server.stop()
        drop_database(db_url)

    ms = lambda v: f"{v * 1000:.1f} ms"  # noqa: E731
    rows = [
        ("median latency", ms(statistics.median(raw)), ms(statistics.median(fw)),
         f"{statistics.median(fw) / statistics.median(raw):.2f}x", "<= 1.5x"),
        ("p99 latency", ms(pct(raw, 99)), ms(pct(fw, 99)), f"{pct(fw, 99) / pct(raw, 99):.2f}x", ""),
        ("median, through a dispatch task (beat's path)", ms(statistics.median(raw)), ms(statistics.median(dt)),
         f"{statistics.median(dt) / statistics.median(raw):.2f}x", ""),
        (f"{args.burst} runs, sent at once", f"{raw_burst:.1f} s", f"{fw_burst:.1f} s",
         f"{fw_burst / raw_burst:.2f}x", ""),
        ("beat fire -> first step start", "", f"median {ms(statistics.median(beat))}, p99 {ms(pct(beat, 99))}",
         f"{len(beat)} fires", "p99 < 1 s"),
    ]
    table = Table("measure", "raw Celery chain", "framework", "ratio", "target",
                  title=f"engine overhead ({len(raw)} sequential runs each, worker -c 2, PostgreSQL)")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    lines = ["| measure | raw Celery chain | framework | ratio | target |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    Path(args.out).write_text(f"Measured {datetime.now(timezone.utc):%Y-%m-%d} on this 2-core machine "
                              f"({len(raw)} sequential runs each):\n\n" + "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
