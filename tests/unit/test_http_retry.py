"""Backoff and Retry-After arithmetic of the shared HTTP client (pure functions, no network)."""
from __future__ import annotations

import random
from email.utils import format_datetime
from datetime import datetime, timezone

import pytest

from pipelines.core.http import backoff_delay, parse_retry_after


class FixedDraw:
    """An rng whose draw is chosen by the test, so the jitter bounds can be checked exactly."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.mark.parametrize("attempt, expected_ceiling", [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0)])
def test_ceiling_doubles_with_each_attempt(attempt: int, expected_ceiling: float) -> None:
    assert backoff_delay(attempt, 0.5, 30.0, None, FixedDraw(1.0)) == pytest.approx(expected_ceiling)


def test_full_jitter_scales_the_ceiling_by_the_draw() -> None:
    assert backoff_delay(3, 0.5, 30.0, None, FixedDraw(0.0)) == 0.0
    assert backoff_delay(3, 0.5, 30.0, None, FixedDraw(0.25)) == pytest.approx(0.5)


def test_ceiling_is_capped() -> None:
    assert backoff_delay(20, 0.5, 30.0, None, FixedDraw(1.0)) == pytest.approx(30.0)
    assert backoff_delay(20, 0.5, 30.0, None, FixedDraw(0.5)) == pytest.approx(15.0)


def test_real_rng_stays_inside_the_jitter_range() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(4, 0.5, 30.0, None, rng) for _ in range(500)]
    assert all(0.0 <= d < 4.0 for d in delays)
    assert max(delays) - min(delays) > 2.0  # really spread out, not a constant


def test_retry_after_wins_over_the_backoff() -> None:
    assert backoff_delay(1, 0.5, 30.0, 7.0, FixedDraw(0.0)) == 7.0
    assert backoff_delay(5, 0.5, 1.0, 12.5, FixedDraw(1.0)) == 12.5


def test_attempt_numbers_start_at_one() -> None:
    with pytest.raises(ValueError):
        backoff_delay(0, 0.5, 30.0, None, FixedDraw(0.5))


def test_retry_after_in_seconds() -> None:
    assert parse_retry_after("120", now=0.0) == 120.0
    assert parse_retry_after(" 3 ", now=1_000.0) == 3.0
    assert parse_retry_after("0", now=0.0) == 0.0


def test_retry_after_as_http_date() -> None:
    now = datetime(2026, 1, 12, 15, 0, 0, tzinfo=timezone.utc).timestamp()
    header = format_datetime(datetime(2026, 1, 12, 15, 0, 45, tzinfo=timezone.utc), usegmt=True)
    assert header == "Mon, 12 Jan 2026 15:00:45 GMT"
    assert parse_retry_after(header, now=now) == pytest.approx(45.0)


def test_retry_after_date_in_the_past_means_now() -> None:
    now = datetime(2026, 1, 12, 15, 0, 0, tzinfo=timezone.utc).timestamp()
    assert parse_retry_after("Mon, 12 Jan 2026 14:59:00 GMT", now=now) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "inf", "nan", "Mon, 99 Foo 2026"])
def test_unusable_retry_after_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value, now=0.0) is None
