"""A manager's 13F portfolio for a quarter against the quarter before, as known on a date: what
WhaleWisdom shows per fund (new buys, adds, trims, exits, and where each position ranks).

The manager's report is its latest version of the quarter recorded on or before `as_of`, as in the
diff and `holders`: amendments apply point in time. Positions exist for versions diffed against a
previous quarter; a version recorded with none known (`no_prior`) says so instead.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import ThirteenFPositionChange as Chg
from .models import ThirteenFReport as Rep


@dataclass(frozen=True)
class Portfolio:
    report: Rep  # the version shown
    positions: Sequence[Chg]  # held now by rank (largest first), then the closed ones, largest before first

    @property
    def value_prev_usd(self) -> int:
        return sum(c.value_prev_usd for c in self.positions)

    def top_weight(self, n: int = 5) -> float:
        """The weight of the manager's `n` largest positions now: a concentrated book's conviction."""
        return sum(c.weight_cur for c in self.positions if c.rank_cur is not None and c.rank_cur <= n)


def find_managers(session: Session, who: str) -> list[tuple[int, str]]:
    """(CIK, name) of the managers with a recorded report that `who` names: a CIK (digits, leading
    zeros or not) or a case-insensitive part of the manager's name; by CIK."""
    key = who.strip()
    q = select(Rep.cik, func.max(Rep.manager_name)).group_by(Rep.cik).order_by(Rep.cik)
    if key.isdigit():
        q = q.where(Rep.cik == int(key))
    else:
        q = q.where(func.lower(Rep.manager_name).contains(key.lower(), autoescape=True))
    return [(cik, name) for cik, name in session.execute(q)]


def latest_books(session: Session, as_of: date) -> list[Rep]:
    """Each manager's latest report version by `as_of` (its latest quarter, that quarter's latest
    filing date), by manager name."""
    newest = func.row_number().over(partition_by=Rep.cik, order_by=(Rep.period.desc(), Rep.as_of.desc()))
    sub = select(Rep.id, newest.label("n")).where(Rep.as_of <= as_of).subquery()
    return list(session.scalars(select(Rep).join(sub, sub.c.id == Rep.id).where(sub.c.n == 1)
                                .order_by(func.lower(Rep.manager_name), Rep.cik)))


def portfolio(session: Session, cik: int, *, period: date | None = None, as_of: date) -> Portfolio | None:
    """The manager's portfolio for `period` (default: its latest quarter recorded by `as_of`), from the
    quarter's latest version by then; no positions when that version had no previous quarter to be
    diffed against (`report.diff_state`); None when the manager has no version of it by then."""
    if period is None:
        period = session.scalar(select(func.max(Rep.period)).where(Rep.cik == cik, Rep.as_of <= as_of))
    report = None if period is None else session.scalar(
        select(Rep).where(Rep.cik == cik, Rep.period == period, Rep.as_of <= as_of).order_by(Rep.as_of.desc()).limit(1))
    if report is None:
        return None
    rows = list(session.scalars(select(Chg).where(Chg.report_id == report.id)))
    held = sorted((c for c in rows if c.rank_cur is not None), key=lambda c: c.rank_cur or 0)
    closed = sorted((c for c in rows if c.rank_cur is None),
                    key=lambda c: (-c.value_prev_usd, c.cusip, c.put_call, c.title_of_class, c.sh_prn_type))
    return Portfolio(report, [*held, *closed])
