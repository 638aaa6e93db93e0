"""Loading the 13F filings a fetch step stored: read, parse, check, then `FilingLoader`.

A filing is loaded only whole: a row that cannot be read, a table that disagrees with its cover's
entry count or value total, or a cover that names another filer, quarantines the filing (with the
error and raw bytes) and the other filings go on.

The documents are artifacts, read through the step's own session, whose connection is busy while a
batch's COPY runs in the background. So they are read a chunk of filings at a time, between COPYs:
read chunk n+1, then start the COPY of chunk n's rows, then parse chunk n+1 while it runs.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from pipelines.core.errors import DataError
from pipelines.core.model import StepContext
from pipelines.sources.edgar.thirteenf import (BadRecord, CoverPage, Holding, check_against_cover, parse_cover,
                                               parse_infotable, value_multiplier)

from .store import FilingLoader, known_accessions, record_filing

SOURCE = "edgar.13f"
CHUNK_FILINGS = 100  # filings whose documents are read in one go between two COPYs
CHUNK_BYTES = 32 << 20  # and at most about this many document bytes (one large filer is tens of MB)


@dataclass(frozen=True)
class Checked:
    """One filing parsed and checked: `problem` (with the `raw` bytes to keep) when it must be quarantined."""

    cover: CoverPage | None
    holdings: Sequence[Holding]
    bad: Sequence[BadRecord]
    problem: str | None
    raw: bytes


def check_filing(entry: dict[str, Any], cover_raw: bytes, table_raw: bytes) -> Checked:
    """Parse a filing's cover and information table and check them against each other and the listing."""
    cik, filed = int(entry["cik"]), date.fromisoformat(entry["filed"])
    try:
        cover = parse_cover(cover_raw, source=SOURCE)
    except DataError as exc:
        return Checked(None, (), (), f"cover page: {exc}", cover_raw)
    if cover.filer_cik is not None and cover.filer_cik != cik:
        return Checked(cover, (), (), f"cover page names filer CIK {cover.filer_cik}, not {cik}", cover_raw)
    if entry["form"].endswith("/A") and cover.amendment_type is None:
        return Checked(cover, (), (), "13F-HR/A cover has no amendmentType (RESTATEMENT or NEW HOLDINGS)", cover_raw)
    holdings, bad = parse_infotable(table_raw, filed=filed, source=SOURCE)
    if bad:
        return Checked(cover, holdings, bad, f"{len(bad)} information-table row(s) could not be read and are "
                       "quarantined separately; the filing is not loaded incomplete", table_raw)
    mismatch = check_against_cover(holdings, cover)
    if mismatch is not None:
        return Checked(cover, holdings, (), str(mismatch), table_raw)
    return Checked(cover, holdings, (), None, b"")


def filing_values(ctx: StepContext, entry: dict[str, Any], name: str, state: str, error: str | None,
                  cover: CoverPage | None = None, rows: int = 0) -> dict[str, Any]:
    filed = date.fromisoformat(entry["filed"])
    values: dict[str, Any] = dict(
        accession=entry["accession"], cik=int(entry["cik"]), manager_name=name or (cover.filer_name if cover else ""),
        form_type=entry["form"], filed=filed, period=cover.period if cover else None, state=state, error=error,
        rows=rows, infotable=entry.get("table_name"), discovered_via=entry["via"], run_id=ctx.run_id,
        loaded_at=datetime.now(timezone.utc))
    if cover is not None:
        values.update(report_type=cover.report_type, amendment_type=cover.amendment_type,
                      amendment_number=cover.amendment_number, entry_total=cover.entry_total,
                      value_total_reported=cover.value_total,
                      value_total_usd=None if cover.value_total is None
                      else cover.value_total * value_multiplier(filed))
    return values


_Read = tuple[dict[str, Any], str | tuple[bytes, bytes]]  # an entry, and its count key or its two documents


def load_filings(ctx: StepContext, entries: Sequence[dict[str, Any]], names: dict[int, str], *,
                 chunk_filings: int = CHUNK_FILINGS, chunk_bytes: int = CHUNK_BYTES) -> Counter[str]:
    """Record every fetched filing of the manifest (good ones with their rows); returns the counts."""
    counts: Counter[str] = Counter()
    limits = chunk_filings, chunk_bytes
    # Flushed once per chunk, below, and never by row count: a COPY started while a chunk is parsed
    # is still running when the next chunk's documents are read, and those reads wait for it.
    with FilingLoader(ctx.session, batch_rows=None) as loader:
        chunk, at = _read_chunk(ctx, loader, entries, 0, names, *limits)
        while chunk:
            for entry, read in chunk:
                name = names.get(int(entry["cik"]), "")
                counts[read if isinstance(read, str) else _load(ctx, loader, entry, name, *read)] += 1
            upcoming, at = _read_chunk(ctx, loader, entries, at, names, *limits)  # while the connection is free
            loader.flush()  # this chunk's filing rows, and their COPY in the background
            chunk = upcoming
    counts["filings_loaded"], counts["holdings_loaded"] = len(loader.loaded), loader.rows
    counts["filings_already_stored"] += len(loader.skipped)
    return counts


def _read_chunk(ctx: StepContext, loader: FilingLoader, entries: Sequence[dict[str, Any]], start: int,
                names: dict[int, str], chunk_filings: int, chunk_bytes: int) -> tuple[list[_Read], int]:
    """The entries from `start` on with their documents (filings not to parse get their count key
    instead), up to `chunk_filings` entries or `chunk_bytes` of documents; and where the next chunk starts."""
    loader.wait()  # the reads below use the connection: let the COPY in flight finish first
    window = entries[start:start + chunk_filings]
    stored = known_accessions(ctx.session, (e["accession"] for e in window if not e.get("error")))
    chunk: list[_Read] = []
    size = 0
    for entry in window:
        if size >= chunk_bytes:
            break
        if entry.get("error"):  # quarantined by the fetch step already
            name = names.get(int(entry["cik"]), "")
            record_filing(ctx.session, filing_values(ctx, entry, name, "unavailable", entry["error"]))
            chunk.append((entry, "filings_unavailable"))
        elif entry["accession"] in stored:
            chunk.append((entry, "filings_already_stored"))
        else:
            docs = ctx.artifacts.get(entry["cover"]), ctx.artifacts.get(entry["table"])
            size += len(docs[0]) + len(docs[1])
            chunk.append((entry, docs))
    return chunk, start + len(chunk)


def _load(ctx: StepContext, loader: FilingLoader, entry: dict[str, Any], name: str, cover_raw: bytes,
          table_raw: bytes) -> str:
    """Check one filing and hand it to `loader`, or quarantine it; returns the count it falls under."""
    acc, cik, filed = entry["accession"], int(entry["cik"]), entry["filed"]
    checked = check_filing(entry, cover_raw, table_raw)
    for b in checked.bad:
        ctx.quarantine(SOURCE, f"{acc} {b.error.record_key}", f"13F filing {acc}: {b.error}", b.raw)
    if checked.problem is not None:
        error = f"13F filing {acc} (CIK {cik}, filed {filed}): {checked.problem}"
        ctx.quarantine(SOURCE, acc, error, checked.raw)
        # Rare, so recorded right away: the statement waits for a COPY in flight (background_copy).
        record_filing(ctx.session, filing_values(ctx, entry, name, "quarantined", error, checked.cover,
                                                 len(checked.holdings)))
        return "filings_quarantined"
    loader.add(filing_values(ctx, entry, name, "loaded", None, checked.cover, len(checked.holdings)),
               checked.holdings)
    return "filings_parsed"
