"""Hiring-velocity context signal (domain notes §3.5): low weight, alert only on large changes.

Job postings lead a firm's sales, but in the cross-section heavy hirers earn *lower* returns, so this
signal is supporting evidence next to trial and LOE events rather than a trigger of its own.

strength = clamp(0.7·|v90| + 0.3·|v30|, 0, 1), v = growth rate ÷ `full_scale_rate`, clamped to ±1
score    = 10 · strength (+ `commercial_bonus` when new openings lean commercial), capped at
           `context_cap` unless the change is large (|rate90| ≥ `alert_rate` and |net90| ≥ `alert_min_net`)
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from pipelines.sources.jobs.tracking import DepartmentMix, Velocity

from .component import Component

SIGNAL_TYPE = "hiring_velocity"


@dataclass(frozen=True)
class HiringConfig:
    full_scale_rate: float = 0.5  # growth of open roles (net ÷ open at start) that counts as ±1
    weight_90d: float = 0.7
    weight_30d: float = 0.3
    context_cap: float = 6.0  # kept under the usual 7-point alert threshold
    alert_rate: float = 0.5
    alert_min_net: int = 10
    commercial_share: float = 0.4  # share of new openings that makes a commercial build-up
    commercial_bonus: float = 1.0


@dataclass(frozen=True)
class HiringSignal:
    company: str  # ticker when known, else board:token
    signal_type: str
    event_key: str
    score: float
    direction: str  # up | down | flat
    large_change: bool
    components: tuple[Component, ...]
    event_time: datetime
    links: tuple[str, ...]


def _scaled(v: Velocity | None, config: HiringConfig) -> float:
    if v is None or v.rate is None:
        return 0.0
    return max(-1.0, min(1.0, v.rate / config.full_scale_rate))


def score_hiring(company: str, velocity: Mapping[int, Velocity], *, as_of: datetime,
                 new_openings_mix: DepartmentMix | None = None, links: Sequence[str] = (),
                 config: HiringConfig = HiringConfig()) -> HiringSignal:
    """Score one company's hiring change from its 30- and 90-day velocities (see `hiring_velocity`)."""
    v30, v90 = velocity.get(30), velocity.get(90)
    s30, s90 = _scaled(v30, config), _scaled(v90, config)
    strength = max(0.0, min(1.0, config.weight_90d * abs(s90) + config.weight_30d * abs(s30)))
    net90 = v90.net if v90 else 0
    rate90 = v90.rate if v90 else None
    large = rate90 is not None and abs(rate90) >= config.alert_rate and abs(net90) >= config.alert_min_net

    bonus = 0.0
    mix_note = "no department mix supplied"
    if new_openings_mix is not None and new_openings_mix.total:
        share = new_openings_mix.share("commercial")
        if share >= config.commercial_share and net90 > 0:
            bonus = config.commercial_bonus
        mix_note = ", ".join(f"{g} {new_openings_mix.share(g):.0%}" for g in new_openings_mix.counts) + \
            f" of {new_openings_mix.total} new opening(s)"
    raw = 10 * strength + bonus
    score = round(min(10.0, raw if large else min(raw, config.context_cap)), 2)
    direction = "up" if s90 > 0 or (s90 == 0 and s30 > 0) else "down" if s90 < 0 or s30 < 0 else "flat"

    components = (
        Component("velocity_90d", round(s90, 3), _explain(v90, config)),
        Component("velocity_30d", round(s30, 3), _explain(v30, config)),
        Component("department_mix", bonus, mix_note + (
            f"; commercial ≥ {config.commercial_share:.0%} while growing" if bonus else "")),
        Component("cap", config.context_cap if not large else 10.0,
                  "large change: uncapped" if large else
                  f"context only: capped at {config.context_cap:g} unless |rate90| ≥ {config.alert_rate:.0%} "
                  f"and |net90| ≥ {config.alert_min_net}"),
    )
    week = as_of.isocalendar()
    return HiringSignal(
        company=company, signal_type=SIGNAL_TYPE, event_key=f"hiring:{company}:{week.year}-W{week.week:02d}",
        score=score, direction=direction, large_change=large, components=components, event_time=as_of,
        links=tuple(links),
    )


def _explain(v: Velocity | None, config: HiringConfig) -> str:
    if v is None:
        return "window not computed"
    base = (f"{v.window_days}d: net {v.net:+d} ({v.opened} opened, {v.reposted} reposted, {v.removed} removed) "
            f"vs {v.prior_net:+d} the {v.window_days}d before")
    if v.rate is None:
        return base + "; growth rate unknown (open roles at window start not known or zero)"
    return base + (f"; {v.rate:+.0%} of {v.open_at_start} roles open at the start, "
                   f"÷ {config.full_scale_rate:.0%} full scale")
