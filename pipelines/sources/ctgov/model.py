"""ClinicalTrials.gov study snapshots as data: enums the API documents, dates at their precision.

Shared by the validated reader (`normalize`) and its fast path (`fast`); `normalize` re-exports
every name here, so callers keep importing from it.
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from pipelines.core.errors import DataError

SOURCE = "ctgov"

OVERALL_STATUSES = frozenset({
    "RECRUITING", "NOT_YET_RECRUITING", "ACTIVE_NOT_RECRUITING", "COMPLETED", "TERMINATED",
    "SUSPENDED", "WITHDRAWN", "ENROLLING_BY_INVITATION", "UNKNOWN",
    # expanded-access records share the field
    "AVAILABLE", "NO_LONGER_AVAILABLE", "TEMPORARILY_NOT_AVAILABLE", "APPROVED_FOR_MARKETING",
    "WITHHELD",
})
PHASES = frozenset({"NA", "EARLY_PHASE1", "PHASE1", "PHASE2", "PHASE3", "PHASE4"})
DATE_TYPES = frozenset({"ACTUAL", "ESTIMATED"})
SPONSOR_CLASSES = frozenset({
    "INDUSTRY", "NIH", "FED", "OTHER_GOV", "INDIV", "NETWORK", "AMBIG", "OTHER", "UNKNOWN",
})

NCT_RE = re.compile(r"^NCT\d{8}$")
_DATE_RE = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")


class StudyDataError(DataError):
    """A study that could not be normalized; `raw` keeps its JSON for the quarantine."""

    def __init__(self, message: str, *, raw: bytes, record_key: str = "") -> None:
        super().__init__(message, source=SOURCE, record_key=record_key)
        self.raw = raw


@dataclass(frozen=True)
class PartialDate:
    """A registry date at the precision it was given: "2026-12" is a whole month, not Dec 1."""

    year: int
    month: int
    day: int | None = None

    @classmethod
    def parse(cls, text: str) -> PartialDate:
        """Parse `YYYY-MM` or `YYYY-MM-DD`; anything else raises ValueError."""
        if cls is PartialDate:
            return _parse_cached(text)
        return cls._parse(text)

    @classmethod
    def _parse(cls, text: str) -> PartialDate:
        m = _DATE_RE.match(text)
        if not m:
            raise ValueError(f"date {text!r} is neither YYYY-MM nor YYYY-MM-DD")
        year, month = int(m.group(1)), int(m.group(2))
        day = int(m.group(3)) if m.group(3) else None
        date(year, month, day or 1)  # rejects month 13, Feb 30 and the like
        return cls(year, month, day)

    @property
    def precision(self) -> str:
        return "day" if self.day is not None else "month"

    @property
    def start(self) -> date:
        return date(self.year, self.month, self.day or 1)

    @property
    def end(self) -> date:
        """Last day of the window (the day itself at day precision)."""
        if self.day is not None:
            return self.start
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    @property
    def midpoint(self) -> float:
        """Window midpoint as a proleptic ordinal (may end in .5)."""
        return (self.start.toordinal() + self.end.toordinal()) / 2

    def contains(self, other: PartialDate) -> bool:
        return self.start <= other.start and other.end <= self.end

    def isoformat(self) -> str:
        base = f"{self.year:04d}-{self.month:02d}"
        return base if self.day is None else f"{base}-{self.day:02d}"

    def __str__(self) -> str:
        return self.isoformat()


# A page of 1,000 studies repeats a few hundred distinct dates; instances are immutable, so share them.
_parse_cached = lru_cache(maxsize=1 << 16)(PartialDate._parse)


@dataclass(frozen=True)
class StudyDate:
    """A date struct: the partial date and its type (ACTUAL/ESTIMATED; None when projected away)."""

    date: PartialDate
    type: str | None


@dataclass(frozen=True)
class Enrollment:
    count: int | None
    type: str | None


@dataclass(frozen=True)
class StudySnapshot:
    """The tracked fields of one study version. None means absent or not projected."""

    nct_id: str
    brief_title: str | None
    overall_status: str | None
    why_stopped: str | None
    primary_completion: StudyDate | None
    completion: StudyDate | None
    enrollment: Enrollment | None
    has_results: bool | None
    results_first_posted: PartialDate | None
    lead_sponsor_name: str | None
    lead_sponsor_class: str | None
    phases: tuple[str, ...]
    conditions: tuple[str, ...]
    interventions: tuple[str, ...]
    last_update_posted: PartialDate | None

    @property
    def url(self) -> str:
        return study_url(self.nct_id)


@lru_cache(maxsize=1 << 16)
def study_date(text: str, kind: str | None) -> StudyDate:
    """A shared StudyDate for (date text, type); ValueError for a bad date. Sharing makes the
    comparison of an unchanged study an identity check, field by field."""
    return StudyDate(PartialDate.parse(text), kind)


@lru_cache(maxsize=1 << 16)
def enrollment(count: int | None, kind: str | None) -> Enrollment:
    """A shared Enrollment for (count, type), for the same reason as `study_date`."""
    return Enrollment(count, kind)


def study_url(nct_id: str) -> str:
    return f"https://clinicaltrials.gov/study/{nct_id}"
