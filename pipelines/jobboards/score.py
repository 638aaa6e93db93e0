"""Score step of the hiring pipeline: a low-weight context signal per board poll that changed something.

Velocity (30 and 90 days against the period before) and the department mix of new openings come from
our own event history (pipelines.scoring.hiring, §3.5). The signal goes on the ticker's timeline
either way; it is held from alerting unless the change is large (HIRING_ALERT_RATE and
HIRING_ALERT_MIN_NET), so hiring alone never pages anyone.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta

from notifications.message import Link
from pipelines.core.model import StepContext, StepResult
from pipelines.core.signals import SignalRecord, record_signals
from pipelines.scoring.component import score_components
from pipelines.scoring.hiring import HiringConfig, HiringSignal, score_hiring
from pipelines.sources.jobs.tracking import GROUPS, OPENED, REPOSTED, DepartmentMix, Velocity, hiring_velocity

from .detect import read_manifest
from .models import JobBoardPoll
from .store import events_since, postings_by_id, poll_at

HISTORY = timedelta(days=180)  # two 90-day windows
MIX_WINDOW = timedelta(days=90)


def score(ctx: StepContext) -> StepResult:
    config = HiringConfig(alert_rate=float(ctx.settings.HIRING_ALERT_RATE),
                          alert_min_net=int(ctx.settings.HIRING_ALERT_MIN_NET))
    records: list[SignalRecord] = []
    for entry in read_manifest(ctx)["companies"]:
        if entry["artifact"] is None:
            continue
        poll = poll_at(ctx.session, entry["board"], entry["token"], datetime.fromisoformat(entry["fetched_at"]))
        if poll is None or poll.baseline or not (poll.opened or poll.removed or poll.reposted):
            continue
        records.append(_signal(ctx, entry, poll, config))
    recorded = record_signals(ctx, records)
    return StepResult(counts=recorded.counts())


def _signal(ctx: StepContext, entry: dict[str, object], poll: JobBoardPoll, config: HiringConfig) -> SignalRecord:
    board, token = str(entry["board"]), str(entry["token"])
    ticker = entry["ticker"] if isinstance(entry["ticker"], str) else None
    name = str(entry["name"])
    at = poll.polled_at
    events = events_since(ctx.session, board, token, at - HISTORY, at)
    velocity = hiring_velocity(events, as_of=at, open_now=poll.open_count)
    fresh = [e for e in events if e.kind in (OPENED, REPOSTED) and e.at > at - MIX_WINDOW]
    groups = Counter(e.group for e in fresh)
    mix = DepartmentMix(counts={g: groups.get(g, 0) for g in GROUPS}, total=len(fresh))
    newest = sorted((e for e in fresh if e.at == at), key=lambda e: e.posting_id)[:3]
    links = tuple(p.url for p in postings_by_id(ctx.session, board, token, (e.posting_id for e in newest)) if p.url)
    sig = score_hiring(ticker or f"{board}:{token}", velocity, as_of=at, new_openings_mix=mix, links=links,
                       config=config)
    return _record(sig, ticker, name, board, token, poll, velocity)


def _record(sig: HiringSignal, ticker: str | None, name: str, board: str, token: str, poll: JobBoardPoll,
            velocity: Mapping[int, Velocity]) -> SignalRecord:
    v30, v90 = velocity[30], velocity[90]
    label = f"{name} ({ticker})" if ticker else name
    this_poll = f"this poll: {poll.opened} opened, {poll.reposted} reposted, {poll.removed} removed; " \
                f"{poll.open_count} open now"
    summary = "; ".join([this_poll] + [c.explanation for c in sig.components])
    hold = "" if sig.large_change else ("context signal: below the large-change threshold (HIRING_ALERT_RATE, "
                                        "HIRING_ALERT_MIN_NET); kept on the ticker's timeline, not alerted")
    return SignalRecord(
        signal_type=sig.signal_type, event_key=sig.event_key, score=sig.score,
        title=f"Hiring {sig.direction}: {label}, net {v90.net:+d} openings in 90 days ({v30.net:+d} in 30)",
        summary=summary, ticker=ticker, company=name,
        components=score_components(sig.components),
        links=tuple(Link("job posting", url) for url in sig.links), event_time=sig.event_time,
        held=not sig.large_change, hold_reason=hold,
        details={"board": board, "token": token, "open_now": poll.open_count, "net_30d": v30.net, "net_90d": v90.net,
                 "prior_net_90d": v90.prior_net, "large_change": sig.large_change})
