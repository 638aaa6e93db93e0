"""JSON log lines carry pipeline, run id and step, also from the threads a step starts."""
from __future__ import annotations

import io
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from pipelines.core.logs import ContextFilter, JsonFormatter, log_context, set_log_context


@pytest.fixture
def captured():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.json_logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)
    set_log_context()


def test_task_context_is_on_every_line_including_the_steps_threads(captured):
    logger, lines = captured
    set_log_context(pipeline="form4", run_id=41, step="fetch")
    logger.info("in the task")
    with ThreadPoolExecutor(max_workers=2) as pool:  # how the executor runs parallel sources
        list(pool.map(lambda source: logger.info("fetched %s", source), ["a", "b"]))
    set_log_context()
    logger.info("between tasks")
    got = lines()
    for line in got[:3]:
        assert (line["pipeline"], line["run_id"], line["step"]) == ("form4", 41, "fetch")
    assert sorted(line["message"] for line in got[1:3]) == ["fetched a", "fetched b"]
    assert "pipeline" not in got[3] and "run_id" not in got[3]


def test_a_thread_is_not_given_a_guessed_context_when_two_tasks_run_at_once(captured):
    logger, lines = captured
    started, release = threading.Barrier(3), threading.Event()

    def task(run_id: int) -> None:  # two tasks in one process, as with a threads pool
        set_log_context(pipeline="ctgov", run_id=run_id, step="detect")
        started.wait()
        release.wait()
        set_log_context()

    tasks = [threading.Thread(target=task, args=(n,)) for n in (1, 2)]
    for t in tasks:
        t.start()
    started.wait()
    helper = threading.Thread(target=lambda: logger.info("whose am I"))
    helper.start()
    helper.join()
    release.set()
    for t in tasks:
        t.join()
    (line,) = lines()
    assert "run_id" not in line and "pipeline" not in line


def test_log_context_nests_and_restores(captured):
    logger, lines = captured
    with log_context(pipeline="orange_book", run_id=7):
        with log_context(step="score"):
            logger.info("inner")
        logger.info("outer")
    logger.info("after")
    inner, outer, after = lines()
    assert (inner["pipeline"], inner["run_id"], inner["step"]) == ("orange_book", 7, "score")
    assert (outer["pipeline"], outer["run_id"]) == ("orange_book", 7) and "step" not in outer
    assert "pipeline" not in after
