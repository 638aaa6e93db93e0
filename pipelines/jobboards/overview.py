"""Each tracked board's hiring as of its latest poll: roles open, hiring velocity over 30 and 90
days against the period before (the score step's own measure), and the open roles by department."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipelines.sources.jobs.tracking import GROUPS, Velocity, hiring_velocity

from .models import JobBoardPoll, JobPosting
from .score import HISTORY
from .store import events_since


@dataclass(frozen=True)
class BoardOverview:
    board: str
    token: str
    ticker: str | None
    polled_at: datetime
    open_now: int
    velocity: Mapping[int, Velocity]  # window days -> net new openings against the window before
    open_by_group: Mapping[str, int]  # department group -> roles open now


def board_overviews(session: Session, ticker: str | None = None) -> list[BoardOverview]:
    """Every board polled (one ticker's, or all), as of its latest poll, by ticker then board."""
    p = JobBoardPoll
    latest = select(func.max(p.id)).group_by(p.board, p.company_token)
    if ticker is not None:
        latest = latest.where(p.ticker == ticker.upper())
    out = []
    for poll in session.scalars(select(p).where(p.id.in_(latest))):
        events = events_since(session, poll.board, poll.company_token, poll.polled_at - HISTORY, poll.polled_at)
        j = JobPosting
        groups = {group: n for group, n in session.execute(select(j.dept_group, func.count()).where(
            j.board == poll.board, j.company_token == poll.company_token, j.state == "open").group_by(j.dept_group))}
        out.append(BoardOverview(poll.board, poll.company_token, poll.ticker, poll.polled_at, poll.open_count,
                                 hiring_velocity(events, as_of=poll.polled_at, open_now=poll.open_count),
                                 {g: groups.get(g, 0) for g in GROUPS}))
    return sorted(out, key=lambda o: (o.ticker is None, o.ticker or "", o.board, o.token))
