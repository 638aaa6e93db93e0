"""ClinicalTrials.gov change detection over 25,000 studies against merely loading the same JSON.

Builds two daily snapshots of 25,000 Phase 3 studies under var/bench/ctgov/ as API list pages of
1,000 studies, in the projected shape the pipeline fetches (`fields=` TRACKED_FIELDS). Every study
is one of the recorded fixture studies with its identifiers, statuses, dates, enrolment and sponsor
varied; the second snapshot changes about 6% of them (status with a reason, primary completion
moved, enrolment cut, results posted), the rest come back as they were. Then, in the same run:

- baseline: `json.loads` of each page of the second snapshot;
- detection: what the detect step does per page, minus the database: `parse_studies_page`
  (which includes the same `json.loads`), then `compare` of every study with its previous version
  (the stored row values the first snapshot left).

Target: detection adds at most 2x the load time ((detection - load) / load <= 2). The two passes
alternate and the best time of each counts, so other work on the machine skews neither. Peak memory
is measured with tracemalloc in a separate pass (tracing slows the code, so timed passes run without it).

Usage: .venv/bin/python benchmarks/ctgov_change_detection.py [--studies 25000] [--repeat 5]
"""
from __future__ import annotations

import argparse
import copy
import gc
import json
import platform
import random
import resource
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from rich.console import Console
from rich.table import Table

from pipelines.sources.ctgov.normalize import parse_studies_page
from pipelines.trials.snapshots import CHANGED, Stored, compare, to_values
from tests.conftest import SHARED

REPO = Path(__file__).resolve().parents[1]
FIXTURES = SHARED / "fixtures" / "clinicaltrials"
OUT_DIR = REPO / "var" / "bench" / "ctgov"
PAGE_SIZE = 1000
TARGET_ADDED_RATIO = 2.0
CHANGE_SHARE = 0.06
STATUSES = ("RECRUITING", "ACTIVE_NOT_RECRUITING", "NOT_YET_RECRUITING", "ENROLLING_BY_INVITATION", "COMPLETED")
SPONSOR_CLASSES = ("INDUSTRY", "INDUSTRY", "OTHER", "NIH", "OTHER_GOV")
# Keys of the projected record (what `fields=` TRACKED_FIELDS returns), by module.
_KEEP = {
    "identificationModule": ("nctId", "briefTitle"),
    "statusModule": ("overallStatus", "whyStopped", "primaryCompletionDateStruct", "completionDateStruct",
                     "resultsFirstPostDateStruct", "lastUpdatePostDateStruct"),
    "sponsorCollaboratorsModule": ("leadSponsor",),
    "conditionsModule": ("conditions",),
    "designModule": ("phases", "enrollmentInfo"),
    "armsInterventionsModule": ("interventions",),
}


def _project(study: dict[str, Any]) -> dict[str, Any]:
    """A recorded study cut down to the tracked fields, as the API returns it with `fields=`."""
    protocol = study["protocolSection"]
    out: dict[str, Any] = {"protocolSection": {}}
    for module, keys in _KEEP.items():
        if module in protocol:
            kept = {k: copy.deepcopy(protocol[module][k]) for k in keys if k in protocol[module]}
            if module == "armsInterventionsModule":
                kept["interventions"] = [{"name": i["name"]} for i in kept.get("interventions", [])]
            if module == "sponsorCollaboratorsModule":
                kept["leadSponsor"] = {k: v for k, v in kept["leadSponsor"].items() if k in ("name", "class")}
            out["protocolSection"][module] = kept
    if "hasResults" in study:
        out["hasResults"] = study["hasResults"]
    return out


def templates() -> list[dict[str, Any]]:
    """Every recorded study (list pages and single-study files) that has phases, projected."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(FIXTURES.glob("*.json")):
        doc = json.loads(path.read_bytes())
        for study in doc.get("studies", [doc]):
            if study["protocolSection"].get("designModule", {}).get("phases"):
                found[study["protocolSection"]["identificationModule"]["nctId"]] = _project(study)
    return list(found.values())


def _month(rng: random.Random, year_from: int, year_to: int) -> str:
    return f"{rng.randint(year_from, year_to)}-{rng.randint(1, 12):02d}"


def _day(rng: random.Random, year_from: int, year_to: int) -> str:
    return f"{_month(rng, year_from, year_to)}-{rng.randint(1, 28):02d}"


def vary(template: dict[str, Any], index: int, rng: random.Random) -> dict[str, Any]:
    """One study of the first snapshot: the template with its own id, status, dates, size, sponsor."""
    s = copy.deepcopy(template)
    p = s["protocolSection"]
    p["identificationModule"]["nctId"] = f"NCT{10_000_000 + index:08d}"
    status = p.setdefault("statusModule", {})
    status["overallStatus"] = rng.choice(STATUSES)
    status.pop("whyStopped", None)
    pc = _month(rng, 2025, 2029) if rng.random() < 0.5 else _day(rng, 2025, 2029)
    status["primaryCompletionDateStruct"] = {"date": pc, "type": "ESTIMATED"}
    status["completionDateStruct"] = {"date": _month(rng, 2029, 2031), "type": "ESTIMATED"}
    status["lastUpdatePostDateStruct"] = {"date": _day(rng, 2025, 2026), "type": "ACTUAL"}
    status.pop("resultsFirstPostDateStruct", None)
    s["hasResults"] = False
    design = p.setdefault("designModule", {})
    design["enrollmentInfo"] = {"count": rng.randint(40, 3000), "type": "ESTIMATED"}
    sponsor = p.setdefault("sponsorCollaboratorsModule", {}).setdefault("leadSponsor", {"name": "Sponsor"})
    sponsor["class"] = rng.choice(SPONSOR_CLASSES)
    return s


def change(study: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The next version of a study: one of the catalysts the pipeline watches."""
    s = copy.deepcopy(study)
    status = s["protocolSection"]["statusModule"]
    kind = rng.randrange(4)
    if kind == 0:
        status["overallStatus"] = rng.choice(("TERMINATED", "SUSPENDED", "WITHDRAWN"))
        status["whyStopped"] = rng.choice(("Futility at interim analysis", "Business decision", "Slow accrual"))
    elif kind == 1:
        status["primaryCompletionDateStruct"] = {"date": _month(rng, 2030, 2032), "type": "ESTIMATED"}
    elif kind == 2:
        info = s["protocolSection"]["designModule"]["enrollmentInfo"]
        info["count"] = int(info["count"] * 0.6)
    else:
        s["hasResults"] = True
        status["resultsFirstPostDateStruct"] = {"date": "2026-11-20", "type": "ACTUAL"}
    status["lastUpdatePostDateStruct"] = {"date": "2026-11-20", "type": "ACTUAL"}
    return s


def build_corpus(n: int, seed: int = 6) -> tuple[list[bytes], list[bytes], int]:
    """(previous pages, new pages, studies changed); written under var/bench/ctgov/ as well."""
    rng = random.Random(seed)
    bases = templates()
    previous = [vary(bases[i % len(bases)], i, rng) for i in range(n)]
    new, changed = [], 0
    for study in previous:
        if rng.random() < CHANGE_SHARE:
            new.append(change(study, rng))
            changed += 1
        else:
            new.append(study)

    def pages(studies: list[dict[str, Any]]) -> list[bytes]:
        out = []
        for start in range(0, len(studies), PAGE_SIZE):
            page: dict[str, Any] = {"studies": studies[start:start + PAGE_SIZE]}
            if start + PAGE_SIZE < len(studies):
                page["nextPageToken"] = f"bench-{start + PAGE_SIZE}"
            out.append(json.dumps(page, ensure_ascii=False).encode("utf-8"))
        return out

    prev_pages, new_pages = pages(previous), pages(new)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for label, group in (("previous", prev_pages), ("new", new_pages)):
        for i, body in enumerate(group, 1):
            (OUT_DIR / f"{label}-{i:03d}.json").write_bytes(body)
    return prev_pages, new_pages, changed


def stored_state(pages: list[bytes]) -> dict[str, Stored]:
    """What the previous run left in ctgov_studies: each study's row values."""
    state = {}
    for body in pages:
        for s in parse_studies_page(body, require_phases=True).snapshots:
            state[s.nct_id] = Stored.of(s.nct_id, 1, to_values(s))  # as read back from its row
    return state


def load_only(pages: list[bytes]) -> int:
    return sum(len(json.loads(body)["studies"]) for body in pages)


def detect(pages: list[bytes], state: dict[str, Stored]) -> tuple[int, int]:
    changed = events = 0
    for body in pages:
        page = parse_studies_page(body, require_phases=True)
        if page.errors:
            raise AssertionError(f"generated page has bad studies: {page.errors[0]}")
        for s in page.snapshots:
            c = compare(state.get(s.nct_id), s)
            if c.kind == CHANGED:
                changed += 1
                events += len(c.events)
    return changed, events


def timed_pair(pages: list[bytes], state: dict[str, Stored], repeat: int) -> tuple[float, float, int, tuple[int, int]]:
    """Best-of-`repeat` times of both passes, interleaved so that load from other processes on the
    machine falls on both alike (the ratio is the figure that matters)."""
    load_times: list[float] = []
    detect_times: list[float] = []
    loaded, detected = 0, (0, 0)
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        loaded = load_only(pages)
        load_times.append(time.perf_counter() - started)
        gc.collect()
        started = time.perf_counter()
        detected = detect(pages, state)
        detect_times.append(time.perf_counter() - started)
    return min(load_times), min(detect_times), loaded, detected


def peak_mib(fn: Any, *args: Any) -> float:
    gc.collect()
    tracemalloc.start()
    fn(*args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=25_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "ctgov_change_detection.md")
    args = ap.parse_args()

    started = time.perf_counter()
    prev_pages, new_pages, changed_in = build_corpus(args.studies)
    build_s = time.perf_counter() - started
    state = stored_state(prev_pages)
    size_mib = sum(map(len, new_pages)) / 2**20

    load_s, detect_s, loaded, (changed, events) = timed_pair(new_pages, state, args.repeat)
    if loaded != args.studies or changed != changed_in:
        raise AssertionError(f"loaded {loaded} of {args.studies}, detected {changed} of {changed_in} changes")
    load_peak, detect_peak = peak_mib(load_only, new_pages), peak_mib(detect, new_pages, state)
    added = (detect_s - load_s) / load_s
    ok = added <= TARGET_ADDED_RATIO
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    table = Table(title=f"ClinicalTrials.gov change detection, {args.studies:,} studies ({size_mib:.1f} MiB JSON)")
    for col in ("pass", "best time", "per study", "peak traced memory"):
        table.add_column(col, justify="right" if col != "pass" else "left")
    table.add_row("load (json.loads)", f"{load_s:.3f} s", f"{load_s / loaded * 1e6:.1f} us", f"{load_peak:.1f} MiB")
    table.add_row("detect (parse + normalize + compare)", f"{detect_s:.3f} s", f"{detect_s / loaded * 1e6:.1f} us",
                  f"{detect_peak:.1f} MiB")
    console = Console()
    console.print(table)
    verdict = "met" if ok else "NOT met"
    console.print(f"detection adds {added:.2f}x the load time (target <= {TARGET_ADDED_RATIO:.0f}x): {verdict}; "
                  f"{changed:,} changed studies, {events:,} events; process max RSS {maxrss:.0f} MiB; "
                  f"corpus built in {build_s:.1f} s")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join([
        "# ClinicalTrials.gov change detection benchmark",
        "",
        (f"`benchmarks/ctgov_change_detection.py --studies {args.studies} --repeat {args.repeat}` on "
         f"{platform.machine()}, Python {platform.python_version()}, {_cpus()} CPU(s)."),
        "",
        (f"Corpus: {args.studies:,} Phase 3 studies in {len(new_pages)} list pages of {PAGE_SIZE:,} "
         f"({size_mib:.1f} MiB JSON, the `fields=` projection the pipeline fetches), generated from the "
         f"recorded fixture studies with ids, statuses, dates, enrolment and sponsors varied; "
         f"{changed_in:,} studies ({CHANGE_SHARE:.0%}) changed against the previous snapshot."),
        "",
        "| pass | best time | per study | peak traced memory |",
        "|---|---:|---:|---:|",
        f"| load (`json.loads` of every page) | {load_s:.3f} s | {load_s / loaded * 1e6:.1f} us "
        f"| {load_peak:.1f} MiB |",
        (f"| detect (`parse_studies_page` incl. the same load, then `compare` with the previous version) | "
         f"{detect_s:.3f} s | {detect_s / loaded * 1e6:.1f} us | {detect_peak:.1f} MiB |"),
        "",
        (f"Detection adds **{added:.2f}x** the load time (target: at most {TARGET_ADDED_RATIO:.0f}x): "
         f"**{verdict}**. {changed:,} changed studies, {events:,} change events. Process max RSS "
         f"{maxrss:.0f} MiB (corpus, previous state and both passes together)."),
        "",
        (f"Times are the best of {args.repeat} interleaved passes each; peak memory is from a separate "
         "tracemalloc pass. The database reads and writes of the detect step are not part of this figure."),
        "",
    ]))
    console.print(f"results written to {args.out}")
    return 0 if ok else 1


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    sys.exit(main())
