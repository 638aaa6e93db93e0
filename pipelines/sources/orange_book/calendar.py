"""Patent-cliff calendar: per NDA product, when patents and exclusivities run out.

Effective loss of exclusivity (LOE) is the later of the last listed, non-delisted patent expiry
and the last exclusivity date. Pediatric extensions need no extra arithmetic: FDA lists them as
their own rows (`<patent>*PED`, exclusivity code `PED`) already dated 6 months later.
"""
from __future__ import annotations

import calendar as _stdcal
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from .parse import OrangeBookRowError, Patent, Product, Release, read_release_dir

JSON_FIELDS = (
    "appl_no", "product_no", "trade_name", "ingredient", "applicant", "last_patent_expiry",
    "last_ds_dp_patent_expiry", "last_exclusivity_expiry", "effective_loe", "ped_applied", "generic_count",
)
_NUMBERED_TE = re.compile(r"[A-Z]{2}\d+")


@dataclass(frozen=True)
class GenericApproval:
    """An ANDA product that matches a brand product (same ingredient, form;route and strength)."""

    appl_no: str
    product_no: str
    applicant: str
    approval_date: date | None
    te_code: str
    type: str  # RX, OTC or DISCN; DISCN generics are listed but not counted as pressure


@dataclass(frozen=True)
class CalendarEntry:
    """The patent cliff of one NDA product."""

    appl_no: str
    product_no: str
    trade_name: str
    ingredient: str
    df_route: str
    strength: str
    applicant: str
    applicant_full_name: str
    type: str
    last_patent_expiry: date | None
    last_patent_no: str  # as listed, e.g. "10004746*PED"; "" when no patent
    last_ds_dp_patent_expiry: date | None
    last_exclusivity_expiry: date | None
    last_exclusivity_code: str
    effective_loe: date | None
    loe_source: str  # what sets effective_loe, e.g. "patent 10004746*PED" or "exclusivity ODE-405"
    ped_applied: bool
    patent_count: int  # distinct listed, non-delisted patents (a *PED row is not a new patent)
    generic_count: int
    generics: tuple[GenericApproval, ...]


def add_months(d: date, months: int) -> date:
    """`d` moved by whole calendar months, clamping the day (Jan 31 + 1 month = Feb 28/29)."""
    index = d.year * 12 + d.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(d.day, _stdcal.monthrange(year, month + 1)[1]))


def months_to_loe(loe: date | None, as_of: date) -> float | None:
    """Calendar months from `as_of` to `loe` (negative once passed), exact at whole months.

    >>> months_to_loe(date(2026, 12, 1), date(2026, 6, 1))
    6.0
    """
    if loe is None:
        return None
    if loe < as_of:
        later = months_to_loe(as_of, loe)
        return -later if later is not None else None
    whole = (loe.year - as_of.year) * 12 + loe.month - as_of.month
    while whole > 0 and add_months(as_of, whole) > loe:
        whole -= 1
    start, end = add_months(as_of, whole), add_months(as_of, whole + 1)
    return round(whole + (loe - start).days / (end - start).days, 2)


def te_compatible(brand_te: str, generic_te: str) -> bool:
    """False when both TE codes carry a reference number that differs (AB1 vs AB2).

    FDA numbers AB codes when several reference drugs share a strength; AB1 and AB2 products are
    rated against different references and are not substitutable.
    """
    if _NUMBERED_TE.fullmatch(brand_te) and _NUMBERED_TE.fullmatch(generic_te):
        return brand_te == generic_te
    return True


def _generic_key(p: Product) -> tuple[str, str, str]:
    return (p.ingredient, p.df_route, p.strength_base)


def generics_index(products: Iterable[Product]) -> dict[tuple[str, str, str], list[Product]]:
    """ANDA products by (ingredient, dosage form;route, strength without notes)."""
    index: dict[tuple[str, str, str], list[Product]] = defaultdict(list)
    for p in products:
        if p.appl_type == "A":
            index[_generic_key(p)].append(p)
    return index


def generics_for(nda: Product, index: dict[tuple[str, str, str], list[Product]]) -> list[Product]:
    """The ANDA products that are generic versions of `nda`."""
    return [a for a in index.get(_generic_key(nda), []) if te_compatible(nda.te_code, a.te_code)]


def _listed_patents(rows: Sequence[Patent]) -> list[Patent]:
    """Rows that still protect the product, with *PED rows carrying their base patent's DS/DP flags.

    A *PED row has blank flags; it extends its base patent, so it counts as DS/DP when the base
    does, and it lapses with the base when every base row is delisted.
    """
    base: dict[str, list[Patent]] = defaultdict(list)
    for r in rows:
        if not r.ped:
            base[r.patent_no].append(r)
    kept: list[Patent] = []
    for r in rows:
        if r.delisted:
            continue
        if r.ped and base.get(r.patent_no):
            parents = base[r.patent_no]
            if all(p.delisted for p in parents):
                continue
            r = replace(r, drug_substance=any(p.drug_substance for p in parents),
                        drug_product=any(p.drug_product for p in parents))
        kept.append(r)
    return kept


def build_calendar(release: Release) -> list[CalendarEntry]:
    """One CalendarEntry per NDA product of the release, in file order."""
    patents: dict[tuple[str, str, str], list[Patent]] = defaultdict(list)
    for pt in release.patents:
        patents[pt.product_key].append(pt)
    excl = defaultdict(list)
    for ex in release.exclusivities:
        excl[ex.product_key].append(ex)
    index = generics_index(release.products)
    entries = []
    for p in release.products:
        if p.appl_type != "N":
            continue
        rows = patents.get(p.key, [])
        listed = _listed_patents(rows)
        last_pt = max(listed, key=lambda r: r.expire_date, default=None)
        ds_dp = [r.expire_date for r in listed if r.drug_substance or r.drug_product]
        ex_rows = excl.get(p.key, [])
        last_ex = max(ex_rows, key=lambda e: e.date, default=None)
        pt_date = last_pt.expire_date if last_pt else None
        ex_date = last_ex.date if last_ex else None
        if pt_date and (ex_date is None or pt_date >= ex_date):
            loe, source = pt_date, f"patent {last_pt.listed_no}"  # type: ignore[union-attr]
        elif ex_date:
            loe, source = ex_date, f"exclusivity {last_ex.code}"  # type: ignore[union-attr]
        else:
            loe, source = None, ""
        gens = generics_for(p, index)
        entries.append(CalendarEntry(
            appl_no=p.appl_no, product_no=p.product_no, trade_name=p.trade_name, ingredient=p.ingredient,
            df_route=p.df_route, strength=p.strength, applicant=p.applicant,
            applicant_full_name=p.applicant_full_name, type=p.type,
            last_patent_expiry=pt_date, last_patent_no=last_pt.listed_no if last_pt else "",
            last_ds_dp_patent_expiry=max(ds_dp, default=None),
            last_exclusivity_expiry=ex_date, last_exclusivity_code=last_ex.code if last_ex else "",
            effective_loe=loe, loe_source=source,
            ped_applied=any(r.ped for r in rows) or any(e.code == "PED" for e in ex_rows),
            patent_count=len({r.patent_no for r in listed}),
            generic_count=sum(1 for g in gens if g.type != "DISCN"),
            generics=tuple(GenericApproval(g.appl_no, g.product_no, g.applicant, g.approval_date,
                                           g.te_code, g.type) for g in gens),
        ))
    return entries


def calendar_from_dir(path: str | Path) -> tuple[list[CalendarEntry], list[OrangeBookRowError]]:
    """Calendar from a folder holding products.txt, patent.txt and exclusivity.txt, plus row errors."""
    release = read_release_dir(path)
    return build_calendar(release), list(release.errors)


def calendar_records(entries: Iterable[CalendarEntry]) -> list[dict[str, object]]:
    """The JSON-able records of `calendar_to_json`, exactly the JSON_FIELDS keys."""
    out = []
    for e in entries:
        record: dict[str, object] = {}
        for name in JSON_FIELDS:
            value = getattr(e, name)
            record[name] = value.isoformat() if isinstance(value, date) else value
        out.append(record)
    return out


def calendar_to_json(entries: Iterable[CalendarEntry]) -> str:
    """JSON list for `signals inspect orange-book DIR --json`: one object per NDA product."""
    return json.dumps(calendar_records(entries), indent=2)


@dataclass(frozen=True)
class BrandRollup:
    """All strengths of one brand (trade name + ingredient)."""

    trade_name: str
    ingredient: str
    applicants: tuple[str, ...]
    products: tuple[tuple[str, str], ...]  # (appl_no, product_no)
    earliest_loe: date | None  # the first strength to lose exclusivity
    latest_loe: date | None
    ped_applied: bool
    max_generic_count: int


def rollup_brands(entries: Iterable[CalendarEntry]) -> list[BrandRollup]:
    """Group entries by (trade_name, ingredient), sorted by earliest LOE (None last)."""
    groups: dict[tuple[str, str], list[CalendarEntry]] = defaultdict(list)
    for e in entries:
        groups[(e.trade_name, e.ingredient)].append(e)
    out = []
    for (trade, ingredient), es in groups.items():
        loes = [e.effective_loe for e in es if e.effective_loe]
        out.append(BrandRollup(
            trade_name=trade, ingredient=ingredient,
            applicants=tuple(dict.fromkeys(e.applicant_full_name for e in es)),
            products=tuple((e.appl_no, e.product_no) for e in es),
            earliest_loe=min(loes, default=None), latest_loe=max(loes, default=None),
            ped_applied=any(e.ped_applied for e in es),
            max_generic_count=max(e.generic_count for e in es),
        ))
    return sorted(out, key=lambda b: (b.earliest_loe is None, b.earliest_loe or date.max, b.trade_name))
