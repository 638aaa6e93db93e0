"""Which checks answer /health, /health/<pipeline or group> and /ready, and their JSON report.

/live runs no check at all: a liveness probe that failed because the broker or the database is
down would restart the service, which cannot fix either (engine_pitfalls 2.8). /ready checks the
database and Redis, without which nothing here can answer. /health runs every check.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pipelines.core.model import Pipeline
from pipelines.core.registry import ALERTS_QUEUE, MAINTENANCE_QUEUE, Registry
from pipelines.core.settings import Settings

from .probe import CheckResult, Probe


@dataclass(frozen=True)
class Scope:
    """What one health endpoint covers: some pipelines, the queues they need, and beat or not."""

    name: str
    pipelines: tuple[Pipeline, ...]
    queues: tuple[str, ...]
    beat: bool


@dataclass(frozen=True)
class HealthReport:
    scope: str
    checks: tuple[CheckResult, ...]
    checked_at: datetime

    @property
    def healthy(self) -> bool:
        return all(c.healthy for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {"status": "healthy" if self.healthy else "unhealthy", "scope": self.scope,
                "checked_at": self.checked_at.isoformat(), "checks": [c.to_json() for c in self.checks]}


def overall_scope(registry: Registry) -> Scope:
    # Beat also drives reconcile (catch-up), so the whole system needs it even with no schedule.
    return Scope("all", registry.pipelines, tuple(registry.queues), True)


def named_scope(registry: Registry, settings: Settings, name: str) -> Scope | None:
    """A pipeline by its name, or every pipeline whose `group` is `name`; None when neither."""
    chosen = tuple(p for p in registry.pipelines if p.name == name or p.group == name)
    if not chosen:
        return None
    scheduled = any(p.calendar_for(settings) is not None for p in chosen)
    # Their alerts are delivered from the alerts queue; missed ticks are caught up from maintenance.
    queues = [p.queue for p in chosen] + [ALERTS_QUEUE] + ([MAINTENANCE_QUEUE] if scheduled else [])
    return Scope(name, chosen, tuple(queues), scheduled)


def scope_names(registry: Registry) -> list[str]:
    """Every name /health/<name> answers: pipelines, then groups."""
    groups = sorted({p.group for p in registry.pipelines if p.group} - set(registry.names))
    return registry.names + groups


def _not_checked(names: list[str], backend: str) -> list[CheckResult]:
    return [CheckResult(n, False, 0.0, f"not checked: the {backend} check failed") for n in names]


def run_checks(probe: Probe, scope: Scope) -> HealthReport:
    """Every check of the scope; those needing a backend that is down fail without waiting on it."""
    database, redis_ = probe.database(), probe.redis()
    checks = [database, redis_]
    if redis_.healthy:
        checks += probe.workers(scope.queues)
        if scope.beat:
            checks.append(probe.beat())
        checks += probe.backlog(scope.queues)
    else:
        names = [f"workers:{q}" for q in scope.queues] + (["beat"] if scope.beat else [])
        checks += _not_checked(names + [f"backlog:{q}" for q in scope.queues], "redis")
    if database.healthy:
        checks += probe.freshness(scope.pipelines)
        checks.append(probe.outbox())
    else:
        checks += _not_checked([f"freshness:{p.name}" for p in scope.pipelines] + ["outbox"], "database")
    return HealthReport(scope.name, tuple(checks), datetime.now(timezone.utc))


def readiness(probe: Probe) -> HealthReport:
    return HealthReport("ready", (probe.database(), probe.redis()), datetime.now(timezone.utc))
