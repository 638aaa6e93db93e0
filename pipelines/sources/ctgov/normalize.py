"""ClinicalTrials.gov API v2 study records -> frozen `StudySnapshot`s holding the tracked fields.

Works on the full record, a `fields=`-projected record and list-page items: every key is optional
(a projection drops whole modules and even `type`/`class` keys), but a value that is present must
be one the API documents, so a new enum value is quarantined rather than silently scored.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from pipelines.core.errors import DataError

from .fast import fast_study
from .model import (
    DATE_TYPES,
    NCT_RE,
    OVERALL_STATUSES,
    PHASES,
    SOURCE,
    SPONSOR_CLASSES,
    Enrollment,
    PartialDate,
    StudyDataError,
    StudyDate,
    StudySnapshot,
    study_url,
)

__all__ = [
    "DATE_TYPES", "OVERALL_STATUSES", "PHASES", "SOURCE", "SPONSOR_CLASSES", "Enrollment", "PartialDate",
    "StudiesPage", "StudyDataError", "StudyDate", "StudySnapshot", "inspect_document", "load_json",
    "normalize_study", "parse_studies_page", "raw_json", "snapshot_to_json", "study_url",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})  # read-only: every absent module shares it
_P = "protocolSection"
_SP, _DP = f"{_P}.statusModule", f"{_P}.designModule"
_SPONSOR = f"{_P}.sponsorCollaboratorsModule"
_ARMS = f"{_P}.armsInterventionsModule"
_IDENT, _LEAD, _COND = f"{_P}.identificationModule", f"{_SPONSOR}.leadSponsor", f"{_P}.conditionsModule"
_ENROLMENT = f"{_DP}.enrollmentInfo"
_RESULTS, _UPDATE = f"{_SP}.resultsFirstPostDateStruct", f"{_SP}.lastUpdatePostDateStruct"

class StudiesPage(NamedTuple):
    snapshots: list[StudySnapshot]
    next_page_token: str | None
    total_count: int | None
    errors: list[StudyDataError]


def load_json(data: bytes | str, *, what: str = "ClinicalTrials.gov response") -> Any:
    """Decode JSON bytes; truncated or malformed input raises DataError."""
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{what} is not valid JSON ({exc}); truncated download?", source=SOURCE,
                        record_key=what) from exc


def raw_json(obj: Any) -> bytes:
    """The JSON text of one study for the quarantine (the page's bytes are stored as an artifact)."""
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


class _Reader:
    """Typed access to optional keys, with error messages naming the JSON path.

    The common case (key absent, or of the right type) returns at once; paths are only formatted
    for an error message. This runs once per field of every study of a 25,000-study backfill.
    """

    def __init__(self, nct_id: str) -> None:
        self.nct_id = nct_id

    def fail(self, path: str, problem: str) -> DataError:
        return DataError(f"study {self.nct_id}: {path} {problem}", source=SOURCE, record_key=self.nct_id)

    def mapping(self, parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
        value = parent.get(key)
        if value is None:
            return _EMPTY
        if value.__class__ is not dict and not isinstance(value, dict):
            raise self.fail(f"{path}.{key}", f"is a {type(value).__name__}, expected an object")
        return value

    def text(self, parent: Mapping[str, Any], key: str, path: str) -> str | None:
        value = parent.get(key)
        if value is None or value.__class__ is str:
            return value
        if not isinstance(value, str):
            raise self.fail(f"{path}.{key}", f"is {value!r}, expected a string")
        return value

    def enum(self, parent: Mapping[str, Any], key: str, path: str, allowed: frozenset[str]) -> str | None:
        value = self.text(parent, key, path)
        if value is not None and value not in allowed:
            raise self.fail(f"{path}.{key}", f"has unknown value {value!r} (known: {', '.join(sorted(allowed))})")
        return value

    def partial_date(self, parent: Mapping[str, Any], key: str, path: str) -> PartialDate | None:
        text = self.text(parent, key, path)
        if text is None:
            return None
        try:
            return PartialDate.parse(text)
        except ValueError as exc:
            raise self.fail(f"{path}.{key}", str(exc)) from exc

    def date_struct(self, parent: Mapping[str, Any], key: str, path: str) -> StudyDate | None:
        struct = self.mapping(parent, key, path)
        if not struct:
            return None
        text = struct.get("date")
        if text is None:
            return None
        if text.__class__ is not str:
            raise self.fail(f"{path}.{key}.date", f"is {text!r}, expected a string")
        try:
            when = PartialDate.parse(text)
        except ValueError as exc:
            raise self.fail(f"{path}.{key}.date", str(exc)) from exc
        kind = struct.get("type")
        if kind is not None and (kind.__class__ is not str or kind not in DATE_TYPES):
            kind = self.enum(struct, "type", f"{path}.{key}", DATE_TYPES)
        return StudyDate(when, kind)

    def strings(self, parent: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
        value = parent.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(v.__class__ is str or isinstance(v, str) for v in value):
            raise self.fail(f"{path}.{key}", "is not a list of strings")
        return tuple(value)


def _nct_id(obj: Any) -> str:
    """The NCT id, or a DataError naming what is missing (the record cannot be keyed without it)."""
    if not isinstance(obj, dict):
        raise DataError(f"study is a {type(obj).__name__}, expected an object", source=SOURCE)
    protocol = obj.get("protocolSection")
    if not isinstance(protocol, dict):
        raise DataError("study has no protocolSection", source=SOURCE)
    ident = protocol.get("identificationModule")
    if not isinstance(ident, dict):
        raise DataError("study has no protocolSection.identificationModule", source=SOURCE)
    nct_id = ident.get("nctId")
    if not isinstance(nct_id, str) or not NCT_RE.match(nct_id):
        raise DataError(f"study has no valid identificationModule.nctId (got {nct_id!r})", source=SOURCE)
    return nct_id


def normalize_study(obj: dict, *, require_phases: bool = False) -> StudySnapshot:
    """One API v2 study object (bare or a list-page item) -> StudySnapshot; bad input raises DataError.

    `require_phases`: reject a study without `designModule.phases` (the Phase 3 feed needs them).
    """
    snapshot = fast_study(obj, require_phases)
    # Something is unusual: read it again field by field, naming what is wrong if anything is.
    return snapshot if snapshot is not None else validated_study(obj, require_phases=require_phases)


def validated_study(obj: dict, *, require_phases: bool = False) -> StudySnapshot:
    """`normalize_study` without its fast path: every field checked, a DataError naming any fault."""
    nct_id = _nct_id(obj)
    r = _Reader(nct_id)
    protocol = obj["protocolSection"]
    ident = protocol["identificationModule"]
    status = r.mapping(protocol, "statusModule", _P)
    sponsor = r.mapping(r.mapping(protocol, "sponsorCollaboratorsModule", _P), "leadSponsor", _SPONSOR)
    design = r.mapping(protocol, "designModule", _P)

    phases = r.strings(design, "phases", _DP)
    for phase in phases:
        if phase not in PHASES:
            raise r.fail(f"{_DP}.phases", f"has unknown value {phase!r} (known: {', '.join(sorted(PHASES))})")
    if require_phases and not phases:
        raise r.fail(f"{_DP}.phases", "is missing: a phase is required here")

    enrollment = None
    info = r.mapping(design, "enrollmentInfo", _DP)
    if info:
        count = info.get("count")
        if count is not None and (count.__class__ is not int or count < 0):  # a bool's class is not int
            raise r.fail(f"{_DP}.enrollmentInfo.count", f"is {count!r}, expected a non-negative integer")
        kind = r.enum(info, "type", _ENROLMENT, DATE_TYPES)
        # An enrollmentInfo with neither count nor type says nothing: the same as no enrollmentInfo.
        enrollment = None if count is None and kind is None else Enrollment(count, kind)

    has_results = obj.get("hasResults")
    if has_results is not None and not isinstance(has_results, bool):
        raise r.fail("hasResults", f"is {has_results!r}, expected true or false")

    interventions = []
    raw_interventions = r.mapping(protocol, "armsInterventionsModule", _P).get("interventions") or ()
    if not isinstance(raw_interventions, (list, tuple)):
        raise r.fail(f"{_ARMS}.interventions", "is not a list")
    for i, item in enumerate(raw_interventions):
        if not isinstance(item, dict):
            raise r.fail(f"{_ARMS}.interventions[{i}]", "is not an object")
        name = item.get("name")
        if name is not None and name.__class__ is not str:
            name = r.text(item, "name", f"{_ARMS}.interventions[{i}]")
        if name is not None:
            interventions.append(name)

    return StudySnapshot(
        nct_id=nct_id,
        brief_title=r.text(ident, "briefTitle", _IDENT),
        overall_status=r.enum(status, "overallStatus", _SP, OVERALL_STATUSES),
        why_stopped=r.text(status, "whyStopped", _SP),
        primary_completion=r.date_struct(status, "primaryCompletionDateStruct", _SP),
        completion=r.date_struct(status, "completionDateStruct", _SP),
        enrollment=enrollment,
        has_results=has_results,
        results_first_posted=r.partial_date(r.mapping(status, "resultsFirstPostDateStruct", _SP), "date", _RESULTS),
        lead_sponsor_name=r.text(sponsor, "name", _LEAD),
        lead_sponsor_class=r.enum(sponsor, "class", _LEAD, SPONSOR_CLASSES),
        phases=phases,
        conditions=r.strings(r.mapping(protocol, "conditionsModule", _P), "conditions", _COND),
        interventions=tuple(interventions),
        last_update_posted=r.partial_date(r.mapping(status, "lastUpdatePostDateStruct", _SP), "date", _UPDATE),
    )


def _as_study_error(exc: DataError, study: Any, index: int) -> StudyDataError:
    key = exc.record_key or f"studies[{index}]"
    return StudyDataError(f"studies[{index}]: {exc}", raw=raw_json(study), record_key=key)


def parse_studies_page(obj: dict | bytes | str, *, require_phases: bool = False) -> StudiesPage:
    """A `GET /studies` page -> (snapshots, next_page_token, total_count, errors).

    A bad study becomes a StudyDataError (with its raw JSON) and the rest of the page goes on;
    a page that is not valid JSON or lacks the `studies` list raises DataError.
    `total_count` is None on pages after the first (the API only sends it once).
    """
    page = load_json(obj, what="studies page") if isinstance(obj, (bytes, str)) else obj
    if not isinstance(page, dict) or not isinstance(page.get("studies"), list):
        raise DataError("studies page has no 'studies' list", source=SOURCE, record_key="page")
    token = page.get("nextPageToken")
    if token is not None and (not isinstance(token, str) or not token):
        raise DataError(f"studies page has a bad nextPageToken {token!r}", source=SOURCE, record_key="page")
    total = page.get("totalCount")
    if total is not None and (isinstance(total, bool) or not isinstance(total, int)):
        raise DataError(f"studies page has a bad totalCount {total!r}", source=SOURCE, record_key="page")

    snapshots: list[StudySnapshot] = []
    errors: list[StudyDataError] = []
    for i, study in enumerate(page["studies"]):
        try:
            snapshots.append(normalize_study(study, require_phases=require_phases))
        except DataError as exc:
            errors.append(_as_study_error(exc, study, i))
    return StudiesPage(snapshots, token, total, errors)


def _date_json(value: StudyDate | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {"date": value.date.isoformat(), "precision": value.date.precision, "type": value.type}


def snapshot_to_json(s: StudySnapshot) -> dict[str, Any]:
    """A JSON-able dict of one snapshot (dates keep their precision; nothing is padded)."""
    return {
        "nct_id": s.nct_id,
        "url": s.url,
        "brief_title": s.brief_title,
        "overall_status": s.overall_status,
        "why_stopped": s.why_stopped,
        "primary_completion": _date_json(s.primary_completion),
        "completion": _date_json(s.completion),
        "enrollment": None if s.enrollment is None else {"count": s.enrollment.count, "type": s.enrollment.type},
        "has_results": s.has_results,
        "results_first_posted": None if s.results_first_posted is None else s.results_first_posted.isoformat(),
        "lead_sponsor_name": s.lead_sponsor_name,
        "lead_sponsor_class": s.lead_sponsor_class,
        "phases": list(s.phases),
        "conditions": list(s.conditions),
        "interventions": list(s.interventions),
        "last_update_posted": None if s.last_update_posted is None else s.last_update_posted.isoformat(),
    }


def _errors_json(errors: Iterable[StudyDataError]) -> list[dict[str, str]]:
    return [{"record_key": e.record_key, "message": str(e)} for e in errors]


def inspect_document(data: bytes | str) -> dict[str, Any]:
    """`signals inspect ctgov FILE --json`: a single study or a list page, normalized.

    A single study that fails raises DataError; on a list page bad studies are listed under "errors".
    """
    doc = load_json(data, what="ClinicalTrials.gov file")
    if isinstance(doc, dict) and "studies" in doc:
        page = parse_studies_page(doc)
        return {
            "kind": "page",
            "total_count": page.total_count,
            "next_page_token": page.next_page_token,
            "studies": [snapshot_to_json(s) for s in page.snapshots],
            "errors": _errors_json(page.errors),
        }
    return {"kind": "study", "study": snapshot_to_json(normalize_study(doc))}
