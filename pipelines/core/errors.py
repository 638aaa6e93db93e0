"""Error classes that decide what the engine does with a failure.

TransientError: retried with backoff (HTTP 429/5xx, timeouts, connection errors).
DataError: the input is bad; the record is quarantined with its raw payload and the batch goes on.
ConfigError: the deployment is wrong; the run fails at once with a message naming the setting.
"""
from __future__ import annotations


class SignalsError(Exception):
    """Base class for errors this project raises on purpose."""


class TransientError(SignalsError):
    """Worth retrying: the same call may succeed later."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DataError(SignalsError):
    """Bad input. Carries where it came from so the quarantine row can say it."""

    def __init__(self, message: str, *, source: str = "", record_key: str = "") -> None:
        super().__init__(message)
        self.source = source
        self.record_key = record_key


class ConfigError(SignalsError):
    """Missing or wrong configuration; never retried."""
