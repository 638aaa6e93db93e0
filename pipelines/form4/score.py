"""The score step: insider signals for the issuers this run touched, with every component kept.

Windows are scored over everything stored for those issuers around the new trades (a cluster can
span several polls); only signals that include one of this run's filings are recorded. The
routine/opportunistic test reads purchase months from our own store, and only once the store
reaches back far enough to judge (otherwise that component says "unknown" and adds nothing).

Significant buying (a buy-track score at or above the real-time threshold) is marked real-time so
Slack hears of it at once; amended or inconsistent filings are held; backfill signals are stored
for history but never alerted.
"""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from notifications.message import Link
from pipelines.core.ledger import Trigger
from pipelines.core.model import StepContext, StepResult
from pipelines.core.signals import SignalRecord, record_signals
from pipelines.scoring.component import score_components
from pipelines.scoring.insider import (
    SALE,
    InsiderScoringConfig,
    InsiderSignal,
    InsiderTrade,
    detect_insider_signals,
)
from pipelines.sources.edgar.refs import filing_index_url

from .fetch import read_manifest
from .store import FilingState, Form4Filing, purchase_history, stored_trades, trades_of

log = logging.getLogger(__name__)

REALTIME_MIN_SCORE = 5.0
MAX_LINKS = 5
_LABELS = {"insider_buy": "Insider buy", "insider_cluster_buy": "Cluster buy", SALE: "Insider sale"}


@dataclass(frozen=True)
class ScoreOptions:
    scoring: InsiderScoringConfig
    realtime_min_score: float


def _pick(ctx: StepContext, conf_key: str, setting: str, default: Any, cast: Callable[[Any], Any]) -> Any:
    """conf (manual runs) > setting (when declared) > default."""
    if conf_key in ctx.conf:
        return cast(ctx.conf[conf_key])
    value = getattr(ctx.settings, setting, None)
    return default if value in (None, "") else cast(value)


def options(ctx: StepContext) -> ScoreOptions:
    base = InsiderScoringConfig()
    scoring = InsiderScoringConfig(
        window_days=_pick(ctx, "cluster_window_days", "FORM4_CLUSTER_WINDOW_DAYS", base.window_days, int),
        cluster_min_insiders=_pick(ctx, "cluster_min_insiders", "FORM4_CLUSTER_MIN_INSIDERS",
                                   base.cluster_min_insiders, int),
        cluster_min_dollars=_pick(ctx, "cluster_min_dollars", "FORM4_CLUSTER_MIN_DOLLARS",
                                  base.cluster_min_dollars, lambda v: Decimal(str(v))),
    )
    realtime = _pick(ctx, "realtime_min_score", "FORM4_REALTIME_MIN_SCORE", REALTIME_MIN_SCORE, float)
    return ScoreOptions(scoring, realtime)


def _history(ctx: StepContext, pool: Sequence[InsiderTrade], years: int) -> dict[int, set[tuple[int, int]]] | None:
    """Purchase months per owner, or None while the store does not reach `years` back before the trades.

    Called per issuer, so one issuer's old trades do not leave another's history unused.
    """
    covered_from = ctx.session.scalar(select(func.min(Form4Filing.filed)).where(
        Form4Filing.state == FilingState.PARSED))
    earliest = min(t.trade_date for t in pool)
    if covered_from is None or covered_from > date(earliest.year - years, earliest.month, 1):
        return None
    return purchase_history(ctx.session, (c for t in pool for c in t.owner_ciks))


def _money(value: Decimal) -> str:
    return f"${value:,.0f}"


def to_record(sig: InsiderSignal, trades: Sequence[InsiderTrade], company: str | None, www_base_url: str,
              realtime_min_score: float, backfill: bool) -> SignalRecord:
    """An InsiderSignal as the engine records it: title, summary, components, EDGAR links."""
    sale = sig.signal_type == SALE
    code = "S" if sale else "P"
    accessions = set(sig.accession_numbers)
    # One copy per economic trade, as the scorer counted them (a trade can be filed twice).
    mine = list({t.dedupe_key: t for t in trades if t.issuer_cik == sig.issuer_cik and t.accession in accessions
                 and t.code == code and t.table == "non_derivative"
                 and sig.window_start <= t.trade_date <= sig.window_end}.values())
    total = sum((t.value for t in mine if t.value is not None), Decimal(0))
    shares = sum((t.shares for t in mine if t.shares is not None), Decimal(0))
    verb = "sold" if sale else "bought"
    who = sig.ticker or company or f"CIK {sig.issuer_cik}"
    first, last = min(t.trade_date for t in mine), max(t.trade_date for t in mine)
    held, reason = sig.held, sig.hold_reason or ""
    if backfill:
        held, reason = True, "; ".join(r for r in (reason, "backfill: historical filing, stored not alerted") if r)
    summary = (f"{', '.join(sig.insiders) or 'Insiders'} {verb} {shares:,f} shares of {company or who} for "
               f"{_money(total)} (code {code}) between {first.isoformat()} and {last.isoformat()}, "
               f"in {len(accessions)} filing(s). Score {sig.score:.2f}/10.")
    if held:
        summary += f" Held, not alerted: {reason}."
    return SignalRecord(
        signal_type=sig.signal_type, event_key=sig.event_key, score=sig.score,
        title=f"{_LABELS.get(sig.signal_type, sig.signal_type)}: {who}, {len(sig.insiders)} insider(s) {verb} "
              f"{_money(total)}",
        summary=summary, ticker=sig.ticker, company=company,
        components=score_components(sig.components),
        links=tuple(Link(f"EDGAR filing {acc}", filing_index_url(www_base_url, sig.issuer_cik, acc))
                    for acc in sig.accession_numbers[:MAX_LINKS]),
        event_time=sig.event_time,
        realtime=not backfill and not sale and not sig.held and sig.score >= realtime_min_score,
        held=held, hold_reason=reason,
        details={"issuer_cik": sig.issuer_cik, "accessions": list(sig.accession_numbers),
                 "window_start": sig.window_start.isoformat(), "window_end": sig.window_end.isoformat(),
                 "insiders": list(sig.insiders), "total_value": str(total), "shares": str(shares),
                 "trades": len(mine)},
    )


def score(ctx: StepContext) -> StepResult:
    """Score the windows containing this run's new trades and record the signals."""
    accessions = {e.accession for e in read_manifest(ctx)}
    new = trades_of(ctx.session, accessions)
    if not new:
        return StepResult(counts={"signals": 0})
    opts = options(ctx)
    span = timedelta(days=opts.scoring.window_days)
    issuers = {t.issuer_cik for t in new}
    pool = stored_trades(ctx.session, issuers, min(t.trade_date for t in new) - span,
                         max(t.trade_date for t in new) + span)
    backfill = ctx.trigger == Trigger.BACKFILL
    # A backfill scores as of its interval (freshness as it was then); live runs as of now.
    as_of = ctx.data_interval_end if backfill else datetime.now(timezone.utc)
    by_issuer: dict[int, list[InsiderTrade]] = {}
    for t in pool:
        by_issuer.setdefault(t.issuer_cik, []).append(t)
    found = [s for trades in by_issuer.values()
             for s in detect_insider_signals(trades, as_of=as_of, config=opts.scoring,
                                             purchase_history=_history(ctx, trades, opts.scoring.routine_years))]
    mine = [s for s in found if accessions.intersection(s.accession_numbers)]
    names = dict(ctx.session.execute(select(Form4Filing.issuer_cik, Form4Filing.issuer_name).where(
        Form4Filing.issuer_cik.in_(issuers), Form4Filing.issuer_name.is_not(None))).all())
    records = [to_record(s, pool, names.get(s.issuer_cik), ctx.settings.SEC_WWW_BASE_URL,
                         opts.realtime_min_score, backfill) for s in mine]
    recorded = record_signals(ctx, records)
    kinds = Counter(s.signal_type for s in mine)
    log.info("form4 score: %d signal(s) %s", len(records), dict(kinds), extra=ctx.log_fields)
    return StepResult(counts={**recorded.counts(), "realtime": sum(r.realtime for r in records),
                              **{f"type_{k}": v for k, v in kinds.items()}})
