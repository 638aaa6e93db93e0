"""The fetch step: discover new Form 4 filings, claim each accession once, store every raw payload.

Claims are rows of `form4_filings` inserted if absent, so the same filing seen by two polls, by
the feed and then the daily index, or by two runs at once is fetched once. A document whose fetch
fails for an upstream reason stays `pending` and the next runs pick it up (also how a backfill
day larger than one run's budget is drained). The run's manifest artifact lists what it fetched;
detect and score work from it, and a replay reads the replayed run's manifest.
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipelines.core.errors import DataError, TransientError
from pipelines.core.http import HttpError
from pipelines.core.ledger import Trigger, utcnow
from pipelines.core.model import StepContext, StepResult
from pipelines.core.ratelimit import RedisRateLimiter
from pipelines.sources.edgar.client import EdgarClient

from . import discovery
from .discovery import Listed
from .store import FilingState, Form4Filing, insert_if_absent

log = logging.getLogger(__name__)

MANIFEST = "derived/form4_manifest.json"
MAX_DOCUMENTS_PER_RUN = 500  # two requests each: under two minutes at 10 requests/s
MAX_FETCH_ATTEMPTS = 5
MAX_CONSECUTIVE_TRANSIENT = 3  # then EDGAR is struggling: leave the rest pending for the next run


@dataclass(frozen=True)
class ManifestEntry:
    accession: str
    form_type: str
    folder_cik: int
    listed_issuer_cik: int | None
    filed: str  # ISO date
    accepted_at: str | None  # ISO datetime
    document: str
    artifact: str  # artifact name of the raw XML

    @property
    def filed_at(self) -> datetime:
        accepted = datetime.fromisoformat(self.accepted_at) if self.accepted_at else None
        return discovery.filed_at(date.fromisoformat(self.filed), accepted)


def read_manifest(ctx: StepContext) -> list[ManifestEntry]:
    """What this run's fetch (or the replayed run's) fetched; empty when it fetched nothing."""
    if MANIFEST not in ctx.artifacts.names():
        return []
    return [ManifestEntry(**e) for e in json.loads(ctx.artifacts.get(MANIFEST))]


def _claim(session: Session, listed: Listed, run_id: int) -> bool:
    return insert_if_absent(session, Form4Filing, dict(
        accession=listed.accession, form_type=listed.form_type, issuer_cik=listed.issuer_cik,
        listed_issuer_cik=listed.issuer_cik, listed_ciks=list(listed.ciks), folder_cik=listed.folder_cik,
        company=listed.company[:255],
        filed=listed.filed, accepted_at=listed.accepted_at, discovered_by=listed.source,
        state=FilingState.PENDING, attempts=0, run_id=run_id, created_at=utcnow(), updated_at=utcnow(),
    ), ["accession"])


def _to_fetch(session: Session, claimed: list[str], limit: int) -> list[Form4Filing]:
    """This run's new claims first, then filings earlier runs left pending, up to `limit`."""
    rows = list(session.scalars(select(Form4Filing).where(Form4Filing.accession.in_(claimed))
                                .order_by(Form4Filing.id))) if claimed else []
    room = limit - len(rows)
    if room > 0:
        # SKIP LOCKED: two runs draining the backlog at once take different filings (PostgreSQL).
        rows += list(session.scalars(
            select(Form4Filing).where(Form4Filing.state == FilingState.PENDING,
                                      Form4Filing.accession.not_in(claimed or [""]),
                                      Form4Filing.attempts < MAX_FETCH_ATTEMPTS)
            .order_by(Form4Filing.id).limit(room).with_for_update(skip_locked=True)))
    return rows[:limit]


def _entry(filing: Form4Filing) -> ManifestEntry:
    assert filing.document is not None
    return ManifestEntry(
        accession=filing.accession, form_type=filing.form_type, folder_cik=filing.folder_cik,
        listed_issuer_cik=filing.listed_issuer_cik, filed=filing.filed.isoformat(),
        accepted_at=filing.accepted_at.isoformat() if filing.accepted_at else None,
        document=filing.document, artifact=f"raw/filings/{filing.accession}/{filing.document}")


def _earlier_try(session: Session, run_id: int) -> list[Form4Filing]:
    """Filings an earlier try of this same run fetched (a rerun re-computes them from their artifacts)."""
    return list(session.scalars(select(Form4Filing).where(
        Form4Filing.run_id == run_id, Form4Filing.document.is_not(None), Form4Filing.artifact_key.is_not(None))
        .order_by(Form4Filing.id)))


def _listings(ctx: StepContext, client: EdgarClient, counts: Counter[str]) -> list[Listed]:
    listed: list[Listed] = []
    backfill = ctx.trigger == Trigger.BACKFILL
    if _flag(ctx.conf.get("poll", not backfill)):
        since = ctx.data_interval_start - discovery.FEED_OVERLAP
        poll = discovery.poll_feed(client, since, lambda name, raw: ctx.artifacts.put(
            name, raw, "application/atom+xml"))
        counts["feed_pages"] += poll.pages
        for page, bad in poll.bad:
            ctx.quarantine(discovery.FEED_SOURCE, bad.error.record_key or page, f"{page}: {bad.error}", bad.raw)
            counts["feed_entries_quarantined"] += 1
        listed += discovery.group_listings(poll.refs, "feed")
    for day in discovery.reconcile_days(ctx.trigger, ctx.data_interval_start, ctx.data_interval_end,
                                        ctx.conf, discovery.form4_calendar(ctx.settings)):
        raw = discovery.read_daily_index(client, day)
        if raw is None:
            counts["index_days_missing"] += 1
            continue
        name = discovery.index_name(day)
        ctx.artifacts.put(name, raw, "text/plain")
        day_listed, bad_rows = discovery.index_listings(raw, ctx.settings.SEC_WWW_BASE_URL)
        for row in bad_rows:
            ctx.quarantine(discovery.INDEX_SOURCE, row.error.record_key or name, f"{name}: {row.error}", row.raw)
            counts["index_rows_quarantined"] += 1
        counts["index_days"] += 1
        listed += day_listed
    return listed


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _fetch_document(ctx: StepContext, client: EdgarClient, filing: Form4Filing) -> ManifestEntry | None:
    """Folder listing, then the XML; both stored. A bad listing is quarantined (None)."""
    acc = filing.accession
    listing = client.filing_index(filing.folder_cik, acc, "json")
    ctx.artifacts.put(f"raw/filings/{acc}/index.json", listing, "application/json")
    try:
        document = discovery.xml_document(listing, acc)
    except DataError as exc:
        ctx.quarantine(discovery.LISTING_SOURCE, acc, str(exc), listing)
        filing.state, filing.error = FilingState.QUARANTINED, str(exc)
        return None
    raw = client.filing_document(filing.folder_cik, acc, document)
    filing.state, filing.document, filing.run_id = FilingState.FETCHED, document, ctx.run_id
    filing.artifact_key = ctx.artifacts.put(_entry(filing).artifact, raw, "application/xml")
    return _entry(filing)


def _attempt_failed(ctx: StepContext, filing: Form4Filing, error: str) -> None:
    """Count a failed fetch; the filing stays pending until MAX_FETCH_ATTEMPTS, then it is failed."""
    filing.attempts += 1
    filing.error = error
    if filing.attempts >= MAX_FETCH_ATTEMPTS:
        filing.state = FilingState.FAILED
        ctx.quarantine(discovery.LISTING_SOURCE, filing.accession,
                       f"gave up after {filing.attempts} attempts: {error}", b"")


def fetch(ctx: StepContext) -> StepResult:
    """Poll the feed (and the daily index when due), claim new accessions, fetch their XML."""
    counts: Counter[str] = Counter()
    limiter = RedisRateLimiter(ctx.settings.CELERY_BROKER_URL, float(ctx.settings.SEC_MAX_RPS))
    try:
        with EdgarClient.from_settings(ctx.settings, limiter=limiter,
                                       cache_dir=ctx.settings.var_dir / "cache") as client:
            listed = _listings(ctx, client, counts)
            claimed = [x.accession for x in listed if _claim(ctx.session, x, ctx.run_id)]
            counts["listed"] = len(listed)
            counts["new_filings"] = len(claimed)
            limit = int(ctx.conf.get("max_documents", MAX_DOCUMENTS_PER_RUN))
            # A rerun of this run (reprocess) finds its filings claimed already: recompute them as they were.
            manifest = [_entry(f) for f in _earlier_try(ctx.session, ctx.run_id)]
            counts["earlier_try"] = len(manifest)
            transient_in_a_row = 0
            for filing in _to_fetch(ctx.session, claimed, limit):
                if transient_in_a_row >= MAX_CONSECUTIVE_TRANSIENT:
                    counts["left_pending"] += 1
                    continue
                try:
                    entry = _fetch_document(ctx, client, filing)
                except TransientError as exc:
                    transient_in_a_row += 1
                    _attempt_failed(ctx, filing, f"transient: {exc}")
                    counts["fetch_failed"] += 1
                    continue
                except HttpError as exc:
                    _attempt_failed(ctx, filing, str(exc))
                    counts["fetch_failed"] += 1
                    continue
                finally:
                    filing.updated_at = utcnow()
                transient_in_a_row = 0
                if entry is None:
                    counts["listing_quarantined"] += 1
                else:
                    manifest.append(entry)
    finally:
        limiter.close()
    if transient_in_a_row >= MAX_CONSECUTIVE_TRANSIENT and not manifest:
        # Nothing got through: let the engine retry the step with backoff (the claims roll back).
        raise TransientError(f"EDGAR documents unreachable: {transient_in_a_row} transient failures in a row")
    ctx.artifacts.put(MANIFEST, json.dumps([asdict(m) for m in manifest]).encode(), "application/json")
    counts["documents"] = len(manifest)
    log.info("form4 fetch: %s", dict(counts), extra=ctx.log_fields)
    return StepResult(counts=dict(counts))
