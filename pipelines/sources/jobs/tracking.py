"""Posting lifecycle across polls: new / removed / reposted, hiring velocity and department mix.

Boards hide or rewrite posting dates, so velocity is computed from our own first-seen and last-seen
times per posting id (domain notes §2.5). State is kept per (board, company token); ids are only
unique within one board.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from .boards import Posting

OPENED, REMOVED, REPOSTED = "opened", "removed", "reposted"
GROUPS = ("research_clinical", "regulatory", "commercial", "other")


class Seen(NamedTuple):
    first_seen: datetime
    last_seen: datetime
    active: bool


@dataclass(frozen=True)
class TrackResult:
    new: tuple[Posting, ...]
    removed: tuple[str, ...]  # posting ids that were open last time and are gone now
    reposted: tuple[Posting, ...]  # seen before, removed, and back under the same id
    state: dict[str, Seen]

    @property
    def open_count(self) -> int:
        return sum(1 for s in self.state.values() if s.active)


@dataclass(frozen=True)
class PostingEvent:
    posting_id: str
    kind: str  # opened | removed | reposted
    at: datetime
    group: str = "other"  # department group, see classify_department


@dataclass(frozen=True)
class Velocity:
    """Net new openings in the window ending `as_of` against the window of the same length before it."""

    window_days: int
    opened: int
    removed: int
    reposted: int
    net: int
    prior_net: int
    open_at_start: int | None  # open roles when the window began, when the current count is known

    @property
    def change(self) -> int:
        return self.net - self.prior_net

    @property
    def rate(self) -> float | None:
        """Net new openings ÷ roles open at the start of the window (None when unknown or not positive)."""
        return self.net / self.open_at_start if self.open_at_start and self.open_at_start > 0 else None


@dataclass(frozen=True)
class DepartmentMix:
    counts: Mapping[str, int]
    total: int

    def share(self, group: str) -> float:
        return self.counts.get(group, 0) / self.total if self.total else 0.0


def track(previous: Mapping[str, Seen | tuple[datetime, datetime, bool]], postings: Iterable[Posting], *,
          seen_at: datetime) -> TrackResult:
    """Compare today's postings with the stored state; returns the changes and the state to store."""
    state = {pid: Seen(*s) for pid, s in previous.items()}
    current: dict[str, Posting] = {}
    for p in postings:
        current.setdefault(p.posting_id, p)
    new, reposted = [], []
    for pid, posting in current.items():
        before = state.get(pid)
        if before is None:
            new.append(posting)
            state[pid] = Seen(seen_at, seen_at, True)
        else:
            if not before.active:
                reposted.append(posting)
            state[pid] = Seen(before.first_seen, seen_at, True)
    removed = sorted(pid for pid, s in state.items() if s.active and pid not in current)
    for pid in removed:
        # last_seen stays the last poll that still showed it
        state[pid] = state[pid]._replace(active=False)
    return TrackResult(new=tuple(new), removed=tuple(removed), reposted=tuple(reposted), state=state)


def events_from(result: TrackResult, *, at: datetime,
                groups: Mapping[str, str] | None = None) -> list[PostingEvent]:
    """The dated events of one poll, for the caller's event history (`groups`: posting id -> group)."""
    groups = dict(groups or {})
    for p in result.new + result.reposted:
        groups.setdefault(p.posting_id, classify_department(p.title, p.department))
    return ([PostingEvent(p.posting_id, OPENED, at, groups[p.posting_id]) for p in result.new]
            + [PostingEvent(p.posting_id, REPOSTED, at, groups[p.posting_id]) for p in result.reposted]
            + [PostingEvent(pid, REMOVED, at, groups.get(pid, "other")) for pid in result.removed])


def hiring_velocity(events: Iterable[PostingEvent], *, as_of: datetime, windows: Sequence[int] = (30, 90),
                    open_now: int | None = None) -> dict[int, Velocity]:
    """Net new openings per window (opened + reposted − removed) against the prior window of equal length.

    Windows are half-open, (as_of − days, as_of]. With `open_now`, the roles open at each window's start
    follow, and so does the growth rate.
    """
    events = list(events)
    result = {}
    for days in windows:
        start, prior_start = as_of - timedelta(days=days), as_of - timedelta(days=2 * days)
        cur = Counter(e.kind for e in events if start < e.at <= as_of)
        prior = Counter(e.kind for e in events if prior_start < e.at <= start)
        net = cur[OPENED] + cur[REPOSTED] - cur[REMOVED]
        result[days] = Velocity(
            window_days=days, opened=cur[OPENED], removed=cur[REMOVED], reposted=cur[REPOSTED], net=net,
            prior_net=prior[OPENED] + prior[REPOSTED] - prior[REMOVED],
            open_at_start=None if open_now is None else open_now - net,
        )
    return result


# Keyword rules, checked on the title first and then on the department, in this order; the first group
# that matches wins. Commercial comes before research & clinical so "Clinical Sales Specialist" is
# commercial. Medical affairs and MSLs count as commercial: they are hired to prepare launches.
_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("regulatory", re.compile(
        r"\b(regulatory|pharmacovigilance|drug safety|labeling|cmc regulatory|submissions?)\b")),
    ("commercial", re.compile(
        r"\b(sales|commercial|marketing|market access|brand|payers?|reimbursement|account (executive|manager)"
        r"|key account|territory|trade relations|medical affairs|medical science liaison|msl|launch)\b")),
    ("research_clinical", re.compile(
        r"\b(clinical|research|r&d|scientist|scientific|discovery|biology|biologist|chemistry|chemist"
        r"|pharmacology|toxicology|translational|biostatistic\w*|bioinformatic\w*|trial|cra|"
        r"medical (director|monitor)|preclinical|formulation)\b")),
)


def classify_department(title: str, department: str | None = None) -> str:
    """research_clinical, regulatory, commercial or other, from keyword rules on title then department."""
    for text in (title, department or ""):
        lowered = text.lower()
        for group, pattern in _RULES:
            if pattern.search(lowered):
                return group
    return "other"


def department_mix(postings: Iterable[Posting]) -> DepartmentMix:
    """Counts of postings per department group."""
    counts = Counter(classify_department(p.title, p.department) for p in postings)
    return DepartmentMix(counts={g: counts.get(g, 0) for g in GROUPS}, total=sum(counts.values()))
