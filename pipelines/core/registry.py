"""The one registry: every task name, queue, route and beat entry is derived from it.

Product pipelines are listed in `pipelines.PRODUCT_MODULES`; deployments and tests add their own
through the PIPELINE_MODULES setting. Each module defines `PIPELINE` (or a tuple `PIPELINES`).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache

from .model import Pipeline

ALERTS_QUEUE = "alerts"
MAINTENANCE_QUEUE = "maintenance"
RECONCILE_TASK = "maintenance.reconcile"


@dataclass(frozen=True)
class Registry:
    pipelines: tuple[Pipeline, ...]

    def __post_init__(self) -> None:
        names = [p.name for p in self.pipelines]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"pipelines declared twice: {sorted(dupes)}")
        for p in self.pipelines:
            for child in p.children:
                if child not in names:
                    raise ValueError(f"pipeline {p.name} names unknown child pipeline {child}")

    def get(self, name: str) -> Pipeline:
        for p in self.pipelines:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.pipelines) or "none"
        raise KeyError(f"unknown pipeline {name!r} (known: {known})")

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.pipelines]

    @property
    def pipeline_queues(self) -> list[str]:
        return [p.queue for p in self.pipelines]

    @property
    def queues(self) -> list[str]:
        return self.pipeline_queues + [ALERTS_QUEUE, MAINTENANCE_QUEUE]

    @property
    def routes(self) -> dict[str, dict[str, str]]:
        routes = {f"pipelines.{p.name}.*": {"queue": p.queue} for p in self.pipelines}
        routes["alerts.*"] = {"queue": ALERTS_QUEUE}
        routes["maintenance.*"] = {"queue": MAINTENANCE_QUEUE}
        return routes

    def task_names(self) -> list[str]:
        names = []
        for p in self.pipelines:
            names.append(p.dispatch_task)
            names.extend(p.task_name(s.name) for s in p.steps)
        return names

    def worker_pools(self) -> list[dict[str, object]]:
        """The default Helm worker pools: one per pipeline queue, plus alerts and maintenance."""
        pools: list[dict[str, object]] = [{"name": p.name.replace("_", "-"), "queues": [p.queue]}
                                          for p in self.pipelines]
        pools.append({"name": "alerts", "queues": [ALERTS_QUEUE]})
        pools.append({"name": "maintenance", "queues": [MAINTENANCE_QUEUE]})
        return pools


def _load_module(path: str) -> tuple[Pipeline, ...]:
    try:
        module = importlib.import_module(path)
    except ImportError as exc:
        raise ValueError(f"pipeline module {path!r} (PIPELINE_MODULES) cannot be imported: {exc}") from exc
    found = getattr(module, "PIPELINES", None) or (getattr(module, "PIPELINE", None),)
    pipelines = tuple(p for p in found if p is not None)
    if not pipelines or not all(isinstance(p, Pipeline) for p in pipelines):
        raise ValueError(f"module {path} must define PIPELINE or PIPELINES (Pipeline objects)")
    return pipelines


@lru_cache(maxsize=8)
def load_registry(extra_modules: tuple[str, ...] = (), enabled: tuple[str, ...] = ()) -> Registry:
    """The product pipelines plus `extra_modules`, narrowed to `enabled` names when given."""
    from pipelines import PRODUCT_MODULES

    pipelines: list[Pipeline] = []
    for path in dict.fromkeys((*PRODUCT_MODULES, *extra_modules)):  # a module named twice loads once
        pipelines.extend(_load_module(path))
    if enabled:
        known = {p.name for p in pipelines}
        unknown = sorted(set(enabled) - known)
        if unknown:
            raise ValueError(f"PIPELINES_ENABLED names unknown pipeline(s) {unknown} (known: {sorted(known)})")
        pipelines = [p for p in pipelines if p.name in enabled]
    return Registry(tuple(pipelines))


def registry_for(settings) -> Registry:  # type: ignore[no-untyped-def]
    return load_registry(tuple(settings.PIPELINE_MODULES), tuple(settings.PIPELINES_ENABLED))
