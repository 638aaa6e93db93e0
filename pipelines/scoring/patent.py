"""Patent-cliff (loss of exclusivity) opportunity score, 0-10, with every component kept.

Components (domain notes 3.4):
- time_to_loe 0-4: effective LOE within 6 / 12 / 24 / 36 months of `as_of` -> 4 / 3 / 2 / 1.
- generic_pressure 0-3: one point each for a Paragraph IV listing, two or more first filers, and an
  approved generic. The Orange Book gives only the last; the PIV points need `PivStatus` input and
  are reported as unavailable without it.
- revenue_exposure 0-3: product revenue / company revenue >= 25% / 10% / 5% -> 3 / 2 / 1. Only an
  operator can supply the share (segment data is not in the Orange Book); without it the component
  has value None and adds nothing, so an unscored exposure never looks like zero exposure.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from pipelines.core.errors import ConfigError
from pipelines.sources.orange_book.calendar import (
    CalendarEntry,
    add_months,
    months_to_loe,
)
from pipelines.sources.orange_book.diff import ReleaseEvent

from .component import Component, total

MAX_SCORE = 10.0
_LOE_BANDS = ((6, 4.0), (12, 3.0), (24, 2.0), (36, 1.0))
_EXPOSURE_BANDS = ((0.25, 3.0), (0.10, 2.0), (0.05, 1.0))
# FDA 2019 (2015-17 AMP prices): price below the pre-generic brand price by number of generics.
_PRICE_EROSION = ((6, "more than 95%"), (4, "79%"), (2, "54%"), (1, "39%"))
_EVENT_BUMP = {
    "patent_delisted": (2.0, "a delisted patent removes a barrier to generic entry"),
    "patent_added": (1.0, "a newly listed patent can extend protection or start new Paragraph IV fights"),
    "patent_expiry_moved": (1.0, "a patent expiry moved"),
    "exclusivity_added": (1.0, "a new exclusivity was granted"),
    "generic_approval": (1.0, "another generic was approved"),
}
# Notes 3.4: a patent listed or delisted is alerted at once, at >= 7 when exposure is >= 2.
_FLOOR_EVENTS = frozenset({"patent_delisted", "patent_added"})
_FLOOR_SCORE, _FLOOR_EXPOSURE = 7.0, 2.0


@dataclass(frozen=True)
class PivStatus:
    """What FDA's Paragraph IV certification list says about one NDA (operator-supplied)."""

    listed: bool
    first_filer_count: int | None = None


@dataclass(frozen=True)
class PatentScore:
    """Score of one NDA product, or of one release event on it (`event_key` set)."""

    appl_no: str
    product_no: str
    trade_name: str
    score: float
    components: tuple[Component, ...]
    event_type: str = ""
    event_key: str = ""


def time_to_loe_component(effective_loe: date | None, as_of: date) -> Component:
    """0-4 points for how soon exclusivity ends."""
    if effective_loe is None:
        return Component("time_to_loe", 0.0, "no listed patent or exclusivity: no LOE date")
    months = months_to_loe(effective_loe, as_of)
    if effective_loe < as_of:
        return Component("time_to_loe", 0.0, f"LOE {effective_loe.isoformat()} already passed ({months} months)")
    for limit, points in _LOE_BANDS:
        if effective_loe <= add_months(as_of, limit):
            return Component("time_to_loe", points,
                             f"LOE {effective_loe.isoformat()} is {months} months away (<= {limit})")
    return Component("time_to_loe", 0.0, f"LOE {effective_loe.isoformat()} is {months} months away (> 36)")


def generic_pressure_component(generic_count: int, piv: PivStatus | None = None) -> Component:
    """0-3 points: PIV listing, >= 2 first filers, an approved generic (the last from the Orange Book)."""
    points, notes = 0.0, []
    if generic_count >= 1:
        points += 1
        erosion = next(text for n, text in _PRICE_EROSION if generic_count >= n)
        notes.append(f"{generic_count} marketed generic(s) approved (+1; FDA: price about {erosion} below brand)")
    else:
        notes.append("no marketed generic approved (+0)")
    if piv is None:
        notes.append("Paragraph IV list not supplied: 2 of 3 points unavailable")
    else:
        points += 1 if piv.listed else 0
        notes.append(f"Paragraph IV listing {'present (+1)' if piv.listed else 'absent (+0)'}")
        if piv.first_filer_count is None:
            notes.append("first-filer count unknown: 1 point unavailable")
        else:
            extra = 1 if piv.first_filer_count >= 2 else 0
            points += extra
            notes.append(f"{piv.first_filer_count} first filer(s) (+{extra})")
    return Component("generic_pressure", points, "; ".join(notes))


def revenue_exposure_component(revenue_share: float | None) -> Component:
    """0-3 points from product revenue / company revenue; None when no operator supplied it."""
    if revenue_share is None:
        return Component("revenue_exposure", None, "unavailable: no revenue share supplied for this product")
    if not 0.0 <= revenue_share <= 1.0:
        raise ConfigError(f"revenue share must be a fraction in [0, 1], got {revenue_share}")
    for floor, points in _EXPOSURE_BANDS:
        if revenue_share >= floor:
            return Component("revenue_exposure", points, f"{revenue_share:.0%} of company revenue (>= {floor:.0%})")
    return Component("revenue_exposure", 0.0, f"{revenue_share:.0%} of company revenue (< 5%)")


def _total(components: Iterable[Component]) -> float:
    return min(MAX_SCORE, total(components))


def _product_components(
    entry: CalendarEntry, as_of: date, revenue_share: float | None, piv: PivStatus | None
) -> tuple[Component, ...]:
    return (time_to_loe_component(entry.effective_loe, as_of),
            generic_pressure_component(entry.generic_count, piv),
            revenue_exposure_component(revenue_share))


def score_entry(
    entry: CalendarEntry, as_of: date, *, revenue_share: float | None = None, piv: PivStatus | None = None
) -> PatentScore:
    """Opportunity score of one calendar entry."""
    comps = _product_components(entry, as_of, revenue_share, piv)
    return PatentScore(entry.appl_no, entry.product_no, entry.trade_name, _total(comps), comps)


def score_calendar(
    entries: Iterable[CalendarEntry], as_of: date, *, revenue_shares: Mapping[str, float] | None = None,
    piv: Mapping[str, PivStatus] | None = None,
) -> list[PatentScore]:
    """Scores for all entries. `revenue_shares` is keyed by trade name, `piv` by NDA number (appl_no)."""
    shares = {k.upper(): v for k, v in (revenue_shares or {}).items()}
    piv = piv or {}
    return [score_entry(e, as_of, revenue_share=shares.get(e.trade_name.upper()), piv=piv.get(e.appl_no))
            for e in entries]


def score_event(
    event: ReleaseEvent, entry: CalendarEntry | None, as_of: date, *,
    revenue_share: float | None = None, piv: PivStatus | None = None,
) -> PatentScore:
    """Score of a release event: the product's components, an event bump, and the notes' alert floor."""
    comps = list(_product_components(entry, as_of, revenue_share, piv)) if entry else [
        Component("product", None, "product no longer in the release: no calendar components")]
    bump, why = _EVENT_BUMP.get(event.event_type, (0.0, f"unscored event type {event.event_type}"))
    if event.event_type == "generic_approval" and event.detail.get("generic_count_before") == 0:
        bump, why = 2.0, "first generic approved for this product"
    comps.append(Component("event", bump, why))
    before, after = event.detail.get("effective_loe_before"), event.detail.get("effective_loe_after")
    if before != after:
        comps.append(Component("loe_moved", 1.0, f"effective LOE moved from {before} to {after}"))
    exposure = next((c.value for c in comps if c.name == "revenue_exposure"), None)
    subtotal = _total(comps)
    if event.event_type in _FLOOR_EVENTS and exposure is not None and exposure >= _FLOOR_EXPOSURE \
            and subtotal < _FLOOR_SCORE:
        comps.append(Component("alert_floor", _FLOOR_SCORE - subtotal,
                               f"patent listing change with revenue exposure {exposure:g} >= 2: raised to 7"))
    return PatentScore(event.appl_no, event.product_no, entry.trade_name if entry else "",
                       _total(comps), tuple(comps), event.event_type, event.key)


def score_events(
    events: Iterable[ReleaseEvent], calendar: Iterable[CalendarEntry], as_of: date, *,
    revenue_shares: Mapping[str, float] | None = None, piv: Mapping[str, PivStatus] | None = None,
) -> list[PatentScore]:
    """Scores for diff events, each joined to its product in the new release's calendar."""
    by_key = {(e.appl_no, e.product_no): e for e in calendar}
    shares = {k.upper(): v for k, v in (revenue_shares or {}).items()}
    piv = piv or {}
    out = []
    for ev in events:
        entry = by_key.get((ev.appl_no, ev.product_no))
        name = (entry.trade_name if entry else str(ev.detail.get("trade_name", ""))).upper()
        out.append(score_event(ev, entry, as_of, revenue_share=shares.get(name), piv=piv.get(ev.appl_no)))
    return out
