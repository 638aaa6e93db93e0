"""Detect step of the hiring pipeline: apply each board poll to the stored postings.

First/last seen are our poll times (board dates are unreliable, domain notes §2.5). The first poll of
a board is a baseline: its postings are recorded without "opened" events, or every existing role
would count as new hiring. A posting that could not be read this time keeps its stored state (it is
quarantined, not "removed"), and an unreadable payload leaves the whole board as it was. A new id
with the title and location of a role removed in the last 30 days is a repost, not a new opening.
"""
from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from pipelines.core.model import StepContext, StepResult
from pipelines.sources.jobs.boards import Posting, parse_board
from pipelines.sources.jobs.tracking import OPENED, REMOVED, REPOSTED, PostingEvent, Seen, classify_department, track

from .fetch import MANIFEST
from .models import JobPosting
from .store import add_events, claim_poll, last_poll, postings_of

REPOST_WINDOW = timedelta(days=30)


def read_manifest(ctx: StepContext) -> dict[str, Any]:
    return json.loads(ctx.artifacts.get(MANIFEST))


def detect(ctx: StepContext) -> StepResult:
    counts: Counter[str] = Counter()
    for entry in read_manifest(ctx)["companies"]:
        if entry["artifact"] is None:
            counts["boards_skipped"] += 1
            continue
        counts.update(_apply(ctx, entry))
    return StepResult(counts=dict(counts))


def _bad_id(raw: bytes) -> str | None:
    try:
        item = json.loads(raw)
    except ValueError:
        return None
    ident = item.get("id") if isinstance(item, dict) else None
    return str(ident) if ident not in (None, "") else None


def _repost_key(title: str, location: str | None) -> tuple[str, str]:
    return " ".join(title.lower().split()), " ".join((location or "").lower().split())


def _apply(ctx: StepContext, entry: dict[str, Any]) -> Counter[str]:
    board, token, ticker = entry["board"], entry["token"], entry["ticker"]
    polled_at = datetime.fromisoformat(entry["fetched_at"])
    last = last_poll(ctx.session, board, token)
    if last is not None and polled_at <= last:
        return Counter(polls_already_applied=1)
    postings, bad = parse_board(board, ctx.artifacts.get(entry["artifact"]), company_token=token)
    for b in bad:
        ctx.quarantine(b.error.source or f"jobs.{board}", b.error.record_key or token, str(b.error), b.raw)
    if bad and not postings:
        return Counter(boards_unreadable=1, postings_quarantined=len(bad))
    poll = claim_poll(ctx.session, dict(board=board, company_token=token, ticker=ticker, polled_at=polled_at,
                                        baseline=last is None, open_count=0, opened=0, removed=0, reposted=0,
                                        run_id=ctx.run_id))
    if poll is None:
        return Counter(polls_already_applied=1)
    unreadable = {i for i in (_bad_id(b.raw) for b in bad) if i}
    rows = postings_of(ctx.session, board, token)
    previous = {pid: Seen(r.first_seen, r.last_seen, r.state == "open") for pid, r in rows.items()
                if pid not in unreadable}
    result = track(previous, postings, seen_at=polled_at)
    current = {p.posting_id: p for p in result.new + result.reposted}
    for p in postings:
        current.setdefault(p.posting_id, p)

    # Removed in the last 30 days, or in this very poll (a role re-listed under a new id).
    gone, back = set(result.removed), {p.posting_id for p in result.reposted}
    removed_recently = {_repost_key(r.title, r.location) for pid, r in rows.items()
                        if pid in gone or (r.state == "removed" and r.removed_at
                                           and r.removed_at >= polled_at - REPOST_WINDOW)}
    events: list[PostingEvent] = []
    for p in result.new:
        kind = REPOSTED if _repost_key(p.title, p.location) in removed_recently else OPENED
        events.append(PostingEvent(p.posting_id, kind, polled_at, classify_department(p.title, p.department)))
    events += [PostingEvent(p.posting_id, REPOSTED, polled_at, classify_department(p.title, p.department))
               for p in result.reposted]
    events += [PostingEvent(pid, REMOVED, polled_at, rows[pid].dept_group) for pid in result.removed]

    for pid, p in current.items():
        _upsert(ctx, rows.get(pid), p, ticker, polled_at, reposted=pid in back)
    for pid in result.removed:
        rows[pid].state, rows[pid].removed_at = "removed", polled_at
    kinds = Counter(e.kind for e in events)
    poll.open_count = len(current) + sum(1 for pid in unreadable if pid in rows and rows[pid].state == "open")
    if not poll.baseline:
        add_events(ctx.session, board, token, events, ctx.run_id)
        poll.opened, poll.removed, poll.reposted = kinds[OPENED], kinds[REMOVED], kinds[REPOSTED]
    ctx.session.flush()
    return Counter(polls_applied=1, baselines=int(poll.baseline), postings_open=poll.open_count,
                   opened=poll.opened, removed=poll.removed, reposted=poll.reposted, postings_quarantined=len(bad))


def _upsert(ctx: StepContext, row: JobPosting | None, p: Posting, ticker: str | None, at: datetime,
            reposted: bool) -> None:
    group = classify_department(p.title, p.department)
    if row is None:
        ctx.session.add(JobPosting(board=p.board, company_token=p.company_token, posting_id=p.posting_id, ticker=ticker,
                                   title=p.title, department=p.department, dept_group=group, location=p.location,
                                   url=p.url, published_at=p.published_at, first_seen=at, last_seen=at, state="open",
                                   removed_at=None, reposts=0))
        return
    row.title, row.department, row.dept_group, row.location, row.url = p.title, p.department, group, p.location, p.url
    row.ticker, row.published_at, row.last_seen = ticker, p.published_at or row.published_at, at
    if reposted:
        row.reposts += 1
    row.state, row.removed_at = "open", None
