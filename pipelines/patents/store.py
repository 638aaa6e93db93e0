"""Load: one release into the snapshot tables, its diff against the previous release, and the alerts.

Everything happens in the step's one transaction: the release row (unique on the ZIP's sha256), its
rows, its calendar, its change events, the signals and their queued alerts commit together or not
at all. A release already in the table is left as it is, so loading the same release twice
changes nothing.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from notifications.message import Link
from pipelines.core.model import StepContext, StepResult
from pipelines.core.signals import SignalRecord, record_signals
from pipelines.scoring.component import score_components
from pipelines.scoring.patent import PatentScore, score_events
from pipelines.sources.orange_book.calendar import CalendarEntry, months_to_loe
from pipelines.sources.orange_book.diff import ReleaseEvent, diff_releases
from pipelines.sources.orange_book.parse import (
    Exclusivity,
    Patent,
    Product,
    Release,
    gc_paused,
    read_release_zip,
)

from . import state
from .models import (
    ObCalendarEntry,
    ObExclusivity,
    ObPatent,
    ObProduct,
    ObRelease,
    ObReleaseEvent,
)
from .steps import components_json

SIGNAL_PREFIX = "orange_book_"
DATA_FILES_PAGE = "https://www.fda.gov/drugs/drug-approvals-and-databases/orange-book-data-files"
PATENT_PAGE = "https://www.accessdata.fda.gov/scripts/cder/ob/patent_info.cfm?Product_No={product_no}&Appl_No={appl_no}&Appl_type=N"


def _insert_ignore(session: Session, model: type, values: dict[str, Any], conflict: list[str]) -> int | None:
    """Insert unless the unique key exists; the new row's id, or None (PostgreSQL and SQLite)."""
    dialect = session.get_bind().dialect.name
    insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert_(model).values(**values).on_conflict_do_nothing(index_elements=conflict)
    return session.execute(stmt.returning(model.id)).scalar_one_or_none()  # type: ignore[attr-defined]


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def _load_rows(session: Session, release_id: int, release: Release) -> None:
    def rows(items: Sequence[tuple], rename: Mapping[str, str] = {}) -> list[dict[str, Any]]:  # type: ignore[type-arg]
        out = []
        for n, item in enumerate(items):
            record = {rename.get(k, k): v for k, v in item._asdict().items()}  # type: ignore[attr-defined]
            record["release_id"], record["row_no"] = release_id, n
            out.append(record)
        return out

    for model, items, rename in ((ObProduct, release.products, {}), (ObPatent, release.patents, {}),
                                 (ObExclusivity, release.exclusivities, {"date": "exclusivity_date"})):
        if items:
            session.execute(insert(model), rows(items, rename))


def release_from_db(session: Session, release_id: int) -> Release:
    """A loaded release read back from the snapshot tables (for the diff against the next one)."""
    def read(model: Any, fields: Sequence[str], rename: Mapping[str, str] = {}) -> list[Any]:
        cols = [getattr(model, rename.get(f, f)) for f in fields]
        return list(session.execute(select(*cols).where(model.release_id == release_id).order_by(model.row_no)))

    return Release(
        products=tuple(Product._make(r) for r in read(ObProduct, Product._fields)),
        patents=tuple(Patent._make(r) for r in read(ObPatent, Patent._fields)),
        exclusivities=tuple(Exclusivity._make(r) for r in read(ObExclusivity, Exclusivity._fields,
                                                                 {"date": "exclusivity_date"})),
    )


def _calendar_rows(release_id: int, entries: Iterable[CalendarEntry], scores: Mapping[tuple[str, str], Any],
                   tickers: Mapping[str, Any], as_of: date) -> list[dict[str, Any]]:
    out = []
    for e in entries:
        record = e._asdict()
        record["generics"] = [{**g._asdict(), "approval_date": _iso(g.approval_date)} for g in e.generics]
        score = scores.get((e.appl_no, e.product_no), {})
        record.update(release_id=release_id, ticker=(tickers.get(e.applicant_full_name) or {}).get("ticker"),
                      months_to_loe=months_to_loe(e.effective_loe, as_of), score=score.get("score", 0.0),
                      score_components=score.get("components", []))
        out.append(record)
    return out


def _headline(ev: ReleaseEvent) -> str:
    d = ev.detail
    if ev.event_type == "patent_added":
        return f"patent {d['patent_no']} newly listed (expires {d['expire_date']})"
    if ev.event_type == "patent_delisted":
        how = "removed from the list" if d.get("how") == "removed" else "delisted"
        return f"patent {d['patent_no']} {how} (was to expire {d['expire_date']})"
    if ev.event_type == "patent_expiry_moved":
        return f"patent {d['patent_no']} expiry moved {d['old_expire_date']} -> {d['new_expire_date']}"
    if ev.event_type == "exclusivity_added":
        return f"new exclusivity {d['code']} until {d['date']}"
    return f"generic approved: ANDA {d['anda_appl_no']}/{d['anda_product_no']} ({d['anda_applicant']})"


def signal_for(ev: ReleaseEvent, scored: PatentScore, entry: CalendarEntry | None, ticker: str | None,
               as_of: date, release_sha: str) -> SignalRecord:
    """The scored signal of one release event, with every component and the Orange Book links."""
    d = ev.detail
    trade = entry.trade_name if entry else str(d.get("trade_name", ""))
    who = entry.applicant_full_name if entry else ""
    months = months_to_loe(entry.effective_loe, as_of) if entry else None
    summary = (f"NDA {ev.appl_no}/{ev.product_no}{' (' + who + ')' if who else ''}: effective loss of exclusivity "
               f"{d.get('effective_loe_before') or 'none'} -> {d.get('effective_loe_after') or 'none'}"
               + (f", {months} months from {as_of.isoformat()}." if months is not None else "."))
    return SignalRecord(
        signal_type=SIGNAL_PREFIX + ev.event_type, event_key=ev.key, score=scored.score,
        title=f"{trade}: {_headline(ev)}", summary=summary, ticker=ticker, company=who or None,
        components=score_components(scored.components),  # no revenue share, no Paragraph IV list: 0
        links=(Link("Orange Book patents and exclusivities",
                    PATENT_PAGE.format(product_no=ev.product_no, appl_no=ev.appl_no)),
               Link("Orange Book data files", DATA_FILES_PAGE)),
        event_time=ev.event_time,
        details={**d, "appl_no": ev.appl_no, "product_no": ev.product_no, "release_sha256": release_sha},
    )


def _record_events(ctx: StepContext, release_id: int, previous_id: int, events: Sequence[ReleaseEvent],
                   entries: Sequence[CalendarEntry], tickers: Mapping[str, Any], as_of: date,
                   release_sha: str) -> list[SignalRecord]:
    """Store the scored events (a known event key of this release is skipped); their signals."""
    scored = score_events(events, entries, as_of, revenue_shares=state.revenue_shares(ctx), piv=None)
    by_product = {(e.appl_no, e.product_no): e for e in entries}
    records = []
    for ev, sc in zip(events, scored, strict=True):
        entry = by_product.get((ev.appl_no, ev.product_no))
        ticker = (tickers.get(entry.applicant_full_name) or {}).get("ticker") if entry else None
        new = _insert_ignore(ctx.session, ObReleaseEvent, {
            "release_id": release_id, "previous_release_id": previous_id, "event_key": ev.key,
            "event_type": ev.event_type, "appl_no": ev.appl_no, "product_no": ev.product_no, "ticker": ticker,
            "detail": dict(ev.detail), "score": sc.score, "components": components_json(sc.components),
            "event_time": ev.event_time}, ["release_id", "event_key"])
        if new is not None:
            records.append(signal_for(ev, sc, entry, ticker, as_of, release_sha))
    return records


def load_step(ctx: StepContext) -> StepResult:
    if state.skipped(ctx):
        return StepResult(counts={"skipped": 1})
    status = state.get_json(ctx, state.EXTRACTION)
    session = ctx.session
    if session.scalar(select(ObRelease.id).where(ObRelease.sha256 == status["sha256"])) is not None:
        return StepResult(counts={"already_loaded": 1})
    fetched_at = datetime.fromisoformat(status["fetched_at"])
    previous = session.scalar(select(ObRelease).where(ObRelease.sha256 != status["sha256"])
                              .order_by(ObRelease.id.desc()).limit(1))
    entries = state.read_calendar(ctx)
    # Parsing and diffing build ~150,000 small tuples: pause the cyclic collector across both
    # (benchmarks/orange_book.py measures exactly this work).
    with gc_paused():
        release = read_release_zip(ctx.artifacts.get(state.RAW_ZIP), observed_at=fetched_at)
        events = diff_releases(release_from_db(session, previous.id), release, event_time=fetched_at,
                               new_calendar=entries) if previous is not None else []
    scores = {(p["appl_no"], p["product_no"]): p for p in state.get_json(ctx, state.SCORES)["products"]}
    tickers: Mapping[str, Any] = state.get_json(ctx, state.TICKERS)["applicants"]
    as_of = state.as_of(ctx)
    release_id = _insert_ignore(session, ObRelease, {
        "sha256": release.sha256, "fetched_at": fetched_at, "run_id": ctx.run_id,
        "source_url": status["source_url"], "size": status["size"], "as_of": as_of,
        "previous_release_id": previous.id if previous else None, "product_count": len(release.products),
        "patent_count": len(release.patents), "exclusivity_count": len(release.exclusivities),
        "row_error_count": len(release.errors), "event_count": 0,
    }, ["sha256"])
    if release_id is None:  # another run loaded it meanwhile
        return StepResult(counts={"already_loaded": 1})
    _load_rows(session, release_id, release)
    if entries:
        session.execute(insert(ObCalendarEntry), _calendar_rows(release_id, entries, scores, tickers, as_of))
    counts = {"products": len(release.products), "patents": len(release.patents),
              "exclusivities": len(release.exclusivities), "calendar_entries": len(entries)}
    if previous is None:  # the first release is the baseline: nothing to compare it with
        return StepResult(counts={**counts, "baseline_release": 1, "events": 0})
    records = _record_events(ctx, release_id, previous.id, events, entries, tickers, as_of, release.sha256)
    session.execute(update(ObRelease).where(ObRelease.id == release_id).values(event_count=len(records)))
    recorded = record_signals(ctx, records)
    return StepResult(counts={**counts, "events": len(records), **recorded.counts()})
