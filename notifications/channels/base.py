"""What every alert channel shares: the result type, the two failure classes and the interface.

A channel either returns a DeliveryResult or raises:
- ChannelUnavailable (a TransientError): try again later, honouring `retry_after` when set;
- ChannelRejected: the provider refused the message or the configuration; retrying cannot help.
`ok=False` in a result means a partial, permanent failure (some recipients were refused).
"""
from __future__ import annotations

import email.utils
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from pipelines.core.errors import SignalsError, TransientError

from ..message import AlertMessage


@dataclass(frozen=True)
class DeliveryResult:
    channel: str
    ok: bool
    detail: str
    provider_id: str | None = None


class ChannelUnavailable(TransientError):
    """The channel could not take the message now (network, timeout, 429, 5xx, SMTP 4xx)."""


class ChannelRejected(SignalsError):
    """The provider refused the message for good (HTTP 4xx other than 429, SMTP 5xx, bad credentials)."""


class Channel(ABC):
    """One way of delivering alerts. `missing()` names the settings that keep it from working."""

    name: str = ""

    @property
    @abstractmethod
    def enabled(self) -> bool:
        """The channel's *_ENABLED setting."""

    @abstractmethod
    def missing(self) -> list[str]:
        """Problems with the configuration, by setting name (never a value); empty when configured."""

    @property
    def configured(self) -> bool:
        return not self.missing()

    @abstractmethod
    def send(self, message: AlertMessage) -> DeliveryResult:
        """Deliver one alert, or raise ChannelUnavailable / ChannelRejected."""


def parse_retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or None."""
    value = (headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max((when - now).total_seconds(), 0.0)


def http_failure(channel: str, status: int, body: str, headers: Mapping[str, str]) -> SignalsError:
    """The exception for an HTTP error status: 429 and 5xx are transient, other 4xx permanent."""
    detail = f"{channel}: HTTP {status}" + (f": {body.strip()[:300]}" if body.strip() else "")
    if status == 429 or status >= 500:
        return ChannelUnavailable(detail, retry_after=parse_retry_after(headers))
    return ChannelRejected(detail)


class Throttle:
    """Keeps at least 1/rate seconds between sends from this process (0 or less: no limit)."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self._last = float("-inf")

    def wait(self) -> None:
        if self.interval:
            delay = self._last + self.interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._last = time.monotonic()


def mask_number(number: str) -> str:
    """'+1555…1234': enough to tell recipients apart in logs, not enough to dial."""
    return number if len(number) <= 6 else f"{number[:4]}…{number[-4:]}"
