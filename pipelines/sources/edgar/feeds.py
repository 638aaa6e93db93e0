"""EDGAR listing formats -> `FilingRef` records.

This module parses the current-filings Atom feed (`getcurrent`) and re-exports the index,
submissions and ticker parsers, so callers import every EDGAR listing parser from one place.
Batch parsers return `(good, bad)`: one bad entry never sinks the page.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Collection
from datetime import date, datetime

from pipelines.core.errors import DataError

from .indexes import (
    parse_company_index,
    parse_crawler_index,
    parse_form_index,
    parse_master_index,
)
from .refs import (
    BadRecord,
    FilingRef,
    Role,
    dedupe_filings,
    filing_document_url,
    filing_index_url,
    filing_text_url,
    normalize_accession,
)
from .submissions import (
    CompanyTickers,
    Filing,
    Submissions,
    parse_company_tickers,
    parse_submissions,
    parse_submissions_page,
)
from .xml_safety import parse_xml

__all__ = [
    "BadRecord", "CompanyTickers", "Filing", "FilingRef", "Submissions",
    "dedupe_filings", "filing_document_url", "filing_index_url", "filing_text_url",
    "next_page_start", "normalize_accession", "parse_company_index", "parse_company_tickers",
    "parse_crawler_index", "parse_current_feed", "parse_form_index", "parse_master_index",
    "parse_submissions", "parse_submissions_page",
]

ATOM = "{http://www.w3.org/2005/Atom}"
MAX_PAGE_SIZE = 100  # getcurrent ignores larger counts

# "4 - DAVIS CHARLES A (0001071287) (Reporting)"; names may themselves contain " - " and "()".
_TITLE = re.compile(r"^(?P<form>\S.*?) - (?P<name>.*) \((?P<cik>\d{1,10})\) \((?P<role>[^()]+)\)\s*$")
_ACC_IN_ID = re.compile(r"accession-number=(\d{10}-\d{2}-\d{6})")
_ACC_IN_SUMMARY = re.compile(r"AccNo:\s*(?:<[^>]*>\s*)*(\d{10}-\d{2}-\d{6})")
_FILED_IN_SUMMARY = re.compile(r"Filed:\s*(?:<[^>]*>\s*)*(\d{4}-\d{2}-\d{2})")
_ROLES: dict[str, Role] = {"reporting": "Reporting", "issuer": "Issuer"}


def next_page_start(start: int, count: int, entries_on_page: int) -> int | None:
    """`start` of the next getcurrent page, or None when this page was the last.

    A page shorter than `count` is the end. New filings push entries down between requests, so
    the next page can repeat a few entries; `dedupe_filings` absorbs that.
    """
    if count < 1 or count > MAX_PAGE_SIZE:
        raise ValueError(f"count must be 1..{MAX_PAGE_SIZE}, got {count}")
    if start < 0:
        raise ValueError(f"start must be >= 0, got {start}")
    return start + count if entries_on_page >= count else None


def _entry(entry: ET.Element, source: str, position: int) -> FilingRef:
    def text(tag: str) -> str:
        node = entry.find(ATOM + tag)
        return (node.text or "").strip() if node is not None else ""

    where = f"entry[{position}]"
    title = text("title")
    match = _TITLE.match(title)
    if not match:
        raise DataError(f"Atom {where}: title {title!r} is not '<form> - <name> (<cik>) (<role>)'",
                        source=source, record_key=where)
    summary = text("summary")
    acc = _ACC_IN_ID.search(text("id")) or _ACC_IN_SUMMARY.search(summary)
    if not acc:
        raise DataError(f"Atom {where}: no accession number in <id> or <summary>", source=source, record_key=where)
    category = entry.find(ATOM + "category")
    form_type = (category.get("term", "").strip() if category is not None else "") or match["form"]
    updated = text("updated")
    accepted_at = None
    if updated:
        try:
            accepted_at = datetime.fromisoformat(updated)
        except ValueError:
            raise DataError(f"Atom {where}: <updated> {updated!r} is not an ISO timestamp",
                            source=source, record_key=acc[1]) from None
    filed_match = _FILED_IN_SUMMARY.search(summary)
    if filed_match:
        filed = date.fromisoformat(filed_match[1])
    elif accepted_at is not None:
        filed = accepted_at.date()
    else:
        raise DataError(f"Atom {where}: no filing date in <summary> or <updated>", source=source, record_key=acc[1])
    link = entry.find(ATOM + "link")
    return FilingRef(
        accession=acc[1],
        form_type=form_type,
        cik=int(match["cik"]),
        company=match["name"].strip(),
        filed=filed,
        role=_ROLES.get(match["role"].strip().lower()),
        url=(link.get("href", "") if link is not None else "").strip(),
        accepted_at=accepted_at,
    )


def parse_current_feed(
    raw: bytes, *, source: str = "", forms: Collection[str] | None = None
) -> tuple[list[FilingRef], list[BadRecord]]:
    """Entries of a getcurrent Atom page (ISO-8859-1 bytes), in feed order, not deduplicated.

    `forms` keeps only those exact form types: `type=4` reportedly matches by prefix upstream.
    A feed that is not Atom XML at all raises DataError.
    """
    root = parse_xml(raw, source=source, what="Atom feed")
    if root.tag != ATOM + "feed":
        raise DataError(f"Atom feed: root element is {root.tag!r}, expected an Atom <feed>", source=source)
    good: list[FilingRef] = []
    bad: list[BadRecord] = []
    for position, entry in enumerate(root.findall(ATOM + "entry")):
        try:
            ref = _entry(entry, source, position)
        except DataError as exc:
            bad.append(BadRecord(exc, ET.tostring(entry, encoding="unicode")))
            continue
        if forms is None or ref.form_type in forms:
            good.append(ref)
    return good, bad
