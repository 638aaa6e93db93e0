"""Manual master trigger: Form 4, 13F and hiring runs together, reported as one outcome.

`signals run insider_hiring_master` (through a worker) or `--local` (in this process). The run fails,
naming the child, when any child run fails.
"""
from __future__ import annotations

from pipelines.core.model import Pipeline, RetryPolicy, Step
from pipelines.master.steps import POLL_SECONDS, collect_children, trigger_children

CHILDREN = ("insider_form4", "institutional_13f", "hiring")
# `collect` waits by retrying every POLL_SECONDS, backing off to BACKOFF_MAX; the retries must outlast
# the slowest child's whole time budget (institutional_13f: about 3 h with its own retries).
CHILDREN_BUDGET_SECONDS = 4 * 3600
BACKOFF_MAX = 60.0
RETRIES = CHILDREN_BUDGET_SECONDS // int(BACKOFF_MAX) + 4

PIPELINE = Pipeline(
    name="insider_hiring_master",
    description="runs insider_form4, institutional_13f and hiring together and reports their outcome as one",
    steps=(
        Step("trigger", trigger_children(CHILDREN), io=True, soft_time_limit=120, time_limit=150),
        Step("collect", collect_children(CHILDREN), io=True, soft_time_limit=60, time_limit=90),
    ),
    calendar=None,
    retry=RetryPolicy(max_retries=RETRIES, backoff_base=float(POLL_SECONDS), backoff_max=BACKOFF_MAX, jitter=False),
    default_lookback_seconds=86400,
    group="insider_hiring",
    children=CHILDREN,
)
