"""HttpClient's on_event hook wired to the upstream metrics, against a local HTTP server."""
from __future__ import annotations

import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from prometheus_client import REGISTRY

from pipelines.core import metrics
from pipelines.core.errors import TransientError
from pipelines.core.http import HttpClient, HttpError
from pipelines.core.ratelimit import LocalRateLimiter


class _Upstream(BaseHTTPRequestHandler):
    seen: ClassVar[list[str]] = []
    limited_once: ClassVar[bool] = False

    def do_GET(self) -> None:
        type(self).seen.append(self.path)
        if self.path == "/limited" and not type(self).limited_once:
            type(self).limited_once = True
            self._reply(429, {"Retry-After": "0"})
        elif self.path in ("/ok", "/limited"):
            self._reply(200)
        elif self.path == "/broken":
            self._reply(500)
        else:
            self._reply(404)

    def _reply(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def upstream():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    _Upstream.seen, _Upstream.limited_once = [], False
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_requests_errors_and_waits_are_counted_per_source(upstream):
    source = f"test_{uuid.uuid4().hex[:8]}"
    client = HttpClient(upstream, user_agent="signals-test", source=source, on_event=metrics.upstream_event,
                        limiter=LocalRateLimiter(5.0), max_attempts=2, backoff_base=0.01, backoff_max=0.02)
    client.get("/ok")
    client.get("/limited")  # 429 with Retry-After: 0, then 200
    with pytest.raises(TransientError):
        client.get("/broken")  # 500 twice: a retry, then the error
    with pytest.raises(HttpError):
        client.get("/missing")
    client.close()

    assert _Upstream.seen == ["/ok", "/limited", "/limited", "/broken", "/broken", "/missing"]
    outcomes = {o: _value("upstream_requests_total", source=source, outcome=o) for o in metrics.UPSTREAM_OUTCOMES}
    assert outcomes == {"ok": 2, "not_modified": 0, "rate_limited": 1, "retry": 1, "error": 2}
    assert _value("upstream_errors_total", source=source) == 4
    assert _value("upstream_rate_limit_wait_seconds_count", source=source) == len(_Upstream.seen)
    # Five requests per one-second window: the sixth waited for the window (backoff alone is < 0.05 s).
    assert _value("upstream_rate_limit_wait_seconds_sum", source=source) > 0.5


def test_unknown_outcome_and_source_stay_bounded():
    metrics.upstream_event("", "teapot", -1.0)
    assert _value("upstream_requests_total", source="unknown", outcome="error") >= 1
    assert REGISTRY.get_sample_value("upstream_requests_total", {"source": "unknown", "outcome": "teapot"}) is None
