"""Which 13F-HR filings a run fetches: tracked managers, submissions JSON, daily index, folder listing.

Pure functions over parsed listings; the fetch step does the I/O. A filing is "visible" on a date when
it was filed on or before it (point in time), and for each manager we keep the filings of its two
latest visible periods (the quarter and the one it is diffed against) plus anything filed inside the
run's data interval (late amendments of older quarters).
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from pipelines.core.errors import ConfigError, DataError
from pipelines.scoring.institutional import TrackedManager, load_managers
from pipelines.sources.edgar.refs import FilingRef
from pipelines.sources.edgar.submissions import Submissions

FORMS = ("13F-HR", "13F-HR/A")
PRIMARY_DOC = "primary_doc.xml"
INDEX_LOOKBACK_DAYS = 7  # older filings are in the submissions JSON already; the index is the fast path
PERIODS_KEPT = 2


@dataclass(frozen=True)
class Candidate:
    """A 13F filing to fetch, as a listing names it."""

    cik: int
    accession: str
    form: str
    filed: date
    period: date | None  # the submissions JSON's reportDate; the daily index does not say
    via: str  # submissions | daily_index | submissions+daily_index

    def to_json(self) -> dict[str, Any]:
        return {"cik": self.cik, "accession": self.accession, "form": self.form, "filed": self.filed.isoformat(),
                "period": self.period.isoformat() if self.period else None, "via": self.via}


def tracked_managers(settings: Any) -> list[TrackedManager]:
    """The managers of THIRTEENF_MANAGERS_FILE, or the packaged pipelines/data/managers.csv when unset."""
    path = (settings.THIRTEENF_MANAGERS_FILE or "").strip()
    try:
        managers = load_managers(Path(path) if path else None)
    except FileNotFoundError:
        raise ConfigError(f"setting THIRTEENF_MANAGERS_FILE names {path!r}, which does not exist") from None
    except (KeyError, ValueError) as exc:
        where = path or "pipelines/data/managers.csv"
        raise ConfigError(f"managers file {where} needs columns cik,name[,note] with whole-number CIKs: "
                          f"{exc}") from None
    if not managers:
        raise ConfigError(f"managers file {path or 'pipelines/data/managers.csv'} lists no managers")
    return managers


def from_submissions(subs: Submissions, *, as_of: date, since: date) -> list[Candidate]:
    """13F-HR(/A) filings of the two latest visible periods, plus any filed on or after `since`."""
    visible = [f for f in subs.filings if f.form in FORMS and f.filing_date <= as_of]
    periods = sorted({f.report_date for f in visible if f.report_date}, reverse=True)[:PERIODS_KEPT]
    return [Candidate(subs.cik, f.accession, f.form, f.filing_date, f.report_date, "submissions")
            for f in visible if f.report_date in periods or f.filing_date >= since]


def from_index(refs: Iterable[FilingRef], tracked: Iterable[int], *, as_of: date) -> list[Candidate]:
    """Daily-index rows of tracked managers' 13F-HR(/A) filings visible on `as_of`."""
    ciks = set(tracked)
    return [Candidate(r.cik, r.accession, r.form_type, r.filed, None, "daily_index")
            for r in refs if r.form_type in FORMS and r.cik in ciks and r.filed <= as_of]


def merge(candidates: Iterable[Candidate]) -> list[Candidate]:
    """One candidate per accession, the period taken from whichever listing knows it; oldest first."""
    merged: dict[str, Candidate] = {}
    for c in candidates:
        seen = merged.get(c.accession)
        if seen is None:
            merged[c.accession] = c
        elif c.via not in seen.via.split("+"):
            merged[c.accession] = replace(seen, period=seen.period or c.period, via=f"{seen.via}+{c.via}")
    return sorted(merged.values(), key=lambda c: (c.filed, c.accession))


def index_days(start: datetime, end: datetime, *, zone: Any,
               lookback_days: int = INDEX_LOOKBACK_DAYS) -> list[date]:
    """Weekdays (in the schedule zone) from the interval's start, at most `lookback_days` back, to its end."""
    last = end.astimezone(zone).date()
    first = max(start.astimezone(zone).date(), last - timedelta(days=lookback_days))
    days = []
    day = first
    while day <= last:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def folder_files(raw: bytes, *, accession: str) -> list[str]:
    """File names of a filing folder's `index.json` listing ({"directory": {"item": [{"name": ...}]}})."""
    try:
        doc = json.loads(raw)
        items = doc["directory"]["item"]
        names = [str(item["name"]) for item in items]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataError(f"filing folder listing index.json of {accession} is not a directory listing: {exc!r}",
                        source="edgar.13f", record_key=accession) from None
    return names


def infotable_candidates(files: Iterable[str]) -> list[str]:
    """XML files that may hold the information table: every .xml but the cover, "info"-named first.

    Its name varies by filer (`infotable.xml`, `form13fInfoTable.xml`, `index.xml`, numbers ...).
    """
    xml = [f for f in files if f.lower().endswith(".xml") and f != PRIMARY_DOC and "/" not in f]
    return sorted(xml, key=lambda f: ("info" not in f.lower(), f))


def is_information_table(raw: bytes) -> bool:
    """A cheap look at the root element, before the streaming parser reads the whole table."""
    head = raw[:4096]
    return b"informationTable" in head
