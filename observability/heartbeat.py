"""Worker heartbeats in Redis: which workers are alive and which queues they consume.

Each worker's main process writes `signals:worker:<hostname>` every HEARTBEAT_INTERVAL seconds with
a TTL of HEARTBEAT_TTL (workers/heartbeat.py, a consumer bootstep on the worker's timer), and
deletes it on shutdown. A worker that dies without shutting down (kill -9, lost node) disappears when
its key expires. The exporter reads the keys at scrape time, so the answer is the same from every
exporter replica and counts workers on every host.

Why not `celery inspect active_queues`: it broadcasts to every worker and waits for replies on each
call (expensive, and slow or empty under load; engine_pitfalls 2.8). A key read costs one SCAN.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Iterable

import redis

KEY_PREFIX = "signals:worker:"
HEARTBEAT_INTERVAL = 10.0
HEARTBEAT_TTL = 60  # several missed beats before a worker counts as gone


@dataclass(frozen=True)
class WorkerBeat:
    hostname: str
    queues: tuple[str, ...]
    pid: int
    at: float  # epoch seconds of the last beat


def key_for(hostname: str) -> str:
    return KEY_PREFIX + hostname


def write_heartbeat(client: redis.Redis, hostname: str, queues: Iterable[str],
                    ttl: int = HEARTBEAT_TTL, now: float | None = None) -> None:
    """Record that `hostname` is alive and consuming `queues`, for `ttl` seconds."""
    body = {"hostname": hostname, "queues": sorted(set(queues)), "pid": os.getpid(),
            "at": time.time() if now is None else now}
    client.set(key_for(hostname), json.dumps(body), ex=ttl)


def clear_heartbeat(client: redis.Redis, hostname: str) -> None:
    client.delete(key_for(hostname))


def read_workers(client: redis.Redis) -> list[WorkerBeat]:
    """Every worker with a live heartbeat key; malformed values are skipped."""
    keys = list(client.scan_iter(match=KEY_PREFIX + "*", count=500))
    if not keys:
        return []
    beats: list[WorkerBeat] = []
    for raw in client.mget(keys):
        if raw is None:  # expired between SCAN and MGET
            continue
        try:
            body = json.loads(raw)
            beats.append(WorkerBeat(str(body["hostname"]), tuple(str(q) for q in body["queues"]),
                                    int(body["pid"]), float(body["at"])))
        except (ValueError, KeyError, TypeError):
            continue
    return sorted(beats, key=lambda b: b.hostname)


def workers_per_queue(beats: Iterable[WorkerBeat], queues: Iterable[str]) -> dict[str, int]:
    """How many live workers consume each of `queues` (0 for a queue nobody consumes)."""
    counts = {q: 0 for q in queues}
    for beat in beats:
        for q in beat.queues:
            if q in counts:
                counts[q] += 1
    return counts
