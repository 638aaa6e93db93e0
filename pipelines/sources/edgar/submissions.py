"""data.sec.gov submissions JSON and www.sec.gov company_tickers.json."""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pipelines.core.errors import DataError

from .refs import BadRecord, FilingRef, filing_index_url, normalize_accession

_REQUIRED_COLUMNS = ("accessionNumber", "filingDate", "reportDate", "acceptanceDateTime", "form", "primaryDocument")


@dataclass(frozen=True)
class Filing:
    accession: str
    form: str
    filing_date: date
    report_date: date | None  # "" upstream (e.g. SC 13G/A) becomes None
    # Parsed as the string says (UTC "Z"). The MSFT fixture looks like a New York clock with a Z
    # appended (an SC 13G/A "accepted" 08:27Z = 03:27 ET, when EDGAR is closed), so do not use
    # it for latency measurements without checking the filing index page.
    acceptance_datetime: datetime
    primary_document: str
    primary_doc_description: str | None = None
    items: tuple[str, ...] = ()

    def to_ref(self, cik: int, company: str, base_url: str) -> FilingRef:
        """As a FilingRef pointing at the filing index page under `cik`."""
        return FilingRef(
            accession=self.accession, form_type=self.form, cik=cik, company=company,
            filed=self.filing_date, role=None, url=filing_index_url(base_url, cik, self.accession),
            accepted_at=self.acceptance_datetime,
        )


@dataclass(frozen=True)
class Submissions:
    cik: int
    name: str
    tickers: tuple[str, ...]
    exchanges: tuple[str, ...]
    filings: tuple[Filing, ...]  # filings.recent, newest first as served
    older_pages: tuple[str, ...]  # filings.files[].name; not in date order upstream


@dataclass(frozen=True)
class CompanyTickers:
    ticker_to_cik: Mapping[str, int]
    cik_to_tickers: Mapping[int, tuple[str, ...]]  # one CIK, several share classes (GOOGL, GOOG)
    cik_to_title: Mapping[int, str]


def _load(raw: bytes | str | Mapping[str, Any], what: str, source: str) -> Any:
    if isinstance(raw, Mapping):
        return raw
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{what}: not valid JSON ({exc})", source=source) from None


def _acceptance(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"acceptanceDateTime {text!r} has no time zone")
    return parsed


def _columns(recent: Any, source: str) -> tuple[list[Filing], list[BadRecord]]:
    """Zip the parallel arrays of `filings.recent` (or of an older page file) into Filings."""
    if not isinstance(recent, Mapping):
        raise DataError("submissions: filings.recent is not an object", source=source)
    missing = [c for c in _REQUIRED_COLUMNS if not isinstance(recent.get(c), list)]
    if missing:
        raise DataError(f"submissions: missing column arrays {missing}", source=source)
    lengths = {c: len(v) for c, v in recent.items() if isinstance(v, list)}
    if len(set(lengths.values())) > 1:
        raise DataError(f"submissions: column arrays differ in length {lengths}", source=source)
    good: list[Filing] = []
    bad: list[BadRecord] = []
    for i in range(lengths["accessionNumber"]):
        row = {c: recent[c][i] for c in lengths}
        key = str(row.get("accessionNumber", ""))
        try:
            items = str(row.get("items") or "")
            good.append(Filing(
                accession=normalize_accession(key, source=source),
                form=str(row["form"]).strip(),
                filing_date=date.fromisoformat(row["filingDate"]),
                report_date=date.fromisoformat(row["reportDate"]) if row["reportDate"] else None,
                acceptance_datetime=_acceptance(row["acceptanceDateTime"]),
                primary_document=str(row["primaryDocument"]),
                primary_doc_description=row.get("primaryDocDescription") or None,
                items=tuple(i.strip() for i in items.split(",") if i.strip()),
            ))
        except DataError as exc:
            bad.append(BadRecord(exc, json.dumps(row)))
        except (TypeError, ValueError) as exc:
            error = DataError(f"submissions: filing {i} ({key}): {exc}", source=source, record_key=key)
            bad.append(BadRecord(error, json.dumps(row)))
    return good, bad


def parse_submissions(
    raw: bytes | str | Mapping[str, Any], *, source: str = ""
) -> tuple[Submissions, list[BadRecord]]:
    """`CIK##########.json`: company fields, `filings.recent` rows and older page names."""
    data = _load(raw, "submissions", source)
    if not isinstance(data, Mapping) or not isinstance(data.get("filings"), Mapping):
        raise DataError("submissions: no 'filings' object (is this an older page file?)", source=source)
    try:
        cik = int(str(data.get("cik", "")).strip())  # an unpadded string upstream
    except ValueError:
        raise DataError(f"submissions: cik {data.get('cik')!r} is not a number", source=source) from None
    filings, bad = _columns(data["filings"].get("recent"), source)
    files = data["filings"].get("files") or []
    return Submissions(
        cik=cik,
        name=str(data.get("name") or ""),
        tickers=tuple(data.get("tickers") or ()),
        exchanges=tuple(e for e in data.get("exchanges") or () if e),
        filings=tuple(filings),
        older_pages=tuple(f["name"] for f in files if isinstance(f, Mapping) and f.get("name")),
    ), bad


def parse_submissions_page(
    raw: bytes | str | Mapping[str, Any], *, source: str = ""
) -> tuple[list[Filing], list[BadRecord]]:
    """An older page (`CIK##########-submissions-001.json`): the columnar arrays at top level."""
    return _columns(_load(raw, "submissions page", source), source)


def parse_company_tickers(
    raw: bytes | str | Mapping[str, Any], *, source: str = ""
) -> tuple[CompanyTickers, list[BadRecord]]:
    """company_tickers.json -> ticker->CIK and CIK->tickers (listing order kept per CIK)."""
    data = _load(raw, "company_tickers", source)
    if not isinstance(data, Mapping):
        raise DataError("company_tickers: top level is not an object", source=source)
    ticker_to_cik: dict[str, int] = {}
    cik_to_tickers: dict[int, list[str]] = {}
    cik_to_title: dict[int, str] = {}
    bad: list[BadRecord] = []

    def position(key: str) -> tuple[int, str]:
        return (int(key), key) if key.isdigit() else (1 << 62, key)

    for key in sorted(data, key=position):
        entry = data[key]
        try:
            cik = int(entry["cik_str"])  # an integer despite the name
            ticker = str(entry["ticker"]).strip().upper()
            if not ticker:
                raise ValueError("empty ticker")
        except (TypeError, KeyError, ValueError) as exc:
            bad.append(BadRecord(DataError(f"company_tickers: entry {key!r}: {exc!r}", source=source,
                                           record_key=key), json.dumps(entry)))
            continue
        ticker_to_cik[ticker] = cik
        cik_to_tickers.setdefault(cik, [])
        if ticker not in cik_to_tickers[cik]:
            cik_to_tickers[cik].append(ticker)
        cik_to_title.setdefault(cik, str(entry.get("title") or ""))
    return CompanyTickers(
        ticker_to_cik=ticker_to_cik,
        cik_to_tickers={c: tuple(t) for c, t in cik_to_tickers.items()},
        cik_to_title=cik_to_title,
    ), bad
