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
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple

from .parse import (
    Exclusivity,
    OrangeBookRowError,
    Patent,
    Product,
    Release,
    gc_paused,
    read_release_dir,
)

JSON_FIELDS = (
    "appl_no", "product_no", "trade_name", "ingredient", "applicant", "last_patent_expiry",
    "last_ds_dp_patent_expiry", "last_exclusivity_expiry", "effective_loe", "ped_applied", "generic_count",
)
_NUMBERED_TE = re.compile(r"[A-Z]{2}\d+")


class GenericApproval(NamedTuple):
    """An ANDA product that matches a brand product (same ingredient, form;route and strength)."""

    appl_no: str
    product_no: str
    applicant: str
    approval_date: date | None
    te_code: str
    type: str  # RX, OTC or DISCN; DISCN generics are listed but not counted as pressure
    applicant_full_name: str = ""


class CalendarEntry(NamedTuple):
    """The patent cliff of one NDA product.

    A NamedTuple like the row types: a full release builds ~12,000 and a frozen dataclass took a
    third of the calendar's time (benchmarks/orange_book.py). Use `_replace` to derive one.
    """

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
    if brand_te == generic_te:
        return True
    return not (_numbered_te(brand_te) and _numbered_te(generic_te))


@lru_cache(maxsize=256)  # a release has a few dozen distinct TE codes, checked for every generic
def _numbered_te(code: str) -> bool:
    return _NUMBERED_TE.fullmatch(code) is not None


# The three Product fields of a generic key, read in one C call (this runs for every product).
_INGREDIENT_FORM_STRENGTH = itemgetter(*(Product._fields.index(f) for f in ("ingredient", "df_route", "strength")))


def _generic_key(p: Product) -> tuple[str, str, str]:
    key: tuple[str, str, str] = _INGREDIENT_FORM_STRENGTH(p)
    if "**" in key[2]:  # FDA's appended notes are not part of the strength
        return (key[0], key[1], key[2].split("**", 1)[0].strip())
    return key


def generics_index(products: Iterable[Product]) -> dict[tuple[str, str, str], list[Product]]:
    """ANDA products by (ingredient, dosage form;route, strength without notes)."""
    index: dict[tuple[str, str, str], list[Product]] = {}
    key_of = _INGREDIENT_FORM_STRENGTH
    for p in products:
        if p.appl_type == "A":
            key = key_of(p)  # _generic_key, inlined: this runs for every ANDA row
            if "**" in key[2]:
                key = _generic_key(p)
            group = index.get(key)
            if group is None:
                index[key] = [p]
            else:
                group.append(p)
    return index


def generics_for(nda: Product, index: dict[tuple[str, str, str], list[Product]]) -> list[Product]:
    """The ANDA products that are generic versions of `nda`."""
    return [a for a in index.get(_generic_key(nda), ()) if te_compatible(nda.te_code, a.te_code)]


def _listed_patents(rows: Sequence[Patent]) -> Sequence[Patent]:
    """Rows that still protect the product, with *PED rows carrying their base patent's DS/DP flags.

    A *PED row has blank flags; it extends its base patent, so it counts as DS/DP when the base
    does, and it lapses with the base when every base row is delisted.
    """
    for r in rows:
        if r.ped or r.delisted:
            break
    else:
        return rows  # the common case: nothing to drop or to carry over
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
            r = r._replace(drug_substance=any(p.drug_substance for p in parents),
                           drug_product=any(p.drug_product for p in parents))
        kept.append(r)
    return kept


def _by_product(rows: Iterable[tuple]) -> dict[tuple, list]:  # type: ignore[type-arg]
    """Rows grouped by their first three fields (Appl_Type, Appl_No, Product_No)."""
    groups: dict[tuple, list] = {}  # type: ignore[type-arg]
    for r in rows:
        key = r[:3]
        group = groups.get(key)
        if group is None:
            groups[key] = [r]
        else:
            group.append(r)
    return groups


def build_calendar(release: Release) -> list[CalendarEntry]:
    """One CalendarEntry per NDA product of the release, in file order."""
    with gc_paused():
        return _build_calendar(release)


def _patent_facts(rows: Sequence[Patent]) -> tuple[Patent | None, date | None, int, bool]:
    """(last listed row, last DS/DP expiry, distinct listed patents, any *PED row) of one product."""
    ped = False
    for r in rows:
        if r.ped or r.delisted:
            ped = any(r.ped for r in rows)
            listed = _listed_patents(rows)
            break
    else:
        listed = rows  # the common case: nothing to drop or to carry over
    last: Patent | None = None
    ds_dp: date | None = None
    for r in listed:
        if last is None or r.expire_date > last.expire_date:
            last = r
        if (r.drug_substance or r.drug_product) and (ds_dp is None or r.expire_date > ds_dp):
            ds_dp = r.expire_date
    count = len(listed) if len(listed) < 2 else len({r.patent_no for r in listed})
    return last, ds_dp, count, ped


def _exclusivity_facts(rows: Sequence[Exclusivity]) -> tuple[Exclusivity | None, bool]:
    """(last-dated exclusivity, any PED exclusivity) of one product."""
    last: Exclusivity | None = None
    ped = False
    for e in rows:
        if last is None or e.date > last.date:
            last = e
        if e.code == "PED":
            ped = True
    return last, ped


_new = tuple.__new__  # builds a CalendarEntry from a ready tuple (its field order), skipping keyword handling


def _build_calendar(release: Release) -> list[CalendarEntry]:
    # Plain loops rather than generator expressions: this runs once per NDA product (~12,000 in a
    # full release) and the benchmark holds it to a few microseconds each.
    patents = _by_product(release.patents)
    excl = _by_product(release.exclusivities)
    index = generics_index(release.products)
    entries = []
    no_patents = (None, None, 0, False)
    no_exclusivity = (None, False)
    for p in release.products:
        if p.appl_type != "N":
            continue
        key = p[:3]
        rows = patents.get(key)
        last_pt, ds_dp, patent_count, ped_patent = _patent_facts(rows) if rows else no_patents
        ex_rows = excl.get(key)
        last_ex, ped_excl = _exclusivity_facts(ex_rows) if ex_rows else no_exclusivity
        pt_date = last_pt.expire_date if last_pt else None
        pt_no = last_pt.listed_no if last_pt else ""
        ex_date = last_ex.date if last_ex else None
        if pt_date and (ex_date is None or pt_date >= ex_date):
            loe, source = pt_date, f"patent {pt_no}"
        elif ex_date:
            loe, source = ex_date, f"exclusivity {last_ex.code}"  # type: ignore[union-attr]
        else:
            loe, source = None, ""
        generics: tuple[GenericApproval, ...] = ()
        generic_count = 0
        candidates = index.get(_generic_key(p)) if index else None
        if candidates:
            te = p.te_code
            # Only a numbered brand TE code (AB2) can rule a generic out; skip the check otherwise.
            gens = [a for a in candidates if te_compatible(te, a.te_code)] if _numbered_te(te) else candidates
            if gens:
                generics = tuple([_new(GenericApproval, (g.appl_no, g.product_no, g.applicant, g.approval_date,
                                                         g.te_code, g.type, g.applicant_full_name)) for g in gens])
                generic_count = len(gens) - sum([g.type == "DISCN" for g in gens])
        entries.append(_new(CalendarEntry, (
            p.appl_no, p.product_no, p.trade_name, p.ingredient, p.df_route, p.strength, p.applicant,
            p.applicant_full_name, p.type, pt_date, pt_no, ds_dp, ex_date,
            last_ex.code if last_ex else "", loe, source, ped_patent or ped_excl, patent_count, generic_count,
            generics,
        )))
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
