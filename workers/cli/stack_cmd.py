"""`signals up`: the whole local stack in the foreground; Ctrl-C stops all of it gracefully.

Redis (the one at the broker URL, or a local redis-server it starts), migrations, one worker per
queue (or one for all), RedBeat beat, Flower with basic auth and the metrics/health exporter.
"""
from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import redis

from pipelines.core import migrate
from pipelines.core.settings import Settings

from .common import console, context

GRACE_SECONDS = 60  # warm shutdown: running tasks finish (late acks requeue the rest)


def add_commands(sub: argparse._SubParsersAction) -> None:
    up = sub.add_parser("up", help="run Redis, workers, beat, Flower and the exporter in the foreground")
    up.add_argument("--single-worker", action="store_true", help="one worker consuming every queue")
    up.add_argument("--concurrency", type=int, help="processes per worker (default WORKER_CONCURRENCY)")
    up.add_argument("--no-flower", action="store_true")
    up.add_argument("--no-beat", action="store_true")
    up.add_argument("--no-exporter", action="store_true", help="no metrics and health service")
    up.set_defaults(func=_up)


def _redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def ensure_redis(settings: Settings, procs: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    url = settings.CELERY_BROKER_URL
    if _redis_answers(url):
        console.print(f"redis: using the server at {_safe(url)}")
        return
    parsed = urlparse(url)
    if parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"signals up: Redis at {_safe(url)} does not answer, and it is not local to start")
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("signals up: no Redis answers at the broker URL and redis-server is not installed; "
                         "install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) "
                         "or point CELERY_BROKER_URL at a running Redis")
    data = settings.var_dir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    # noeviction: evicted keys break kombu bindings and lose RedBeat entries (engine_pitfalls 2.1).
    cmd = [server, "--bind", "127.0.0.1", "--port", str(parsed.port or 6379), "--dir", str(data),
           "--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction"]
    procs.append(("redis", subprocess.Popen(cmd, stdout=subprocess.DEVNULL, start_new_session=True)))
    for _ in range(50):
        if _redis_answers(url):
            console.print(f"redis: started redis-server with data under {data}")
            return
        time.sleep(0.1)
    raise SystemExit("signals up: redis-server did not start")


def _safe(url: str) -> str:
    p = urlparse(url)
    return url.replace(p.password, "***") if p.password else url


def flower_auth(settings: Settings) -> str:
    if settings.FLOWER_BASIC_AUTH:
        return settings.FLOWER_BASIC_AUTH
    path = settings.var_dir / "flower_auth"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"admin:{secrets.token_urlsafe(18)}")
        path.chmod(0o600)
    console.print(f"flower: basic auth from {path} (set FLOWER_BASIC_AUTH to choose your own)")
    return path.read_text().strip()


def _celery(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "workers.app", *args]


def stack_commands(settings: Settings, queues: list[str], single: bool, concurrency: int,
                   flower: bool, beat: bool, exporter: bool = True) -> list[tuple[str, list[str]]]:
    cmds: list[tuple[str, list[str]]] = []
    groups = [("all", queues)] if single else [(q, [q]) for q in queues]
    for name, qs in groups:
        cmds.append((f"worker[{name}]", _celery("worker", "-Q", ",".join(qs), "-n", f"{name}@%h",
                                                "-c", str(concurrency), "--loglevel", settings.LOG_LEVEL)))
    if beat:
        cmds.append(("beat", _celery("beat", "--loglevel", settings.LOG_LEVEL)))
    if flower:
        cmds.append(("flower", _celery("flower", f"--port={settings.FLOWER_PORT}", "--address=127.0.0.1")))
    if exporter:
        cmds.append(("exporter", [sys.executable, "-m", "workers.cli", "exporter", "--host", "127.0.0.1",
                                  "--port", str(settings.EXPORTER_PORT)]))
    return cmds


def _up(args: argparse.Namespace) -> int:
    settings, registry = context()
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []
    env = dict(os.environ)
    metrics_dir = Path(settings.PROMETHEUS_MULTIPROC_DIR or settings.var_dir / "metrics")
    shutil.rmtree(metrics_dir, ignore_errors=True)  # stale files from dead pids would be summed in
    metrics_dir.mkdir(parents=True)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    try:
        ensure_redis(settings, procs)
        migrate.upgrade(settings.DATABASE_URL)
        if not args.no_flower:
            env["FLOWER_BASIC_AUTH"] = flower_auth(settings)
        cmds = stack_commands(settings, registry.queues, args.single_worker,
                              args.concurrency or settings.WORKER_CONCURRENCY, not args.no_flower,
                              not args.no_beat, not args.no_exporter)
        for name, cmd in cmds:
            # Own sessions: Ctrl-C reaches only us, and we stop the children in order.
            procs.append((name, subprocess.Popen(cmd, env=env, start_new_session=True)))
            console.print(f"started {name} (pid {procs[-1][1].pid})")
        console.print("stack up; Ctrl-C stops it")
        while True:
            for name, proc in procs:
                if proc.poll() is not None:
                    console.print(f"[red]{name} exited with {proc.returncode}; stopping the stack[/red]")
                    return 1
            time.sleep(1)
    except KeyboardInterrupt:
        console.print("stopping: warm shutdown (running tasks finish)")
        return 0
    finally:
        _stop(procs)


def _stop(procs: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    # Stop in reverse: workers and beat before the Redis they talk to.
    for _, proc in reversed(procs):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    for name, proc in reversed(procs):
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            console.print(f"{name} did not stop in {GRACE_SECONDS} s; killing it")
            proc.kill()
