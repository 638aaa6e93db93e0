"""Study snapshots as stored rows, and the per-study decision: baseline, unchanged or changed.

Pure functions (no database): the detect step and the benchmark call the same code. A version is
identified by its tracked fields; `last_update_posted` and the title are kept with each version but
are not part of its identity (a registry update that touches no tracked field is not a new version).
Rows round-trip exactly: `from_values(to_values(s))` has the identity of `s`.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from pipelines.sources.ctgov.diff import (
    DEFAULT_ENROLLMENT_THRESHOLD,
    ChangeEvent,
    diff_snapshots,
)
from pipelines.sources.ctgov.model import (
    PartialDate,
    StudySnapshot,
    enrollment,
    study_date,
)

# Column names of pipelines.trials.models.TrackedFields, in one order.
COLUMNS = (
    "brief_title", "overall_status", "why_stopped", "primary_completion_date", "primary_completion_type",
    "completion_date", "completion_type", "enrollment_count", "enrollment_type", "has_results",
    "results_first_posted", "lead_sponsor_name", "lead_sponsor_class", "phases", "conditions", "interventions",
    "last_update_posted",
)
# Compared as the snapshot's own (immutable) values: no serialising on the path of an unchanged study.
identity_of = attrgetter(
    "overall_status", "why_stopped", "primary_completion", "completion", "enrollment", "has_results",
    "results_first_posted", "lead_sponsor_name", "lead_sponsor_class", "phases", "conditions", "interventions",
)

BASELINE, UNCHANGED, CHANGED = "baseline", "unchanged", "changed"


def _iso(value: PartialDate | None) -> str | None:
    return None if value is None else value.isoformat()


def _date(text: str | None) -> PartialDate | None:
    return None if text is None else PartialDate.parse(text)


def to_values(s: StudySnapshot) -> dict[str, Any]:
    """The row values of a snapshot (tracked-field columns only)."""
    pc, c, e = s.primary_completion, s.completion, s.enrollment
    return {
        "brief_title": s.brief_title,
        "overall_status": s.overall_status,
        "why_stopped": s.why_stopped,
        "primary_completion_date": None if pc is None else pc.date.isoformat(),
        "primary_completion_type": None if pc is None else pc.type,
        "completion_date": None if c is None else c.date.isoformat(),
        "completion_type": None if c is None else c.type,
        "enrollment_count": None if e is None else e.count,
        "enrollment_type": None if e is None else e.type,
        "has_results": s.has_results,
        "results_first_posted": _iso(s.results_first_posted),
        "lead_sponsor_name": s.lead_sponsor_name,
        "lead_sponsor_class": s.lead_sponsor_class,
        "phases": list(s.phases),
        "conditions": list(s.conditions),
        "interventions": list(s.interventions),
        "last_update_posted": _iso(s.last_update_posted),
    }


def from_values(nct_id: str, v: Mapping[str, Any]) -> StudySnapshot:
    """The snapshot a stored row holds (the inverse of `to_values`)."""
    pc_date, c_date = v["primary_completion_date"], v["completion_date"]
    count, etype = v["enrollment_count"], v["enrollment_type"]
    return StudySnapshot(
        nct_id=nct_id,
        brief_title=v["brief_title"],
        overall_status=v["overall_status"],
        why_stopped=v["why_stopped"],
        primary_completion=None if pc_date is None else study_date(pc_date, v["primary_completion_type"]),
        completion=None if c_date is None else study_date(c_date, v["completion_type"]),
        enrollment=None if count is None and etype is None else enrollment(count, etype),
        has_results=v["has_results"],
        results_first_posted=_date(v["results_first_posted"]),
        lead_sponsor_name=v["lead_sponsor_name"],
        lead_sponsor_class=v["lead_sponsor_class"],
        phases=tuple(v["phases"] or ()),
        conditions=tuple(v["conditions"] or ()),
        interventions=tuple(v["interventions"] or ()),
        last_update_posted=_date(v["last_update_posted"]),
    )


@dataclass(frozen=True)
class Stored:
    """A stored version to compare against: its number, snapshot and identity."""

    version_no: int
    snapshot: StudySnapshot
    identity: tuple[Any, ...]

    @classmethod
    def of(cls, nct_id: str, version_no: int, values: Mapping[str, Any]) -> Stored:
        snapshot = from_values(nct_id, values)
        return cls(version_no, snapshot, identity_of(snapshot))


@dataclass(frozen=True)
class Comparison:
    kind: str  # baseline | unchanged | changed
    snapshot: StudySnapshot
    events: tuple[ChangeEvent, ...] = ()

    @property
    def values(self) -> dict[str, Any]:
        """Row values of the fetched snapshot (computed when a row is written, not before)."""
        return to_values(self.snapshot)


def compare(previous: Stored | None, snapshot: StudySnapshot, *,
            enrollment_threshold: float = DEFAULT_ENROLLMENT_THRESHOLD) -> Comparison:
    """Decide what one fetched snapshot is against the stored version before it."""
    if previous is None:
        return Comparison(BASELINE, snapshot)
    if previous.identity == identity_of(snapshot):
        return Comparison(UNCHANGED, snapshot)
    events = diff_snapshots(previous.snapshot, snapshot, enrollment_threshold=enrollment_threshold)
    return Comparison(CHANGED, snapshot, tuple(events))
