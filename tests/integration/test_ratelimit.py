"""Rate limiters: the Redis one shared by separate processes, the local one by threads."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest
import redis

from pipelines.core.ratelimit import LocalRateLimiter, RedisRateLimiter

pytestmark = pytest.mark.integration

REDIS_URL = "redis://127.0.0.1:6379/15"
REPO = Path(__file__).resolve().parents[2]

# Each child process acquires in a tight loop from `start` until `start + duration` (wall clock,
# shared by processes on this host) and prints the wall-clock time of every grant.
CHILD = """
import json, sys, time
from pipelines.core.ratelimit import RedisRateLimiter
url, prefix, key, rate, start, duration = sys.argv[1:7]
limiter = RedisRateLimiter(url, float(rate), prefix=prefix)
limiter.acquire("warm-up-" + key)  # connect and load the script before the clock starts
while time.time() < float(start):
    time.sleep(0.001)
stamps = []
while time.time() < float(start) + float(duration):
    limiter.acquire(key)
    stamps.append(time.time())
print(json.dumps(stamps))
"""


@pytest.fixture
def prefix() -> Iterator[str]:
    value = f"test:ratelimit:{uuid.uuid4().hex}:"
    yield value
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=value + "*"))
    if keys:
        client.delete(*keys)
    client.close()


def most_in_any_window(stamps: list[float], window: float) -> int:
    """The largest number of stamps inside any half-open window [t, t + window)."""
    ordered = sorted(stamps)
    best, lo = 0, 0
    for hi, t in enumerate(ordered):
        while ordered[lo] <= t - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def test_window_counter_counts_what_it_should() -> None:
    assert most_in_any_window([0.0, 0.5, 0.99, 1.0, 1.2], 1.0) == 4
    assert most_in_any_window([0.0, 0.5, 1.0, 1.5], 1.0) == 2  # half-open: 0.0 and 1.0 never share


def test_two_processes_share_one_limit(prefix: str) -> None:
    rate, duration = 10, 2.0
    start = time.time() + 0.8  # both children are importing and connected by then
    args = [REDIS_URL, prefix, "sec", str(rate), repr(start), str(duration)]
    children = [subprocess.Popen([sys.executable, "-c", CHILD, *args], cwd=REPO,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
    results = []
    for child in children:
        out, err = child.communicate(timeout=20)
        assert child.returncode == 0, err
        results.append(json.loads(out))
    first, second = results
    assert first and second  # both processes got slots
    stamps = first + second
    assert min(stamps) >= start
    assert most_in_any_window(stamps, 1.0) <= rate
    # Two processes looping freely for 2 s would make thousands of calls; a shared limit lets
    # through about rate per second (plus the batch that is granted right at the end).
    assert 2 * rate - 2 <= len(stamps) <= 3 * rate


def test_acquire_reports_the_wait(prefix: str) -> None:
    limiter = RedisRateLimiter(REDIS_URL, 5.0, prefix=prefix)
    waits = [limiter.acquire("k") for _ in range(6)]
    limiter.close()
    assert all(w < 0.2 for w in waits[:5])
    assert waits[5] >= 0.9  # the sixth grant waits for the first to leave the 1 s window


def test_keys_are_independent(prefix: str) -> None:
    limiter = RedisRateLimiter(REDIS_URL, 2.0, prefix=prefix)
    started = time.monotonic()
    for key in ("a", "a", "b", "b"):
        limiter.acquire(key)
    limiter.close()
    assert time.monotonic() - started < 0.5


def test_slow_rate_spaces_single_grants(prefix: str) -> None:
    limiter = RedisRateLimiter(REDIS_URL, 2.5, prefix=prefix)  # 2 per 0.8 s
    stamps = []
    for _ in range(3):
        limiter.acquire("slow")
        stamps.append(time.monotonic())
    limiter.close()
    assert stamps[2] - stamps[0] >= 0.8


def test_local_limiter_across_threads() -> None:
    limiter = LocalRateLimiter(20.0)
    stamps: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + 0.5

    def work() -> None:
        while time.monotonic() < stop_at:
            limiter.acquire("k")
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most_in_any_window(stamps, 1.0) <= 20
    assert len(stamps) > 20  # threads blocked at the limit were let through in the next window


@pytest.mark.parametrize("rate", [0.0, -1.0, float("nan")])
def test_rate_must_be_positive(rate: float) -> None:
    with pytest.raises(ValueError):
        LocalRateLimiter(rate)
