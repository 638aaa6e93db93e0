"""The channel objects the outbox sends through, their rate limits, and sending one outbox row.

Channels are built once per process and settings object (build_channels), so HTTP sessions and
SMTP settings are reused across batches and a channel that is enabled but not configured is
named in exactly one log line, not one per alert.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from pipelines.core.ratelimit import RedisRateLimiter
from pipelines.core.settings import Settings

from .channels import (
    Channel,
    ChannelRejected,
    ConsoleChannel,
    DeliveryResult,
    EmailChannel,
    SlackChannel,
    TwilioSmsChannel,
    build_channels,
)
from .digest_job import digest_day_of, load_digest
from .message import AlertMessage

_CLASSES: dict[str, Callable[[Settings], Channel]] = {"email": EmailChannel, "slack": SlackChannel,
                                                      "sms": TwilioSmsChannel, "console": ConsoleChannel}
_SWITCHES = {"email": "EMAIL_ENABLED", "slack": "SLACK_ENABLED", "sms": "SMS_ENABLED",
             "console": "CONSOLE_ALERTS_ENABLED"}
# Per-channel sends per second across every worker (0: no limit); settings names operators know.
RATE_SETTINGS = {"slack": "SLACK_MAX_PER_SECOND", "sms": "SMS_MAX_PER_SECOND", "email": "EMAIL_MAX_PER_SECOND"}
_CACHE_SIZE = 8


@dataclass(frozen=True)
class ChannelSet:
    settings: Settings
    ready: dict[str, Channel]
    pid: int  # HTTP sessions must not cross a fork

    def reason(self, name: str) -> str:
        """Why alerts for `name` are skipped (setting names only, never values)."""
        cls = _CLASSES.get(name)
        if cls is None:
            return f"unknown alert channel {name!r}"
        channel = cls(self.settings)
        if not channel.enabled:
            return f"alert channel {name} is off ({_SWITCHES[name]} is false)"
        return f"alert channel {name} is enabled but not configured: missing or invalid {', '.join(channel.missing())}"


_channel_sets: list[ChannelSet] = []
_limiters: dict[tuple[int, str, str, float], RedisRateLimiter] = {}


def channel_set(settings: Settings) -> ChannelSet:
    """The ready channels for this settings object, built (and logged) once."""
    for known in _channel_sets:
        if known.settings is settings and known.pid == os.getpid():
            return known
    built = ChannelSet(settings, {c.name: c for c in build_channels(settings)}, os.getpid())
    _channel_sets.append(built)
    del _channel_sets[:-_CACHE_SIZE]
    return built


def rate_limiter(settings: Settings, channel: str) -> RedisRateLimiter | None:
    """The shared limiter of a channel (key "alerts:<channel>"), or None when it has no limit."""
    name = RATE_SETTINGS.get(channel)
    rate = float(getattr(settings, name)) if name else 0.0
    if rate <= 0:
        return None
    key = (os.getpid(), settings.CELERY_BROKER_URL, channel, rate)
    limiter = _limiters.get(key)
    if limiter is None:
        limiter = _limiters[key] = RedisRateLimiter(settings.CELERY_BROKER_URL, rate)
    return limiter


def send_row(channel: Channel, kind: str, payload: dict[str, Any], settings: Settings,
             sessions: sessionmaker[Session]) -> DeliveryResult:
    """Send one outbox row: a digest is rendered now from the day's signals, anything else as stored."""
    if kind == "digest":
        send_digest = getattr(channel, "send_digest", None)
        if send_digest is None:
            raise ChannelRejected(f"alert channel {channel.name} cannot send the daily digest "
                                  "(ALERT_DIGEST_CHANNELS)")
        day = digest_day_of(payload)
        with sessions() as session:
            digest = load_digest(session, settings, day)
        return send_digest(digest)
    return channel.send(AlertMessage.from_dict(payload))
