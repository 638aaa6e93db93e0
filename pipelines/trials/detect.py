"""The detect step: archived pages -> snapshots -> versions and change events.

Each study fetched is compared with its stored latest version: the first sighting is a baseline
(stored, no events), an equal one is only marked seen, a different one becomes the next version
with the events between the two. Bad pages and bad studies are quarantined with their raw JSON and
the rest goes on.

Reruns and replays:
- a rerun or retry of the same run finds the versions it already made and reports their events
  again (the writes are insert-if-absent), so scoring can finish what an earlier try began;
- a replay run (`--replay RUN`) reads RUN's pages, compares each study with the version stored
  before RUN saw it, and writes nothing to the ctgov tables: it recomputes, it does not re-record.
"""
from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from pipelines.core.errors import DataError
from pipelines.core.model import StepContext, StepResult
from pipelines.sources.ctgov.diff import DEFAULT_ENROLLMENT_THRESHOLD, event_to_json
from pipelines.sources.ctgov.normalize import SOURCE, StudySnapshot, parse_studies_page

from . import store
from .common import (
    DETECTED_ARTIFACT,
    PAGE_PREFIX,
    Detected,
    DetectedEvent,
    SponsorSeen,
    detected_to_json,
    replay_source,
    setting,
)
from .snapshots import (
    BASELINE,
    CHANGED,
    UNCHANGED,
    Comparison,
    Stored,
    compare,
    identity_of,
)

log = logging.getLogger("signals.clinical_trials")


def read_pages(ctx: StepContext, counts: Counter[str]) -> dict[str, StudySnapshot]:
    """Every study of the run's archived pages (a later page wins); bad input is quarantined."""
    studies: dict[str, StudySnapshot] = {}
    for name in sorted(n for n in ctx.artifacts.names() if n.startswith(PAGE_PREFIX)):
        raw = ctx.artifacts.get(name)
        counts["pages"] += 1
        try:
            page = parse_studies_page(raw, require_phases=True)
        except DataError as exc:
            ctx.quarantine(SOURCE, name, f"{name}: {exc}", raw)
            counts["pages_quarantined"] += 1
            continue
        for err in page.errors:
            key = err.record_key if err.record_key.startswith("NCT") else f"{name}:{err.record_key}"
            ctx.quarantine(SOURCE, key, f"{name}: {err}", err.raw)
            counts["studies_quarantined"] += 1
        for snapshot in page.snapshots:
            studies[snapshot.nct_id] = snapshot
    counts["studies"] = len(studies)
    return studies


def _sponsors(studies: dict[str, StudySnapshot]) -> tuple[SponsorSeen, ...]:
    tally: Counter[tuple[str, str | None]] = Counter()
    example: dict[tuple[str, str | None], str] = {}
    for s in studies.values():
        if s.lead_sponsor_name:
            key = (s.lead_sponsor_name, s.lead_sponsor_class)
            tally[key] += 1
            example.setdefault(key, s.nct_id)
    return tuple(SponsorSeen(name, klass, n, example[(name, klass)])
                 for (name, klass), n in sorted(tally.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")))


def _detected(s: StudySnapshot, version_no: int, c: Comparison) -> list[DetectedEvent]:
    return [DetectedEvent(e, version_no, s.brief_title, s.lead_sponsor_name, s.lead_sponsor_class)
            for e in c.events]


def _event_row(e: DetectedEvent, run_id: int, now: datetime) -> dict[str, Any]:
    j = event_to_json(e.event)
    return {"nct_id": j["nct_id"], "version_no": e.version_no, "event_key": j["event_key"],
            "event_type": j["event_type"], "field": j["field"], "old_value": j["old"], "new_value": j["new"],
            "detail": j["detail"], "event_time": j["event_time"], "run_id": run_id, "detected_at": now}


class _Recorder:
    """Collects one chunk's writes so they go to the database as a few bulk statements."""

    def __init__(self, run_id: int, now: datetime) -> None:
        self.run_id, self.now = run_id, now
        self.versions: list[dict[str, Any]] = []
        self.latest: list[dict[str, Any]] = []
        self.touched: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []

    def new_version(self, nct_id: str, version_no: int, values: dict[str, Any]) -> None:
        self.versions.append({"nct_id": nct_id, "version_no": version_no, "run_id": self.run_id,
                              "seen_at": self.now, **values})
        self.latest.append({"nct_id": nct_id, "version_no": version_no, "version_run_id": self.run_id,
                            "last_seen_run_id": self.run_id, "first_seen_at": self.now, "last_seen_at": self.now,
                            **values})

    def seen(self, s: StudySnapshot) -> None:
        # Same version: only what is not part of a version's identity is refreshed.
        self.touched.append({"nct_id": s.nct_id, "last_seen_run_id": self.run_id, "last_seen_at": self.now,
                             "brief_title": s.brief_title,
                             "last_update_posted": None if s.last_update_posted is None
                             else s.last_update_posted.isoformat()})

    def report(self, found: list[DetectedEvent], events: list[DetectedEvent]) -> None:
        found.extend(events)
        self.events.extend(_event_row(e, self.run_id, self.now) for e in events)

    def flush(self, session: Any) -> None:
        store.insert_versions(session, self.versions)
        store.insert_events(session, self.events)
        store.upsert_latest(session, self.latest)
        store.touch_latest(session, self.touched)


_COUNTED = {BASELINE: "baselines", UNCHANGED: "unchanged", CHANGED: "new_versions"}


def _detect_chunk(ctx: StepContext, chunk: list[str], studies: dict[str, StudySnapshot], threshold: float,
                  counts: Counter[str], found: list[DetectedEvent], now: datetime) -> None:
    latest = store.load_latest(ctx.session, chunk)
    # Versions this same run made on an earlier try: re-report them against the version before.
    mine = [n for n in chunk if n in latest and latest[n].version_run_id == ctx.run_id]
    history = store.load_versions(ctx.session, mine) if mine else {}
    rec = _Recorder(ctx.run_id, now)
    for nct_id in chunk:
        s, row = studies[nct_id], latest.get(nct_id)
        stored = None if row is None else Stored.of(nct_id, row.version_no, row.values)
        if stored is not None and nct_id in history and stored.identity == identity_of(s):
            before = [v for v in history[nct_id] if v.version_no == stored.version_no - 1]
            again = compare(Stored.of(nct_id, before[0].version_no, before[0].values) if before else None, s,
                            enrollment_threshold=threshold)
            rec.report(found, _detected(s, stored.version_no, again))
            rec.seen(s)
            counts["versions_already_recorded"] += 1
            continue
        c = compare(stored, s, enrollment_threshold=threshold)
        counts[_COUNTED[c.kind]] += 1
        if stored is not None and c.kind == UNCHANGED:
            rec.seen(s)
            continue
        version_no = 1 if stored is None else stored.version_no + 1
        rec.new_version(nct_id, version_no, c.values)
        rec.report(found, _detected(s, version_no, c))
    rec.flush(ctx.session)


def _replay_chunk(ctx: StepContext, source_run: int, chunk: list[str], studies: dict[str, StudySnapshot],
                  threshold: float, counts: Counter[str], found: list[DetectedEvent]) -> None:
    history = store.load_versions(ctx.session, chunk)
    for nct_id in chunk:
        # What the replayed run compared with: the last version some earlier run had stored.
        earlier = [v for v in history.get(nct_id, []) if v.run_id is None or v.run_id < source_run]
        base = Stored.of(nct_id, earlier[-1].version_no, earlier[-1].values) if earlier else None
        c = compare(base, studies[nct_id], enrollment_threshold=threshold)
        counts[_COUNTED[c.kind]] += 1
        version_no = 1 if base is None else base.version_no + 1
        found.extend(_detected(studies[nct_id], version_no, c))


def detect_step(ctx: StepContext) -> StepResult:
    """Compare every archived study with its stored version; store versions and events."""
    counts: Counter[str] = Counter()
    studies = read_pages(ctx, counts)
    threshold = float(setting(ctx, "CTGOV_ENROLLMENT_CHANGE_THRESHOLD", DEFAULT_ENROLLMENT_THRESHOLD))
    source_run = replay_source(ctx)
    found: list[DetectedEvent] = []
    now = datetime.now(UTC)
    for chunk in store.chunks(sorted(studies)):
        if source_run is None:
            _detect_chunk(ctx, list(chunk), studies, threshold, counts, found, now)
        else:
            _replay_chunk(ctx, source_run, list(chunk), studies, threshold, counts, found)
    ctx.artifacts.put(DETECTED_ARTIFACT, detected_to_json(Detected(tuple(found), _sponsors(studies))),
                      "application/json")
    counts["events"] = len(found)
    log.info("detect: %d studies, %d baselines, %d new versions, %d events%s", counts["studies"],
             counts["baselines"], counts["new_versions"], len(found),
             f" (replay of run {source_run})" if source_run else "", extra=ctx.log_fields)
    return StepResult(counts=dict(counts))

