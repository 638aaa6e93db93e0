"""clinical_trials: Phase 3 study changes on ClinicalTrials.gov -> scored signals for mapped tickers.

Daily at 18:00 New York time. Steps as the operators know them:
health_check -> fetch (ClinicalTrials.gov and SEC company_tickers.json side by side) -> detect
-> score -> alert -> metrics. `--conf full_backfill=true` walks every Phase 3 study instead of
those updated since the interval start; `--replay RUN` recomputes from RUN's archived pages.
"""
from __future__ import annotations

from datetime import time

from beat_schedule.calendars import DailyAt
from pipelines.core.alerting import alert_step
from pipelines.core.model import Pipeline, RetryPolicy, Step
from pipelines.trials.detect import detect_step
from pipelines.trials.fetch import fetch_ctgov, fetch_tickers, health_check
from pipelines.trials.score import metrics_step, score_step

PIPELINE = Pipeline(
    name="clinical_trials",
    description="ClinicalTrials.gov Phase 3 snapshots, change detection, sponsor tickers, trial-event scores",
    steps=(
        Step("health_check", health_check, io=True, soft_time_limit=120, time_limit=150),
        # A full backfill is ~40 pages at 1 request/s plus archiving; a daily fetch is a page or two.
        Step("fetch", (fetch_ctgov, fetch_tickers), io=True, soft_time_limit=1800, time_limit=1900),
        Step("detect", detect_step, soft_time_limit=900, time_limit=960),
        Step("score", score_step, soft_time_limit=300, time_limit=360),
        Step("alert", alert_step, io=True, soft_time_limit=120, time_limit=150),
        Step("metrics", metrics_step, soft_time_limit=120, time_limit=150),
    ),
    calendar=DailyAt(time(18, 0), tz="America/New_York"),
    retry=RetryPolicy(max_retries=4, backoff_base=30.0, backoff_max=600.0),
    default_lookback_seconds=86400,
    group="clinical_trials",
)
