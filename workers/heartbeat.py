"""Worker liveness and readiness as files, for probes that cost nothing.

`celery inspect ping` imports the whole app and talks to the broker on every probe (about 3 s of CPU,
celery #4079). A probe here only compares the heartbeat file's mtime with the clock.

The worker's event loop records a tick every few seconds on its own timer (under prefork the timer
runs in the main process, so long tasks do not stall it). A small thread touches the file while the
loop ticks. When the loop stalls, the thread asks whether the broker answers: while it does not, the
stall is the consumer reconnecting and a restart cannot help, so the file stays fresh; with the broker
up, a stalled loop means a stuck worker, the file goes stale and the probe restarts it.
The ready file exists from `worker_ready` until shutdown begins. Both are off unless
`--heartbeat-file` / `--ready-file` are given.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

from celery import Celery, bootsteps
from celery.signals import worker_ready, worker_shutting_down
from click import Option
from kombu.exceptions import OperationalError

HEARTBEAT_INTERVAL = 5.0  # seconds between ticks and touches; probes allow 60 s
STALL_SECONDS = 30.0  # a loop silent this long is stalled


def touch(path: Path) -> None:
    """Create `path` or set its mtime to now."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(exist_ok=True)
    os.utime(path)


def _remove(path: Path | None) -> None:
    if path is not None:
        path.unlink(missing_ok=True)


def broker_answers(app: Celery) -> bool:
    """True when a fresh connection to the broker succeeds (broker_connection_timeout applies)."""
    try:
        with app.connection_for_write() as conn:
            # One attempt; library errors come back as kombu's OperationalError.
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0)
        return True
    except (OperationalError, OSError):
        return False


class HeartbeatStep(bootsteps.StartStopStep):
    """Keeps the heartbeat file fresh while the worker loop runs; writes the ready file when ready."""

    requires: ClassVar[set[str]] = {"celery.worker.components:Timer"}

    def __init__(self, parent: Any, heartbeat_file: str | None = None, ready_file: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.heartbeat = Path(heartbeat_file) if heartbeat_file else None
        self.ready = Path(ready_file) if ready_file else None
        self.last_tick = time.monotonic()
        self.tref: Any = None
        self.stopped = threading.Event()
        self.lock = threading.Lock()  # no touch after stop() removed the file
        self.app: Celery | None = None
        # A file left by a previous container of the same pod must not vouch for this one.
        _remove(self.heartbeat)
        _remove(self.ready)
        if self.ready is not None:
            worker_ready.connect(self._on_ready, weak=False)
            worker_shutting_down.connect(self._on_shutdown, weak=False)

    def start(self, worker: Any) -> None:
        if self.heartbeat is None:
            return
        self.app = worker.app
        self.tick()
        touch(self.heartbeat)
        self.tref = worker.timer.call_repeatedly(HEARTBEAT_INTERVAL, self.tick, priority=10)
        threading.Thread(target=self._run, name="heartbeat-file", daemon=True).start()

    def stop(self, worker: Any) -> None:
        with self.lock:
            self.stopped.set()
            _remove(self.heartbeat)
            _remove(self.ready)
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None

    def tick(self) -> None:
        self.last_tick = time.monotonic()

    def alive(self) -> bool:
        """The loop ticked recently, or it stalled only because the broker is unreachable."""
        if time.monotonic() - self.last_tick < STALL_SECONDS:
            return True
        return self.app is not None and not broker_answers(self.app)

    def _run(self) -> None:
        while not self.stopped.wait(HEARTBEAT_INTERVAL):
            if self.heartbeat is None or not self.alive():
                continue
            with self.lock:
                if not self.stopped.is_set():
                    touch(self.heartbeat)

    def _on_ready(self, **_: Any) -> None:
        if self.ready is not None:
            touch(self.ready)

    def _on_shutdown(self, **_: Any) -> None:
        # Not ready from the first SIGTERM on, while warm shutdown still finishes running tasks.
        _remove(self.ready)


def install(app: Celery) -> None:
    """Register the step and its `celery worker` options on `app`."""
    app.user_options["worker"].add(Option(["--heartbeat-file"], default=None,
                                          help="keep this file's mtime fresh while alive (liveness probe)"))
    app.user_options["worker"].add(Option(["--ready-file"], default=None,
                                          help="create this file when the worker is ready (readiness probe)"))
    app.steps["worker"].add(HeartbeatStep)
