"""Fetch step of institutional_13f: listings, then the documents of each filing not yet stored.

Everything fetched is stored as an artifact exactly as received, and `manifest.json` says what the
run found, so detect and score (and a replay) read artifacts only. Problems with one manager or one
filing are quarantined here and the rest goes on; upstream trouble (429/5xx/timeouts) raises
TransientError and the engine retries the whole step (artifacts are content-addressed, so a retry
stores nothing twice).
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from pipelines.core.errors import DataError
from pipelines.core.http import HttpError
from pipelines.core.model import StepContext, StepResult
from pipelines.sources.edgar.client import EdgarClient
from pipelines.sources.edgar.feeds import parse_form_index, parse_submissions

from .discover import (PRIMARY_DOC, Candidate, from_index, from_submissions, folder_files, index_days,
                       infotable_candidates, is_information_table, merge, tracked_managers)
from .store import known_accessions

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"
TICKERS = "sec/company_tickers.json"


def run_dates(ctx: StepContext) -> tuple[Any, Any]:
    """(first, last) New York dates of the run's data interval: filing dates are Eastern dates."""
    zone = ZoneInfo(ctx.settings.TIMEZONE)
    return ctx.data_interval_start.astimezone(zone).date(), ctx.data_interval_end.astimezone(zone).date()


def fetch(ctx: StepContext) -> StepResult:
    settings = ctx.settings
    managers = tracked_managers(settings)
    since, as_of = run_dates(ctx)
    counts = dict(managers=len(managers), submissions=0, index_days=0, index_missing=0, candidates=0,
                  new_filings=0, fetch_errors=0)
    candidates: list[Candidate] = []
    filings: list[dict[str, Any]] = []
    tickers_artifact: str | None = None
    with EdgarClient.from_settings(settings, cache_dir=settings.var_dir / "cache") as client:
        for m in managers:
            key = f"CIK{m.cik:010d}"
            try:
                raw = client.submissions(m.cik)
            except HttpError as exc:
                ctx.quarantine("edgar.submissions", key, f"submissions JSON of {m.name} (CIK {m.cik}): {exc}", b"")
                counts["fetch_errors"] += 1
                continue
            ctx.artifacts.put(f"submissions/{key}.json", raw, "application/json")
            counts["submissions"] += 1
            try:
                subs, bad = parse_submissions(raw, source="edgar.submissions")
            except DataError as exc:
                ctx.quarantine("edgar.submissions", key, f"submissions JSON of {m.name}: {exc}", raw)
                counts["fetch_errors"] += 1
                continue
            for b in bad:
                ctx.quarantine("edgar.submissions", b.error.record_key or key, str(b.error), b.raw)
            candidates += from_submissions(subs, as_of=as_of, since=since)

        tracked = {m.cik for m in managers}
        for day in index_days(ctx.data_interval_start, ctx.data_interval_end, zone=ZoneInfo(settings.TIMEZONE)):
            try:
                raw = client.daily_index(day, "form")
            except HttpError as exc:
                # No index on holidays, and today's is only built from about 22:00 ET.
                if exc.status not in (403, 404):
                    ctx.quarantine("edgar.daily_index", f"form.{day:%Y%m%d}.idx", str(exc), b"")
                counts["index_missing"] += 1
                continue
            ctx.artifacts.put(f"index/form.{day:%Y%m%d}.idx", raw, "text/plain")
            counts["index_days"] += 1
            try:
                refs, bad = parse_form_index(raw, base_url=settings.SEC_WWW_BASE_URL, source="edgar.daily_index")
            except DataError as exc:
                ctx.quarantine("edgar.daily_index", f"form.{day:%Y%m%d}.idx", str(exc), raw)
                continue
            for b in bad:  # the index lists every form; only a row that may be a 13F matters here
                if "13F" in b.raw:
                    ctx.quarantine("edgar.daily_index", b.error.record_key, str(b.error), b.raw)
            candidates += from_index(refs, tracked, as_of=as_of)

        merged = merge(candidates)
        counts["candidates"] = len(merged)
        stored = known_accessions(ctx.session, (c.accession for c in merged))
        for c in merged:
            if c.accession in stored:
                continue
            entry = _fetch_filing(ctx, client, c)
            counts["new_filings"] += entry["error"] is None
            counts["fetch_errors"] += entry["error"] is not None
            filings.append(entry)

        try:
            ctx.artifacts.put(TICKERS, client.company_tickers(), "application/json")
            tickers_artifact = TICKERS
        except (HttpError, DataError) as exc:
            log.warning("company_tickers.json unavailable, CUSIPs stay unmapped this run: %s", exc,
                        extra=ctx.log_fields)

    manifest = {"as_of": as_of.isoformat(), "since": since.isoformat(),
                "fetched_at": datetime.now(timezone.utc).isoformat(),
                "managers": [{"cik": m.cik, "name": m.name} for m in managers],
                "filings": filings, "tickers": tickers_artifact}
    ctx.artifacts.put(MANIFEST, json.dumps(manifest, indent=1).encode("utf-8"), "application/json")
    return StepResult(counts=counts)


def _fetch_filing(ctx: StepContext, client: EdgarClient, c: Candidate) -> dict[str, Any]:
    entry: dict[str, Any] = {**c.to_json(), "cover": None, "table": None, "error": None}
    folder = f"filings/{c.accession}"

    def fail(problem: str, raw: bytes = b"") -> dict[str, Any]:
        entry["error"] = f"13F filing {c.accession} (CIK {c.cik}, filed {c.filed}): {problem}"
        ctx.quarantine("edgar.13f", c.accession, entry["error"], raw)
        return entry

    try:
        listing = client.filing_index(c.cik, c.accession, "json")
    except HttpError as exc:
        return fail(f"filing folder listing not available ({exc})")
    ctx.artifacts.put(f"{folder}/index.json", listing, "application/json")
    try:
        files = folder_files(listing, accession=c.accession)
    except DataError as exc:
        return fail(str(exc), listing)
    if PRIMARY_DOC not in files:
        return fail(f"no {PRIMARY_DOC} cover page in the filing folder ({', '.join(files) or 'empty'})", listing)
    try:
        cover = client.filing_document(c.cik, c.accession, PRIMARY_DOC)
        ctx.artifacts.put(f"{folder}/{PRIMARY_DOC}", cover, "application/xml")
        entry["cover"] = f"{folder}/{PRIMARY_DOC}"
        for name in infotable_candidates(files):
            raw = client.filing_document(c.cik, c.accession, name)
            if is_information_table(raw):
                ctx.artifacts.put(f"{folder}/{name}", raw, "application/xml")
                entry["table"] = f"{folder}/{name}"
                entry["table_name"] = name
                break
    except HttpError as exc:
        return fail(f"document not available ({exc})", listing)
    if entry["table"] is None:
        return fail("no information table (an XML with an <informationTable> root) in the filing folder", listing)
    return entry
