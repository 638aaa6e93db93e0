"""Logging: plain or JSON lines, each carrying the pipeline, run id and step of the task it runs in."""
from __future__ import annotations

import contextvars
import json
import logging
import sys
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Iterator

# No default: one shared default dict would be every context's; get({}) gives each caller its own.
_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("signals_log_context")
_FIELDS = ("pipeline", "run_id", "step")
# The context of each thread that set one. A thread a step starts (parallel sources run in a
# ThreadPoolExecutor) begins with an empty contextvars context, so its lines borrow the task's
# context when exactly one task is running in the process (prefork: always); with several (a
# threads pool) nobody can tell whose thread it is, and the fields are left out rather than guessed.
_by_thread: dict[int, dict[str, Any]] = {}
_by_thread_lock = threading.Lock()


def _publish(fields: dict[str, Any]) -> None:
    with _by_thread_lock:
        if fields:
            _by_thread[threading.get_ident()] = fields
        else:
            _by_thread.pop(threading.get_ident(), None)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    previous = _context.get({})
    current = {**previous, **{k: v for k, v in fields.items() if v is not None}}
    token = _context.set(current)
    _publish(current)
    try:
        yield
    finally:
        _context.reset(token)
        _publish(previous)


def set_log_context(**fields: Any) -> None:
    current = {k: v for k, v in fields.items() if v is not None}
    _context.set(current)
    _publish(current)


def current_log_context() -> dict[str, Any]:
    """The pipeline/run_id/step of the running task, also from threads the task started."""
    own = _context.get({})
    if own:
        return own
    with _by_thread_lock:
        if len(_by_thread) == 1:
            return dict(next(iter(_by_thread.values())))
    return {}


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in current_log_context().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in _FIELDS:
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        ctx = " ".join(f"{k}={getattr(record, k)}" for k in _FIELDS if hasattr(record, k))
        return f"{base} [{ctx}]" if ctx else base


def configure_logging(level: str = "INFO", json_lines: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if json_lines else
                         PlainFormatter("%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
