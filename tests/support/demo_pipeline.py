"""A test-only pipeline (not in the product): four steps whose effects the tests can count.

Behaviour is steered by environment variables that the worker subprocesses inherit:
DEMO_LOG_DIR   a folder where each step execution appends a line (so tests can count executions)
DEMO_SLOW_STEP the step that sleeps DEMO_SLEEP seconds (to kill a worker mid-step)
DEMO_FAIL_STEP the step that raises a DataError
DEMO_TRANSIENT_STEP / DEMO_TRANSIENT_TIMES  the step that raises TransientError that many times
DEMO_EVERY     seconds between fire times of the `demo_fast` pipeline's calendar
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pipelines.core.errors import DataError, TransientError
from pipelines.core.model import Pipeline, RetryPolicy, Step, StepContext, StepResult


@dataclass(frozen=True)
class EverySeconds:
    """Fires at every multiple of `seconds` since the epoch (UTC); for fast schedule tests."""

    seconds: int

    def fire_times(self, start: datetime, end: datetime) -> list[datetime]:
        first = -(-int(start.timestamp()) // self.seconds) * self.seconds
        return [datetime.fromtimestamp(t, timezone.utc) for t in range(first, int(end.timestamp()) + 1,
                                                                         self.seconds)
                if datetime.fromtimestamp(t, timezone.utc) < end]

    def previous_fire(self, before: datetime) -> datetime | None:
        t = (int(before.timestamp() - 1e-6) // self.seconds) * self.seconds
        return datetime.fromtimestamp(t, timezone.utc)

    def next_fire(self, after: datetime) -> datetime:
        return datetime.fromtimestamp((int(after.timestamp()) // self.seconds + 1) * self.seconds, timezone.utc)

    def utc_cron(self) -> dict[str, str]:
        return {"every_seconds": str(self.seconds)}

    def describe(self) -> str:
        return f"every {self.seconds} s"


def _record(ctx: StepContext) -> None:
    log_dir = os.environ.get("DEMO_LOG_DIR")
    if log_dir:
        with open(Path(log_dir) / "executions.log", "a") as fh:
            fh.write(json.dumps({"run_id": ctx.run_id, "step": ctx.step, "pid": os.getpid(),
                                 "at": time.time()}) + "\n")


def _behave(ctx: StepContext) -> None:
    _record(ctx)
    if os.environ.get("DEMO_SLOW_STEP") == ctx.step:
        time.sleep(float(os.environ.get("DEMO_SLEEP", "5")))
    if os.environ.get("DEMO_FAIL_STEP") == ctx.step:
        raise DataError(f"demo data error in {ctx.step}", source="demo", record_key=str(ctx.run_id))
    if os.environ.get("DEMO_TRANSIENT_STEP") == ctx.step:
        times = int(os.environ.get("DEMO_TRANSIENT_TIMES", "1"))
        seen = sum(1 for line in open(Path(os.environ["DEMO_LOG_DIR"]) / "executions.log")
                   if json.loads(line)["run_id"] == ctx.run_id and json.loads(line)["step"] == ctx.step)
        if seen <= times:
            raise TransientError(f"demo transient failure {seen}", retry_after=0.1)


def fetch(ctx: StepContext) -> StepResult:
    _behave(ctx)
    payload = json.dumps({"start": ctx.data_interval_start.isoformat(),
                          "end": ctx.data_interval_end.isoformat(), "conf": dict(ctx.conf)}).encode()
    ctx.artifacts.put("raw/interval.json", payload, "application/json")
    return StepResult(counts={"fetched": 1})


def fetch_side(ctx: StepContext) -> StepResult:
    ctx.artifacts.put("raw/side.json", b'{"side": true}', "application/json")
    return StepResult(counts={"side_fetched": 1})


def detect(ctx: StepContext) -> StepResult:
    _behave(ctx)
    data = json.loads(ctx.artifacts.get("raw/interval.json"))
    if "bad_record" in ctx.conf:
        ctx.quarantine("demo", "record-1", "demo bad record", ctx.conf["bad_record"])
    return StepResult(counts={"changes": len(data)})


def score(ctx: StepContext) -> StepResult:
    _behave(ctx)
    return StepResult(counts={"signals": 1})


def alert(ctx: StepContext) -> StepResult:
    _behave(ctx)
    return StepResult(counts={"alerts": 0})


_SOFT = int(os.environ.get("DEMO_TIME_LIMIT", "60"))  # short when a test shortens the visibility timeout
_HARD = _SOFT + 2
_STEPS = (
    Step("fetch", (fetch, fetch_side), io=True, soft_time_limit=_SOFT, time_limit=_HARD),
    Step("detect", detect, soft_time_limit=_SOFT, time_limit=_HARD),
    Step("score", score, soft_time_limit=_SOFT, time_limit=_HARD),
    Step("alert", alert, io=True, soft_time_limit=_SOFT, time_limit=_HARD),
)
_RETRY = RetryPolicy(max_retries=3, backoff_base=0.2, backoff_max=2.0)

PIPELINES = (
    Pipeline(name="demo", description="test pipeline, fires every 10 minutes", steps=_STEPS,
             calendar=EverySeconds(600), retry=_RETRY, default_lookback_seconds=600),
    Pipeline(name="demo_fast", description="test pipeline, fires every DEMO_EVERY seconds", steps=_STEPS,
             calendar=lambda settings: EverySeconds(int(os.environ.get("DEMO_EVERY", "3600"))), retry=_RETRY,
             default_lookback_seconds=60),
)
