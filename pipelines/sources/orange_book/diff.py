"""Changes between two Orange Book releases, as events with stable dedup keys.

Rows are compared by identity (product key + patent number, or + exclusivity code and date), never
by line order, because FDA reorders rows between editions.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import NamedTuple

from .calendar import CalendarEntry, build_calendar
from .parse import Exclusivity, Patent, Release, gc_paused

EVENT_TYPES = ("patent_added", "patent_delisted", "patent_expiry_moved", "exclusivity_added", "generic_approval")

ProductKey = tuple[str, str, str]
PatentKey = tuple[str, str, str, str, bool]  # product key + patent number + ped


@dataclass(frozen=True)
class ReleaseEvent:
    """One change between releases. `key` is stable across runs, for dedup and alert routing."""

    event_type: str
    appl_no: str
    product_no: str
    key: str
    detail: Mapping[str, object]  # JSON-able: dates as ISO strings
    event_time: datetime


class _PatentState(NamedTuple):  # NamedTuple: two releases fold ~40,000 rows into these
    """A patent's rows folded together (one row per use code in the file)."""

    listed_no: str
    expire_date: date
    delisted: bool  # every row carries Delist_Flag Y
    drug_substance: bool
    drug_product: bool
    use_codes: tuple[str, ...]


def _fold_patents(rows: Iterable[Patent]) -> dict[PatentKey, _PatentState]:
    grouped: dict[PatentKey, list[Patent]] = {}
    for r in rows:
        key = (r.appl_type, r.appl_no, r.product_no, r.patent_no, r.ped)
        group = grouped.get(key)
        if group is None:
            grouped[key] = [r]
        else:
            group.append(r)
    out: dict[PatentKey, _PatentState] = {}
    for k, rs in grouped.items():
        if len(rs) == 1:  # most patents have one use code: skip the folding
            r = rs[0]
            out[k] = _PatentState(r.listed_no, r.expire_date, r.delisted, r.drug_substance, r.drug_product,
                                  (r.use_code,) if r.use_code else ())
            continue
        out[k] = _PatentState(
            listed_no=rs[0].listed_no, expire_date=max(r.expire_date for r in rs),
            delisted=all(r.delisted for r in rs), drug_substance=any(r.drug_substance for r in rs),
            drug_product=any(r.drug_product for r in rs),
            use_codes=tuple(sorted({r.use_code for r in rs if r.use_code})),
        )
    return out


_PRODUCT_KEY = itemgetter(0, 1, 2)  # (Appl_Type, Appl_No, Product_No) of a Product, in one C call
_ENTRY_KEY = itemgetter(0, 1)  # (appl_no, product_no) of a CalendarEntry


def _changed_patents(old: Sequence[Patent], new: Sequence[Patent]
                     ) -> tuple[dict[PatentKey, _PatentState], dict[PatentKey, _PatentState]]:
    """Folded states of the patents with any row added, removed or changed, in each release.

    Most rows are the same in consecutive releases; comparing whole rows as set members first
    leaves only the few changed patents to fold.
    """
    changed = {(r.appl_type, r.appl_no, r.product_no, r.patent_no, r.ped) for r in set(old).symmetric_difference(new)}
    if not changed:
        return {}, {}

    numbers = {k[3] for k in changed}  # a cheap first filter: no key tuple for most rows

    def rows_of(rows: Sequence[Patent]) -> list[Patent]:
        return [r for r in rows if r.patent_no in numbers
                and (r.appl_type, r.appl_no, r.product_no, r.patent_no, r.ped) in changed]

    return _fold_patents(rows_of(old)), _fold_patents(rows_of(new))


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def diff_releases(old: Release, new: Release, *, event_time: datetime | None = None,
                  old_calendar: Iterable[CalendarEntry] | None = None,
                  new_calendar: Iterable[CalendarEntry] | None = None) -> list[ReleaseEvent]:
    """Events for patents added, delisted or with a moved expiry, new exclusivities and new generics.

    `event_time` defaults to `new.observed_at`, then to now (UTC); keys do not depend on it. Pass the
    releases' calendars when already built (the pipeline has them) to avoid building them again.
    """
    with gc_paused():
        return _diff(old, new, event_time or new.observed_at or datetime.now(UTC), old_calendar, new_calendar)


def _diff(old: Release, new: Release, when: datetime, old_calendar: Iterable[CalendarEntry] | None,
          new_calendar: Iterable[CalendarEntry] | None) -> list[ReleaseEvent]:
    old_entries = build_calendar(old) if old_calendar is None else list(old_calendar)
    new_entries = build_calendar(new) if new_calendar is None else list(new_calendar)
    old_cal = dict(zip(map(_ENTRY_KEY, old_entries), old_entries, strict=True))
    new_cal = dict(zip(map(_ENTRY_KEY, new_entries), new_entries, strict=True))
    names: dict[tuple[str, str], str] = {}

    def trade_name(appl_no: str, product_no: str) -> str:
        entry = new_cal.get((appl_no, product_no)) or old_cal.get((appl_no, product_no))
        if entry is not None:
            return entry.trade_name
        if not names:  # a product outside both calendars (an ANDA row): index the names once
            names.update({(p.appl_no, p.product_no): p.trade_name for p in (*old.products, *new.products)})
        return names.get((appl_no, product_no), "")
    events: list[ReleaseEvent] = []

    def emit(event_type: str, pk: ProductKey, ident: str, detail: dict[str, object]) -> None:
        _, appl_no, product_no = pk
        before: CalendarEntry | None = old_cal.get((appl_no, product_no))
        after: CalendarEntry | None = new_cal.get((appl_no, product_no))
        detail = {"trade_name": trade_name(appl_no, product_no), **detail,
                  "effective_loe_before": _iso(before.effective_loe) if before else None,
                  "effective_loe_after": _iso(after.effective_loe) if after else None}
        key = f"orange_book:{event_type}:{pk[0]}{appl_no}-{product_no}:{ident}"
        events.append(ReleaseEvent(event_type, appl_no, product_no, key, detail, when))

    old_pt, new_pt = _changed_patents(old.patents, new.patents)
    for k, state in new_pt.items():
        pk, was = k[:3], old_pt.get(k)
        flags = {"drug_substance": state.drug_substance, "drug_product": state.drug_product,
                 "use_codes": list(state.use_codes)}
        if was is None and not state.delisted:
            emit("patent_added", pk, state.listed_no,
                 {"patent_no": state.listed_no, "expire_date": _iso(state.expire_date), **flags})
        elif was is not None and state.delisted and not was.delisted:
            emit("patent_delisted", pk, state.listed_no,
                 {"patent_no": state.listed_no, "expire_date": _iso(state.expire_date), "how": "delist_flag",
                  **flags})
        if was is not None and was.expire_date != state.expire_date:
            emit("patent_expiry_moved", pk, f"{state.listed_no}:{state.expire_date.isoformat()}",
                 {"patent_no": state.listed_no, "old_expire_date": _iso(was.expire_date),
                  "new_expire_date": _iso(state.expire_date),
                  "days_moved": (state.expire_date - was.expire_date).days, **flags})
    for k, was in old_pt.items():
        if k not in new_pt and not was.delisted:
            emit("patent_delisted", k[:3], was.listed_no,
                 {"patent_no": was.listed_no, "expire_date": _iso(was.expire_date), "how": "removed",
                  "drug_substance": was.drug_substance, "drug_product": was.drug_product,
                  "use_codes": list(was.use_codes)})

    # An exclusivity row is its identity (key, code, date): rows of the new release not in the old.
    old_ex = set(old.exclusivities)
    seen: set[Exclusivity] = set()
    for x in new.exclusivities:
        if x not in old_ex and x not in seen:
            seen.add(x)
            emit("exclusivity_added", x.product_key, f"{x.code}:{x.date.isoformat()}",
                 {"code": x.code, "date": _iso(x.date)})

    # New generics: ANDA products matched to an NDA in the new calendar, not to it in the old one,
    # and absent from the old release (a known ANDA that matches after an edit is no new approval).
    old_andas: set[tuple[str, str, str]] | None = None
    for (appl_no, product_no), entry in new_cal.items():
        if not entry.generics:
            continue
        before = old_cal.get((appl_no, product_no))
        if before is not None and before.generics == entry.generics:
            continue  # the usual case: the same generics as last time
        known = {(g.appl_no, g.product_no) for g in before.generics} if before else set()
        for g in entry.generics:
            if (g.appl_no, g.product_no) in known:
                continue
            if old_andas is None:
                old_andas = set(map(_PRODUCT_KEY, old.products))
            if ("A", g.appl_no, g.product_no) in old_andas:
                continue
            emit("generic_approval", ("N", appl_no, product_no), f"A{g.appl_no}-{g.product_no}",
                 {"anda_appl_no": g.appl_no, "anda_product_no": g.product_no,
                  "anda_applicant": g.applicant_full_name, "approval_date": _iso(g.approval_date),
                  "te_code": g.te_code, "anda_type": g.type,
                  "generic_count_before": before.generic_count if before else 0})

    order = {t: i for i, t in enumerate(EVENT_TYPES)}
    return sorted(events, key=lambda e: (order[e.event_type], e.appl_no, e.product_no, e.key))
