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

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from pipelines.core.artifacts import load_blob
from pipelines.core.errors import DataError
from pipelines.core.ledger import PipelineRun, RunArtifact
from pipelines.core.settings import Settings
from pipelines.sources.sponsors import SponsorMapper, SponsorMatch, load_company_tickers

from . import common
from .models import CtgovStudy

_NCT = re.compile(r"NCT\d{8}", re.IGNORECASE)
_TICKER = re.compile(r"[A-Za-z][A-Za-z0-9.\-]{0,9}")  # could be a ticker: BRK-B, RDS.A


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


def latest_sponsor_mapper(session: Session, settings: Settings) -> SponsorMapper:
    """The mapper the clinical_trials score step would build now, with the same settings: the override
    table, then the SEC tickers the newest run archived (none archived yet, or unreadable: the
    overrides alone)."""
    key = session.scalar(select(RunArtifact.key).join(PipelineRun, PipelineRun.id == RunArtifact.run_id)
                         .where(PipelineRun.pipeline == "clinical_trials", RunArtifact.name == common.TICKERS_ARTIFACT)
                         .order_by(RunArtifact.id.desc()).limit(1))
    try:
        tickers = load_company_tickers(load_blob(session, key)) if key is not None else []
    except DataError:  # the run that archived it quarantined it and mapped by the overrides alone too
        tickers = []
    return common.sponsor_mapper(settings, tickers)


def sponsor_tickers(milestones: list[Milestone], mapper: SponsorMapper) -> dict[str, SponsorMatch | None]:
    """NCT id -> its lead sponsor's ticker match (INDUSTRY sponsors only), each sponsor matched once."""
    by_sponsor: dict[tuple[str | None, str | None], SponsorMatch | None] = {}
    out = {}
    for m in milestones:
        who = (m.study.lead_sponsor_name, m.study.lead_sponsor_class)
        if who not in by_sponsor:
            by_sponsor[who] = mapper.match(*who)
        out[m.study.nct_id] = by_sponsor[who]
    return out


def catalysts(session: Session, sponsor: str | None = None, *, phase: str | None = None, status: str | None = None,
              start: date | None = None, end: date | None = None,
              mapper: SponsorMapper | None = None) -> list[Milestone]:
    """Tracked studies (of a sponsor, by a case-insensitive part of its name, or by its ticker when a
    `mapper` is given; or one NCT id) with their milestone, soonest first; with `start`/`end`, only
    milestones that can fall in [start, end]."""
    s = CtgovStudy
    q = select(s)
    if sponsor and _NCT.fullmatch(sponsor.strip()):
        q = q.where(s.nct_id == sponsor.strip().upper())
    elif sponsor:
        named = func.lower(s.lead_sponsor_name).contains(sponsor.strip().lower(), autoescape=True)
        mapped: list[str] = []
        if mapper is not None and _TICKER.fullmatch(sponsor.strip()):
            industry = session.scalars(select(s.lead_sponsor_name).distinct()
                                       .where(s.lead_sponsor_class == "INDUSTRY", s.lead_sponsor_name.is_not(None)))
            mapped = [m.sponsor for m in mapper.matches_to(sponsor, [n for n in industry if n is not None])]
        # Only INDUSTRY sponsors have a ticker: the same name with another class does not map.
        q = q.where(or_(named, s.lead_sponsor_name.in_(mapped) & (s.lead_sponsor_class == "INDUSTRY"))
                    if mapped else named)
    if status:
        q = q.where(s.overall_status == status.strip().upper())
    found = [milestone(study) for study in session.scalars(q)
             if not phase or phase.strip().upper() in (study.phases or [])]
    if start is not None or end is not None:
        found = [m for m in found if m.first is not None and m.last is not None
                 and (start is None or m.last >= start) and (end is None or m.first <= end)]
    return sorted(found, key=lambda m: (m.first is None, m.first or date.min, m.study.nct_id))
