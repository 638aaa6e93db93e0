"""13F institutional signal: per security and quarter, across the tracked managers (domain notes §3.2).

score = clamp((breadth + conviction + net_flow + crowding) × 10/8 × staleness, 0, 10)

- breadth (0-3): qualified managers opening a NEW position;
- conviction (0-3): qualified managers holding it in their top five by value, or adding ≥ 50% shares;
- net flow (0-2): (managers adding − managers cutting) ÷ managers holding it now or last quarter, floored at 0;
- crowding (−2-0): share of qualified holders above a threshold; also raised as a flag, since crowded
  names carry tail risk rather than simply lower returns;
- staleness: × 0.9 per full week since the 45-day filing deadline of the quarter.

Only share rows count: option rows (putCall) say little about direction on their own in a 13F.
"""
from __future__ import annotations

import csv
import heapq
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from pathlib import Path

from pipelines.sources.edgar.thirteenf import Holding, Report
from pipelines.sources.edgar.thirteenf_reports import PositionChange, diff_quarters

from .component import Component

SIGNAL_TYPE = "institutional_13f"
FILING_DEADLINE_DAYS = 45


@dataclass(frozen=True)
class TrackedManager:
    cik: int
    name: str
    note: str = ""


@dataclass(frozen=True)
class InstitutionalConfig:
    breadth_cap: float = 3.0  # one point per qualified manager opening a position
    conviction_cap: float = 3.0  # one point per qualified manager with a top-5 or ≥50% add
    conviction_top_rank: int = 5
    conviction_add_pct: float = 0.5
    net_flow_max: float = 2.0
    crowding_threshold: float = 0.5
    crowding_max_penalty: float = 2.0
    weekly_decay: float = 0.9
    # qualification screen (WhaleScore-style), used when a manager's `qualified` is not given
    min_positions: int = 5
    max_positions: int = 750
    min_top10_share: float = 0.2
    min_portfolio_usd: int = 100_000_000


@dataclass(frozen=True)
class ManagerChange:
    """One manager's change in one position between two consecutive quarters."""

    manager_cik: int
    manager_name: str
    qualified: bool
    change: PositionChange
    period: date
    filed: date
    link: str = ""  # EDGAR filing index URL of the current report


@dataclass(frozen=True)
class InstitutionalSignal:
    ticker: str | None
    cusip: str
    signal_type: str
    event_key: str
    score: float
    components: tuple[Component, ...]
    event_time: datetime
    links: tuple[str, ...]
    period: date
    crowded: bool

    @property
    def key(self) -> str:
        """The ticker when the CUSIP is mapped, else the CUSIP."""
        return self.ticker or self.cusip


def load_managers(path: str | Path | None = None) -> list[TrackedManager]:
    """The tracked 13F managers (default: the packaged `pipelines/data/managers.csv`)."""
    if path is None:
        text = resources.files("pipelines").joinpath("data/managers.csv").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    rows = csv.DictReader(text.splitlines())
    return [TrackedManager(cik=int(r["cik"]), name=r["name"].strip(), note=(r.get("note") or "").strip())
            for r in rows]


def is_qualified(report: Report, config: InstitutionalConfig = InstitutionalConfig()) -> bool:
    """Position count, top-10 concentration and size screen; option rows are left out."""
    return passes_screen(*screen_figures(share_values(report.holdings).values()), config)


def share_values(holdings: Iterable[Holding]) -> dict[str, int]:
    """Each CUSIP's value summed over its rows without put/call: the screen's positions."""
    values: dict[str, int] = defaultdict(int)
    for h in holdings:
        if h.put_call is None:
            values[h.cusip] += h.value_usd
    return values


def screen_figures(values: Iterable[int]) -> tuple[int, int, int]:
    """`passes_screen`'s figures from each position's value: how many, their value, the ten largest's."""
    chosen = list(values)
    return len(chosen), sum(chosen), sum(heapq.nlargest(10, chosen))


def passes_screen(positions: int, total_usd: int, top10_usd: int,
                  config: InstitutionalConfig = InstitutionalConfig()) -> bool:
    """`is_qualified` from its three figures (share positions, their value, the ten largest's value),
    for reports whose rows are summed in SQL."""
    if not (config.min_positions <= positions <= config.max_positions) or total_usd < config.min_portfolio_usd:
        return False
    return top10_usd / total_usd >= config.min_top10_share


def manager_changes(manager: TrackedManager, prev: Report | None, cur: Report, *,
                    tickers: Mapping[str, str] | None = None, link: str = "", qualified: bool | None = None,
                    config: InstitutionalConfig = InstitutionalConfig()) -> list[ManagerChange]:
    """Diff one manager's consecutive reports into scorable changes (qualification screened unless given)."""
    ok = is_qualified(cur, config) if qualified is None else qualified
    return [ManagerChange(manager.cik, manager.name, ok, c, cur.cover.period, cur.filed, link)
            for c in diff_quarters(prev, cur, tickers=tickers)]


def filing_deadline(period: date) -> date:
    """Quarter end + 45 days, moved off a weekend (holidays are not modelled)."""
    due = period + timedelta(days=FILING_DEADLINE_DAYS)
    while due.weekday() >= 5:
        due += timedelta(days=1)
    return due


@dataclass
class _Held:
    shares_prev: int = 0
    shares_cur: int = 0
    best_rank: int | None = None
    qualified: bool = False


def score_institutional(changes: Iterable[ManagerChange], *, as_of: date, tracked_managers: int,
                        active_holders: Mapping[str, int] | None = None,
                        config: InstitutionalConfig = InstitutionalConfig()) -> list[InstitutionalSignal]:
    """One signal per security (ticker, or CUSIP when unmapped) and period, highest score first.

    `active_holders` optionally gives, per key, how many active managers hold the security in all of
    13F; without it crowding is measured against the tracked managers.
    """
    groups: dict[tuple[str, date], list[ManagerChange]] = defaultdict(list)
    for mc in changes:
        if mc.change.put_call is None:
            groups[(mc.change.ticker or mc.change.cusip, mc.period)].append(mc)
    signals = [_score_one(key, period, group, as_of, tracked_managers, (active_holders or {}).get(key), config)
               for (key, period), group in groups.items()]
    return sorted(signals, key=lambda s: (-s.score, s.key))


def _score_one(key: str, period: date, group: Sequence[ManagerChange], as_of: date, tracked: int,
               active: int | None, config: InstitutionalConfig) -> InstitutionalSignal:
    # A manager may hold several classes or rows of one security: fold them before counting managers.
    held: dict[int, _Held] = defaultdict(_Held)
    for mc in group:
        h = held[mc.manager_cik]
        h.shares_prev += mc.change.shares_prev
        h.shares_cur += mc.change.shares_cur
        h.qualified = mc.qualified
        if mc.change.rank_cur is not None:
            h.best_rank = mc.change.rank_cur if h.best_rank is None else min(h.best_rank, mc.change.rank_cur)

    opened = [c for c, h in held.items() if h.qualified and h.shares_prev == 0 and h.shares_cur > 0]
    convinced = [c for c, h in held.items() if h.qualified and h.shares_cur > 0 and (
        (h.best_rank is not None and h.best_rank <= config.conviction_top_rank)
        or (h.shares_prev > 0 and h.shares_cur >= h.shares_prev * (1 + config.conviction_add_pct)))]
    adding = sum(1 for h in held.values() if h.shares_cur > h.shares_prev)
    cutting = sum(1 for h in held.values() if h.shares_cur < h.shares_prev)
    holders = len(held)
    holding_now = [c for c, h in held.items() if h.shares_cur > 0]
    qualified_now = sum(1 for c in holding_now if held[c].qualified)

    breadth = min(config.breadth_cap, float(len(opened)))
    conviction = min(config.conviction_cap, float(len(convinced)))
    flow_ratio = (adding - cutting) / holders if holders else 0.0
    net_flow = config.net_flow_max * max(0.0, flow_ratio)
    denominator = active if active else tracked
    crowd_ratio = qualified_now / denominator if denominator else 0.0
    crowded = crowd_ratio >= config.crowding_threshold
    crowding = 0.0
    if crowded and config.crowding_threshold < 1:
        crowding = -config.crowding_max_penalty * min(
            1.0, (crowd_ratio - config.crowding_threshold) / (1 - config.crowding_threshold))
    deadline = filing_deadline(period)
    weeks = max(0, (as_of - deadline).days // 7)
    decay = config.weekly_decay ** weeks
    raw = breadth + conviction + net_flow + crowding
    full = config.breadth_cap + config.conviction_cap + config.net_flow_max
    score = round(max(0.0, min(10.0, raw * 10 / full * decay)), 2)

    versus = f"{active} active 13F holders" if active else f"{tracked} tracked managers"
    components = (
        Component("breadth", breadth, f"{len(opened)} qualified manager(s) opened a new position"
                  + _names(opened, group)),
        Component("conviction", conviction, f"{len(convinced)} qualified manager(s) hold it in their top "
                  f"{config.conviction_top_rank} or added ≥{config.conviction_add_pct:.0%} shares"
                  + _names(convinced, group)),
        Component("net_flow", round(net_flow, 3), f"{adding} adding, {cutting} cutting of {holders} "
                  f"manager(s) holding it now or last quarter (ratio {flow_ratio:+.2f})"),
        Component("crowding", round(crowding, 3), f"{qualified_now} qualified holder(s) of {versus} "
                  f"({crowd_ratio:.0%}); {'CROWDED' if crowded else 'not crowded'} at "
                  f"{config.crowding_threshold:.0%}"),
        Component("staleness", round(decay, 4), f"{weeks} full week(s) past the {deadline} filing deadline; "
                  f"score = raw {raw:.2f} × 10/{full:g} × {decay:.3f}"),
    )
    first = group[0].change
    links = tuple(dict.fromkeys(mc.link for mc in group if mc.link))
    return InstitutionalSignal(
        ticker=first.ticker, cusip=first.cusip, signal_type=SIGNAL_TYPE,
        event_key=f"13f:{period.isoformat()}:{key}", score=score, components=components,
        event_time=datetime.combine(max(mc.filed for mc in group), time(0), tzinfo=UTC),
        links=links, period=period, crowded=crowded,
    )


def _names(ciks: Sequence[int], group: Sequence[ManagerChange]) -> str:
    if not ciks:
        return ""
    names = {mc.manager_cik: mc.manager_name for mc in group}
    return ": " + ", ".join(sorted(names[c] for c in ciks))
