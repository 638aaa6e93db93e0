"""EDGAR daily/quarterly index files (master, form, company, crawler) -> `FilingRef`.

All share a free-text header, a column header line and a dashed rule. The rule is located
rather than counted because daily and quarterly headers differ in length. master.idx is
pipe-delimited; the others are fixed width with form types that contain spaces ("SC 13D/A").
"""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

from pipelines.core.errors import DataError

from .refs import BadRecord, FilingRef

_MASTER_COLUMNS = ["CIK", "Company Name", "Form Type", "Date Filed", "File Name"]
_ACC_IN_PATH = re.compile(r"(\d{10}-\d{2}-\d{6})(?:\.txt|-index\.html?)$")
# The three right-hand columns never contain spaces, so they anchor each fixed-width row.
_RIGHT = re.compile(r"^(?P<left>.*?)\s+(?P<cik>\d+)\s+(?P<date>\d{8}|\d{4}-\d{2}-\d{2})\s+(?P<loc>\S+)\s*$")


def _decode(raw: bytes | str) -> str:
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # Older index files carry Latin-1 company names; Latin-1 never fails to decode.
        return raw.decode("latin-1")


def _index_date(text: str) -> date:
    """Daily indexes write YYYYMMDD, quarterly full-index files YYYY-MM-DD."""
    text = text.strip()
    if len(text) == 8 and text.isdigit():
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    return date.fromisoformat(text)


def _split_header(text: str, source: str) -> tuple[list[str], int]:
    """(lines, index of the first data line) after the dashed rule."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if len(stripped) >= 10 and set(stripped) == {"-"}:
            return lines, i + 1
    raise DataError("index file: no dashed rule under a column header found", source=source)


def _accession(location: str, where: str, source: str) -> str:
    match = _ACC_IN_PATH.search(location)
    if not match:
        raise DataError(f"{where}: no accession number in {location!r}", source=source, record_key=where)
    return match[1]


def _rows(
    text: str, source: str, parse: Callable[[str, str], FilingRef]
) -> tuple[list[FilingRef], list[BadRecord]]:
    lines, first = _split_header(text, source)
    good: list[FilingRef] = []
    bad: list[BadRecord] = []
    for number, line in enumerate(lines[first:], start=first + 1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            good.append(parse(line, where))
        except DataError as exc:
            bad.append(BadRecord(exc, line))
        except ValueError as exc:  # bad dates or numbers
            bad.append(BadRecord(DataError(f"{where}: {exc}", source=source, record_key=where), line))
    return good, bad


def parse_master_index(
    raw: bytes | str, *, base_url: str = "https://www.sec.gov", source: str = ""
) -> tuple[list[FilingRef], list[BadRecord]]:
    """master.idx rows (`CIK|Company Name|Form Type|Date Filed|File Name`) in file order."""
    text = _decode(raw)
    lines, first = _split_header(text, source)
    header = lines[first - 2].strip() if first >= 2 else ""
    if header.split("|") != _MASTER_COLUMNS:
        raise DataError(f"master index: unexpected column header {header!r}", source=source)
    base = base_url.rstrip("/")

    def parse(line: str, where: str) -> FilingRef:
        fields = line.split("|")  # names hold "/" and "\" but never "|"
        if len(fields) != 5:
            raise DataError(f"{where}: expected 5 '|'-separated fields, got {len(fields)}",
                            source=source, record_key=where)
        cik, company, form_type, filed, file_name = (f.strip() for f in fields)
        return FilingRef(
            accession=_accession(file_name, where, source), form_type=form_type, cik=int(cik),
            company=company, filed=_index_date(filed), role=None, url=f"{base}/Archives/{file_name}",
        )

    return _rows(text, source, parse)


def _fixed_width(
    raw: bytes | str, *, kind: str, form_first: bool, base_url: str | None, source: str
) -> tuple[list[FilingRef], list[BadRecord]]:
    text = _decode(raw)
    lines, first = _split_header(text, source)
    # The header can wrap over two lines (seen in a crawler.idx copy): look at the few lines
    # above the rule for the one naming both left-hand columns.
    header = next(
        (ln for ln in reversed(lines[max(0, first - 4): first - 1]) if "Company Name" in ln and "Form Type" in ln),
        None,
    )
    if header is None:
        raise DataError(f"{kind} index: no header line with 'Company Name' and 'Form Type'", source=source)
    split_at = header.index("Company Name" if form_first else "Form Type")
    base = base_url.rstrip("/") if base_url is not None else None

    def parse(line: str, where: str) -> FilingRef:
        match = _RIGHT.match(line)
        if not match:
            raise DataError(f"{where}: not a '{kind}' index row (CIK, date and file columns not found)",
                            source=source, record_key=where)
        left = match["left"]
        a, b = left[:split_at].strip(), left[split_at:].strip()
        form_type, company = (a, b) if form_first else (b, a)
        if not form_type or not company:
            raise DataError(f"{where}: empty form type or company name", source=source, record_key=where)
        loc = match["loc"]
        return FilingRef(
            accession=_accession(loc, where, source), form_type=form_type, cik=int(match["cik"]),
            company=company, filed=_index_date(match["date"]), role=None,
            url=loc if base is None else f"{base}/Archives/{loc}",
        )

    return _rows(text, source, parse)


def parse_form_index(
    raw: bytes | str, *, base_url: str = "https://www.sec.gov", source: str = ""
) -> tuple[list[FilingRef], list[BadRecord]]:
    """form.idx (fixed width, sorted by form type) rows in file order."""
    return _fixed_width(raw, kind="form", form_first=True, base_url=base_url, source=source)


def parse_company_index(
    raw: bytes | str, *, base_url: str = "https://www.sec.gov", source: str = ""
) -> tuple[list[FilingRef], list[BadRecord]]:
    """company.idx (fixed width, sorted by company name) rows in file order."""
    return _fixed_width(raw, kind="company", form_first=False, base_url=base_url, source=source)


def parse_crawler_index(raw: bytes | str, *, source: str = "") -> tuple[list[FilingRef], list[BadRecord]]:
    """crawler.idx rows; `url` is the absolute `-index.htm` URL the file gives."""
    return _fixed_width(raw, kind="crawler", form_first=False, base_url=None, source=source)
