"""Insider (Form 4) signal detection and scoring, per domain_and_scoring.md section 3.1.

Composition (documented contract): every component is (name, points, explanation) and
`score = clip(sum(points), 0, 10)`, rounded to 2 decimals. Buys and sales are separate tracks;
the sale track ends with a `sale_track_weight` component that takes away (1 - weight) of its
positive subtotal, so the sum rule holds for both.

Pipeline: trades (see `insider_trades.trades_from_form4`) -> eligibility gate (non-derivative
P for buys, S for sales) -> de-duplication of re-filed trades -> per issuer, windows of
`window_days` anchored at the earliest trade -> one signal per window and track.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from .component import Component
from .component import total as component_total
from .insider_trades import InsiderTrade, trades_from_form4

__all__ = ["InsiderScoringConfig", "InsiderSignal", "InsiderTrade", "detect_insider_signals", "trades_from_form4"]

BUY, CLUSTER_BUY, SALE = "insider_buy", "insider_cluster_buy", "insider_sale"


@dataclass(frozen=True)
class InsiderScoringConfig:
    """Defaults are the notes' proposed points; all are meant to be calibrated by backtest."""

    # Clusters are not a published constant: 2+ insiders in 7 days [R4][R5], $50k+ [R4],
    # 3+ officers in 30 days [R6]; the notes propose a 14-day default the user can change.
    window_days: int = 14
    cluster_min_insiders: int = 2
    cluster_min_dollars: Decimal = Decimal(50000)
    # Breadth for 1, 2, 3 and >=4 distinct insiders.
    breadth_points: tuple[float, ...] = (2.0, 3.5, 4.5, 5.0)
    # (minimum total $, points); cut-offs mirror OpenInsider's $25k and $100k screens [R1].
    buy_dollar_tiers: tuple[tuple[Decimal, float], ...] = (
        (Decimal(25000), 0.5), (Decimal(100000), 1.0), (Decimal(1000000), 1.5))
    # Opportunistic trades carry the predictive power (82 bp/month), routine ones ~0 [R97].
    opportunistic_points: float = 1.0
    routine_points: float = -1.0
    routine_years: int = 3
    # No seniority premium in [R96][R97]: keep role points small.
    senior_role_points: float = 0.5
    other_role_points: float = 0.25
    # Predictability is concentrated in smaller firms [R95].
    small_cap_below: Decimal = Decimal(2000000000)
    small_cap_points: float = 0.5
    # (max days since the trade, points); a third to a half of the return accrues in month 1 [R96].
    # The notes leave 11-30 days open; -1.0 sits between their -0.5 and -1.5.
    freshness_tiers: tuple[tuple[int, float], ...] = ((2, 0.0), (10, -0.5), (30, -1.0))
    stale_points: float = -1.5
    # Even tiny trade-to-holding ratios predict returns [R100]: a minor bonus only.
    delta_own_min: Decimal = Decimal("0.10")
    delta_own_points: float = 0.5
    # Pre-scheduled 10b5-1 trades carry little information [R51][R53]; the notes would exclude
    # them outright, we keep them visible but take this much off, scaled by their share.
    plan_penalty_points: float = 3.0
    # Selling shows no predictive ability [R95][R96]: its own track, mostly discounted.
    sale_weight: float = 0.4
    sale_dollar_tiers: tuple[tuple[Decimal, float], ...] = (
        (Decimal(100000), 0.5), (Decimal(1000000), 1.0))  # Sales $100k+, CEO/CFO $1M+ [R1][R19]


@dataclass(frozen=True)
class InsiderSignal:
    ticker: str | None
    issuer_cik: int
    signal_type: str
    event_key: str
    score: float
    components: tuple[Component, ...]
    event_time: datetime
    accession_numbers: tuple[str, ...]
    held: bool
    hold_reason: str | None
    window_start: date
    window_end: date
    insiders: tuple[str, ...]


def _money(value: Decimal) -> str:
    return f"${value:,.0f}"


class _Insiders:
    """Distinct insiders: owner CIK sets that share any CIK are one insider (joint filers)."""

    def __init__(self, trades: Sequence[InsiderTrade]) -> None:
        self.parent: dict[int, int] = {}
        for t in trades:
            for cik in t.owner_ciks:
                self.parent.setdefault(cik, cik)
                self._union(t.owner_ciks[0], cik)
        self.groups: dict[int, list[InsiderTrade]] = {}
        for t in trades:
            self.groups.setdefault(self._find(t.owner_ciks[0]), []).append(t)

    def _find(self, cik: int) -> int:
        while self.parent[cik] != cik:
            self.parent[cik] = self.parent[self.parent[cik]]
            cik = self.parent[cik]
        return cik

    def _union(self, a: int, b: int) -> None:
        ra, rb = self._find(a), self._find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def ciks(self, root: int) -> set[int]:
        return {c for c in self.parent if self._find(c) == root}


def _tier(value: Decimal, tiers: Sequence[tuple[Decimal, float]]) -> float:
    points = 0.0
    for minimum, tier_points in tiers:
        if value >= minimum:
            points = tier_points
    return points


def _breadth(n: int, cfg: InsiderScoringConfig, verb: str) -> Component:
    points = cfg.breadth_points[min(n, len(cfg.breadth_points)) - 1]
    return Component("breadth", points, f"{n} distinct insider(s) {verb} within {cfg.window_days} days")


def _dollars(trades: Sequence[InsiderTrade], tiers: Sequence[tuple[Decimal, float]]) -> tuple[Decimal, Component]:
    known = [t.value for t in trades if t.value is not None]
    total = sum(known, Decimal(0))
    unknown = len(trades) - len(known)
    note = f"{_money(total)} total" + (f" ({unknown} row(s) without a value)" if unknown else "")
    return total, Component("dollar_conviction", _tier(total, tiers), note)


def _role(insiders: _Insiders, cfg: InsiderScoringConfig) -> Component:
    best, why = 0.0, "only 10%-owner entities or 'other' relationships"
    for trades in insiders.groups.values():
        t = trades[0]
        if t.is_senior and cfg.senior_role_points > best:
            best, why = cfg.senior_role_points, f"{t.owner_names[0]} is {t.officer_title}"
        elif (t.is_officer or t.is_director) and cfg.other_role_points > best:
            best, why = cfg.other_role_points, f"{t.owner_names[0]} is an officer or director"
    return Component("role", best, why)


def _is_routine(months: Collection[tuple[int, int]], trade_dates: Iterable[date], years: int) -> bool:
    """Cohen-Malloy-Pomorski: traded in the same calendar month in each of the prior `years` years."""
    return any(all((d.year - k, d.month) in months for k in range(1, years + 1)) for d in trade_dates)


def _opportunistic(insiders: _Insiders, history: Mapping[int, Collection[tuple[int, int]]] | None,
                   cfg: InsiderScoringConfig) -> Component:
    if history is None:
        return Component("opportunistic", 0.0, "no purchase history supplied; routine/opportunistic unknown")
    verdicts = []
    for root, trades in insiders.groups.items():
        months = {m for cik in insiders.ciks(root) for m in history.get(cik, ())}
        verdicts.append(_is_routine(months, (t.trade_date for t in trades), cfg.routine_years))
    routine = sum(verdicts)
    opportunistic = len(verdicts) - routine
    points = (opportunistic * cfg.opportunistic_points + routine * cfg.routine_points) / len(verdicts)
    return Component("opportunistic", round(points, 4), f"{opportunistic} opportunistic, {routine} routine insider(s)")


def _size(issuer_cik: int, market_caps: Mapping[int, Decimal] | None, cfg: InsiderScoringConfig) -> Component:
    cap = market_caps.get(issuer_cik) if market_caps else None
    if cap is None:
        return Component("size", 0.0, "market cap unknown")
    points = cfg.small_cap_points if cap < cfg.small_cap_below else 0.0
    return Component("size", points, f"market cap {_money(cap)}")


def _freshness(latest: date, as_of: datetime, cfg: InsiderScoringConfig) -> Component:
    days = max(0, (as_of.date() - latest).days)
    points = next((p for limit, p in cfg.freshness_tiers if days <= limit), cfg.stale_points)
    return Component("freshness", points, f"{days} day(s) since the latest trade ({latest.isoformat()})")


def _delta_own(insiders: _Insiders, cfg: InsiderScoringConfig) -> Component:
    """Shares bought / shares owned before.

    Before = per holding line (ownership + nature) the first row's shares-after minus its
    shares, plus the holdings each filing lists without a trade (counted once per filing).
    """
    bought = before = Decimal(0)
    for trades in insiders.groups.values():
        lines: dict[tuple[str | None, str | None], list[InsiderTrade]] = {}
        for t in sorted(trades, key=lambda t: (t.trade_date, t.accession, t.row)):
            lines.setdefault((t.ownership, t.nature_of_ownership), []).append(t)
        for line in lines.values():
            shares = [t.shares for t in line if t.shares is not None]
            owned_after = line[0].shares_owned_after
            if len(shares) != len(line) or owned_after is None:
                return Component("delta_own", 0.0, "shares or shares-owned-after missing; change in ownership unknown")
            before += owned_after - shares[0]
            bought += sum(shares, Decimal(0))
        before += sum({t.accession: t.other_holdings for t in trades}.values(), Decimal(0))
    if before <= 0:
        return Component("delta_own", cfg.delta_own_points,
                         f"new position: {bought:,f} shares bought, none held before")
    ratio = bought / before
    points = cfg.delta_own_points if ratio >= cfg.delta_own_min else 0.0
    return Component("delta_own", points, f"holdings up {ratio:.1%} ({bought:,f} on {before:,f} shares)")


def _plan(trades: Sequence[InsiderTrade], cfg: InsiderScoringConfig) -> Component:
    plan = [t for t in trades if t.plan_10b5_1]
    if not plan:
        return Component("plan_10b5_1", 0.0, "no 10b5-1 plan trades")
    values = [t.value for t in trades if t.value is not None]
    plan_values = [t.value for t in plan if t.value is not None]
    total = sum(values, Decimal(0))
    if len(values) == len(trades) and total > 0:
        share = float(sum(plan_values, Decimal(0)) / total)
    else:
        share = len(plan) / len(trades)
    return Component("plan_10b5_1", round(-cfg.plan_penalty_points * share, 4),
            f"{share:.0%} of the traded value under a Rule 10b5-1 plan (pre-scheduled)")


def _hold(trades: Sequence[InsiderTrade]) -> str | None:
    reasons = sorted({f"amended filing (4/A) {t.accession}" for t in trades if t.amended})
    reasons += sorted({f"{t.accession}: {issue}" for t in trades for issue in t.issues})
    return "; ".join(reasons) or None


def _signal(
    signal_type: str, trades: Sequence[InsiderTrade], components: list[Component], start: date,
    cfg: InsiderScoringConfig
) -> InsiderSignal:
    accessions = tuple(sorted({t.accession for t in trades}))
    end = start + timedelta(days=cfg.window_days - 1)
    digest = hashlib.sha256(",".join(accessions).encode()).hexdigest()[:12]
    issuer = trades[0].issuer_cik
    tickers = Counter(t.ticker for t in trades if t.ticker)
    reason = _hold(trades)
    total = component_total(components)
    return InsiderSignal(
        ticker=tickers.most_common(1)[0][0] if tickers else None,
        issuer_cik=issuer,
        signal_type=signal_type,
        event_key=f"{issuer}:{signal_type}:{start.isoformat()}/{end.isoformat()}:{digest}",
        score=round(min(10.0, max(0.0, total)), 2),
        components=tuple(components),
        event_time=max(t.filed_at for t in trades),
        accession_numbers=accessions,
        held=reason is not None,
        hold_reason=reason,
        window_start=start,
        window_end=end,
        insiders=tuple(sorted({t.owner_names[0] for t in trades if t.owner_names})),
    )


def _score_window(
    trades: Sequence[InsiderTrade], start: date, *, sale: bool, as_of: datetime, cfg: InsiderScoringConfig,
    history: Mapping[int, Collection[tuple[int, int]]] | None, market_caps: Mapping[int, Decimal] | None,
) -> InsiderSignal:
    insiders = _Insiders(trades)
    n = len(insiders.groups)
    latest = max(t.trade_date for t in trades)
    if sale:
        _, dollars = _dollars(trades, cfg.sale_dollar_tiers)
        components = [_breadth(n, cfg, "sold (code S)"), dollars, _role(insiders, cfg),
                      _freshness(latest, as_of, cfg), _plan(trades, cfg)]
        subtotal = component_total(components)
        cut = -(1 - cfg.sale_weight) * max(subtotal, 0.0)
        components.append(Component("sale_track_weight", round(cut, 4),
                           f"sales carry little information [R95]: kept at {cfg.sale_weight:.0%} of {subtotal:.2f}"))
        return _signal(SALE, trades, components, start, cfg)
    total, dollars = _dollars(trades, cfg.buy_dollar_tiers)
    components = [
        _breadth(n, cfg, "bought (code P)"), dollars, _opportunistic(insiders, history, cfg), _role(insiders, cfg),
        _size(trades[0].issuer_cik, market_caps, cfg), _freshness(latest, as_of, cfg), _delta_own(insiders, cfg),
        _plan(trades, cfg),
    ]
    is_cluster = n >= cfg.cluster_min_insiders and total >= cfg.cluster_min_dollars
    return _signal(CLUSTER_BUY if is_cluster else BUY, trades, components, start, cfg)


def _dedupe(trades: Iterable[InsiderTrade]) -> list[InsiderTrade]:
    """Merge re-filed copies of one trade; owners are united and any amended copy marks it."""
    merged: dict[tuple[object, ...], InsiderTrade] = {}
    for t in trades:
        seen = merged.get(t.dedupe_key)
        if seen is None:
            merged[t.dedupe_key] = t
            continue
        merged[t.dedupe_key] = replace(
            seen,
            owner_ciks=tuple(dict.fromkeys(seen.owner_ciks + t.owner_ciks)),
            owner_names=tuple(dict.fromkeys(seen.owner_names + t.owner_names)),
            amended=seen.amended or t.amended,
            issues=tuple(dict.fromkeys(seen.issues + t.issues)),
            filed_at=min(seen.filed_at, t.filed_at),
            plan_10b5_1=seen.plan_10b5_1 or t.plan_10b5_1,
        )
    return list(merged.values())


def _windows(trades: Sequence[InsiderTrade], days: int) -> list[tuple[date, list[InsiderTrade]]]:
    """Consecutive windows anchored at the earliest not-yet-covered trade date."""
    out: list[tuple[date, list[InsiderTrade]]] = []
    for t in sorted(trades, key=lambda t: (t.trade_date, t.accession, t.row)):
        if out and (t.trade_date - out[-1][0]).days < days:
            out[-1][1].append(t)
        else:
            out.append((t.trade_date, [t]))
    return out


def detect_insider_signals(
    trades: Iterable[InsiderTrade],
    *,
    as_of: datetime,
    config: InsiderScoringConfig = InsiderScoringConfig(),
    purchase_history: Mapping[int, Collection[tuple[int, int]]] | None = None,
    market_caps: Mapping[int, Decimal] | None = None,
) -> list[InsiderSignal]:
    """Buy and sale signals per issuer and window.

    Only non-derivative code P counts as buying: grants (A), tax withholding (F), option
    exercises (M/X), gifts (G), conversions (C) and inheritances (W) are compensation or
    administrative events [R1]. `purchase_history` maps an owner CIK to the (year, month) pairs
    in which it bought before; None means unknown (the opportunistic component is then 0).
    `market_caps` maps issuer CIK to market cap in dollars. Trades filed after `as_of` are
    ignored so a replay or backtest sees only what was public then.
    """
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    pool = _dedupe(
        t for t in trades if t.table == "non_derivative" and t.code in ("P", "S") and t.filed_at <= as_of
    )
    signals: list[InsiderSignal] = []
    for code, sale in (("P", False), ("S", True)):
        by_issuer: dict[int, list[InsiderTrade]] = {}
        for t in pool:
            if t.code == code:
                by_issuer.setdefault(t.issuer_cik, []).append(t)
        for issuer in sorted(by_issuer):
            for start, window in _windows(by_issuer[issuer], config.window_days):
                signals.append(_score_window(window, start, sale=sale, as_of=as_of, cfg=config,
                                             history=purchase_history, market_caps=market_caps))
    return signals
