"""The detect step: parse each fetched ownership XML and load its trades.

Trades are attributed to the issuer CIK in the document (the feed lists a filing under every CIK
it names). A document that does not parse is quarantined with its raw bytes and the batch goes on.
A 4/A is linked to the stored Form 4 it restates (same issuer, a shared owner, filed on its
dateOfOriginalSubmission): the original's rows are marked superseded and the amendment's rows
stand in their place, all flagged amended so scoring holds them for review.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import replace

from sqlalchemy import select

from pipelines.core.artifacts import load_blob
from pipelines.core.errors import DataError
from pipelines.core.ledger import utcnow
from pipelines.core.model import StepContext, StepResult
from pipelines.scoring.insider_trades import InsiderTrade, trades_from_form4
from pipelines.sources.edgar.form4 import Form4Document, apply_amendment, parse_form4

from .fetch import ManifestEntry, read_manifest
from .store import (
    FilingState,
    Form4Filing,
    find_original,
    record_purchase_months,
    save_trades,
    supersede,
)

log = logging.getLogger(__name__)

SOURCE = "edgar_form4"


def _restated(ctx: StepContext, filing: Form4Filing, doc: Form4Document) -> Form4Document:
    """The document that stands after a 4/A; the original is superseded when we have it."""
    original = find_original(ctx.session, issuer_cik=doc.issuer.cik, owner_ciks=(o.cik for o in doc.owners),
                             original_date=doc.date_of_original_submission, before=filing.accession)
    if original is None or original.artifact_key is None:
        return doc
    earlier = parse_form4(load_blob(ctx.session, original.artifact_key), source=SOURCE)
    standing = apply_amendment(earlier, doc)  # may refuse the pair: then nothing is superseded
    supersede(ctx.session, original.accession, filing.accession)
    filing.amends = original.accession
    return standing


def _mismatch(entry: ManifestEntry, doc: Form4Document, trades: list[InsiderTrade]) -> list[InsiderTrade]:
    if entry.form_type == doc.document_type:
        return trades
    issue = f"listed as form {entry.form_type} but the document is a {doc.document_type}"
    return [replace(t, issues=(*t.issues, issue)) for t in trades]


def _load(ctx: StepContext, entry: ManifestEntry, raw: bytes, counts: Counter[str]) -> None:
    filing = ctx.session.scalar(select(Form4Filing).where(Form4Filing.accession == entry.accession))
    if filing is None:  # only if someone deleted the row since the fetch
        ctx.quarantine(SOURCE, entry.accession, f"{entry.accession} is in the manifest but not in form4_filings", raw)
        counts["quarantined"] += 1
        return
    filing.updated_at = utcnow()
    try:
        doc = parse_form4(raw, source=SOURCE)
        standing = _restated(ctx, filing, doc) if doc.is_amendment else doc
    except DataError as exc:
        message = f"{entry.accession} ({entry.document}): {exc}"
        ctx.quarantine(SOURCE, entry.accession, message, raw)
        filing.state, filing.error = FilingState.QUARANTINED, message
        counts["quarantined"] += 1
        return
    trades = trades_from_form4(standing, accession=entry.accession, filed_at=entry.filed_at,
                               listed_issuer_cik=entry.listed_issuer_cik)
    trades = _mismatch(entry, doc, trades)
    counts["transactions"] += save_trades(ctx.session, trades, ctx.run_id)
    counts["purchase_months"] += record_purchase_months(ctx.session, trades)
    counts["purchases"] += sum(1 for t in trades if t.table == "non_derivative" and t.code == "P")
    counts["amendments"] += doc.is_amendment
    filing.state, filing.error = FilingState.PARSED, None
    filing.issuer_cik, filing.issuer_name, filing.ticker = doc.issuer.cik, doc.issuer.name[:255], doc.issuer.ticker
    filing.document_type, filing.period_of_report = doc.document_type, doc.period_of_report
    filing.owner_ciks = [o.cik for o in doc.owners]
    counts["parsed"] += 1


def detect(ctx: StepContext) -> StepResult:
    """Parse every XML the run fetched (in filing order, so an original precedes its 4/A)."""
    counts: Counter[str] = Counter()
    entries = sorted(read_manifest(ctx), key=lambda e: (e.filed, e.accepted_at or "", e.accession))
    for entry in entries:
        _load(ctx, entry, ctx.artifacts.get(entry.artifact), counts)
        ctx.session.flush()  # a 4/A later in the batch must find its original
    log.info("form4 detect: %s", dict(counts), extra=ctx.log_fields)
    return StepResult(counts={"documents": len(entries), **counts})
