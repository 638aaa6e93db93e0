"""Celery configuration derived from our settings and the pipeline registry.

Delivery settings follow ../shared/notes/engine_pitfalls.md section 3: at-least-once with late acks,
made safe by idempotent effects in the database.
"""
from __future__ import annotations

from typing import Any

from kombu import Queue

from beat_schedule import beat_entries
from pipelines.core.registry import Registry
from pipelines.core.settings import Settings


def celery_config(settings: Settings, registry: Registry) -> dict[str, Any]:
    vt = settings.VISIBILITY_TIMEOUT
    longest = max([s.time_limit for p in registry.pipelines for s in p.steps] + [0])
    if longest + 2 * max([p.retry.backoff_max for p in registry.pipelines] + [0]) >= vt:
        # A task still running (or waiting on a retry countdown) past the visibility timeout is
        # redelivered and runs twice at once (celery #5935, kombu #337).
        raise ValueError(f"VISIBILITY_TIMEOUT={vt}s must exceed the longest time limit ({longest}s) "
                         "plus retry backoff")
    transport = {
        "visibility_timeout": vt,
        "health_check_interval": 25,
        # Scan for unacked messages of dead workers every 10 s instead of every ~100 s.
        "unacked_restore_interval": 10,
        "unacked_restore_throttle": 1,
    }
    return {
        "broker_url": settings.CELERY_BROKER_URL,
        "result_backend": settings.CELERY_RESULT_BACKEND,
        # Chains pass results by message; stored results are only read by --wait and benchmarks.
        "result_expires": 3600,
        "broker_transport_options": transport,
        "result_backend_transport_options": {"visibility_timeout": vt},
        "visibility_timeout": vt,  # redis.rst: set all three, the shortest wins
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "event_serializer": "json",
        # Beat ticks in UTC; every due time is decided in code in settings.TIMEZONE (beat_schedule),
        # which sidesteps Celery crontab's DST bugs (celery #10107, #9653, #1604).
        "timezone": "UTC",
        "enable_utc": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,  # capped per (run, step) by the executor
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 1,
        "worker_concurrency": settings.WORKER_CONCURRENCY,
        "worker_max_tasks_per_child": 500,
        "worker_soft_shutdown_timeout": 50.0,  # below the 60 s+ grace periods in compose and Helm
        "worker_enable_soft_shutdown_on_idle": True,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "task_track_started": True,
        "worker_hijack_root_logger": False,
        "task_queues": [Queue(q, routing_key=q) for q in registry.queues],
        "task_default_queue": "maintenance",
        "task_routes": registry.routes,
        "task_create_missing_queues": False,
        "beat_scheduler": "redbeat.RedBeatScheduler",
        "beat_schedule": beat_entries(registry, settings),
        "beat_max_loop_interval": settings.BEAT_MAX_LOOP_INTERVAL,
        "redbeat_redis_url": settings.REDBEAT_REDIS_URL,
        "redbeat_key_prefix": settings.REDBEAT_KEY_PREFIX,
        "redbeat_lock_timeout": settings.REDBEAT_LOCK_TIMEOUT,
    }
