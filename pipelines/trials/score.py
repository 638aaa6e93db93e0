"""score and metrics: change events of mapped industry sponsors -> signals; counts and unmapped sponsors.

Only INDUSTRY lead sponsors that map to a ticker are scored (domain notes 3.3: no ticker, no alert);
the others are counted, and the metrics step lists the unmapped industry sponsors for operators.
Sponsor size is not known to this pipeline yet, so materiality is the neutral midpoint and says so
in the alert; lead-asset is shown as not assessed.
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import UTC, datetime

from notifications.message import Link, ScoreComponent
from pipelines.core.errors import DataError
from pipelines.core.model import StepContext, StepResult
from pipelines.core.signals import SignalRecord, record_signals
from pipelines.scoring.clinical import ClinicalSignal, score_event
from pipelines.sources.ctgov.diff import (
    ENROLLMENT_CHANGED,
    EVENT_TYPES,
    PRIMARY_COMPLETION_ACTUAL,
    PRIMARY_COMPLETION_MOVED,
    RESULTS_POSTED,
    STATUS_CHANGED,
)
from pipelines.sources.ctgov.normalize import PartialDate
from pipelines.sources.sponsors import (
    SponsorMapper,
    SponsorMatch,
    load_company_tickers,
)

from .common import (
    TICKERS_ARTIFACT,
    UNMAPPED_ARTIFACT,
    DetectedEvent,
    load_detected,
    sponsor_mapper,
)

log = logging.getLogger("signals.clinical_trials")


def build_mapper(ctx: StepContext) -> SponsorMapper:
    """Overrides, then the run's archived SEC tickers; a bad tickers file leaves overrides only."""
    raw = ctx.artifacts.get(TICKERS_ARTIFACT)
    try:
        tickers = load_company_tickers(raw)
    except DataError as exc:
        ctx.quarantine("sec_tickers", "company_tickers.json", str(exc), raw)
        log.error("company_tickers.json unusable (%s): mapping by the override table only", exc,
                  extra=ctx.log_fields)
        tickers = []
    return sponsor_mapper(ctx.settings, tickers)


def _headline(d: DetectedEvent) -> str:
    e = d.event
    if e.event_type == STATUS_CHANGED:
        return f"{str(e.new).replace('_', ' ').lower()} (was {str(e.old).replace('_', ' ').lower()})"
    if e.event_type == PRIMARY_COMPLETION_MOVED:
        return f"primary completion moved {abs(e.detail['days'])} days {e.detail['direction']} ({e.old} -> {e.new})"
    if e.event_type == PRIMARY_COMPLETION_ACTUAL:
        return f"primary completion now ACTUAL ({e.detail.get('date')})"
    if e.event_type == ENROLLMENT_CHANGED:
        return f"enrollment {e.old} -> {e.new} ({e.detail['change_pct']:+}%)"
    if e.event_type == RESULTS_POSTED:
        return f"results posted ({e.detail.get('results_first_posted') or 'date not given'})"
    return e.event_type.replace("_", " ")


def _event_time(when: PartialDate | None) -> datetime | None:
    # A month-only date is a window; no instant within it is claimed.
    if when is None or when.day is None:
        return None
    return datetime(when.year, when.month, when.day, tzinfo=UTC)


def to_record(d: DetectedEvent, match: SponsorMatch, scored: ClinicalSignal) -> SignalRecord:
    """The engine's SignalRecord for one scored event, with its components and the NCT links."""
    e = d.event
    headline = _headline(d)
    summary = f"{d.brief_title or e.nct_id}. Lead sponsor {d.sponsor} -> {match.ticker} ({match.method})."
    if e.detail.get("why_stopped"):
        summary += f" Why stopped: {e.detail['why_stopped']}"
    links = tuple(Link(f"ClinicalTrials.gov {e.nct_id}", url) for url in scored.links)
    links += (Link(f"{e.nct_id} record history", f"{scored.links[0]}?tab=history"),) if scored.links else ()
    return SignalRecord(
        signal_type=scored.signal_type, event_key=scored.event_key, score=scored.score,
        title=f"{match.ticker}: Phase 3 {e.nct_id} {headline}", summary=summary, ticker=match.ticker,
        company=d.sponsor, components=tuple(ScoreComponent(n, v, x) for n, v, x in scored.components),
        links=links, event_time=_event_time(e.event_time),
        details={"nct_id": e.nct_id, "version_no": d.version_no, "field": e.field, "old": e.old, "new": e.new,
                 "detail": dict(e.detail), "mapping": {"method": match.method, "confidence": match.confidence,
                                                       "cik": match.cik}})


def score_step(ctx: StepContext) -> StepResult:
    """Score each event whose lead sponsor maps to a ticker; store signals and queue alerts."""
    detected = load_detected(ctx)
    mapper = build_mapper(ctx)
    counts: Counter[str] = Counter()
    records = []
    for d in detected.events:
        if d.sponsor_class != "INDUSTRY":
            counts["events_not_industry"] += 1
            continue
        match = mapper.match(d.sponsor, d.sponsor_class)
        if match is None:
            counts["events_unmapped"] += 1
            continue
        records.append(to_record(d, match, score_event(d.event, match)))
    recorded = record_signals(ctx, records)
    return StepResult(counts={**dict(counts), **recorded.counts()})


def metrics_step(ctx: StepContext) -> StepResult:
    """Events per type, and the industry sponsors without a ticker (stored, and logged once)."""
    detected = load_detected(ctx)
    counts = {f"events_{t}": 0 for t in EVENT_TYPES}
    for d in detected.events:
        counts[f"events_{d.event.event_type}"] = counts.get(f"events_{d.event.event_type}", 0) + 1
    mapper = build_mapper(ctx)
    unmapped = [s for s in detected.sponsors
                if s.sponsor_class == "INDUSTRY" and mapper.match(s.name, s.sponsor_class) is None]
    report = [{"sponsor": s.name, "studies": s.studies, "example_nct_id": s.example_nct_id} for s in unmapped]
    ctx.artifacts.put(UNMAPPED_ARTIFACT, json.dumps(report, ensure_ascii=False, indent=1).encode("utf-8"),
                      "application/json")
    if unmapped:
        shown = "; ".join(f"{s.name} ({s.studies})" for s in unmapped[:50])
        more = f" and {len(unmapped) - 50} more" if len(unmapped) > 50 else ""
        log.warning("%d industry sponsor(s) have no ticker; add rows to pipelines/data/sponsor_overrides.csv "
                    "where one exists (artifact %s): %s%s", len(unmapped), UNMAPPED_ARTIFACT, shown, more,
                    extra=ctx.log_fields)
    counts["unmapped_sponsors"] = len(unmapped)
    counts["industry_sponsors"] = sum(1 for s in detected.sponsors if s.sponsor_class == "INDUSTRY")
    return StepResult(counts=counts)
