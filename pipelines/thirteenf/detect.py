"""Detect step of institutional_13f: parse, check, load, then diff each new report version.

A filing is loaded only whole: a row that cannot be read, a table that disagrees with its cover's
entry count or value total, or a cover that names another filer, quarantines the filing (with the
error and raw bytes) and the other filings go on. Report versions are point in time: one per filing
date of a manager's quarter, with amendments applied as of that date, diffed against the previous
quarter as known on the same date.
"""
from __future__ import annotations

import calendar
import json
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import delete, select

from pipelines.core.errors import DataError
from pipelines.core.model import StepContext, StepResult
from pipelines.scoring.institutional import TrackedManager, is_qualified, manager_changes
from pipelines.sources.edgar.refs import filing_index_url
from pipelines.sources.edgar.thirteenf import (CoverPage, check_against_cover, parse_cover, parse_infotable,
                                               report_as_of, value_multiplier)

from .fetch import MANIFEST
from .models import ThirteenFFiling, ThirteenFReport
from .store import FilingLoader, loaded_filings, record_filing, record_report, report_versions, save_changes
from .tickers import cusip_tickers, title_index

SOURCE = "edgar.13f"


def quarter_before(period: date) -> date:
    """The last day of the calendar quarter before the one holding `period`."""
    return date(period.year, 3 * ((period.month - 1) // 3) + 1, 1) - timedelta(days=1)


def quarter_after(period: date) -> date:
    """The last day of the calendar quarter after the one holding `period`."""
    year, month = period.year, 3 * ((period.month - 1) // 3) + 6
    if month > 12:
        year, month = year + 1, month - 12
    return date(year, month, calendar.monthrange(year, month)[1])


def read_manifest(ctx: StepContext) -> dict[str, Any]:
    return json.loads(ctx.artifacts.get(MANIFEST))


def detect(ctx: StepContext) -> StepResult:
    manifest = read_manifest(ctx)
    names = {int(m["cik"]): m["name"] for m in manifest["managers"]}
    as_of = date.fromisoformat(manifest["as_of"])
    counts: Counter[str] = Counter()
    loader = FilingLoader(ctx.session)
    for entry in manifest["filings"]:
        counts[_load_filing(ctx, loader, entry, names.get(int(entry["cik"]), ""))] += 1
    loader.flush()
    counts["filings_loaded"], counts["holdings_loaded"] = len(loader.loaded), loader.rows
    counts["filings_already_stored"] += len(loader.skipped)
    accessions = [e["accession"] for e in manifest["filings"]]
    touched = sorted(set(ctx.session.execute(select(ThirteenFFiling.cik, ThirteenFFiling.period).where(
        ThirteenFFiling.accession.in_(accessions), ThirteenFFiling.state == "loaded")).all()),
        key=lambda t: (t[1], t[0])) if accessions else []
    titles = title_index(ctx.artifacts.get(manifest["tickers"]) if manifest.get("tickers") else None)
    for cik, period in touched:
        _reopen_unpaired(ctx, cik, quarter_after(period))
    for cik, period in touched:
        for key, n in _versions(ctx, cik, period, names.get(cik, ""), as_of, titles).items():
            counts[key] += n
    for cik, period in touched:  # a quarter whose predecessor only arrived now
        nxt = quarter_after(period)
        for key, n in _versions(ctx, cik, nxt, names.get(cik, ""), as_of, titles).items():
            counts[key] += n
    return StepResult(counts=dict(counts))


def _filing_values(ctx: StepContext, entry: dict[str, Any], name: str, state: str, error: str | None,
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


def _load_filing(ctx: StepContext, loader: FilingLoader, entry: dict[str, Any], name: str) -> str:
    """Record one fetched filing (a good one through `loader`); returns the count it falls under."""
    acc, cik = entry["accession"], int(entry["cik"])
    if entry.get("error"):  # quarantined by the fetch step already
        record_filing(ctx.session, _filing_values(ctx, entry, name, "unavailable", entry["error"]))
        return "filings_unavailable"
    if ctx.session.scalar(select(ThirteenFFiling.id).where(ThirteenFFiling.accession == acc)) is not None:
        return "filings_already_stored"
    filed = date.fromisoformat(entry["filed"])
    cover_raw, table_raw = ctx.artifacts.get(entry["cover"]), ctx.artifacts.get(entry["table"])

    def quarantined(problem: str, raw: bytes, cover: CoverPage | None = None, rows: int = 0) -> str:
        error = f"13F filing {acc} (CIK {cik}, filed {filed}): {problem}"
        ctx.quarantine(SOURCE, acc, error, raw)
        record_filing(ctx.session, _filing_values(ctx, entry, name, "quarantined", error, cover, rows))
        return "filings_quarantined"

    try:
        cover = parse_cover(cover_raw, source=SOURCE)
    except DataError as exc:
        return quarantined(f"cover page: {exc}", cover_raw)
    if cover.filer_cik is not None and cover.filer_cik != cik:
        return quarantined(f"cover page names filer CIK {cover.filer_cik}, not {cik}", cover_raw, cover)
    if entry["form"].endswith("/A") and cover.amendment_type is None:
        return quarantined("13F-HR/A cover has no amendmentType (RESTATEMENT or NEW HOLDINGS)", cover_raw, cover)
    holdings, bad = parse_infotable(table_raw, filed=filed, source=SOURCE)
    for b in bad:
        ctx.quarantine(SOURCE, f"{acc} {b.error.record_key}", f"13F filing {acc}: {b.error}", b.raw)
    if bad:
        return quarantined(f"{len(bad)} information-table row(s) could not be read and are quarantined "
                           "separately; the filing is not loaded incomplete", table_raw, cover, len(holdings))
    mismatch = check_against_cover(holdings, cover)
    if mismatch is not None:
        return quarantined(str(mismatch), table_raw, cover, len(holdings))
    loader.add(_filing_values(ctx, entry, name, "loaded", None, cover, len(holdings)), holdings)
    return "filings_parsed"


def _reopen_unpaired(ctx: StepContext, cik: int, period: date) -> None:
    """Drop versions of `period` recorded without a previous quarter, so they are diffed now that it exists."""
    ctx.session.execute(delete(ThirteenFReport).where(ThirteenFReport.cik == cik, ThirteenFReport.period == period,
                                                      ThirteenFReport.diff_state == "no_prior"))


def _versions(ctx: StepContext, cik: int, period: date, name: str, as_of: date,
              titles: dict[str, str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    filings = loaded_filings(ctx.session, cik, period)
    dates = sorted({f.filed for f in filings if f.filed <= as_of} - report_versions(ctx.session, cik, period))
    if not dates:
        return counts
    prev_period = quarter_before(period)
    prev_filings = loaded_filings(ctx.session, cik, prev_period)
    manager = TrackedManager(cik, name or filings[0].cover.filer_name)
    for day in dates:
        try:
            cur = report_as_of(filings, day)
        except DataError as exc:
            ctx.quarantine(SOURCE, f"{cik}:{period}:{day}", f"13F report of CIK {cik} for {period} as of {day}: "
                           f"amendments cannot be applied: {exc}", b"")
            counts["versions_quarantined"] += 1
            continue
        try:
            prev = report_as_of(prev_filings, day) if prev_filings else None
        except DataError:
            prev = None  # the previous quarter's own amendment problem was quarantined with it
        if cur is None:  # not reachable: `day` is the filing date of one of `filings`
            continue
        link = filing_index_url(ctx.settings.SEC_WWW_BASE_URL, cik, cur.accession)
        qualified = is_qualified(cur)
        changes = []
        if prev is not None:
            issuers = ((h.cusip, h.name_of_issuer) for h in (*cur.holdings, *prev.holdings))
            changes = manager_changes(manager, prev, cur, tickers=cusip_tickers(issuers, titles), link=link,
                                      qualified=qualified)
        report_id = record_report(ctx.session, dict(
            cik=cik, manager_name=manager.name, period=period, as_of=day, accession=cur.accession,
            sources=list(cur.sources), rows=len(cur.holdings), value_usd=sum(h.value_usd for h in cur.holdings),
            qualified=qualified, prev_period=prev_period if prev is not None else None,
            diff_state="diffed" if prev is not None else "no_prior", link=link, run_id=ctx.run_id,
            created_at=datetime.now(timezone.utc)))
        if report_id is None:
            continue
        counts["report_versions"] += 1
        counts["no_prior_quarter"] += prev is None
        counts["position_changes"] += save_changes(ctx.session, report_id, changes)
    return counts
