"""Pipelines as data: a pipeline is a frozen declaration of typed step functions.

Nothing here imports Celery. `workers/` turns each declaration into tasks, queues, routes and beat
entries; `pipelines.core.executor` runs a step for a run id, with or without a broker.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

if TYPE_CHECKING:  # imported for type checkers only, to keep this module import-light
    from sqlalchemy.orm import Session

    from .settings import Settings

STEP_ORDER = ("fetch", "detect", "score", "alert")


class Calendar(Protocol):
    """When a pipeline falls due. Implementations live in `beat_schedule.calendars`."""

    def fire_times(self, start: datetime, end: datetime) -> list[datetime]:
        """Aware UTC fire times in [start, end), ascending."""

    def previous_fire(self, before: datetime) -> datetime | None:
        """The last fire time strictly before `before`."""

    def next_fire(self, after: datetime) -> datetime:
        """The first fire time strictly after `after`."""

    def utc_cron(self) -> Mapping[str, str]:
        """A UTC crontab (minute, hour) that fires at least at every fire time."""

    def describe(self) -> str:
        """A one-line human description."""


@dataclass(frozen=True)
class RetryPolicy:
    """Automatic retries for transient failures of I/O steps (fetch, alert)."""

    max_retries: int = 5
    backoff_base: float = 2.0  # seconds; doubled each try
    backoff_max: float = 300.0
    jitter: bool = True


NO_RETRY = RetryPolicy(max_retries=0)


@dataclass(frozen=True)
class StepContext:
    """What a step function receives: small references, never payloads from other steps."""

    run_id: int
    pipeline: str
    step: str
    data_interval_start: datetime
    data_interval_end: datetime
    trigger: str
    conf: Mapping[str, Any]
    settings: "Settings"
    session: "Session"
    artifacts: "ArtifactAccess"
    quarantine: Callable[..., None]
    # Opens a run of another pipeline with this run as its parent and sends it; returns its run id.
    # Used by master pipelines (e.g. insider_hiring_master); None where no sender exists.
    dispatch_child: Callable[[str, Mapping[str, Any]], int] | None = None

    @property
    def log_fields(self) -> dict[str, Any]:
        return {"pipeline": self.pipeline, "run_id": self.run_id, "step": self.step}


class ArtifactAccess(Protocol):
    def put(self, name: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        """Store bytes for this run under `name`; returns the content key (sha256)."""

    def get(self, name: str) -> bytes:
        """Bytes this run (or the run it replays) stored under `name`."""

    def names(self) -> list[str]:
        ...


@dataclass(frozen=True)
class StepResult:
    """What a step reports back: counts for the ledger and metrics. Data goes through artifacts/tables."""

    counts: Mapping[str, int] = field(default_factory=dict)
    note: str = ""


StepFn = Callable[[StepContext], StepResult | None]


@dataclass(frozen=True)
class Step:
    name: str
    fn: StepFn | tuple[StepFn, ...]  # a tuple runs its functions side by side (parallel sources)
    io: bool = False  # I/O steps retry transient failures; compute steps never do
    soft_time_limit: int = 300
    time_limit: int = 360

    @property
    def functions(self) -> tuple[StepFn, ...]:
        return self.fn if isinstance(self.fn, tuple) else (self.fn,)


@dataclass(frozen=True)
class Pipeline:
    name: str
    description: str
    steps: tuple[Step, ...]
    # A Calendar, or a function of the settings that builds one (cadences are configurable);
    # None: manual only (e.g. the master trigger).
    calendar: "Calendar | Callable[[Settings], Calendar] | None"
    retry: RetryPolicy = RetryPolicy()
    default_lookback_seconds: int = 86400  # data interval of a manual run ending now
    group: str = ""  # health/metrics group, e.g. insider_hiring
    children: tuple[str, ...] = ()  # a master pipeline dispatches these

    def __post_init__(self) -> None:
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            raise ValueError(f"pipeline {self.name}: duplicate step names {names}")
        if not self.name.isidentifier():
            raise ValueError(f"pipeline name {self.name!r} must be an identifier")

    @property
    def queue(self) -> str:
        return f"pipeline.{self.name}"

    def task_name(self, step: str) -> str:
        return f"pipelines.{self.name}.{step}"

    @property
    def dispatch_task(self) -> str:
        return self.task_name("dispatch")

    @property
    def run_time_limit(self) -> int:
        """A run stuck longer than this is failed by reconcile."""
        budget = sum(s.time_limit * (1 + (self.retry.max_retries if s.io else 0)) for s in self.steps)
        return budget + 600

    def calendar_for(self, settings: "Settings") -> Calendar | None:
        if self.calendar is None or hasattr(self.calendar, "fire_times"):
            return self.calendar  # type: ignore[return-value]
        return self.calendar(settings)  # type: ignore[operator]

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(f"pipeline {self.name} has no step {name!r}")

    def next_step(self, name: str) -> Step | None:
        names = [s.name for s in self.steps]
        i = names.index(name)
        return self.steps[i + 1] if i + 1 < len(self.steps) else None
