"""Changes between two Orange Book releases, as events with stable dedup keys.

Rows are compared by identity (product key + patent number, or + exclusivity code and date), never
by line order, because FDA reorders rows between editions.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from .calendar import CalendarEntry, build_calendar, generics_for, generics_index
from .parse import Patent, Release

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


@dataclass(frozen=True)
class _PatentState:
    """A patent's rows folded together (one row per use code in the file)."""

    listed_no: str
    expire_date: date
    delisted: bool  # every row carries Delist_Flag Y
    drug_substance: bool
    drug_product: bool
    use_codes: tuple[str, ...]


def _fold_patents(rows: Iterable[Patent]) -> dict[PatentKey, _PatentState]:
    grouped: dict[PatentKey, list[Patent]] = defaultdict(list)
    for r in rows:
        grouped[(r.appl_type, r.appl_no, r.product_no, r.patent_no, r.ped)].append(r)
    return {
        k: _PatentState(
            listed_no=rs[0].listed_no, expire_date=max(r.expire_date for r in rs),
            delisted=all(r.delisted for r in rs), drug_substance=any(r.drug_substance for r in rs),
            drug_product=any(r.drug_product for r in rs),
            use_codes=tuple(sorted({r.use_code for r in rs if r.use_code})),
        )
        for k, rs in grouped.items()
    }


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def diff_releases(old: Release, new: Release, *, event_time: datetime | None = None) -> list[ReleaseEvent]:
    """Events for patents added, delisted or with a moved expiry, new exclusivities and new generics.

    `event_time` defaults to `new.observed_at`, then to now (UTC); keys do not depend on it.
    """
    when = event_time or new.observed_at or datetime.now(UTC)
    old_cal = {(e.appl_no, e.product_no): e for e in build_calendar(old)}
    new_cal = {(e.appl_no, e.product_no): e for e in build_calendar(new)}
    names = {(p.appl_no, p.product_no): p.trade_name for p in (*old.products, *new.products)}
    events: list[ReleaseEvent] = []

    def emit(event_type: str, pk: ProductKey, ident: str, detail: dict[str, object]) -> None:
        _, appl_no, product_no = pk
        before: CalendarEntry | None = old_cal.get((appl_no, product_no))
        after: CalendarEntry | None = new_cal.get((appl_no, product_no))
        detail = {"trade_name": names.get((appl_no, product_no), ""), **detail,
                  "effective_loe_before": _iso(before.effective_loe) if before else None,
                  "effective_loe_after": _iso(after.effective_loe) if after else None}
        key = f"orange_book:{event_type}:{pk[0]}{appl_no}-{product_no}:{ident}"
        events.append(ReleaseEvent(event_type, appl_no, product_no, key, detail, when))

    old_pt, new_pt = _fold_patents(old.patents), _fold_patents(new.patents)
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

    old_ex = {(x.product_key, x.code, x.date) for x in old.exclusivities}
    seen: set[tuple[ProductKey, str, date]] = set()
    for x in new.exclusivities:
        ident = (x.product_key, x.code, x.date)
        if ident not in old_ex and ident not in seen:
            seen.add(ident)
            emit("exclusivity_added", x.product_key, f"{x.code}:{x.date.isoformat()}",
                 {"code": x.code, "date": _iso(x.date)})

    old_products = {p.key for p in old.products}
    new_andas = [p for p in new.products if p.appl_type == "A" and p.key not in old_products]
    if new_andas:
        index = generics_index(new_andas)
        for nda in new.products:
            if nda.appl_type != "N":
                continue
            before = old_cal.get((nda.appl_no, nda.product_no))
            for anda in generics_for(nda, index):
                emit("generic_approval", nda.key, f"A{anda.appl_no}-{anda.product_no}",
                     {"anda_appl_no": anda.appl_no, "anda_product_no": anda.product_no,
                      "anda_applicant": anda.applicant_full_name, "approval_date": _iso(anda.approval_date),
                      "te_code": anda.te_code, "anda_type": anda.type,
                      "generic_count_before": before.generic_count if before else 0})

    order = {t: i for i, t in enumerate(EVENT_TYPES)}
    return sorted(events, key=lambda e: (order[e.event_type], e.appl_no, e.product_no, e.key))
