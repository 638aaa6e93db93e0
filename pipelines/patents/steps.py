"""The patent-cliff calendar and opportunity-score steps (pure computation over the run's artifacts)."""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from pipelines.core.model import StepContext, StepResult
from pipelines.scoring.patent import Component, PatentScore, score_calendar
from pipelines.sources.orange_book.applicants import (
    load_applicant_overrides,
    parse_company_tickers,
    rollup_applicants,
)
from pipelines.sources.orange_book.calendar import (
    add_months,
    build_calendar,
    rollup_brands,
)
from pipelines.sources.orange_book.parse import read_release_zip

from . import state

ROLLUPS = "calendar/rollups.json"
HORIZON_MONTHS = 36


def calendar_step(ctx: StepContext) -> StepResult:
    """One entry per NDA product, plus roll-ups per brand and ingredient and per applicant company."""
    if state.skipped(ctx):
        return StepResult(counts={"skipped": 1})
    release = read_release_zip(ctx.artifacts.get(state.RAW_ZIP))
    entries = build_calendar(release)
    state.put_json(ctx, state.CALENDAR, [state.entry_to_json(e) for e in entries])
    as_of = state.as_of(ctx)
    tickers = None
    if state.RAW_TICKERS in ctx.artifacts.names():
        tickers = parse_company_tickers(ctx.artifacts.get(state.RAW_TICKERS))
    companies = rollup_applicants(entries, as_of, overrides=load_applicant_overrides(), tickers=tickers,
                                  horizon_months=HORIZON_MONTHS)
    brands = rollup_brands(entries)
    state.put_json(ctx, ROLLUPS, {"as_of": as_of, "brands": [asdict(b) for b in brands],
                                  "companies": [asdict(c) for c in companies]})
    horizon = add_months(as_of, HORIZON_MONTHS)
    return StepResult(counts={
        "nda_products": len(entries), "with_loe": sum(1 for e in entries if e.effective_loe),
        "loe_within_36_months": sum(1 for e in entries if e.effective_loe and as_of <= e.effective_loe <= horizon),
        "brands": len(brands), "companies": len(companies),
        "companies_with_ticker": sum(1 for c in companies if c.ticker),
    })


def components_json(components: tuple[Component, ...]) -> list[dict[str, Any]]:
    return [{"name": c.name, "value": c.value, "explanation": c.explanation} for c in components]


def score_json(s: PatentScore) -> dict[str, Any]:
    return {"appl_no": s.appl_no, "product_no": s.product_no, "trade_name": s.trade_name, "score": s.score,
            "components": components_json(s.components)}


def scores_step(ctx: StepContext) -> StepResult:
    """Opportunity score 0-10 of every calendar entry, every component kept (domain notes 3.4)."""
    if state.skipped(ctx):
        return StepResult(counts={"skipped": 1})
    entries = state.read_calendar(ctx)
    as_of = state.as_of(ctx)
    # The Paragraph IV points need a readable list; enrichment says when there is none (piv=None).
    scores = score_calendar(entries, as_of, revenue_shares=state.revenue_shares(ctx), piv=None)
    state.put_json(ctx, state.SCORES, {"as_of": as_of, "products": [score_json(s) for s in scores]})
    return StepResult(counts={
        "scored": len(scores), "score_5_or_more": sum(1 for s in scores if s.score >= 5),
        "with_revenue_exposure": sum(1 for s in scores for c in s.components
                                     if c.name == "revenue_exposure" and c.value is not None),
    })
