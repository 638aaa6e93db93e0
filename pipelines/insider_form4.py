"""insider_form4: every SEC Form 4 and 4/A, once, parsed, scored and alerted (issue 4).

fetch   poll the current-filings feed (and, first thing each morning, yesterday's daily index);
        claim new accessions; store feed pages, indexes, folder listings and XML as artifacts
detect  parse each XML, attribute trades by the issuer CIK in the document, apply 4/As,
        quarantine bad documents
score   insider signals (clusters, routine vs opportunistic, roles, dollars, freshness, ownership
        change, 10b5-1), real-time for significant buying, held when amended or inconsistent
alert   the outbox handoff to delivery

Backfill (`signals backfill insider_form4 --start D1 --end D2`) reads the daily index of each day.
"""
from pipelines.core.alerting import alert_step
from pipelines.core.model import Pipeline, RetryPolicy, Step
from pipelines.form4.detect import detect
from pipelines.form4.discovery import form4_calendar
from pipelines.form4.fetch import fetch
from pipelines.form4.score import score

PIPELINE = Pipeline(
    name="insider_form4",
    description="SEC Form 4 insider trades: feed polling, daily-index reconcile, parsing, insider scoring",
    steps=(
        Step("fetch", fetch, io=True, soft_time_limit=900, time_limit=960),
        Step("detect", detect, soft_time_limit=300, time_limit=360),
        Step("score", score, soft_time_limit=300, time_limit=360),
        Step("alert", alert_step, io=True, soft_time_limit=60, time_limit=90),
    ),
    calendar=form4_calendar,
    retry=RetryPolicy(max_retries=5, backoff_base=5.0, backoff_max=300.0),
    default_lookback_seconds=3600,
    group="insider_hiring",
)
