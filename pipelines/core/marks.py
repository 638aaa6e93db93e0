"""A step's start and success records, each one statement and one round trip on PostgreSQL.

Round trips, not rows, are what the ledger costs a short step: a no-op step used to pay about a
dozen (pool ping, BEGIN, SET, lock, read, insert, COMMIT, then the same again for its success),
more than the Celery hop itself. Here the common case is one data-modifying CTE each way:

- START: lock the run, record attempt 1 of a step that has no attempts yet, mark
  the run running. Anything else (a retry, a redelivery, a duplicate message, a finished run)
  records nothing and returns `recorded=False`: the executor then takes its full decision path.
- SUCCESS: mark the attempt successful and update the run's counts (and its end, after
  the last step), in the step's own transaction or by itself when the step wrote nothing.

SQLite has no data-modifying CTEs; there the executor keeps its plain statements (no round trips
to save in-process).
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import text

from .ledger import RunState, StepState, UTCDateTime

# Typed result columns, so timestamps come back in UTC like the ORM's, whatever the server's zone.
START = text(f"""
WITH run AS (
    SELECT id, pipeline, state, trigger, data_interval_start, data_interval_end, conf, counts, replay_of
    FROM pipeline_runs WHERE id = :run_id FOR UPDATE),
attempt AS (
    INSERT INTO step_runs (run_id, step, attempt, state, task_id, worker, started_at, counts)
    SELECT id, :step, 1, '{StepState.RUNNING}', :task_id, :worker, :now, '{{}}' FROM run
    WHERE state IN ('{RunState.QUEUED}', '{RunState.RUNNING}')
      AND NOT EXISTS (SELECT 1 FROM step_runs WHERE run_id = :run_id AND step = :step)
    -- a concurrent duplicate that got there first: record nothing, the full path decides
    ON CONFLICT (run_id, step, attempt) DO NOTHING
    RETURNING id),
started AS (
    UPDATE pipeline_runs SET state = '{RunState.RUNNING}', started_at = COALESCE(started_at, :now)
    WHERE id = :run_id AND state = '{RunState.QUEUED}' AND EXISTS (SELECT 1 FROM attempt)
    RETURNING id)
SELECT run.id, run.pipeline, run.trigger, run.data_interval_start, run.data_interval_end, run.conf,
       run.counts, run.replay_of, EXISTS (SELECT 1 FROM attempt) AS recorded
FROM run""").columns(data_interval_start=UTCDateTime(), data_interval_end=UTCDateTime())

SUCCESS = text(f"""
WITH step AS (
    UPDATE step_runs SET state = '{StepState.SUCCESS}', finished_at = :now, counts = CAST(:step_counts AS json)
    WHERE run_id = :run_id AND step = :step AND attempt = :attempt)
UPDATE pipeline_runs SET counts = CAST(:run_counts AS json),
    state = CASE WHEN :last THEN '{RunState.SUCCESS}' ELSE state END,
    finished_at = CASE WHEN :last THEN :now ELSE finished_at END
WHERE id = :run_id AND state = '{RunState.RUNNING}'
RETURNING started_at""").columns(started_at=UTCDateTime())


def start_params(run_id: int, step: str, task_id: str | None, worker: str | None, now: datetime) -> dict[str, Any]:
    """START's parameters. Its one row (none when the run does not exist) has the run's columns,
    read under its row lock, and `recorded`: False when attempt 1 was not recorded here."""
    return {"run_id": run_id, "step": step, "task_id": task_id, "worker": worker, "now": now}


def success_params(run_id: int, step: str, attempt: int, now: datetime, step_counts: dict[str, int],
                   run_counts: dict[str, int], last: bool) -> dict[str, Any]:
    """SUCCESS's parameters. Its one row (none when the run is no longer running) has the run's
    `started_at`; after the last step, that row means this success finished the run."""
    return {"run_id": run_id, "step": step, "attempt": attempt, "now": now, "step_counts": json.dumps(step_counts),
            "run_counts": json.dumps(run_counts), "last": last}
