"""13F-HR holdings of tracked managers: discover, load point in time, diff quarters, score per security.

Runs daily at 22:30 ET from quarter end + 35 days through the filing deadline (quarter end + 45 days,
moved past weekends and holidays), when most managers file.
"""
from __future__ import annotations

from beat_schedule.calendars import QuarterlyDeadline
from pipelines.core.alerting import alert_step
from pipelines.core.model import Pipeline, RetryPolicy, Step
from pipelines.thirteenf.detect import detect
from pipelines.thirteenf.fetch import fetch
from pipelines.thirteenf.score import score

PIPELINE = Pipeline(
    name="institutional_13f",
    description="13F-HR filings of tracked managers: holdings, quarter-over-quarter changes, signals per security",
    steps=(
        Step("fetch", fetch, io=True, soft_time_limit=1500, time_limit=1800),
        Step("detect", detect, soft_time_limit=1500, time_limit=1800),
        Step("score", score, soft_time_limit=600, time_limit=720),
        Step("alert", alert_step, io=True, soft_time_limit=60, time_limit=90),
    ),
    calendar=QuarterlyDeadline(),
    retry=RetryPolicy(max_retries=3, backoff_base=30.0, backoff_max=600.0),
    default_lookback_seconds=86400,
    group="insider_hiring",
)
