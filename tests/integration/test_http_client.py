"""The shared HttpClient against a real local HTTP server: headers, gzip, retries, errors, 304."""
from __future__ import annotations

import gzip
import logging
import socket
import time
from dataclasses import dataclass, field
from typing import Iterator

import pytest

from pipelines.core.errors import TransientError
from pipelines.core.http import HttpClient, HttpError
from pipelines.core.ratelimit import LocalRateLimiter
from tests.conftest import shared_fixture
from tests.support.http_server import Answer, LocalHttpServer, Request

UA = "Signals Test Suite ops@signals.example"


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    gzip: bool = False
    delay: float = 0.0


class Server(LocalHttpServer):
    """Replies from a per-path script (the last reply repeats) and records every request."""

    def __init__(self) -> None:
        self.script: dict[str, list[Reply]] = {}
        super().__init__(self.answer)

    def answer(self, request: Request) -> Answer:
        queue = self.script.get(request.path) or [Reply(404, b"no such path")]
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        if reply.delay:
            time.sleep(reply.delay)
        body = reply.body
        headers = dict(reply.headers)
        if reply.gzip:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        return reply.status, body, None, headers


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as srv:
        yield srv


def client_for(server: Server, **kw: object) -> HttpClient:
    options: dict[str, object] = {"user_agent": UA, "timeout": 5.0, "backoff_base": 0.01, "source": "test"}
    options.update(kw)
    return HttpClient(server.url, **options)  # type: ignore[arg-type]


def test_headers_params_and_gzip_body(server: Server) -> None:
    fixture = shared_fixture("edgar_index", "submissions_CIK0000789019_msft_2022_trimmed.json")
    raw = fixture.read_bytes()
    server.script["/submissions/CIK0000789019.json"] = [
        Reply(200, raw, {"Content-Type": "application/json"}, gzip=True)]
    with client_for(server) as client:
        response = client.get("/submissions/CIK0000789019.json", params={"a": "1", "b": ""},
                              headers={"Accept": "application/json"})
    assert response.status == 200
    assert response.content == raw  # gzip was undone by the client
    assert response.headers["content-encoding"] == "gzip"
    assert response.not_modified is False
    data = response.json()
    assert data["cik"] == "789019"
    assert data["name"] == "MICROSOFT CORP"
    (seen,) = server.requests
    assert seen.path == "/submissions/CIK0000789019.json"
    assert seen.query == {"a": ["1"], "b": [""]}
    assert seen.headers["User-Agent"] == UA
    assert seen.headers["Accept-Encoding"] == "gzip, deflate"
    assert seen.headers["Accept"] == "application/json"
    assert "If-None-Match" not in seen.headers


def test_text_uses_the_declared_charset(server: Server) -> None:
    server.script["/latin"] = [Reply(200, "Société Générale".encode("iso-8859-1"),
                                     {"Content-Type": "text/plain; charset=ISO-8859-1"})]
    with client_for(server) as client:
        assert client.get("/latin").text == "Société Générale"


def test_absolute_url_bypasses_the_base(server: Server) -> None:
    server.script["/elsewhere"] = [Reply(200, b"x")]
    with HttpClient("http://127.0.0.1:9/unused", user_agent=UA) as client:
        assert client.get(server.url + "/elsewhere").content == b"x"
    assert [s.path for s in server.requests] == ["/elsewhere"]


def test_429_with_retry_after_then_success(server: Server) -> None:
    events: list[tuple[str, str, float]] = []
    server.script["/busy"] = [Reply(429, b"slow down", {"Retry-After": "1"}), Reply(200, b"done")]
    with client_for(server, on_event=lambda *e: events.append(e)) as client:
        response = client.get("/busy")
    assert response.content == b"done"
    first, second = server.requests
    assert second.at - first.at >= 1.0
    assert [(src, outcome) for src, outcome, _ in events] == [("test", "rate_limited"), ("test", "ok")]
    assert events[1][2] >= 1.0  # the wait before the successful request is reported


def test_retry_after_beyond_the_cap_is_handed_back(server: Server) -> None:
    server.script["/busy"] = [Reply(503, b"", {"Retry-After": "120"}), Reply(200, b"too late")]
    started = time.monotonic()
    with client_for(server, max_retry_after=5.0) as client, pytest.raises(TransientError) as err:
        client.get("/busy")
    assert time.monotonic() - started < 2.0
    assert err.value.retry_after == 120.0
    assert len(server.requests) == 1


def test_500_three_times_raises_transient(server: Server) -> None:
    events: list[tuple[str, str, float]] = []
    server.script["/broken"] = [Reply(500, b"oops")]
    with client_for(server, on_event=lambda *e: events.append(e)) as client, \
            pytest.raises(TransientError) as err:
        client.get("/broken")
    assert len(server.requests) == 3
    assert err.value.retry_after is None
    assert "HTTP 500" in str(err.value)
    assert [outcome for _, outcome, _ in events] == ["retry", "retry", "error"]


def test_502_then_success_is_retried(server: Server) -> None:
    server.script["/flaky"] = [Reply(502), Reply(200, b"ok now")]
    with client_for(server) as client:
        assert client.get("/flaky").content == b"ok now"
    assert len(server.requests) == 2


def test_404_is_permanent_and_not_retried(server: Server) -> None:
    events: list[tuple[str, str, float]] = []
    with client_for(server, on_event=lambda *e: events.append(e)) as client, \
            pytest.raises(HttpError) as err:
        client.get("/missing.idx")
    assert err.value.status == 404
    assert err.value.url == server.url + "/missing.idx"
    assert len(server.requests) == 1
    assert [outcome for _, outcome, _ in events] == ["error"]


def test_304_with_etag_is_not_modified(server: Server) -> None:
    server.script["/tickers"] = [Reply(304, b"", {"ETag": '"abc"'})]
    with client_for(server) as client:
        response = client.get("/tickers", etag='"abc"', last_modified="Mon, 12 Jan 2026 15:00:00 GMT")
    assert response.not_modified is True
    assert response.status == 304
    assert response.content == b""
    (seen,) = server.requests
    assert seen.headers["If-None-Match"] == '"abc"'
    assert seen.headers["If-Modified-Since"] == "Mon, 12 Jan 2026 15:00:00 GMT"


def test_timeout_is_retried(server: Server) -> None:
    server.script["/slow"] = [Reply(200, b"late", delay=1.0), Reply(200, b"quick")]
    with client_for(server, timeout=0.3) as client:
        assert client.get("/slow").content == b"quick"
    assert len(server.requests) == 2


def test_connection_refused_ends_in_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with HttpClient(f"http://127.0.0.1:{port}", user_agent=UA, max_attempts=2, backoff_base=0.01) as client, \
            pytest.raises(TransientError) as err:
        client.get("/x")
    assert "ConnectionError" in str(err.value)


def test_secrets_stay_out_of_errors_and_logs(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    server.script["/api"] = [Reply(500), Reply(403)]
    caplog.set_level(logging.DEBUG)
    with client_for(server) as client, pytest.raises(HttpError) as err:
        client.get("/api", params={"api_key": "SEKRET-123", "q": "x"},
                   headers={"Authorization": "Bearer TOPSECRET"})
    assert server.requests[0].query["api_key"] == ["SEKRET-123"]  # it was really sent
    assert server.requests[0].headers["Authorization"] == "Bearer TOPSECRET"
    shown = str(err.value) + err.value.url + caplog.text
    assert "SEKRET" not in shown and "TOPSECRET" not in shown
    assert "/api" in caplog.text  # the retry was logged, only without the secret


def test_limiter_is_asked_before_every_attempt(server: Server) -> None:
    asked: list[str] = []

    class Recording(LocalRateLimiter):
        def acquire(self, key: str) -> float:
            asked.append(key)
            return super().acquire(key)

    server.script["/flaky"] = [Reply(503), Reply(200, b"ok")]
    with client_for(server, limiter=Recording(100.0), limiter_key="upstream") as client:
        client.get("/flaky")
    assert asked == ["upstream", "upstream"]
