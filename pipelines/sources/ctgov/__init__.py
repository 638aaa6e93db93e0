"""ClinicalTrials.gov API v2: normalized study snapshots, change events and the page fetcher.

`client` is imported on its own (it pulls in the HTTP stack); parsing and diffing stay pure.
"""
from .diff import (
    ChangeEvent,
    diff_snapshots,
    diff_to_json,
    events_to_json,
    inspect_diff,
)
from .normalize import (
    Enrollment,
    PartialDate,
    StudiesPage,
    StudyDataError,
    StudyDate,
    StudySnapshot,
    inspect_document,
    normalize_study,
    parse_studies_page,
    snapshot_to_json,
)

__all__ = [
    "ChangeEvent", "Enrollment", "PartialDate", "StudiesPage", "StudyDataError", "StudyDate",
    "StudySnapshot", "diff_snapshots", "diff_to_json", "events_to_json", "inspect_diff", "inspect_document",
    "normalize_study", "parse_studies_page", "snapshot_to_json",
]
