"""Flower as `signals up` runs it: basic auth on the UI and API, /metrics open for Prometheus."""
from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.services import free_port, wait_for

pytestmark = pytest.mark.integration

# Flower's metric names as documented in docs/prometheus-integration.rst (flower/events.py).
FLOWER_DOCUMENTED = {"flower_events_total": "counter", "flower_task_runtime_seconds": "histogram",
                     "flower_task_prefetch_time_seconds": "gauge", "flower_worker_prefetched_tasks": "gauge",
                     "flower_worker_online": "gauge", "flower_worker_number_of_currently_executing_tasks": "gauge"}
AUTH = ("ops", "flower-test-Pa55")


def _status(url: str, auth=None) -> int:
    return requests.get(url, auth=auth, timeout=20).status_code


def test_flower_requires_auth_except_metrics_and_sees_workers(stack_factory):
    stack = stack_factory(FLOWER_BASIC_AUTH=":".join(AUTH))
    stack.worker("w1", ["pipeline.demo"])
    port = free_port()
    stack._start("flower", ["flower", f"--port={port}", "--address=127.0.0.1"], ready=None)
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return _status(base + "/healthcheck") == 200
        except requests.ConnectionError:
            return False

    wait_for(answers, 60, "Flower to answer")
    for path in ("/", "/api/workers"):
        assert _status(base + path) == 401
        assert _status(base + path, auth=(AUTH[0], "wrong")) == 401
        assert _status(base + path, auth=AUTH) == 200
    workers = requests.get(base + "/api/workers?refresh=1", auth=AUTH, timeout=20).json()
    assert any(name.startswith("w1@") for name in workers)

    metrics = requests.get(base + "/metrics", timeout=20)  # no credentials: scraped as Prometheus would
    assert metrics.status_code == 200
    types = {f.name: f.type for f in text_string_to_metric_families(metrics.text)}
    for name, kind in FLOWER_DOCUMENTED.items():
        assert types.get(name.removesuffix("_total")) == kind, name
