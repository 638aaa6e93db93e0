"""The exporter's HTTP service (`signals exporter`): /metrics, /health, /health/<name>, /ready, /live.

Standard library only (ThreadingHTTPServer): a slow check on one request never blocks a probe on
another, and the service has nothing to configure beyond its address.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from pipelines.core.registry import Registry
from pipelines.core.settings import Settings

from .collector import metrics_registry
from .health import HealthReport, named_scope, overall_scope, readiness, run_checks, scope_names
from .probe import HealthConfig, Probe

log = logging.getLogger("signals.exporter")


@dataclass(frozen=True)
class ExporterOptions:
    host: str = "127.0.0.1"
    port: int = 9091
    health: HealthConfig = field(default_factory=HealthConfig)
    multiproc_dir: str | None = None
    cluster_metrics: bool = True  # False: a per-host sidecar serving only its workers' metrics files


class ExporterServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, settings: Settings, registry: Registry, options: ExporterOptions,
                 declared: CollectorRegistry = REGISTRY) -> None:
        self.settings = settings
        self.registry = registry
        self.probe = Probe(settings, options.health)
        self.metrics = metrics_registry(self.probe if options.cluster_metrics else None, registry,
                                        options.multiproc_dir, declared)
        super().__init__((options.host, options.port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{port}"

    def server_close(self) -> None:
        super().server_close()
        self.probe.close()


class _Handler(BaseHTTPRequestHandler):
    server: ExporterServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # the http.server API names it
        path = unquote(urlsplit(self.path).path).rstrip("/") or "/"
        try:
            if path == "/metrics":
                self._send(200, generate_latest(self.server.metrics), CONTENT_TYPE_LATEST)
            elif path == "/live":
                self._json(200, {"status": "alive"})
            elif path == "/ready":
                self._report(readiness(self.server.probe))
            elif path == "/health":
                self._report(run_checks(self.server.probe, overall_scope(self.server.registry)))
            elif path.startswith("/health/"):
                scope = named_scope(self.server.registry, self.server.settings, path[len("/health/"):])
                if scope is None:
                    self._json(404, {"error": f"no pipeline or group {path[len('/health/'):]!r}",
                                     "known": scope_names(self.server.registry)})
                else:
                    self._report(run_checks(self.server.probe, scope))
            elif path == "/":
                self._json(200, {"endpoints": ["/metrics", "/health", "/ready", "/live"] +
                                 [f"/health/{n}" for n in scope_names(self.server.registry)]})
            else:
                self._json(404, {"error": f"no such endpoint {path!r}"})
        except Exception:  # one failed request must not take the service down
            log.exception("exporter request %s failed", path)
            self._json(500, {"error": "internal error; see the exporter log"})

    def _report(self, report: HealthReport) -> None:
        self._json(200 if report.healthy else 503, report.to_json())

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body, indent=1, default=str).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # the http.server signature
        log.debug("%s %s", self.address_string(), format % args)


def make_server(settings: Settings, registry: Registry, options: ExporterOptions,
                declared: CollectorRegistry = REGISTRY) -> ExporterServer:
    """A bound server (port 0 picks a free one); call serve_forever(), then shutdown()/server_close()."""
    return ExporterServer(settings, registry, options, declared)
