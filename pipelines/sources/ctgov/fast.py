"""The fast path of `normalize_study`: a well-formed study, read with no per-field calls.

A daily fetch is a few hundred studies, a backfill some 25,000, and change detection must cost no
more than twice the JSON load (benchmarks/ctgov_change_detection.py). This reads the common case
inline and gives up (returns None) on anything unexpected: a wrong type, an unknown enum value, a
bad date. The validated reader in `normalize` then reads the study again and raises the precise
DataError. So this path never decides that input is bad; it only accepts what the validated path
would accept, with the same result (tests/unit/test_ctgov.py checks both on every fixture).
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Any

from .model import (
    DATE_TYPES,
    NCT_RE,
    OVERALL_STATUSES,
    PHASES,
    SPONSOR_CLASSES,
    PartialDate,
    StudyDate,
    StudySnapshot,
    enrollment,
    study_date,
)

_NONE: Any = MappingProxyType({})  # an absent module
_BAD = object()  # "give up": the validated path decides


def _date_struct(struct: Any) -> StudyDate | None | object:
    if struct is None:
        return None
    if struct.__class__ is not dict:
        return _BAD
    text, kind = struct.get("date"), struct.get("type")
    if text is None:
        return None
    if text.__class__ is not str or (kind is not None and (kind.__class__ is not str or kind not in DATE_TYPES)):
        return _BAD
    try:
        return study_date(text, kind)
    except ValueError:
        return _BAD


def _posted(struct: Any) -> PartialDate | None | object:
    """The date of a results-first-posted or last-update-posted struct (its type is not read)."""
    if struct is None:
        return None
    if struct.__class__ is not dict:
        return _BAD
    text = struct.get("date")
    if text is None:
        return None
    if text.__class__ is not str:
        return _BAD
    try:
        return PartialDate.parse(text)
    except ValueError:
        return _BAD


def _strings(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return ()
    if value.__class__ is not list:
        return None
    for v in value:
        if v.__class__ is not str:
            return None
    return tuple(value)


def _module(parent: Any, key: str) -> Any:
    value = parent.get(key, _NONE)
    return value if value.__class__ is dict or value is _NONE else _BAD


def fast_study(obj: Any, require_phases: bool) -> StudySnapshot | None:
    """The snapshot of a well-formed study, or None to let the validated reader decide."""
    if obj.__class__ is not dict:
        return None
    protocol = obj.get("protocolSection")
    if protocol.__class__ is not dict:
        return None
    ident = protocol.get("identificationModule")
    if ident.__class__ is not dict:
        return None
    nct_id, title = ident.get("nctId"), ident.get("briefTitle")
    if nct_id.__class__ is not str or not NCT_RE.match(nct_id) or (title is not None and title.__class__ is not str):
        return None
    status, design = _module(protocol, "statusModule"), _module(protocol, "designModule")
    sponsors, arms = _module(protocol, "sponsorCollaboratorsModule"), _module(protocol, "armsInterventionsModule")
    conditions_module = _module(protocol, "conditionsModule")
    if _BAD in (status, design, sponsors, arms, conditions_module):
        return None
    lead = _module(sponsors, "leadSponsor")
    if lead is _BAD:
        return None

    phases = _strings(design.get("phases"))
    if phases is None or not PHASES.issuperset(phases) or (require_phases and not phases):
        return None
    found = None
    info = _module(design, "enrollmentInfo")
    if info is _BAD:
        return None
    if info:
        count, kind = info.get("count"), info.get("type")
        if count is not None and (count.__class__ is not int or count < 0):
            return None
        if kind is not None and (kind.__class__ is not str or kind not in DATE_TYPES):
            return None
        if count is not None or kind is not None:
            found = enrollment(count, kind)
    has_results = obj.get("hasResults")
    if has_results is not None and has_results.__class__ is not bool:
        return None

    interventions = []
    raw = arms.get("interventions") or ()
    if raw.__class__ is not list and raw != ():
        return None
    for item in raw:
        if item.__class__ is not dict:
            return None
        name = item.get("name")
        if name is not None:
            if name.__class__ is not str:
                return None
            interventions.append(name)

    overall, why = status.get("overallStatus"), status.get("whyStopped")
    if overall is not None and (overall.__class__ is not str or overall not in OVERALL_STATUSES):
        return None
    sponsor, klass = lead.get("name"), lead.get("class")
    if klass is not None and (klass.__class__ is not str or klass not in SPONSOR_CLASSES):
        return None
    if (why is not None and why.__class__ is not str) or (sponsor is not None and sponsor.__class__ is not str):
        return None
    primary, completion = _date_struct(status.get("primaryCompletionDateStruct")), \
        _date_struct(status.get("completionDateStruct"))
    first_posted = _posted(_module(status, "resultsFirstPostDateStruct") or None)
    updated = _posted(_module(status, "lastUpdatePostDateStruct") or None)
    conditions = _strings(conditions_module.get("conditions"))
    if _BAD in (primary, completion, first_posted, updated) or conditions is None:
        return None
    return StudySnapshot(
        nct_id=nct_id, brief_title=title, overall_status=overall, why_stopped=why,
        primary_completion=primary,  # type: ignore[arg-type]  # _BAD was ruled out above
        completion=completion,  # type: ignore[arg-type]
        enrollment=found, has_results=has_results,
        results_first_posted=first_posted,  # type: ignore[arg-type]
        lead_sponsor_name=sponsor, lead_sponsor_class=klass, phases=phases, conditions=conditions,
        interventions=tuple(interventions),
        last_update_posted=updated,  # type: ignore[arg-type]
    )
