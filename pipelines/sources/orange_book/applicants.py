"""Applicant -> ticker mapping and the per-applicant roll-up of the patent-cliff calendar.

Two sources, in order: the hand-kept override table (`pipelines/data/applicant_overrides.csv`, for
subsidiaries whose names differ from the listed parent) and an exact match of the normalised
Applicant_Full_Name against the titles in SEC's company_tickers.json. No fuzzy matching: a wrong
ticker on a patent cliff is worse than none.
"""
from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pipelines.core.errors import ConfigError, DataError

from .calendar import CalendarEntry, add_months, months_to_loe

OVERRIDES_PATH = Path(__file__).resolve().parents[2] / "data" / "applicant_overrides.csv"
OVERRIDE_COLUMNS = ("applicant_full_name", "ticker", "note")
_LEGAL_SUFFIXES = frozenset(
    ["INC", "CORP", "CORPORATION", "CO", "COMPANY", "LLC", "LP", "LTD", "LIMITED", "PLC", "AG", "SA", "NV", "AB",
     "AS", "GMBH", "HOLDINGS"])


def normalize_company(name: str) -> str:
    """Upper-case, punctuation dropped, trailing legal suffixes removed: 'Eli Lilly & Co' -> 'ELI LILLY AND'."""
    words = re.sub(r"[^A-Z0-9 ]+", " ", name.upper().replace("&", " AND ")).split()
    while len(words) > 1 and words[-1] in _LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)


@dataclass(frozen=True)
class TickerIndex:
    """SEC company_tickers.json, indexed both ways. One CIK can have several tickers."""

    by_title: Mapping[str, tuple[int, tuple[str, ...]]]  # normalised title -> (cik, tickers)
    cik_by_ticker: Mapping[str, int]


def parse_company_tickers(raw: bytes | str) -> TickerIndex:
    """Parse {"0": {"cik_str": int, "ticker": str, "title": str}, ...}; a malformed file raises DataError."""
    try:
        data = json.loads(raw)
        rows = [(int(v["cik_str"]), str(v["ticker"]).upper(), str(v["title"])) for v in data.values()]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise DataError(f"company_tickers.json is not the expected shape: {exc}",
                        source="sec_company_tickers") from exc
    tickers: dict[int, list[str]] = defaultdict(list)
    titles: dict[str, int] = {}
    for cik, ticker, title in rows:
        tickers[cik].append(ticker)
        titles.setdefault(normalize_company(title), cik)
    return TickerIndex(
        by_title={t: (cik, tuple(tickers[cik])) for t, cik in titles.items()},
        cik_by_ticker={ticker: cik for cik, ticker, _ in rows},
    )


def load_applicant_overrides(path: str | Path | None = None) -> dict[str, str]:
    """The override table as {normalised applicant full name: ticker}; a bad row raises ConfigError."""
    source = Path(path) if path is not None else OVERRIDES_PATH
    reader = csv.DictReader(io.StringIO(source.read_text(encoding="utf-8")))
    if tuple(reader.fieldnames or ()) != OVERRIDE_COLUMNS:
        raise ConfigError(f"{source}: header must be {','.join(OVERRIDE_COLUMNS)}, got {reader.fieldnames}")
    out: dict[str, str] = {}
    for line_no, row in enumerate(reader, start=2):
        name, ticker = (row["applicant_full_name"] or "").strip(), (row["ticker"] or "").strip().upper()
        if not name or not re.fullmatch(r"[A-Z][A-Z0-9.\-]{0,9}", ticker):
            raise ConfigError(f"{source} line {line_no}: needs an applicant name and a ticker, got {row}")
        out[normalize_company(name)] = ticker
    return out


@dataclass(frozen=True)
class ApplicantMatch:
    ticker: str
    cik: int | None
    source: str  # "override" or "sec_title"


def map_applicant(
    full_name: str, overrides: Mapping[str, str], tickers: TickerIndex | None = None
) -> ApplicantMatch | None:
    """Ticker for an Applicant_Full_Name: override table first, then an exact SEC title match."""
    key = normalize_company(full_name)
    if key in overrides:
        ticker = overrides[key]
        return ApplicantMatch(ticker, tickers.cik_by_ticker.get(ticker) if tickers else None, "override")
    if tickers and key in tickers.by_title:
        cik, symbols = tickers.by_title[key]
        return ApplicantMatch(symbols[0], cik, "sec_title")
    return None


@dataclass(frozen=True)
class ApplicantRollup:
    """Patent cliffs of one company: a mapped ticker, or one unmapped applicant name."""

    key: str  # the ticker when mapped, else the applicant full name
    ticker: str | None
    cik: int | None
    match_source: str  # "override", "sec_title" or "" when unmapped
    applicant_full_names: tuple[str, ...]
    brands: tuple[str, ...]
    product_count: int
    next_loe: date | None  # earliest effective LOE on or after as_of
    next_loe_brand: str
    months_to_next_loe: float | None
    cliffs_in_horizon: int  # products whose LOE falls in [as_of, as_of + horizon_months]


def rollup_applicants(
    entries: Iterable[CalendarEntry], as_of: date, *, overrides: Mapping[str, str] | None = None,
    tickers: TickerIndex | None = None, horizon_months: int = 36,
) -> list[ApplicantRollup]:
    """Group entries by ticker (or by applicant when unmapped), sorted by next LOE."""
    overrides = overrides or {}
    horizon = add_months(as_of, horizon_months)
    groups: dict[str, list[tuple[CalendarEntry, ApplicantMatch | None]]] = defaultdict(list)
    for e in entries:
        match = map_applicant(e.applicant_full_name, overrides, tickers)
        groups[match.ticker if match else e.applicant_full_name].append((e, match))
    out = []
    for key, items in groups.items():
        match = items[0][1]
        upcoming = sorted((e for e, _ in items if e.effective_loe and e.effective_loe >= as_of),
                          key=lambda e: e.effective_loe or date.max)
        first = upcoming[0] if upcoming else None
        out.append(ApplicantRollup(
            key=key, ticker=match.ticker if match else None, cik=match.cik if match else None,
            match_source=match.source if match else "",
            applicant_full_names=tuple(dict.fromkeys(e.applicant_full_name for e, _ in items)),
            brands=tuple(dict.fromkeys(e.trade_name for e, _ in items)),
            product_count=len(items),
            next_loe=first.effective_loe if first else None,
            next_loe_brand=first.trade_name if first else "",
            months_to_next_loe=months_to_loe(first.effective_loe, as_of) if first else None,
            cliffs_in_horizon=sum(1 for e in upcoming if e.effective_loe and e.effective_loe <= horizon),
        ))
    return sorted(out, key=lambda r: (r.next_loe is None, r.next_loe or date.max, r.key))

