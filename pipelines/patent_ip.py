"""patent_ip: the FDA Orange Book -> patent-cliff calendar, generic competition, opportunity scores,
release-diff alerts and reports.

Weekly, Monday 08:00 New York time. Steps as the operators know them:
extraction -> enrichment -> calendar -> scores -> load -> alert (alerts and reports side by side).
An unchanged ZIP (same sha256 as the last release loaded) is recorded and skips the rest;
`--conf force=true` reprocesses it anyway (the load stays a no-op), `--replay RUN` recomputes from
RUN's stored ZIP. Conf `as_of=YYYY-MM-DD` sets the scoring date; `revenue_shares={"BRAND": 0.3}`
supplies the revenue exposure only an operator knows.
"""
from __future__ import annotations

from datetime import time

from beat_schedule.calendars import WeeklyAt
from pipelines.core.alerting import alert_step
from pipelines.core.model import Pipeline, RetryPolicy, Step
from pipelines.patents.enrichment import enrichment
from pipelines.patents.extraction import extraction
from pipelines.patents.reports_step import reports_step
from pipelines.patents.steps import calendar_step, scores_step
from pipelines.patents.store import load_step

PIPELINE = Pipeline(
    name="patent_ip",
    description="FDA Orange Book patent-cliff calendar, generic competition, LOE opportunity scores, "
                "release diff alerts, CSV/iCalendar/HTML reports",
    steps=(
        # The ZIP is ~10 MB; FDA can be slow, and the HTTP client retries within the step.
        Step("extraction", extraction, io=True, soft_time_limit=600, time_limit=660),
        Step("enrichment", enrichment, io=True, soft_time_limit=600, time_limit=660),
        Step("calendar", calendar_step, soft_time_limit=300, time_limit=360),
        Step("scores", scores_step, soft_time_limit=300, time_limit=360),
        Step("load", load_step, soft_time_limit=900, time_limit=960),
        Step("alert", (alert_step, reports_step), io=True, soft_time_limit=300, time_limit=360),
    ),
    calendar=WeeklyAt(0, time(8, 0), tz="America/New_York"),
    retry=RetryPolicy(max_retries=4, backoff_base=60.0, backoff_max=1800.0),
    default_lookback_seconds=7 * 86400,
    group="patent_ip",
)
