"""What the steps share: artifact names, the replay check, settings with defaults, detect's output.

Steps hand nothing to each other in memory: fetch archives raw payloads, detect writes the tables
and a small JSON artifact of the run's events and sponsors, which score and metrics read back (a
replay run writes its own, recomputed from the replayed run's raw pages).
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pipelines.core.ledger import PipelineRun
from pipelines.core.model import StepContext
from pipelines.core.settings import Settings
from pipelines.sources.ctgov.diff import ChangeEvent, event_to_json
from pipelines.sources.ctgov.normalize import PartialDate
from pipelines.sources.sponsors import (DEFAULT_FUZZY_THRESHOLD, DEFAULT_OVERRIDES_PATH, SponsorMapper, TickerEntry,
                                        load_overrides)

PAGE_PREFIX = "raw/ctgov/page-"
VERSION_ARTIFACT = "raw/ctgov/version.json"
TICKERS_ARTIFACT = "raw/sec/company_tickers.json"
DETECTED_ARTIFACT = "derived/ctgov_detected.json"
UNMAPPED_ARTIFACT = "report/unmapped_sponsors.json"


def page_name(number: int) -> str:
    return f"{PAGE_PREFIX}{number:05d}.json"


def replay_source(ctx: StepContext) -> int | None:
    """The run this run replays (its raw inputs are read, nothing is fetched), or None."""
    run = ctx.session.get(PipelineRun, ctx.run_id)
    return run.replay_of if run is not None else None


def configured(settings: Settings, name: str, default: Any) -> Any:
    """A pipeline setting (pipelines.core.settings), its default when left empty."""
    value = getattr(settings, name, None)
    return default if value in (None, "") else value


def setting(ctx: StepContext, name: str, default: Any) -> Any:
    return configured(ctx.settings, name, default)


def sponsor_mapper(settings: Settings, tickers: Iterable[TickerEntry] = ()) -> SponsorMapper:
    """A sponsor mapper over these SEC tickers with the configured override table and fuzzy threshold:
    the one the steps and `signals trials` build."""
    overrides = configured(settings, "CTGOV_SPONSOR_OVERRIDES", DEFAULT_OVERRIDES_PATH)
    threshold = float(configured(settings, "CTGOV_SPONSOR_FUZZY_THRESHOLD", DEFAULT_FUZZY_THRESHOLD))
    return SponsorMapper(tickers, load_overrides(overrides), fuzzy_threshold=threshold)


def conf_flag(value: Any) -> bool:
    """A --conf boolean: true/1/yes in any case (the CLI parses JSON, so `true` is already a bool)."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class DetectedEvent:
    """A change event with the study facts scoring needs (its sponsor as of the new version)."""

    event: ChangeEvent
    version_no: int
    brief_title: str | None
    sponsor: str | None
    sponsor_class: str | None


@dataclass(frozen=True)
class SponsorSeen:
    name: str
    sponsor_class: str | None
    studies: int
    example_nct_id: str


@dataclass(frozen=True)
class Detected:
    events: tuple[DetectedEvent, ...]
    sponsors: tuple[SponsorSeen, ...]


def detected_to_json(d: Detected) -> bytes:
    doc = {
        "events": [{**event_to_json(e.event), "version_no": e.version_no, "brief_title": e.brief_title,
                    "sponsor": e.sponsor, "sponsor_class": e.sponsor_class} for e in d.events],
        "sponsors": [{"name": s.name, "class": s.sponsor_class, "studies": s.studies,
                      "example_nct_id": s.example_nct_id} for s in d.sponsors],
    }
    return json.dumps(doc, ensure_ascii=False, sort_keys=True).encode("utf-8")


def detected_from_json(data: bytes) -> Detected:
    doc = json.loads(data)
    events = tuple(
        DetectedEvent(
            event=ChangeEvent(nct_id=e["nct_id"], event_type=e["event_type"], field=e["field"], old=e["old"],
                              new=e["new"], detail=e["detail"], event_key=e["event_key"],
                              event_time=None if e["event_time"] is None else PartialDate.parse(e["event_time"])),
            version_no=e["version_no"], brief_title=e["brief_title"], sponsor=e["sponsor"],
            sponsor_class=e["sponsor_class"])
        for e in doc["events"])
    sponsors = tuple(SponsorSeen(s["name"], s["class"], s["studies"], s["example_nct_id"]) for s in doc["sponsors"])
    return Detected(events, sponsors)


def load_detected(ctx: StepContext) -> Detected:
    return detected_from_json(ctx.artifacts.get(DETECTED_ARTIFACT))
