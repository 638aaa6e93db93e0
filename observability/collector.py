"""What /metrics serves: the workers' counters and the gauges computed at scrape time.

Worker metrics: prefork children each write their own files under PROMETHEUS_MULTIPROC_DIR and
`MultiProcessCollector` adds them up (client_python multiprocess docs). Every metric the workers
declare is also described (HELP and TYPE, no sample) until a worker first writes it, so Prometheus
and the dashboards know each name from the first scrape.

Cluster gauges: queue lengths, workers per queue, run lag, the alert outbox and the health checks,
read from PostgreSQL and Redis on each scrape. Every exporter replica reports the same values, so
dashboards and rules aggregate them with max, never sum.
"""
from __future__ import annotations

from typing import Iterable

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from pipelines.core.registry import Registry

from .health import HealthReport, overall_scope, run_checks
from .probe import Probe

_EXPORTER_OWN = ("process_", "python_")  # the exporter process's own platform metrics, not the workers'


class WorkerMetrics(Collector):
    def __init__(self, multiproc_dir: str | None, declared: CollectorRegistry = REGISTRY) -> None:
        self.multiproc_dir = multiproc_dir
        self.declared = declared

    def collect(self) -> Iterable[Metric]:
        seen: set[str] = set()
        if self.multiproc_dir:
            for family in MultiProcessCollector(None, self.multiproc_dir).collect():
                seen.add(family.name)
                yield family
        for family in self.declared.collect():
            if family.name in seen or family.name.startswith(_EXPORTER_OWN):
                continue
            seen.add(family.name)
            yield Metric(family.name, family.documentation, family.type, family.unit)


def report_metrics(report: HealthReport) -> list[Metric]:
    """The gauges of one overall health report."""
    status = GaugeMetricFamily("health_check_status", "1 when the health check passes, 0 when it fails",
                               labels=["check"])
    duration = GaugeMetricFamily("health_check_duration_seconds", "Time the health check took", labels=["check"])
    queue_length = GaugeMetricFamily("queue_length", "Messages waiting in the broker queue (LLEN)",
                                     labels=["queue"])
    workers = GaugeMetricFamily("workers_alive", "Workers with a live heartbeat consuming the queue",
                                labels=["queue"])
    lag = GaugeMetricFamily("pipeline_run_lag_seconds",
                            "Now minus the data interval end of the latest successful run", labels=["pipeline"])
    allowed = GaugeMetricFamily("pipeline_run_lag_allowed_seconds",
                                "The largest run lag still on schedule, from the pipeline's calendar",
                                labels=["pipeline"])
    pending = GaugeMetricFamily("alerts_pending", "Alerts in the outbox not yet delivered", labels=["channel"])
    oldest = GaugeMetricFamily("alerts_pending_oldest_seconds", "Age of the oldest undelivered alert (0: none)")
    beat_held = GaugeMetricFamily("beat_lock_held", "1 when a beat holds the RedBeat lock")
    beat_tick = GaugeMetricFamily("beat_last_tick_age_seconds", "Seconds since the active beat last ticked")
    for check in report.checks:
        status.add_metric([check.name], 1.0 if check.healthy else 0.0)
        duration.add_metric([check.name], check.duration_seconds)
        data = check.data
        if "length" in data:
            queue_length.add_metric([data["queue"]], float(data["length"]))
        if "workers" in data:
            workers.add_metric([data["queue"]], float(data["workers"]))
        if data.get("lag_seconds") is not None:
            lag.add_metric([data["pipeline"]], float(data["lag_seconds"]))
        if data.get("allowed_seconds") is not None:
            allowed.add_metric([data["pipeline"]], float(data["allowed_seconds"]))
        if "pending_by_channel" in data:
            for channel, count in sorted(data["pending_by_channel"].items()):
                pending.add_metric([channel], float(count))
            oldest.add_metric([], float(data["oldest_pending_seconds"]))
        if "lock_held" in data:
            beat_held.add_metric([], 1.0 if data["lock_held"] else 0.0)
            if "last_tick_seconds_ago" in data:
                beat_tick.add_metric([], float(data["last_tick_seconds_ago"]))
    return [status, duration, queue_length, workers, lag, allowed, pending, oldest, beat_held, beat_tick]


class ClusterMetrics(Collector):
    def __init__(self, probe: Probe, registry: Registry) -> None:
        self.probe = probe
        self.registry = registry

    def collect(self) -> Iterable[Metric]:
        yield from report_metrics(run_checks(self.probe, overall_scope(self.registry)))


def metrics_registry(probe: Probe | None, registry: Registry, multiproc_dir: str | None,
                     declared: CollectorRegistry = REGISTRY) -> CollectorRegistry:
    """The exporter's own registry (never the global one); no cluster gauges when probe is None."""
    out = CollectorRegistry(auto_describe=False)
    out.register(WorkerMetrics(multiproc_dir, declared))
    if probe is not None:
        out.register(ClusterMetrics(probe, registry))
    return out
