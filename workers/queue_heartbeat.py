"""A consumer bootstep that keeps this worker's heartbeat key in Redis (see observability.heartbeat).

The exporter's "workers alive per queue" check reads these keys; workers/heartbeat.py is the
separate heartbeat *file* for container liveness probes.

It runs on the worker's own timer in the main process, so a long task in a prefork child never
delays it (engine_pitfalls 2.8, the DefectDojo LivenessProbe pattern), and it reads the queues the
consumer really consumes, so `celery control add_consumer` shows up in the next beat.
"""
from __future__ import annotations

import logging
from typing import Any

import redis
from celery import Celery, bootsteps

from observability.heartbeat import HEARTBEAT_INTERVAL, clear_heartbeat, write_heartbeat

log = logging.getLogger("signals.heartbeat")


class QueueHeartbeat(bootsteps.StartStopStep):
    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._timer_ref: Any = None
        self._client: redis.Redis | None = None

    def start(self, c: Any) -> None:
        self._client = redis.Redis.from_url(c.app.conf.broker_url, socket_timeout=2, socket_connect_timeout=2)
        self._beat(c)
        self._timer_ref = c.timer.call_repeatedly(HEARTBEAT_INTERVAL, self._beat, (c,), priority=10)

    def stop(self, c: Any) -> None:
        if self._timer_ref is not None:
            self._timer_ref.cancel()
            self._timer_ref = None
        if self._client is not None:
            try:
                clear_heartbeat(self._client, c.hostname)
            except redis.RedisError as exc:
                log.warning("could not clear the worker heartbeat: %s", exc)
            self._client.close()
            self._client = None

    def shutdown(self, c: Any) -> None:
        self.stop(c)

    def _beat(self, c: Any) -> None:
        if self._client is None:
            return
        consumer = getattr(c, "task_consumer", None)
        queues = [q.name for q in consumer.queues] if consumer is not None else \
            list(c.app.amqp.queues.consume_from or {})
        try:
            write_heartbeat(self._client, c.hostname, queues)
        except redis.RedisError as exc:  # the broker is down: the worker itself will notice and reconnect
            log.warning("could not write the worker heartbeat: %s", exc)


def install(app: Celery) -> None:
    """Register the bootstep on the worker's consumer."""
    app.steps["consumer"].add(QueueHeartbeat)
