"""Real services for integration tests: a PostgreSQL database of our own, Redis databases, and Celery
worker and beat processes started as subprocesses (no eager mode)."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psycopg2
import redis

REPO = Path(__file__).resolve().parents[2]
PG_ADMIN = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BROKER_DB, RESULT_DB, BEAT_DB = 0, 1, 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A redis-server of the test session's own, so parallel test runs never share queues."""

    def __init__(self, workdir: Path) -> None:
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.port = free_port()
        self.popen = subprocess.Popen([server, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                                       "--appendonly", "no", "--dir", str(workdir),
                                       "--maxmemory-policy", "noeviction"],
                                      stdout=subprocess.DEVNULL, start_new_session=True)
        self.url = f"redis://127.0.0.1:{self.port}"
        wait_for(self._ping, 10, "the test redis-server")

    def _ping(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url).ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        self.popen.terminate()
        self.popen.wait(timeout=10)


REDIS_BASE = os.environ.get("TEST_REDIS_URL", "")


def create_database() -> str:
    name = f"signals_test_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(PG_ADMIN)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    conn = psycopg2.connect(PG_ADMIN)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def redis_url(db: int) -> str:
    return f"{REDIS_BASE}/{db}"


def flush_engine_redis() -> None:
    for db in (BROKER_DB, RESULT_DB, BEAT_DB):
        redis.Redis.from_url(redis_url(db)).flushdb()


def engine_env(database_url: str, log_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEMO_", "CELERY_", "REDBEAT_"))}
    env.update({
        "PYTHONPATH": str(REPO),
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": redis_url(BROKER_DB),
        "CELERY_RESULT_BACKEND": redis_url(RESULT_DB),
        "REDBEAT_REDIS_URL": redis_url(BEAT_DB),
        "REDBEAT_KEY_PREFIX": "signals-test:",
        "PIPELINE_MODULES": "tests.support.demo_pipeline",
        "DEMO_LOG_DIR": str(log_dir),
        "LOG_LEVEL": "INFO",
        "VAR_DIR": str(log_dir / "var"),
        "SIGNALS_DOTENV": str(log_dir / "no.env"),
    })
    env.update(extra)
    if "PIPELINES_ENABLED" not in extra:  # only the test's own pipelines, not the product's
        env["PIPELINES_ENABLED"] = ",".join(p.name for m in env["PIPELINE_MODULES"].split(",") if m
                                            for p in _module_pipelines(m))
    return env


def _module_pipelines(module: str):  # type: ignore[no-untyped-def]
    from pipelines.core.registry import _load_module

    return _load_module(module)


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill9(self) -> None:
        """SIGKILL the process and every child (a whole worker: main process and pool)."""
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(timeout=10)

    def stop(self, timeout: float = 20) -> None:
        if self.popen.poll() is not None:
            return
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
        except ProcessLookupError:
            pass


@dataclass
class Stack:
    env: dict[str, str]
    workdir: Path
    procs: list[Proc] = field(default_factory=list)

    def _start(self, name: str, args: list[str], ready: str | None, timeout: float = 60) -> Proc:
        log = self.workdir / f"{name}.log"
        fh = open(log, "wb")
        popen = subprocess.Popen([sys.executable, "-m", "celery", "-A", "workers.app", *args], cwd=REPO,
                                 env=self.env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        if ready:
            wait_for(lambda: ready in proc.text() or popen.poll() is not None, timeout, f"{name} to start")
            if popen.poll() is not None:
                raise RuntimeError(f"{name} exited:\n{proc.text()[-3000:]}")
        return proc

    def worker(self, name: str, queues: list[str], concurrency: int = 1) -> Proc:
        return self._start(name, ["worker", "-Q", ",".join(queues), "-n", f"{name}@%h", "-c", str(concurrency),
                                  "--without-mingle", "--without-gossip", "--loglevel", "INFO"], ready="ready.")

    def beat(self, name: str) -> Proc:
        return self._start(name, ["beat", "--loglevel", "DEBUG"], ready=None)

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.2) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
