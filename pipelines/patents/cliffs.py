"""Patent cliffs: the latest Orange Book release's calendar, each NDA product's effective loss of
exclusivity (the later of its last listed patent and its last exclusivity) with its score."""
from __future__ import annotations

from datetime import date

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from .models import ObCalendarEntry, ObRelease


def latest_release(session: Session) -> ObRelease | None:
    return session.scalars(select(ObRelease).order_by(ObRelease.as_of.desc(), ObRelease.id.desc()).limit(1)).first()


def cliffs(session: Session, release_id: int, who: str | None = None, *, start: date | None = None,
           end: date | None = None) -> list[ObCalendarEntry]:
    """The release's products (a ticker's, or those whose trade name, ingredient or applicant holds
    `who`), soonest loss of exclusivity first; with `start`/`end`, only LOE dates in [start, end]."""
    c = ObCalendarEntry
    q = select(c).where(c.release_id == release_id)
    if who:
        part = who.strip().lower()
        q = q.where(or_(c.ticker == who.strip().upper(),
                        *(func.lower(col).contains(part, autoescape=True)
                          for col in (c.trade_name, c.ingredient, c.applicant, c.applicant_full_name))))
    if start is not None:
        q = q.where(c.effective_loe >= start)
    if end is not None:
        q = q.where(c.effective_loe <= end)
    rows = list(session.scalars(q))
    return sorted(rows, key=lambda e: (e.effective_loe is None, e.effective_loe or date.min, e.trade_name,
                                       e.appl_no, e.product_no))
