"""The cross-worker send guard: one Redis key per alert, `SET signals:alert-lease:<key> <token> NX EX`.

The database claim (FOR UPDATE SKIP LOCKED) keeps two workers from *claiming* a row at once; this
lease keeps two workers from *sending* it at once when a claim was taken over after its database
lease ran out while the first sender was still alive. After a successful send the key is
overwritten with a "sent" marker that outlives any lease, so a worker that died between the send
and the database write-back costs no second message: whoever reclaims the row finds the marker
and records the row as sent without sending again.
"""
from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass

import redis

from pipelines.core.errors import TransientError
from pipelines.core.ratelimit import ACQUIRE_SLOT_LUA as _RATE_LUA
from pipelines.core.ratelimit import RedisRateLimiter

PREFIX = "signals:alert-lease:"
_SENT = "sent:"

# Delete the key only while it still holds our token: an expired lease may belong to someone else now.
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# Take the lease; first write the marker of the alert sent just before (ARGV[3], when not empty),
# so a steady stream of sends costs one round trip per alert.
_ACQUIRE_LUA = """
if ARGV[3] ~= '' then
  redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  return 1
end
return 0
"""

# The lease as above, then a slot in the channel's rate window, KEYS[3] (ARGV[5..7]): the
# sliding-window script of pipelines.core.ratelimit itself, renumbered, so the two cannot drift apart.
# Returns -1 when the lease is held (no slot taken), 0 when the lease and a slot were taken, and the
# microseconds until a slot frees when only the lease was.
_TAKE_LUA = """
if ARGV[3] ~= '' then
  redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  return -1
end
local function take_slot()
""" + (_RATE_LUA.replace("KEYS[1]", "KEYS[3]").replace("ARGV[1]", "ARGV[5]").replace("ARGV[2]", "ARGV[6]")
       .replace("ARGV[3]", "ARGV[7]")) + """
end
return take_slot()
"""

_clients: dict[tuple[int, str], redis.Redis] = {}


def redis_client(url: str) -> redis.Redis:
    """One client per process and URL; keyed on the pid so a forked worker never shares sockets."""
    key = (os.getpid(), url)
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
    return client


def lease_key(idempotency_key: str) -> str:
    return PREFIX + idempotency_key


@dataclass(frozen=True)
class Sent:
    """An alert that went out. `row` tells its outbox row apart from an older row with the same key
    (after a database reset, idempotency keys start again from generation 1)."""

    key: str
    row: str
    provider_id: str | None

    @property
    def marker(self) -> str:
        return f"{_SENT}{self.row}:{self.provider_id or ''}"


@dataclass(frozen=True)
class RateSlot:
    """A slot to take in a RedisRateLimiter's window along with a lease (same Redis, same window)."""

    key: str
    limit: int
    window_us: int

    @classmethod
    def of(cls, limiter: RedisRateLimiter, key: str) -> RateSlot:
        return cls(limiter.prefix + key, limiter.limit, int(limiter.window * 1_000_000))


@dataclass(frozen=True)
class Taken:
    """What `take` got: the lease token (None: held by another worker or sent) and whether the rate
    slot was granted too (False: the caller waits for one through the limiter)."""

    token: str | None
    slot: bool


@dataclass(frozen=True)
class Holder:
    """What occupies a lease key: a live sender's token or a sent marker (`sent` set), as stored."""

    value: str
    sent: Sent | None
    seconds_left: float


class AlertLeases:
    """Take, release and mark alert leases in Redis; Redis errors become TransientError."""

    def __init__(self, client: redis.Redis, seconds: int) -> None:
        self.client = client
        self.seconds = max(1, int(seconds))
        # The marker must outlive every lease a reclaiming worker could wait through.
        self.marker_seconds = self.seconds * 10
        self._release = client.register_script(_RELEASE_LUA)
        self._acquire = client.register_script(_ACQUIRE_LUA)
        self._take = client.register_script(_TAKE_LUA)
        self._owner = f"{socket.gethostname()}:{os.getpid()}"

    def acquire(self, idempotency_key: str, sent: Sent | None = None) -> str | None:
        """A fresh token when the lease was free; None when another worker holds it or it was sent.

        `sent` (the alert sent just before) gets its marker in the same round trip.
        """
        token = f"{self._owner}:{uuid.uuid4().hex}"
        key = lease_key(idempotency_key)
        try:
            taken = self._acquire(keys=[key, lease_key(sent.key) if sent else key],
                                  args=[token, self.seconds, sent.marker if sent else "", self.marker_seconds])
        except redis.RedisError as exc:
            raise TransientError(f"alert lease Redis unavailable ({type(exc).__name__})") from None
        return token if taken else None

    def take(self, idempotency_key: str, sent: Sent | None, slot: RateSlot | None) -> Taken:
        """`acquire`, and in the same round trip a rate slot when the lease was taken (one Redis round
        trip per alert instead of two when the channel has a rate limit)."""
        if slot is None:
            token = self.acquire(idempotency_key, sent)
            return Taken(token, token is not None)
        token = f"{self._owner}:{uuid.uuid4().hex}"
        key = lease_key(idempotency_key)
        try:
            wait_us = int(self._take(
                keys=[key, lease_key(sent.key) if sent else key, slot.key],
                args=[token, self.seconds, sent.marker if sent else "", self.marker_seconds, slot.limit,
                      slot.window_us, uuid.uuid4().hex]))
        except redis.RedisError as exc:
            raise TransientError(f"alert lease Redis unavailable ({type(exc).__name__})") from None
        if wait_us < 0:
            return Taken(None, False)
        return Taken(token, wait_us == 0)

    def holder(self, idempotency_key: str) -> Holder:
        """What occupies a lease that `acquire` could not take."""
        key = lease_key(idempotency_key)
        try:
            with self.client.pipeline(transaction=False) as pipe:
                pipe.get(key)
                pipe.pttl(key)
                value, ttl_ms = pipe.execute()
        except redis.RedisError as exc:
            raise TransientError(f"alert lease Redis unavailable ({type(exc).__name__})") from None
        text = value.decode("utf-8", "replace") if value is not None else ""
        sent = None
        if text.startswith(_SENT):
            row, _, provider_id = text[len(_SENT):].partition(":")
            sent = Sent(idempotency_key, row, provider_id or None)
        return Holder(text, sent, max(ttl_ms, 0) / 1000.0)

    def mark_sent(self, sent: Sent) -> None:
        """Replace the lease with the sent marker (whoever holds it: the alert did go out)."""
        try:
            self.client.set(lease_key(sent.key), sent.marker, ex=self.marker_seconds)
        except redis.RedisError:
            # The database write-back still records the send; the marker only shortens recovery.
            pass

    def release(self, idempotency_key: str, value: str) -> None:
        """Delete the key if it still holds `value`: our token after a failed attempt (so a retry
        need not wait for it to expire), or a marker left by another row with the same key."""
        try:
            self._release(keys=[lease_key(idempotency_key)], args=[value])
        except redis.RedisError:
            pass  # it expires by itself
