"""CUSIP -> ticker for 13F rows, by issuer name against SEC company_tickers.json.

SEC publishes no CUSIP-to-ticker table, and the CUSIP's own issuer code says nothing about tickers, so
the row's `nameOfIssuer` is compared with SEC's company titles after the same normalisation the
sponsor mapping uses (legal forms, punctuation and case dropped). Only equal names map: 13F names are
abbreviated ("BANK AMER CORP"), and a fuzzy match there picks a wrong company more often than a miss
costs. A title shared by two companies maps to neither. Where one company lists several share classes
(GOOGL/GOOG) the first-listed ticker is used. Unmapped CUSIPs stay keyed by CUSIP, and the signals
say so.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache

from pipelines.core.errors import DataError
from pipelines.sources.sponsors import load_company_tickers, normalize_name


def title_index(company_tickers_raw: bytes | None) -> dict[str, str]:
    """Normalised SEC company title -> its first-listed ticker (ambiguous titles left out)."""
    if not company_tickers_raw:
        return {}
    try:
        entries = load_company_tickers(company_tickers_raw)
    except DataError:
        return {}
    by_title: dict[str, tuple[int, str]] = {}
    ambiguous: set[str] = set()
    for e in entries:
        key = normalize_name(e.title)
        seen = by_title.get(key)
        if seen is None:
            by_title[key] = (e.cik, e.ticker)
        elif seen[0] != e.cik:
            ambiguous.add(key)
    return {k: v[1] for k, v in by_title.items() if k not in ambiguous}


_normalized = lru_cache(maxsize=1 << 16)(normalize_name)  # issuer names repeat across managers


def cusip_tickers(issuers: Iterable[tuple[str, str]], titles: Mapping[str, str]) -> dict[str, str]:
    """(cusip, nameOfIssuer) pairs -> {cusip: ticker} for the names that match a title exactly."""
    if not titles:
        return {}
    names: dict[str, str] = {}
    for cusip, name in issuers:
        names.setdefault(cusip, name)
    found: dict[str, str] = {}
    for cusip, name in names.items():
        ticker = titles.get(_normalized(name))
        if ticker:
            found[cusip] = ticker
    return found


def name_tickers(names: Iterable[str], titles: Mapping[str, str]) -> dict[str, str]:
    """Issuer name -> ticker for the names `cusip_tickers` would map (the rest left out)."""
    found: dict[str, str] = {}
    for name in names:
        ticker = titles.get(_normalized(name))
        if ticker:
            found[name] = ticker
    return found
