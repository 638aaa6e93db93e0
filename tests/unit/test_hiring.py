"""Hiring-velocity context score: capped unless the change is large; components kept."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipelines.scoring.hiring import HiringConfig, score_hiring
from pipelines.sources.jobs.tracking import DepartmentMix, Velocity

AS_OF = datetime(2026, 6, 30, 12, tzinfo=UTC)  # ISO week 2026-W27


def _v(days: int, net: int, prior: int, open_at_start: int | None) -> Velocity:
    return Velocity(window_days=days, opened=max(net, 0), removed=max(-net, 0), reposted=0, net=net,
                    prior_net=prior, open_at_start=open_at_start)


def _parts(signal) -> dict[str, float]:
    return {c.name: c.value for c in signal.components}


def test_moderate_growth_is_capped_context() -> None:
    velocity = {30: _v(30, 2, 1, 40), 90: _v(90, 8, 3, 40)}  # +20% over 90 days, +5% over 30
    signal = score_hiring("NRXP", velocity, as_of=AS_OF)
    parts = _parts(signal)
    assert parts["velocity_90d"] == pytest.approx(0.4)  # 0.2 ÷ 0.5 full scale
    assert parts["velocity_30d"] == pytest.approx(0.1)
    assert signal.score == pytest.approx(10 * (0.7 * 0.4 + 0.3 * 0.1))  # 3.1, under the cap
    assert signal.large_change is False and signal.direction == "up"
    assert signal.signal_type == "hiring_velocity"
    assert signal.event_key == "hiring:NRXP:2026-W27"
    assert signal.event_time == AS_OF
    assert "90d: net +8 (8 opened, 0 reposted, 0 removed) vs +3 the 90d before" in signal.components[0].explanation


def test_strong_but_small_change_stays_under_the_cap() -> None:
    velocity = {30: _v(30, 4, 0, 4), 90: _v(90, 6, 0, 4)}  # +150%, but only six roles
    signal = score_hiring("TINY", velocity, as_of=AS_OF)
    assert signal.large_change is False
    assert signal.score == 6.0  # 10 would be uncapped
    assert "capped at 6" in signal.components[3].explanation


def test_large_change_is_uncapped_and_thresholds_are_configurable() -> None:
    velocity = {30: _v(30, 12, 2, 30), 90: _v(90, 25, 5, 30)}  # +83% over 90 days, 25 roles
    signal = score_hiring("BIG", velocity, as_of=AS_OF)
    assert signal.large_change is True
    assert signal.score == pytest.approx(10 * (0.7 * 1.0 + 0.3 * 0.8))  # 30d: 12 of 30 = 40%, ÷ 50%
    strict = score_hiring("BIG", velocity, as_of=AS_OF, config=HiringConfig(alert_min_net=30))
    assert strict.large_change is False and strict.score == 6.0


def test_shrinking_hiring_points_down() -> None:
    velocity = {30: _v(30, -10, 1, 50), 90: _v(90, -30, 2, 60)}  # −50% over 90 days
    signal = score_hiring("CUT", velocity, as_of=AS_OF)
    assert signal.direction == "down"
    assert _parts(signal)["velocity_90d"] == -1.0
    assert signal.large_change is True and signal.score == pytest.approx(10 * (0.7 + 0.3 * 0.4))


def test_commercial_build_up_adds_a_point() -> None:
    velocity = {30: _v(30, 2, 1, 40), 90: _v(90, 8, 3, 40)}
    mix = DepartmentMix(counts={"research_clinical": 2, "regulatory": 1, "commercial": 5, "other": 0}, total=8)
    plain = score_hiring("NRXP", velocity, as_of=AS_OF)
    tilted = score_hiring("NRXP", velocity, as_of=AS_OF, new_openings_mix=mix, links=("https://example.test",))
    assert _parts(tilted)["department_mix"] == 1.0
    assert tilted.score == pytest.approx(plain.score + 1.0)
    assert "commercial 62%" in tilted.components[2].explanation
    assert tilted.links == ("https://example.test",)


def test_unknown_open_count_scores_zero_with_reason() -> None:
    velocity = {30: _v(30, 3, 0, None), 90: _v(90, 5, 0, None)}
    signal = score_hiring("NEW", velocity, as_of=AS_OF)
    assert signal.score == 0.0 and signal.direction == "flat"
    assert "growth rate unknown" in signal.components[0].explanation
