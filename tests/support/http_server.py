"""A local HTTP server for tests and benchmarks: stands in for an upstream (SEC, ClinicalTrials.gov,
FDA) or a sink (Slack webhook, Twilio, Sentry) on 127.0.0.1, answering through a routing callable
and recording every request so a test can check what was asked.

    with LocalHttpServer(lambda request: (200, payload, "application/json")) as server:
        client.get(server.url + "/anything")
    assert server.paths() == ["/anything"]

A stand-in with state of its own subclasses it, sets that state first (requests are served from
the moment the server exists) and passes a bound method as the route.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qs, parse_qsl, urlsplit

from requests.structures import CaseInsensitiveDict

# (status, body, Content-Type or None for no such header[, more headers]); Content-Length is added.
Answer = tuple[int, bytes, str | None] | tuple[int, bytes, str | None, Mapping[str, str]]
NOT_FOUND: Answer = (404, b"Not Found", "text/plain")


@dataclass(eq=False)
class Request:
    """One request as it arrived. Recorded before the route runs, so a route that holds a request
    open (a send in progress) still shows it; `status` is set once the route has answered."""

    method: str
    path: str
    query_string: str
    headers: Mapping[str, str]  # looked up regardless of case, as HTTP header names are
    body: bytes
    at: float  # time.monotonic() on arrival
    status: int | None = None

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.query_string, keep_blank_values=True)

    @property
    def query_pairs(self) -> list[tuple[str, str]]:
        """The parameters in the order sent."""
        return parse_qsl(self.query_string, keep_blank_values=True)


Route = Callable[[Request], Answer]


class LocalHttpServer:
    """ThreadingHTTPServer on 127.0.0.1:<free port> serving GET and POST through `route`."""

    def __init__(self, route: Route) -> None:
        self._route = route
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self._httpd = _Server(self)
        self.port: int = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        # A short poll interval: close() waits up to one interval, and tests start many servers.
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def requests(self) -> list[Request]:
        """Every request so far, oldest first (a copy: handler threads may still be appending)."""
        with self._lock:
            return list(self._requests)

    def paths(self, method: str | None = None) -> list[str]:
        return [r.path for r in self.requests if method is None or r.method == method]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        request = Request(handler.command, parts.path, parts.query, CaseInsensitiveDict(handler.headers.items()),
                          handler.rfile.read(length) if length else b"", time.monotonic())
        with self._lock:
            self._requests.append(request)
        answer = self._route(request)
        status, body, content_type = answer[0], answer[1], answer[2]
        headers: Mapping[str, str] = answer[3] if len(answer) == 4 else {}
        request.status = status
        try:
            handler.send_response(status)
            if content_type is not None:
                handler.send_header("Content-Type", content_type)
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except OSError:
            pass  # the client gave up first: a timeout test, or a worker killed mid-request


class PathTable:
    """A route serving fixed answers by path and `missing` elsewhere, for stand-ins that are only that."""

    def __init__(self, missing: Answer = NOT_FOUND) -> None:
        self.answers: dict[str, Answer] = {}
        self.missing = missing

    def put(self, path: str, body: bytes, content_type: str | None = None, status: int = 200) -> None:
        self.answers[path] = (status, body, content_type)

    def __call__(self, request: Request) -> Answer:
        return self.answers.get(request.path, self.missing)


class _Server(ThreadingHTTPServer):
    # Handler threads never block shutdown: a route may be holding a request a test never releases.
    daemon_threads = True

    def __init__(self, owner: LocalHttpServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.owner = owner


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self.server.owner._serve(self)

    def do_POST(self) -> None:
        self.server.owner._serve(self)

    def log_message(self, *args: object) -> None:
        pass  # one stderr line per request would bury pytest's output
