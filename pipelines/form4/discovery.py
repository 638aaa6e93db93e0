"""Which Form 4 filings a run looks at, and where each one's ownership XML is.

Sources (data_formats.md section 4, domain_and_scoring.md 2.1):
- the current-filings Atom feed (`getcurrent`, type 4), newest first, paged back until entries are
  older than the run's interval (plus an overlap: the feed lags the archive by seconds to minutes);
- the daily form index of a finished day, read by the first run of a morning so that nothing filed
  until 10 pm is missed, and by backfill for past days.
A filing is listed once per reporting owner and once for its issuer, so listings are grouped by
accession; the XML is found through the filing folder's `index.json`.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from beat_schedule.calendars import IntradayWindows
from pipelines.core.errors import ConfigError, DataError
from pipelines.core.http import HttpError
from pipelines.core.ledger import Trigger
from pipelines.core.model import Calendar
from pipelines.sources.edgar.client import EdgarClient
from pipelines.sources.edgar.feeds import (
    BadRecord,
    FilingRef,
    next_page_start,
    parse_current_feed,
)
from pipelines.sources.edgar.indexes import parse_form_index

FORMS = frozenset({"4", "4/A"})
FEED_SOURCE = "sec_getcurrent"
INDEX_SOURCE = "sec_daily_index"
LISTING_SOURCE = "sec_filing_index"
PAGE_SIZE = 100
MAX_FEED_PAGES = 20  # 2,000 entries: more than a busy hour of Form 4s
FEED_OVERLAP = timedelta(minutes=10)
MAX_RECONCILE_DAYS = 7
SEC_TZ = ZoneInfo("America/New_York")  # EDGAR dates filings in Eastern time


@dataclass(frozen=True)
class Listed:
    """One accession with everything the listings said about it."""

    accession: str
    form_type: str
    folder_cik: int  # a CIK whose archive folder holds the filing (every named CIK has one)
    issuer_cik: int | None  # the CIK of an (Issuer) feed entry; None when none was seen
    ciks: tuple[int, ...]
    company: str
    filed: date
    accepted_at: datetime | None
    source: str  # feed | index


@dataclass(frozen=True)
class FeedPoll:
    refs: list[FilingRef]
    bad: list[tuple[str, BadRecord]] = field(default_factory=list)  # (page artifact, bad entry)
    pages: int = 0


def form4_calendar(settings: Any) -> IntradayWindows:
    """The Form 4 poll schedule: FORM4_CADENCE_MINUTES within FORM4_WINDOW, and NYSE hours.

    Always in Eastern time, whatever TIMEZONE says: the window follows EDGAR's filing hours.
    """
    try:
        start_text, end_text = str(settings.FORM4_WINDOW).split("-")
        start, end = time.fromisoformat(start_text.strip()), time.fromisoformat(end_text.strip())
    except ValueError:
        raise ConfigError(f"setting FORM4_WINDOW must look like 06:00-22:30, not {settings.FORM4_WINDOW!r}") from None
    return IntradayWindows(cadence_minutes=int(settings.FORM4_CADENCE_MINUTES), window_start=start, window_end=end,
                           market_cadence_minutes=int(settings.FORM4_MARKET_CADENCE_MINUTES), tz=SEC_TZ.key)


def group_listings(refs: Iterable[FilingRef], source: str) -> list[Listed]:
    """One `Listed` per accession, in first-seen order; the issuer's entry names company and folder."""
    grouped: dict[str, list[FilingRef]] = {}
    for ref in refs:
        if ref.form_type in FORMS:
            grouped.setdefault(ref.accession, []).append(ref)
    out = []
    for accession, rows in grouped.items():
        issuer = next((r for r in rows if r.role == "Issuer"), None)
        main = issuer or rows[0]
        accepted = [r.accepted_at for r in rows if r.accepted_at is not None]
        out.append(Listed(
            accession=accession, form_type=main.form_type, folder_cik=main.cik,
            issuer_cik=issuer.cik if issuer else None, ciks=tuple(dict.fromkeys(r.cik for r in rows)),
            company=main.company, filed=main.filed, accepted_at=min(accepted) if accepted else None,
            source=source,
        ))
    return out


def feed_page_name(page: int) -> str:
    return f"raw/feed/getcurrent-{page:03d}.atom"


def poll_feed(client: EdgarClient, since: datetime, store: Callable[[str, bytes], Any],
              max_pages: int = MAX_FEED_PAGES) -> FeedPoll:
    """Form 4 and 4/A entries of the feed, paged back until a page reaches entries older than `since`."""
    refs: list[FilingRef] = []
    bad: list[tuple[str, BadRecord]] = []
    start, page = 0, 0
    while page < max_pages:
        raw = client.current_filings_atom("4", start=start, count=PAGE_SIZE)
        name = feed_page_name(page)
        store(name, raw)
        page += 1
        try:
            # No `forms` filter here: the page length decides paging, whatever the forms on it.
            good, broken = parse_current_feed(raw, source=FEED_SOURCE)
        except DataError as exc:  # not Atom at all (an HTML error page): keep it, stop paging
            bad.append((name, BadRecord(exc, raw.decode("iso-8859-1"))))
            break
        refs.extend(r for r in good if r.form_type in FORMS)
        bad.extend((name, b) for b in broken)
        stamps = [r.accepted_at for r in good if r.accepted_at is not None]
        nxt = next_page_start(start, PAGE_SIZE, len(good) + len(broken))
        if nxt is None or (stamps and min(stamps) < since):
            break
        start = nxt
    return FeedPoll(refs, bad, page)


def index_name(day: date) -> str:
    return f"raw/index/form.{day:%Y%m%d}.idx"


def read_daily_index(client: EdgarClient, day: date) -> bytes | None:
    """The day's form.idx, or None when EDGAR has none (weekends, holidays, not yet built)."""
    try:
        return client.daily_index(day, "form")
    except HttpError as exc:
        if exc.status in (403, 404):  # EDGAR answers 403 as well as 404 for a file it does not have
            return None
        raise


def index_listings(raw: bytes, base_url: str) -> tuple[list[Listed], list[BadRecord]]:
    refs, bad = parse_form_index(raw, base_url=base_url, source=INDEX_SOURCE)
    return group_listings(refs, "index"), bad


def _sec_day(moment: datetime) -> date:
    return moment.astimezone(SEC_TZ).date()


def reconcile_days(trigger: str, start: datetime, end: datetime, conf: Mapping[str, Any],
                   calendar: Calendar | None) -> list[date]:
    """The finished days whose daily index this run reads.

    conf `reconcile_day` (YYYY-MM-DD, or a list) names them. A scheduled or catch-up run whose
    interval crosses midnight Eastern (the first run of a morning; after a weekend, several days)
    reads the days that ended in it. A backfill run reads its day when it is that day's last run.
    """
    named = conf.get("reconcile_day")
    if named:
        values = named if isinstance(named, (list, tuple)) else str(named).split(",")
        try:
            return sorted({date.fromisoformat(str(v).strip()) for v in values})
        except ValueError:
            raise ConfigError(f"conf reconcile_day {named!r} is not YYYY-MM-DD (or a list of such dates)") from None
    if trigger in (Trigger.SCHEDULE, Trigger.CATCH_UP):
        last = _sec_day(end)
        first = max(_sec_day(start), last - timedelta(days=MAX_RECONCILE_DAYS))
        return [first + timedelta(days=k) for k in range((last - first).days)]
    if trigger == Trigger.BACKFILL and calendar is not None and _sec_day(calendar.next_fire(end)) != _sec_day(end):
        return [_sec_day(end)]
    return []


def filed_at(listed_filed: date, accepted_at: datetime | None) -> datetime:
    """When the market could first read a filing: its acceptance time, else the start of its day."""
    if accepted_at is not None:
        return accepted_at.astimezone(timezone.utc)
    return datetime.combine(listed_filed, time(0), SEC_TZ).astimezone(timezone.utc)


def xml_document(listing: bytes, accession: str) -> str:
    """The ownership XML's file name from a filing folder's index.json.

    The folder also holds the rendered copy under an `xslF345X0n/` sub-folder (a "folder" item),
    the full submission `.txt` and the index pages; the raw XML is the top-level `.xml` file.
    """
    try:
        items = json.loads(listing)["directory"]["item"]
        names = [str(i["name"]) for i in items if not str(i.get("type", "")).startswith("folder")]
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"filing {accession}: index.json is not a folder listing ({type(exc).__name__}: {exc})",
                        source=LISTING_SOURCE, record_key=accession) from None
    xml = [n for n in names if n.lower().endswith(".xml") and "/" not in n and not n.lower().startswith("xsl")]
    if not xml:
        raise DataError(f"filing {accession}: index.json lists no .xml document (files: {', '.join(names) or 'none'})",
                        source=LISTING_SOURCE, record_key=accession)
    return xml[0]
