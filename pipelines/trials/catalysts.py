"""Trial catalysts: the tracked studies' next readouts, from the latest snapshot of each.

A study's milestone is its primary completion date (when the primary endpoint's data are in: the
readout analysts wait for), else its study completion date, as ClinicalTrials.gov posts it: a day
or only a month ("2026-12"), ESTIMATED or ACTUAL. A month-precision date spans the whole month.
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import CtgovStudy

_NCT = re.compile(r"NCT\d{8}", re.IGNORECASE)


@dataclass(frozen=True)
class Milestone:
    study: CtgovStudy
    kind: str  # "primary completion" | "completion" | "none posted"
    posted: str | None  # the date as posted
    type: str | None  # ESTIMATED | ACTUAL
    first: date | None  # the first and last day the posted date can mean
    last: date | None


def span(posted: str | None) -> tuple[date, date] | None:
    """The days a posted date covers: 2026-12-15 one day, 2026-12 the month, 2026 the year."""
    if not posted:
        return None
    parts = [int(p) for p in posted.split("-")]
    if len(parts) == 3:
        day = date(*parts)
        return day, day
    if len(parts) == 2:
        year, month = parts
        return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
    return date(parts[0], 1, 1), date(parts[0], 12, 31)


def milestone(study: CtgovStudy) -> Milestone:
    for kind, posted, kind_type in (("primary completion", study.primary_completion_date,
                                     study.primary_completion_type),
                                    ("completion", study.completion_date, study.completion_type)):
        days = span(posted)
        if days is not None:
            return Milestone(study, kind, posted, kind_type, *days)
    return Milestone(study, "none posted", None, None, None, None)


def catalysts(session: Session, sponsor: str | None = None, *, phase: str | None = None, status: str | None = None,
              start: date | None = None, end: date | None = None) -> list[Milestone]:
    """Tracked studies (of a sponsor, by a case-insensitive part of its name, or one NCT id) with their
    milestone, soonest first; with `start`/`end`, only milestones that can fall in [start, end]."""
    s = CtgovStudy
    q = select(s)
    if sponsor and _NCT.fullmatch(sponsor.strip()):
        q = q.where(s.nct_id == sponsor.strip().upper())
    elif sponsor:
        q = q.where(func.lower(s.lead_sponsor_name).contains(sponsor.strip().lower(), autoescape=True))
    if status:
        q = q.where(s.overall_status == status.strip().upper())
    found = [milestone(study) for study in session.scalars(q)
             if not phase or phase.strip().upper() in (study.phases or [])]
    if start is not None or end is not None:
        found = [m for m in found if m.first is not None and m.last is not None
                 and (start is None or m.last >= start) and (end is None or m.first <= end)]
    return sorted(found, key=lambda m: (m.first is None, m.first or date.min, m.study.nct_id))
