"""Engine metrics, under the names operators already use (see observability/ for the exporter).

prometheus-client switches to multiprocess mode by itself when PROMETHEUS_MULTIPROC_DIR is set
before import; the start scripts set and wipe it, so prefork children's counts add up. Labels stay
bounded: pipeline, step, status, never a ticker, run id or host.
"""
from __future__ import annotations

from datetime import datetime

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
