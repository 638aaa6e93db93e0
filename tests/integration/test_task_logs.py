"""A real worker with LOG_JSON=true: every line a step task logs carries pipeline, run id and step."""
from __future__ import annotations

import json

import pytest
from celery import Celery
from sqlalchemy import select

from pipelines.core.db import session_factory
from pipelines.core.ledger import PipelineRun
from tests.support.services import BROKER_DB, redis_url, wait_for

pytestmark = pytest.mark.integration


def _run(url: str) -> PipelineRun | None:
    with session_factory(url)() as s:
        return s.scalars(select(PipelineRun).where(PipelineRun.state.in_(("success", "failed")))).first()


def test_step_task_lines_carry_pipeline_run_id_and_step(stack_factory, clean_db):
    stack = stack_factory(PIPELINE_MODULES="tests.support.observed_pipeline", LOG_JSON="true")
    worker = stack.worker("w1", ["pipeline.observed"], concurrency=1)
    Celery(broker=redis_url(BROKER_DB)).send_task("pipelines.observed.dispatch", queue="pipeline.observed",
                                                  kwargs={"trigger": "manual"})
    run = wait_for(lambda: _run(clean_db), 30, "the run to finish")
    assert run.state == "success"
    wait_for(lambda: "pipelines.observed.score[" in worker.text() and "succeeded" in worker.text(), 10,
             "the score task's last line")
    lines = [json.loads(line) for line in worker.text().splitlines() if line.startswith("{")]

    steps = [line for line in lines if line["logger"] == "tests.observed"]
    # The two fetch functions log from the executor's threads; score from the task's own thread.
    assert sorted(line["message"] for line in steps) == ["left source fetched", "right source fetched", "scoring"]
    for line in steps:
        expected_step = "score" if line["message"] == "scoring" else "fetch"
        assert (line["pipeline"], line["run_id"], line["step"]) == ("observed", run.id, expected_step), line

    finished = [line for line in lines if line["logger"] == "celery.app.trace"
                and line["message"].startswith(("Task pipelines.observed.fetch[", "Task pipelines.observed.score["))]
    assert len(finished) == 2
    for line in finished:
        step = line["message"].split("[")[0].rsplit(".", 1)[1]
        assert (line["pipeline"], line["run_id"], line["step"]) == ("observed", run.id, step), line
