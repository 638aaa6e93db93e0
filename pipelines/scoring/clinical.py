"""Clinical-trial change events -> 0-10 signals with every component kept (domain notes §3.3).

score = min(10, (event base + why-stopped + materiality + lead asset) x mapping multiplier)

Points are the §3.3 design defaults. Rows §3.3 has no figure for are our own defaults, marked below:
ACTIVE_NOT_RECRUITING (enrolment complete, a "medium" alert in public monitors) 2, primary
completion moved later by 90 days or less 1, enrolment increase 1. Unclassified or absent
whyStopped text scores 0, like accrual: most terminations are not about trial data.

Materiality: small or early-stage sponsors move more on trial news than big pharma. The caller
passes a market cap or a size class; with neither the component is the neutral midpoint 1, so an
unknown sponsor ranks neither as a small cap nor as big pharma.

Mapping multiplier: override or exact name match x1.0; a fuzzy match x0.8 (§3.3), lowered to the
match confidence if that is below 0.8. Non-industry sponsors get no ticker, so callers score only
events whose sponsor `SponsorMapper.match` mapped.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pipelines.sources.ctgov.diff import (
    ENROLLMENT_CHANGED,
    PRIMARY_COMPLETION_ACTUAL,
    PRIMARY_COMPLETION_MOVED,
    RESULTS_POSTED,
    STATUS_CHANGED,
    ChangeEvent,
)
from pipelines.sources.ctgov.normalize import PartialDate, study_url
from pipelines.sources.sponsors import SponsorMatch

MAX_SCORE = 10.0
STATUS_BASE = {"TERMINATED": 5, "SUSPENDED": 4, "WITHDRAWN": 2, "COMPLETED": 4, "ACTIVE_NOT_RECRUITING": 2}
STOPPED_STATUSES = frozenset({"TERMINATED", "SUSPENDED", "WITHDRAWN"})
LONG_DELAY_DAYS = 90
SMALL_CAP_USD = 2e9
LARGE_CAP_USD = 10e9  # our split between "mid" and big pharma; §3.3 only names the $2B line
SIZE_CLASS_POINTS = {"early_stage": 2, "small": 2, "mid": 1, "large": 0, "big_pharma": 0}
FUZZY_MULTIPLIER = 0.8

# whyStopped classes in priority order: a stop driven by trial data outranks a business or accrual
# reason given alongside it ("slow accrual; DSMB recommended stopping for futility").
WHY_STOPPED_RULES: tuple[tuple[str, int, re.Pattern[str]], ...] = (
    ("efficacy_safety", 2, re.compile(
        r"\b(efficacy|futil\w*|safety|toxicit\w*|toxic|adverse|side effects?|dsmb|dmc|idmc|"
        r"data (safety )?monitoring|interim analys[ie]s|benefit|primary endpoint)\b")),
    ("business", 1, re.compile(
        r"\b(business|strateg\w*|portfolio|fund\w*|financ\w*|commercial|budget\w*|"
        r"(re)?prioriti[sz]\w*|sponsor decision|company decision|acquisition|merger)\b")),
    ("accrual", 0, re.compile(r"\b(accru\w*|enrol\w*|recruit\w*)\b")),
)
# A keyword right after one of these in the same clause is denied ("not due to safety concerns").
_NEGATION_RE = re.compile(r"\b(no|not|non|without|unrelated|none|nor)\b")
_CLAUSE_BREAK_RE = re.compile(r"[.;:,()]")


@dataclass(frozen=True)
class Materiality:
    """How much the sponsor's size amplifies news: a market cap in USD, or a size class
    (early_stage, small, mid, large, big_pharma). The market cap wins when both are given."""

    market_cap_usd: float | None = None
    size_class: str | None = None


@dataclass(frozen=True)
class ClinicalSignal:
    ticker: str
    signal_type: str
    event_key: str
    score: float
    components: tuple[tuple[str, float, str], ...]
    event_time: PartialDate | None
    links: tuple[str, ...]


def _affirmed(text: str, match: re.Match[str]) -> bool:
    clause = _CLAUSE_BREAK_RE.split(text[: match.start()])[-1]
    return not _NEGATION_RE.search(" ".join(clause.split()[-4:]))


def classify_why_stopped(text: str | None) -> str:
    """efficacy_safety | business | accrual | other (no rule matched) | none (no text)."""
    if not text or not text.strip():
        return "none"
    lowered = text.lower()
    for name, _, pattern in WHY_STOPPED_RULES:
        if any(_affirmed(lowered, m) for m in pattern.finditer(lowered)):
            return name
    return "other"


def _base(event: ChangeEvent) -> tuple[float, str]:
    if event.event_type == STATUS_CHANGED:
        points = STATUS_BASE.get(str(event.new))
        if points is None:
            raise ValueError(f"{event.event_key}: no base score for status {event.new!r}")
        return points, f"status {event.old} -> {event.new}"
    if event.event_type == RESULTS_POSTED:
        return 4, "results posted"
    if event.event_type == PRIMARY_COMPLETION_MOVED:
        days = int(event.detail["days"])
        if days > LONG_DELAY_DAYS:
            return 3, f"primary completion moved {days} days later (> {LONG_DELAY_DAYS})"
        if days < 0:
            return 2, f"primary completion moved {-days} days earlier"
        return 1, f"primary completion moved {days} days later (<= {LONG_DELAY_DAYS})"
    if event.event_type == PRIMARY_COMPLETION_ACTUAL:
        return 2, "primary completion date became ACTUAL"
    if event.event_type == ENROLLMENT_CHANGED:
        pct = event.detail.get("change_pct")
        if event.detail.get("direction") == "cut":
            return 2, f"enrolment cut {event.old} -> {event.new} ({pct}%)"
        return 1, f"enrolment raised {event.old} -> {event.new} (+{pct}%)"
    raise ValueError(f"{event.event_key}: no base score for event type {event.event_type!r}")


def _why_stopped(event: ChangeEvent) -> tuple[float, str]:
    if event.event_type != STATUS_CHANGED or event.new not in STOPPED_STATUSES:
        return 0, "not a stopped-trial event"
    text = event.detail.get("why_stopped")
    reason = classify_why_stopped(text)
    points = {name: pts for name, pts, _ in WHY_STOPPED_RULES}.get(reason, 0)
    shown = f"{text!r}" if text else "no reason given"
    return points, f"why stopped: {reason} ({shown})"


def _materiality(m: Materiality | None) -> tuple[float, str]:
    if m is not None and m.market_cap_usd is not None:
        cap = m.market_cap_usd
        if cap < 0:
            raise ValueError(f"market cap must not be negative, got {cap}")
        if cap < SMALL_CAP_USD:
            return 2, f"market cap ${cap / 1e9:.2f}B < $2B: small sponsor"
        if cap < LARGE_CAP_USD:
            return 1, f"market cap ${cap / 1e9:.2f}B: mid-size sponsor"
        return 0, f"market cap ${cap / 1e9:.2f}B >= $10B: large sponsor"
    if m is not None and m.size_class is not None:
        if m.size_class not in SIZE_CLASS_POINTS:
            raise ValueError(f"unknown size class {m.size_class!r}; known: {', '.join(SIZE_CLASS_POINTS)}")
        return SIZE_CLASS_POINTS[m.size_class], f"size class {m.size_class}"
    return 1, "sponsor size unknown: neutral"


def _lead_asset(lead_asset: bool | None) -> tuple[float, str]:
    if lead_asset is None:
        return 0, "lead asset not assessed"
    return (1, "intervention is the company's lead Phase 3 asset") if lead_asset else (0, "not the lead asset")


def _mapping(match: SponsorMatch) -> tuple[float, str]:
    if not 0 <= match.confidence <= 1:
        raise ValueError(f"mapping confidence must be within 0..1, got {match.confidence}")
    if match.method in ("override", "exact"):
        return 1.0, f"{match.method} match {match.sponsor!r} -> {match.ticker}"
    if match.method == "fuzzy":
        factor = min(FUZZY_MULTIPLIER, match.confidence)
        return factor, f"fuzzy match {match.sponsor!r} -> {match.ticker} (confidence {match.confidence:.2f})"
    raise ValueError(f"unknown match method {match.method!r}")


def score_event(event: ChangeEvent, match: SponsorMatch, materiality: Materiality | None = None,
                *, lead_asset: bool | None = None) -> ClinicalSignal:
    """Score one change event for the mapped sponsor's ticker; every component is kept."""
    base, base_why = _base(event)
    why, why_why = _why_stopped(event)
    size, size_why = _materiality(materiality)
    lead, lead_why = _lead_asset(lead_asset)
    factor, factor_why = _mapping(match)
    score = min(MAX_SCORE, max(0.0, (base + why + size + lead) * factor))
    return ClinicalSignal(
        ticker=match.ticker,
        signal_type=f"ctgov_{event.event_type}",
        event_key=event.event_key,
        score=round(score, 2),
        components=(
            ("event_base", float(base), base_why),
            ("why_stopped", float(why), why_why),
            ("materiality", float(size), size_why),
            ("lead_asset", float(lead), lead_why),
            ("mapping_multiplier", float(factor), factor_why),
        ),
        event_time=event.event_time,
        links=(study_url(event.nct_id),),
    )


def signal_to_json(s: ClinicalSignal) -> dict[str, Any]:
    return {
        "ticker": s.ticker,
        "signal_type": s.signal_type,
        "event_key": s.event_key,
        "score": s.score,
        "components": [{"name": n, "value": v, "explanation": e} for n, v, e in s.components],
        "event_time": None if s.event_time is None else s.event_time.isoformat(),
        "links": list(s.links),
    }
