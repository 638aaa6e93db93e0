"""Engine metrics, under the names operators already use (see observability/ for the exporter).

prometheus-client switches to multiprocess mode by itself when PROMETHEUS_MULTIPROC_DIR is set
before import; the start scripts set and wipe it, so prefork children's counts add up. Labels stay
bounded: pipeline, step, status, never a ticker, run id or host.
"""
from __future__ import annotations

from datetime import datetime
from typing import Iterable

from prometheus_client import Counter, Histogram

# Runs last from seconds (Form 4 polls) to an hour (a full Orange Book release).
_RUN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)

PIPELINE_EXECUTIONS = Counter("pipeline_executions", "Pipeline runs that ended, by final status",
                              ["pipeline", "status"])
PIPELINE_DURATION = Histogram("pipeline_duration_seconds", "Wall time of a pipeline run, start to end",
                              ["pipeline"], buckets=_RUN_BUCKETS)
STEP_DURATION = Histogram("pipeline_step_duration_seconds", "Wall time of one step attempt",
                          ["pipeline", "step"], buckets=_RUN_BUCKETS)
STEP_ATTEMPTS = Counter("pipeline_step_attempts", "Step attempts by how they ended",
                        ["pipeline", "step", "state"])
RUNS_DISPATCHED = Counter("pipeline_runs_dispatched", "Runs opened by the dispatcher, by trigger",
                          ["pipeline", "trigger"])


def step_finished(pipeline: str, step: str, state: str, seconds: float) -> None:
    STEP_DURATION.labels(pipeline, step).observe(seconds)
    STEP_ATTEMPTS.labels(pipeline, step, state).inc()


def run_finished(pipeline: str, status: str, started: datetime | None, finished: datetime | None) -> None:
    PIPELINE_EXECUTIONS.labels(pipeline, status).inc()
    if started is not None and finished is not None:
        PIPELINE_DURATION.labels(pipeline).observe(max(0.0, (finished - started).total_seconds()))


def run_dispatched(pipeline: str, trigger: str) -> None:
    RUNS_DISPATCHED.labels(pipeline, trigger).inc()


# Upstream HTTP (pipelines.core.http): labelled by source ("sec_edgar", "ctgov", ...), a handful of
# values fixed in code, never by URL. Waits run from nothing to a minute of Retry-After.
_WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
UPSTREAM_OUTCOMES = ("ok", "not_modified", "rate_limited", "retry", "error")
UPSTREAM_REQUESTS = Counter("upstream_requests", "Upstream HTTP requests sent, by source and outcome",
                            ["source", "outcome"])
UPSTREAM_ERRORS = Counter("upstream_errors", "Upstream requests that failed (429, 5xx, 4xx, network)",
                          ["source"])
UPSTREAM_WAIT = Histogram("upstream_rate_limit_wait_seconds",
                          "Time a request waited before it went out: rate limiter, backoff, Retry-After",
                          ["source"], buckets=_WAIT_BUCKETS)


def upstream_event(source: str, outcome: str, wait_seconds: float) -> None:
    """The `on_event` hook for HttpClient/EdgarClient: `HttpClient(..., on_event=metrics.upstream_event)`."""
    source = source or "unknown"
    if outcome not in UPSTREAM_OUTCOMES:  # keeps the label bounded whatever a caller passes
        outcome = "error"
    UPSTREAM_REQUESTS.labels(source, outcome).inc()
    if outcome in ("rate_limited", "retry", "error"):
        UPSTREAM_ERRORS.labels(source).inc()
    UPSTREAM_WAIT.labels(source).observe(max(0.0, wait_seconds))


def preinit(pipelines: Iterable[str]) -> None:
    """Create each pipeline's run counters at 0 (workers call it at start).

    A series born at 1 hides its first increment from Prometheus' increase(), so the first failure
    of a pipeline would never fire the "pipeline failed" alert.
    """
    for name in pipelines:
        for status in ("success", "failed"):
            PIPELINE_EXECUTIONS.labels(name, status)
