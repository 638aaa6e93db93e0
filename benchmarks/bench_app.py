"""The product Celery app plus four raw no-op tasks on the benchmark queue (the baseline chain)."""
from __future__ import annotations

import time

import redis

from workers.app import app, settings

_redis = redis.Redis.from_url(settings.CELERY_RESULT_BACKEND)


@app.task(name="rawbench.noop", shared=False)
def noop(*_args: object) -> int:
    return 1


@app.task(name="rawbench.done", shared=False)
def done(*_args: object, key: str = "") -> None:
    _redis.rpush(key, repr(time.time()))  # the moment the fourth task ran, for the latency


app.conf.task_routes = {**app.conf.task_routes, "rawbench.*": {"queue": "pipeline.bench"}}
