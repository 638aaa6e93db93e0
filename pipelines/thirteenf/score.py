"""Score step of institutional_13f: one signal per security and quarter the run's filings moved.

For every quarter the run's filings touched, the latest version (as of the run's date) of each
tracked manager's report is read back, and each security that one of the run's filings opened,
grew, cut or closed is scored across all tracked managers (pipelines.scoring.institutional, §3.2).
Only share rows count; a CUSIP without a ticker keeps the CUSIP as its key and says so.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import select

from notifications.message import Link
from pipelines.core.model import StepContext, StepResult
from pipelines.core.signals import SignalRecord, record_signals
from pipelines.scoring.component import score_components
from pipelines.scoring.institutional import InstitutionalSignal, ManagerChange, score_institutional
from pipelines.sources.edgar.thirteenf_reports import PositionChange

from .detect import read_manifest
from .holders import latest_versions
from .models import ThirteenFPositionChange as Chg
from .models import ThirteenFReport as Rep

MOVES = ("new", "increased", "decreased", "closed")


def quarter_label(period: date) -> str:
    return f"{period.year}Q{(period.month - 1) // 3 + 1}"


def score(ctx: StepContext) -> StepResult:
    manifest = read_manifest(ctx)
    as_of = date.fromisoformat(manifest["as_of"])
    managers = {int(m["cik"]): m["name"] for m in manifest["managers"]}
    accessions = [f["accession"] for f in manifest["filings"] if not f.get("error")]
    if not accessions:
        return StepResult(counts={"signals": 0})
    s = ctx.session
    # The versions this run's filings made, and what moved in them.
    mine = list(s.execute(select(Rep.id, Rep.period).where(Rep.accession.in_(accessions), Rep.as_of <= as_of)))
    moved: dict[date, set[str]] = defaultdict(set)
    for report_id, period in mine:
        moved[period].update(s.scalars(select(Chg.cusip).where(
            Chg.report_id == report_id, Chg.put_call == "", Chg.status.in_(MOVES))))
    records: list[SignalRecord] = []
    scored = 0
    for period, cusips in sorted(moved.items()):
        if not cusips:
            continue
        changes = _changes(ctx, period, sorted(cusips), as_of, managers)
        signals = score_institutional(changes, as_of=as_of, tracked_managers=len(managers))
        scored += len(signals)
        issuers = {mc.change.cusip: mc.change.name_of_issuer for mc in changes}
        records += [_record(sig, issuers.get(sig.cusip, "")) for sig in signals if sig.score > 0]
    recorded = record_signals(ctx, records)
    return StepResult(counts={"securities_scored": scored, **recorded.counts()})


def _changes(ctx: StepContext, period: date, cusips: list[str], as_of: date,
             managers: dict[int, str]) -> list[ManagerChange]:
    """Every tracked manager's latest diffed version of `period`, restricted to `cusips`."""
    s = ctx.session
    reports = latest_versions(s, period, as_of, list(managers))
    out: list[ManagerChange] = []
    for i in range(0, len(cusips), 500):
        rows = s.scalars(select(Chg).where(Chg.report_id.in_(list(reports)), Chg.put_call == "",
                                           Chg.cusip.in_(cusips[i:i + 500])))
        for c in rows:
            r = reports[c.report_id]
            change = PositionChange(
                cusip=c.cusip, title_of_class=c.title_of_class, put_call=None, sh_prn_type=c.sh_prn_type,
                name_of_issuer=c.name_of_issuer, ticker=c.ticker, mapped=c.mapped, status=c.status,
                shares_prev=c.shares_prev, shares_cur=c.shares_cur, value_prev_usd=c.value_prev_usd,
                value_cur_usd=c.value_cur_usd, weight_cur=c.weight_cur, rank_cur=c.rank_cur, rows_cur=c.rows_cur)
            out.append(ManagerChange(r.cik, managers.get(r.cik, r.manager_name), r.qualified, change, period,
                                     r.as_of, r.link))
    return out


def _record(sig: InstitutionalSignal, issuer: str) -> SignalRecord:
    label = quarter_label(sig.period)
    who = sig.ticker or f"CUSIP {sig.cusip}"
    parts = {c.name: c for c in sig.components}
    mapping = "" if sig.ticker else (f" CUSIP {sig.cusip} is not mapped to a ticker (no SEC company title equals "
                                     f"the issuer name {issuer!r}).")
    summary = (f"{issuer} ({who}), {label} 13F: {parts['breadth'].explanation}; "
               f"{parts['conviction'].explanation}; {parts['net_flow'].explanation}."
               + (" Crowded: " + parts["crowding"].explanation + "." if sig.crowded else "") + mapping)
    return SignalRecord(
        signal_type=sig.signal_type, event_key=sig.event_key, score=sig.score,
        title=f"13F {label}: {issuer or who} ({who}) across tracked managers" + (" [crowded]" if sig.crowded else ""),
        summary=summary, ticker=sig.ticker, company=issuer or None,
        components=score_components(sig.components),
        links=tuple(Link("13F filing index", url) for url in sig.links), event_time=sig.event_time,
        details={"cusip": sig.cusip, "period": sig.period.isoformat(), "crowded": sig.crowded,
                 "mapped_to_ticker": sig.ticker is not None})
