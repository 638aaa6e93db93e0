"""`signals exporter`: the metrics and health service (see observability/)."""
from __future__ import annotations

import argparse
import os

from .common import console, context


def add_commands(sub: argparse._SubParsersAction) -> None:
    ex = sub.add_parser("exporter", help="serve /metrics, /health, /health/<pipeline>, /ready and /live")
    ex.add_argument("--port", type=int, help="port (default EXPORTER_PORT, 9091)")
    ex.add_argument("--host", default="0.0.0.0",
                    help="address to bind (all interfaces, as containers need; `signals up` binds 127.0.0.1)")
    ex.add_argument("--backlog-max", type=int, default=100,
                    help="messages waiting in one queue before its backlog check fails")
    ex.add_argument("--outbox-max-age", type=float, default=900.0,
                    help="seconds the oldest undelivered alert may wait before the outbox check fails")
    ex.add_argument("--freshness-grace", type=float,
                    help="seconds after a fire time by which its run must have succeeded "
                         "(default: from each pipeline's time limits and the catch-up settings)")
    ex.add_argument("--no-cluster-metrics", action="store_true",
                    help="serve only this host's worker metrics files (a sidecar next to workers on "
                         "another host); the database and Redis gauges come from one other exporter")
    ex.set_defaults(func=_exporter)


def _exporter(args: argparse.Namespace) -> int:
    # The worker app declares every metric the workers write; importing it lets /metrics describe
    # them before a worker first writes one.
    import workers.app  # noqa: F401
    from observability.probe import HealthConfig
    from observability.server import ExporterOptions, make_server

    settings, registry = context()
    options = ExporterOptions(
        host=args.host, port=args.port or settings.EXPORTER_PORT,
        health=HealthConfig(backlog_max=args.backlog_max, outbox_max_age_seconds=args.outbox_max_age,
                            freshness_grace_seconds=args.freshness_grace),
        multiproc_dir=settings.PROMETHEUS_MULTIPROC_DIR or os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None,
        cluster_metrics=not args.no_cluster_metrics)
    if options.multiproc_dir:
        os.makedirs(options.multiproc_dir, exist_ok=True)
    server = make_server(settings, registry, options)
    console.print(f"exporter: {server.url}/metrics, /health, /ready, /live")
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
