"""ClinicalTrials.gov API v2 study records -> frozen `StudySnapshot`s holding the tracked fields.

Works on the full record, a `fields=`-projected record and list-page items: every key is optional
(a projection drops whole modules and even `type`/`class` keys), but a value that is present must
be one the API documents, so a new enum value is quarantined rather than silently scored.
"""
from __future__ import annotations

import calendar
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

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

_NCT_RE = re.compile(r"^NCT\d{8}$")
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


class StudiesPage(NamedTuple):
    snapshots: list[StudySnapshot]
    next_page_token: str | None
    total_count: int | None
    errors: list[StudyDataError]


def study_url(nct_id: str) -> str:
    return f"https://clinicaltrials.gov/study/{nct_id}"


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
    """Typed access to optional keys, with error messages naming the JSON path."""

    def __init__(self, nct_id: str) -> None:
        self.nct_id = nct_id

    def fail(self, path: str, problem: str) -> DataError:
        return DataError(f"study {self.nct_id}: {path} {problem}", source=SOURCE, record_key=self.nct_id)

    def mapping(self, parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
        value = parent.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(f"{path}.{key}", f"is a {type(value).__name__}, expected an object")
        return value

    def text(self, parent: Mapping[str, Any], key: str, path: str) -> str | None:
        value = parent.get(key)
        if value is None:
            return None
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
        when = self.partial_date(struct, "date", f"{path}.{key}")
        if when is None:
            return None
        return StudyDate(when, self.enum(struct, "type", f"{path}.{key}", DATE_TYPES))

    def strings(self, parent: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
        value = parent.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
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
    if not isinstance(nct_id, str) or not _NCT_RE.match(nct_id):
        raise DataError(f"study has no valid identificationModule.nctId (got {nct_id!r})", source=SOURCE)
    return nct_id


def normalize_study(obj: dict, *, require_phases: bool = False) -> StudySnapshot:
    """One API v2 study object (bare or a list-page item) -> StudySnapshot; bad input raises DataError.

    `require_phases`: reject a study without `designModule.phases` (the Phase 3 feed needs them).
    """
    nct_id = _nct_id(obj)
    r = _Reader(nct_id)
    protocol = obj["protocolSection"]
    ident = protocol["identificationModule"]
    p = "protocolSection"
    status = r.mapping(protocol, "statusModule", p)
    sponsor = r.mapping(r.mapping(protocol, "sponsorCollaboratorsModule", p), "leadSponsor",
                        f"{p}.sponsorCollaboratorsModule")
    design = r.mapping(protocol, "designModule", p)
    sp, dp = f"{p}.statusModule", f"{p}.designModule"

    phases = r.strings(design, "phases", dp)
    for phase in phases:
        if phase not in PHASES:
            raise r.fail(f"{dp}.phases", f"has unknown value {phase!r} (known: {', '.join(sorted(PHASES))})")
    if require_phases and not phases:
        raise r.fail(f"{dp}.phases", "is missing: a phase is required here")

    enrollment = None
    info = r.mapping(design, "enrollmentInfo", dp)
    if info:
        count = info.get("count")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
            raise r.fail(f"{dp}.enrollmentInfo.count", f"is {count!r}, expected a non-negative integer")
        enrollment = Enrollment(count, r.enum(info, "type", f"{dp}.enrollmentInfo", DATE_TYPES))

    has_results = obj.get("hasResults")
    if has_results is not None and not isinstance(has_results, bool):
        raise r.fail("hasResults", f"is {has_results!r}, expected true or false")

    interventions = []
    arms = r.mapping(protocol, "armsInterventionsModule", p)
    raw_interventions = arms.get("interventions") or []
    if not isinstance(raw_interventions, list):
        raise r.fail(f"{p}.armsInterventionsModule.interventions", "is not a list")
    for i, item in enumerate(raw_interventions):
        if not isinstance(item, dict):
            raise r.fail(f"{p}.armsInterventionsModule.interventions[{i}]", "is not an object")
        name = r.text(item, "name", f"{p}.armsInterventionsModule.interventions[{i}]")
        if name is not None:
            interventions.append(name)

    return StudySnapshot(
        nct_id=nct_id,
        brief_title=r.text(ident, "briefTitle", f"{p}.identificationModule"),
        overall_status=r.enum(status, "overallStatus", sp, OVERALL_STATUSES),
        why_stopped=r.text(status, "whyStopped", sp),
        primary_completion=r.date_struct(status, "primaryCompletionDateStruct", sp),
        completion=r.date_struct(status, "completionDateStruct", sp),
        enrollment=enrollment,
        has_results=has_results,
        results_first_posted=r.partial_date(r.mapping(status, "resultsFirstPostDateStruct", sp), "date",
                                            f"{sp}.resultsFirstPostDateStruct"),
        lead_sponsor_name=r.text(sponsor, "name", f"{p}.sponsorCollaboratorsModule.leadSponsor"),
        lead_sponsor_class=r.enum(sponsor, "class", f"{p}.sponsorCollaboratorsModule.leadSponsor",
                                  SPONSOR_CLASSES),
        phases=phases,
        conditions=r.strings(r.mapping(protocol, "conditionsModule", p), "conditions",
                             f"{p}.conditionsModule"),
        interventions=tuple(interventions),
        last_update_posted=r.partial_date(r.mapping(status, "lastUpdatePostDateStruct", sp), "date",
                                          f"{sp}.lastUpdatePostDateStruct"),
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
