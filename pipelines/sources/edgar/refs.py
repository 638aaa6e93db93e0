"""The common filing record every EDGAR feed/index parser yields, plus URL and dedupe helpers."""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from pipelines.core.errors import DataError

Role = Literal["Reporting", "Issuer"]

_ACCESSION = re.compile(r"^(\d{10})-?(\d{2})-?(\d{6})$")
# Rendered ownership documents live under an XSLT folder; the raw XML has the same name without it.
_XSL_PREFIX = re.compile(r"^xsl[^/]*/")


@dataclass(frozen=True)
class FilingRef:
    """One filing as a feed or index lists it. `cik` is the entity of the listing row."""

    accession: str  # "0001209191-23-029527"
    form_type: str
    cik: int
    company: str
    filed: date
    role: Role | None
    url: str
    accepted_at: datetime | None = None  # only the Atom feed carries a time


@dataclass(frozen=True)
class BadRecord:
    """A record a batch parser skipped; the raw text goes to quarantine with the error."""

    error: DataError
    raw: str


def normalize_accession(value: str, *, source: str = "") -> str:
    """"000120919123029527" or "0001209191-23-029527" -> "0001209191-23-029527"."""
    match = _ACCESSION.match(value.strip())
    if not match:
        raise DataError(f"{value!r} is not an EDGAR accession number", source=source, record_key=value)
    return "-".join(match.groups())


def _folder(cik: int, accession: str) -> str:
    return f"edgar/data/{cik}/{normalize_accession(accession).replace('-', '')}"


def filing_index_url(base_url: str, cik: int, accession: str) -> str:
    """`{base}/Archives/edgar/data/{cik}/{acc without dashes}/{acc}-index.htm`."""
    acc = normalize_accession(accession)
    return f"{base_url.rstrip('/')}/Archives/{_folder(cik, acc)}/{acc}-index.htm"


def filing_text_url(base_url: str, cik: int, accession: str) -> str:
    """The full-text submission (`{acc}.txt`), which wraps every document of the filing."""
    acc = normalize_accession(accession)
    return f"{base_url.rstrip('/')}/Archives/{_folder(cik, acc)}/{acc}.txt"


def filing_document_url(base_url: str, cik: int, accession: str, filename: str, *, raw_xml: bool = True) -> str:
    """URL of a document in the filing folder.

    With raw_xml (default) an `xslF345X0n/` rendering prefix from the submissions JSON is dropped,
    which points at the machine-readable ownership XML instead of the HTML rendering.
    """
    name = _XSL_PREFIX.sub("", filename) if raw_xml else filename
    return f"{base_url.rstrip('/')}/Archives/{_folder(cik, accession)}/{name.lstrip('/')}"


def dedupe_filings(refs: Iterable[FilingRef]) -> list[FilingRef]:
    """One ref per accession, in first-seen order, preferring the issuer's entry.

    Form 4s are listed once per reporting owner and once for the issuer, not always adjacent
    (a page boundary can split them); signals are attributed by issuer CIK, so that row wins.
    """
    chosen: dict[str, FilingRef] = {}
    for ref in refs:
        current = chosen.get(ref.accession)
        if current is None or (ref.role == "Issuer" and current.role != "Issuer"):
            chosen[ref.accession] = ref
    return list(chosen.values())
