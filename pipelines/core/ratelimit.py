"""Request-rate limits shared by every worker process (Redis) or by the threads of one process.

Both limiters keep a sliding-window log: at most `limit` grants in any window of `window` seconds,
where limit = max(1, floor(rate)) and window = limit / rate (10/s -> 10 per 1 s; 0.5/s -> 1 per 2 s).
A window log, unlike a token bucket with a burst, never lets a caller count more than the limit
in any window, which is how upstreams such as the SEC measure "requests per second".
"""
from __future__ import annotations

import math
import threading
import time
import uuid
from collections import deque
from typing import Protocol

import redis

from pipelines.core.errors import TransientError

# Added to every window: the upstream counts arrivals with its own clock, and network jitter between
# our grant and its arrival could otherwise put limit+1 requests into one of its windows.
DEFAULT_MARGIN_SECONDS = 0.02
_MIN_SLEEP = 0.001


class RateLimiter(Protocol):
    def acquire(self, key: str) -> float:
        """Block until a request slot for `key` is free; return the seconds spent waiting."""
        ...


def window_for(rate_per_second: float, margin: float = 0.0) -> tuple[int, float]:
    """(limit, window seconds) for a rate: the largest whole batch, over the window that keeps the rate."""
    if not (math.isfinite(rate_per_second) and rate_per_second > 0):
        raise ValueError(f"rate_per_second must be a positive number, not {rate_per_second!r}")
    limit = max(1, math.floor(rate_per_second))
    return limit, limit / rate_per_second + margin


# Redis TIME rather than the caller's clock, so hosts with skewed clocks still share one window.
# Scores are microseconds; a member is unique per grant so equal timestamps do not collide.
# Public: the alert lease (notifications.lease) embeds it to take a send slot in the same script.
ACQUIRE_SLOT_LUA = """
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window_us = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window_us)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, math.ceil(window_us / 1000) + 1000)
  return 0
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window_us - now)
"""


class RedisRateLimiter:
    """At most `rate_per_second` grants per key across every process and host sharing the Redis."""

    def __init__(
        self,
        redis_url: str,
        rate_per_second: float,
        *,
        prefix: str = "signals:ratelimit:",
        margin: float = DEFAULT_MARGIN_SECONDS,
    ) -> None:
        self.limit, self.window = window_for(rate_per_second, margin)
        self.rate_per_second = rate_per_second
        self.prefix = prefix
        self._redis = redis.Redis.from_url(redis_url, socket_timeout=10, socket_connect_timeout=5)
        self._script = self._redis.register_script(ACQUIRE_SLOT_LUA)
        self._window_us = int(self.window * 1_000_000)

    def __repr__(self) -> str:  # the URL may hold a password, so it is left out
        return f"RedisRateLimiter(rate_per_second={self.rate_per_second}, prefix={self.prefix!r})"

    def acquire(self, key: str) -> float:
        """Block until a slot is granted in Redis; return the seconds waited."""
        started = time.monotonic()
        grant_id = uuid.uuid4().hex
        while True:
            try:
                wait_us = int(self._script(keys=[self.prefix + key],
                                           args=[self.limit, self._window_us, grant_id]))
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                raise TransientError(f"rate limiter Redis unreachable ({type(exc).__name__})") from None
            if wait_us <= 0:
                return time.monotonic() - started
            time.sleep(max(_MIN_SLEEP, wait_us / 1_000_000))

    def close(self) -> None:
        self._redis.close()


class LocalRateLimiter:
    """The same sliding window for the threads of one process (tests, single-process tools)."""

    def __init__(self, rate: float, *, margin: float = DEFAULT_MARGIN_SECONDS) -> None:
        self.limit, self.window = window_for(rate, margin)
        self._grants: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        """Block until a slot is free in this process; return the seconds waited."""
        started = time.monotonic()
        while True:
            with self._lock:
                now = time.monotonic()
                grants = self._grants.setdefault(key, deque())
                while grants and grants[0] <= now - self.window:
                    grants.popleft()
                if len(grants) < self.limit:
                    grants.append(now)
                    return now - started
                wait = grants[0] + self.window - now
            time.sleep(max(_MIN_SLEEP, wait))
