"""Change detection between two versions of one study.

The API has no event stream, so events come from diffing stored snapshots. A field that is None on
either side (absent, or projected away by `fields=`) is never compared: "unknown" is not a change.

Month-precision dates are windows. Two dates count as moved only when neither window contains the
other ("2026-12" -> "2026-12-15" is a refinement, not a move), and the shift is measured between
window midpoints, so "2026-12" -> "2027-03" is 90 days later.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from .normalize import (
    PartialDate,
    StudySnapshot,
    load_json,
    normalize_study,
    snapshot_to_json,
)

STATUS_CHANGED = "status_changed"
PRIMARY_COMPLETION_MOVED = "primary_completion_moved"
PRIMARY_COMPLETION_ACTUAL = "primary_completion_actual"
ENROLLMENT_CHANGED = "enrollment_changed"
RESULTS_POSTED = "results_posted"

EVENT_TYPES = (STATUS_CHANGED, PRIMARY_COMPLETION_MOVED, PRIMARY_COMPLETION_ACTUAL,
               ENROLLMENT_CHANGED, RESULTS_POSTED)

# Transitions into these statuses are catalysts; moves between recruiting states are not.
WATCHED_STATUSES = frozenset({"TERMINATED", "SUSPENDED", "WITHDRAWN", "COMPLETED", "ACTIVE_NOT_RECRUITING"})
DEFAULT_ENROLLMENT_THRESHOLD = 0.25


@dataclass(frozen=True)
class ChangeEvent:
    """One detected change. `event_key` is stable across re-runs (NCT id + field + new value)."""

    nct_id: str
    event_type: str
    field: str
    old: Any
    new: Any
    detail: dict[str, Any] = dc_field(default_factory=dict, hash=False)
    event_key: str = ""
    event_time: PartialDate | None = None


def _event(new: StudySnapshot, event_type: str, field_name: str, old_value: Any, new_value: Any,
           detail: dict[str, Any], key_value: str) -> ChangeEvent:
    return ChangeEvent(
        nct_id=new.nct_id,
        event_type=event_type,
        field=field_name,
        old=old_value,
        new=new_value,
        detail=detail,
        event_key=f"{new.nct_id}:{field_name}:{key_value}",
        event_time=new.last_update_posted,
    )


def date_shift_days(old: PartialDate, new: PartialDate) -> int | None:
    """Days `new` lies after `old` (negative: earlier); None when one window contains the other."""
    if old.contains(new) or new.contains(old):
        return None
    return round(new.midpoint - old.midpoint)


def _status_events(old: StudySnapshot, new: StudySnapshot) -> list[ChangeEvent]:
    before, after = old.overall_status, new.overall_status
    if before is None or after is None or before == after or after not in WATCHED_STATUSES:
        return []
    detail = {"from": before, "to": after}
    if new.why_stopped:
        detail["why_stopped"] = new.why_stopped
    return [_event(new, STATUS_CHANGED, "overall_status", before, after, detail, after)]


def _primary_completion_events(old: StudySnapshot, new: StudySnapshot) -> list[ChangeEvent]:
    before, after = old.primary_completion, new.primary_completion
    if before is None or after is None:
        return []
    events = []
    shift = date_shift_days(before.date, after.date)
    if shift:
        events.append(_event(new, PRIMARY_COMPLETION_MOVED, "primary_completion",
                             before.date.isoformat(), after.date.isoformat(),
                             {"days": shift, "direction": "later" if shift > 0 else "earlier",
                              "old_precision": before.date.precision,
                              "new_precision": after.date.precision,
                              "old_type": before.type, "new_type": after.type},
                             after.date.isoformat()))
    if before.type == "ESTIMATED" and after.type == "ACTUAL":
        events.append(_event(new, PRIMARY_COMPLETION_ACTUAL, "primary_completion_type",
                             before.type, after.type,
                             {"date": after.date.isoformat(), "precision": after.date.precision},
                             "ACTUAL"))
    return events


def _enrollment_events(old: StudySnapshot, new: StudySnapshot, threshold: float) -> list[ChangeEvent]:
    if old.enrollment is None or new.enrollment is None:
        return []
    before, after = old.enrollment.count, new.enrollment.count
    # From zero there is no ratio; a withdrawn study's 0 is covered by its status event.
    if before is None or after is None or before == 0 or before == after:
        return []
    change = (after - before) / before
    if abs(change) < threshold:
        return []
    detail = {"change_pct": round(change * 100, 1), "direction": "cut" if change < 0 else "increase",
              "old_type": old.enrollment.type, "new_type": new.enrollment.type}
    return [_event(new, ENROLLMENT_CHANGED, "enrollment", before, after, detail, str(after))]


def _results_events(old: StudySnapshot, new: StudySnapshot) -> list[ChangeEvent]:
    flag_flipped = old.has_results is False and new.has_results is True
    date_appeared = (old.results_first_posted is None and new.results_first_posted is not None
                     and old.has_results is not True)
    if not (flag_flipped or date_appeared):
        return []
    posted = None if new.results_first_posted is None else new.results_first_posted.isoformat()
    return [_event(new, RESULTS_POSTED, "has_results", old.has_results, new.has_results,
                   {"results_first_posted": posted}, "posted")]


def diff_snapshots(old: StudySnapshot | None, new: StudySnapshot, *,
                   enrollment_threshold: float = DEFAULT_ENROLLMENT_THRESHOLD) -> list[ChangeEvent]:
    """Events between two versions of one study; `old=None` is the first sighting (baseline, none)."""
    if old is None:
        return []
    if old.nct_id != new.nct_id:
        raise ValueError(f"cannot diff {old.nct_id} against {new.nct_id}")
    return [
        *_status_events(old, new),
        *_primary_completion_events(old, new),
        *_enrollment_events(old, new, enrollment_threshold),
        *_results_events(old, new),
    ]


def event_to_json(e: ChangeEvent) -> dict[str, Any]:
    return {
        "nct_id": e.nct_id,
        "event_type": e.event_type,
        "field": e.field,
        "old": e.old,
        "new": e.new,
        "detail": dict(e.detail),
        "event_key": e.event_key,
        "event_time": None if e.event_time is None else e.event_time.isoformat(),
    }


def events_to_json(events: Iterable[ChangeEvent]) -> list[dict[str, Any]]:
    """`signals inspect ctgov-diff OLD NEW --json`: the events as JSON-able dicts."""
    return [event_to_json(e) for e in events]


def diff_to_json(old: StudySnapshot | None, new: StudySnapshot, **kw: Any) -> dict[str, Any]:
    """Both snapshots and the events between them, for the inspect command."""
    return {
        "old": None if old is None else snapshot_to_json(old),
        "new": snapshot_to_json(new),
        "events": events_to_json(diff_snapshots(old, new, **kw)),
    }


def inspect_diff(old_data: bytes | str, new_data: bytes | str, **kw: Any) -> dict[str, Any]:
    """`signals inspect ctgov-diff OLD NEW --json`: two single-study files -> snapshots and events."""
    old = normalize_study(load_json(old_data, what="old study file"))
    new = normalize_study(load_json(new_data, what="new study file"))
    return diff_to_json(old, new, **kw)
