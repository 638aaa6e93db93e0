"""Public job boards (Greenhouse, Lever, Ashby) of listed companies: postings tracked by our own
first/last-seen dates, hiring velocity and department mix as low-weight context signals."""
from __future__ import annotations

from datetime import time

from beat_schedule.calendars import DailyAt
from pipelines.core.alerting import alert_step
from pipelines.core.model import Pipeline, RetryPolicy, Step
from pipelines.jobboards.detect import detect
from pipelines.jobboards.fetch import fetch
from pipelines.jobboards.score import score

PIPELINE = Pipeline(
    name="hiring",
    description="job-board postings of tracked companies: new/removed/reposted roles, hiring velocity, department mix",
    steps=(
        Step("fetch", fetch, io=True, soft_time_limit=900, time_limit=1080),
        Step("detect", detect, soft_time_limit=300, time_limit=360),
        Step("score", score, soft_time_limit=300, time_limit=360),
        Step("alert", alert_step, io=True, soft_time_limit=60, time_limit=90),
    ),
    calendar=DailyAt(time(9, 0)),
    retry=RetryPolicy(max_retries=3, backoff_base=60.0, backoff_max=900.0),
    default_lookback_seconds=86400,
    group="insider_hiring",
)
