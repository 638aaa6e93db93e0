"""A test-only pipeline for the observability tests: it logs from its steps and can fail on purpose.

`fetch` runs two functions side by side (threads), each logging a line, so tests can check that
lines from a step's own threads carry pipeline, run id and step. With OBSERVED_RAISE=1 the `score`
step fails with an unexpected error whose message and locals hold secret settings, as a careless
step might; tests check that Sentry receives the error and none of the secrets.
"""
from __future__ import annotations

import logging
import os

from pipelines.core.model import NO_RETRY, Pipeline, Step, StepContext, StepResult

log = logging.getLogger("tests.observed")


def fetch_left(ctx: StepContext) -> StepResult:
    log.info("left source fetched")
    return StepResult(counts={"left": 1})


def fetch_right(ctx: StepContext) -> StepResult:
    log.info("right source fetched")
    return StepResult(counts={"right": 1})


def score(ctx: StepContext) -> StepResult:
    log.info("scoring")
    if os.environ.get("OBSERVED_RAISE") == "1":
        webhook = ctx.settings.SLACK_WEBHOOK_URL
        token = ctx.settings.TWILIO_AUTH_TOKEN
        headers = {"Authorization": f"Bearer {token}", "X-Api-Key": ctx.settings.USPTO_API_KEY}
        database = ctx.settings.DATABASE_URL
        raise RuntimeError(f"observed failure posting to {webhook} (token {token}, smtp password "
                           f"{ctx.settings.SMTP_PASSWORD}, headers {headers}, database {database})")
    return StepResult(counts={"scored": 1})


PIPELINE = Pipeline(
    name="observed",
    description="test pipeline for logs and error reporting",
    steps=(Step("fetch", (fetch_left, fetch_right), io=True, soft_time_limit=30, time_limit=35),
           Step("score", score, soft_time_limit=30, time_limit=35)),
    calendar=None,
    retry=NO_RETRY,
    default_lookback_seconds=600,
    group="observability_tests",
)
