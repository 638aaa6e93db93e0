"""Detect step of institutional_13f: parse, check, load (see load.py), then diff each new report version.

Report versions are point in time: one per filing date of a manager's quarter, with amendments
applied as of that date, diffed against the previous quarter as known on the same date.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import select

from pipelines.core.db import is_postgresql
from pipelines.core.model import StepContext, StepResult
from pipelines.scoring.institutional import TrackedManager, is_qualified, manager_changes
from pipelines.sources.edgar.refs import filing_index_url
from pipelines.sources.edgar.thirteenf_reports import report_as_of

from .diff_sql import sql_versions
from .fetch import MANIFEST
from .load import load_filings
from .models import ThirteenFFiling, ThirteenFReport
from .quarters import quarter_after, quarter_before
from .store import delete_reports, loaded_filings, record_report, report_versions, save_changes
from .tickers import cusip_tickers, title_index
from .views import views_as_of


def read_manifest(ctx: StepContext) -> dict[str, Any]:
    return json.loads(ctx.artifacts.get(MANIFEST))


def detect(ctx: StepContext) -> StepResult:
    manifest = read_manifest(ctx)
    names = {int(m["cik"]): m["name"] for m in manifest["managers"]}
    as_of = date.fromisoformat(manifest["as_of"])
    counts = load_filings(ctx, manifest["filings"], names)
    accessions = [e["accession"] for e in manifest["filings"]]
    f = ThirteenFFiling
    loaded: list[tuple[int, date | None]] = [(cik, period) for cik, period in ctx.session.execute(
        select(f.cik, f.period).where(f.accession.in_(accessions), f.state == "loaded"))] if accessions else []
    # A loaded filing always has its period (the cover's); the test only tells the type checker.
    touched = sorted({(cik, period) for cik, period in loaded if period is not None}, key=lambda t: (t[1], t[0]))
    titles = title_index(ctx.artifacts.get(manifest["tickers"]) if manifest.get("tickers") else None)
    for cik, period in touched:
        _reopen_unpaired(ctx, cik, quarter_after(period))
    # Each touched quarter, then the quarter after it (whose predecessor may only have arrived now).
    pairs = list(dict.fromkeys([*touched, *((cik, quarter_after(period)) for cik, period in touched)]))
    for key, n in record_versions(ctx, pairs, names, as_of, titles).items():
        counts[key] += n
    return StepResult(counts=dict(counts))


def _reopen_unpaired(ctx: StepContext, cik: int, period: date) -> None:
    """Drop versions of `period` recorded without a previous quarter, so they are diffed now that it exists."""
    r = ThirteenFReport
    delete_reports(ctx.session, select(r.id).where(r.cik == cik, r.period == period, r.diff_state == "no_prior"))


def record_versions(ctx: StepContext, pairs: Sequence[tuple[int, date]], names: dict[int, str], as_of: date,
                    titles: dict[str, str], *, in_sql: bool | None = None) -> Counter[str]:
    """Record the new report versions of each (cik, period) with their position changes; the counts.

    On PostgreSQL the diff runs in SQL (diff_sql); elsewhere, or with in_sql=False, in Python.
    """
    if in_sql if in_sql is not None else is_postgresql(ctx.session):
        return sql_versions(ctx, pairs, names, as_of, titles)
    counts: Counter[str] = Counter()
    for cik, period in pairs:
        for key, n in python_versions(ctx, cik, period, names.get(cik, ""), as_of, titles).items():
            counts[key] += n
    return counts


def python_versions(ctx: StepContext, cik: int, period: date, name: str, as_of: date,
                    titles: dict[str, str]) -> Counter[str]:
    """One (cik, period)'s new versions, diffed in Python from the rows read back."""
    counts: Counter[str] = Counter()
    filings = loaded_filings(ctx.session, cik, period)
    dates = sorted({f.filed for f in filings if f.filed <= as_of} - report_versions(ctx.session, cik, period))
    if not dates:
        return counts
    prev_period = quarter_before(period)
    prev_filings = loaded_filings(ctx.session, cik, prev_period)
    manager = TrackedManager(cik, name or filings[0].cover.filer_name)
    for day in dates:
        views = views_as_of(ctx, report_as_of, filings, prev_filings, cik, period, day, counts)
        if views is None:
            continue
        cur, prev = views
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
