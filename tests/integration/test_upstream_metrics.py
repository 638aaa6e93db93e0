"""HttpClient's on_event hook wired to the upstream metrics, against a local HTTP server."""
from __future__ import annotations

import uuid

import pytest
from prometheus_client import REGISTRY

from pipelines.core import metrics
from pipelines.core.errors import TransientError
from pipelines.core.http import HttpClient, HttpError
from pipelines.core.ratelimit import LocalRateLimiter
from tests.support.http_server import Answer, LocalHttpServer, Request


class _Upstream(LocalHttpServer):
    """/ok, /limited (429 with Retry-After: 0 the first time, then 200), /broken (500), 404 elsewhere."""

    def __init__(self) -> None:
        self.limited_once = False
        super().__init__(self.answer)

    def answer(self, request: Request) -> Answer:
        if request.path == "/limited" and not self.limited_once:
            self.limited_once = True
            return 429, b"{}", None, {"Retry-After": "0"}
        if request.path in ("/ok", "/limited"):
            return 200, b"{}", None
        return (500 if request.path == "/broken" else 404), b"{}", None


@pytest.fixture
def upstream():
    with _Upstream() as server:
        yield server


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_requests_errors_and_waits_are_counted_per_source(upstream):
    source = f"test_{uuid.uuid4().hex[:8]}"
    client = HttpClient(upstream.url, user_agent="signals-test", source=source, on_event=metrics.upstream_event,
                        limiter=LocalRateLimiter(5.0), max_attempts=2, backoff_base=0.01, backoff_max=0.02)
    client.get("/ok")
    client.get("/limited")  # 429 with Retry-After: 0, then 200
    with pytest.raises(TransientError):
        client.get("/broken")  # 500 twice: a retry, then the error
    with pytest.raises(HttpError):
        client.get("/missing")
    client.close()

    assert upstream.paths() == ["/ok", "/limited", "/limited", "/broken", "/broken", "/missing"]
    outcomes = {o: _value("upstream_requests_total", source=source, outcome=o) for o in metrics.UPSTREAM_OUTCOMES}
    assert outcomes == {"ok": 2, "not_modified": 0, "rate_limited": 1, "retry": 1, "error": 2}
    assert _value("upstream_errors_total", source=source) == 4
    assert _value("upstream_rate_limit_wait_seconds_count", source=source) == len(upstream.requests)
    # Five requests per one-second window: the sixth waited for the window (backoff alone is < 0.05 s).
    assert _value("upstream_rate_limit_wait_seconds_sum", source=source) > 0.5


def test_unknown_outcome_and_source_stay_bounded():
    metrics.upstream_event("", "teapot", -1.0)
    assert _value("upstream_requests_total", source="unknown", outcome="error") >= 1
    assert REGISTRY.get_sample_value("upstream_requests_total", {"source": "unknown", "outcome": "teapot"}) is None
