"""Per-process runtime objects (settings, registry, runner, dispatcher), built lazily after fork."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping

from pipelines.core.dispatch import Dispatcher, Sender
from pipelines.core.executor import StepRunner
from pipelines.core.registry import Registry, registry_for
from pipelines.core.settings import Settings, get_settings


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    registry: Registry
    runner: StepRunner
    dispatcher: Dispatcher


_sender: Sender | None = None
_by_pid: dict[int, Runtime] = {}


def set_sender(send: Sender) -> None:
    global _sender
    _sender = send
    _by_pid.clear()


def runtime() -> Runtime:
    # Keyed on the pid so a forked child never reuses its parent's sessions.
    rt = _by_pid.get(os.getpid())
    if rt is None:
        if _sender is None:
            raise RuntimeError("workers.runtime.set_sender() was not called")
        settings = get_settings()
        registry = registry_for(settings)
        dispatcher = Dispatcher(settings, registry, _sender)

        def child(name: str, conf: Mapping[str, Any], parent: int) -> int:
            return dispatcher.manual(name, dict(conf), parent_run_id=parent).run_id

        rt = _by_pid[os.getpid()] = Runtime(settings, registry, StepRunner(settings, registry, child), dispatcher)
    return rt
