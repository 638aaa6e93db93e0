"""Orange Book benchmark: parse, calendar and diff a full-size release against merely splitting it.

Builds a full-size release (about 48,000 product rows, 20,000 patent rows and 2,500 exclusivity
rows) from the recorded fixture rows under var/bench/orange_book/, plus the previous release it is
diffed against, derived from it with known changes. Then, in the same run:

- baseline: decode each file and split it into fields (`str.splitlines`, `str.split("~")`);
- pipeline: parse the new release into typed rows, build the patent-cliff calendar, diff it against
  the previous release (parsed, with its calendar, as the previous run left it).

Target: pipeline time at most 5x the baseline. Peak memory is measured with tracemalloc in a
separate pass (tracing slows the code, so the timed passes run without it).

Usage: .venv/bin/python benchmarks/orange_book.py [--repeat 5] [--out benchmarks/results/orange_book.md]
"""
from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from statistics import median
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from rich.console import Console
from rich.table import Table

from pipelines.sources.orange_book.calendar import build_calendar
from pipelines.sources.orange_book.diff import diff_releases
from pipelines.sources.orange_book.parse import (
    Release,
    build_release,
    decode,
    gc_paused,
    parse_date,
)
from tests.conftest import SHARED

REPO = Path(__file__).resolve().parents[1]
FIXTURES = SHARED / "fixtures" / "orange_book"
FILES = ("products.txt", "patent.txt", "exclusivity.txt")
TARGET_PRODUCTS, TARGET_PATENTS, TARGET_EXCLUSIVITIES = 48_000, 20_000, 2_500
# The fixture rows were picked for variety: 32 of its 35 products are NDAs. A real release is mostly
# generics, so each copy of the fixture adds ANDA_COPIES extra copies of each ANDA row (about 3 ANDA
# rows per NDA row), each with its own application number.
ANDA_COPIES = 31
TARGET_RATIO = 5.0


def _fmt_date(d: date) -> str:
    return f"{d:%b} {d.day}, {d.year}"


def _patent_no(listed: str, copy: int) -> str:
    """A distinct patent number per copy, keeping the *PED suffix of pediatric rows."""
    base, ped, suffix = listed.partition("*PED")
    return f"{base}{copy:03d}{ped}{suffix}"


def _lines(name: str) -> tuple[str, list[list[str]]]:
    text = decode((FIXTURES / name).read_bytes())
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[0], [ln.split("~") for ln in lines[1:]]


class _ApplNos:
    """Maps (copy number, fixture application number) to a unique 6-digit application number."""

    def __init__(self) -> None:
        self._index: dict[str, int] = {}

    def __call__(self, copy: int, appl_no: str) -> str:
        idx = self._index.setdefault(appl_no, len(self._index))
        return f"{copy:04d}{idx:02d}"


def generate(folder: Path) -> dict[str, int]:
    """Write new/ and old/ releases under `folder`; returns the row counts of the new release."""
    appl = _ApplNos()
    p_head, p_rows = _lines("products.txt")
    t_head, t_rows = _lines("patent.txt")
    e_head, e_rows = _lines("exclusivity.txt")
    products: list[list[str]] = []
    copy = 0
    while len(products) < TARGET_PRODUCTS:
        for r in p_rows:
            # The ingredient carries the copy number so generic groups stay the size of one copy.
            row = [f"{r[0]} C{copy}", *r[1:6], appl(copy, r[6]), *r[7:]]
            products.append(row)
            if r[5] == "A":
                for extra in range(1, ANDA_COPIES + 1):
                    # Numbers 60-99 of each copy are free: the fixture has fewer than 60 applications.
                    products.append([row[0], *r[1:6], f"{copy:04d}{60 + extra:02d}", *r[7:]])
        copy += 1
    products = products[:TARGET_PRODUCTS]
    # Each copy stands for other drugs, so its patents get numbers of their own (a number is one patent).
    patents = [[r[0], appl(c, r[1]), r[2], _patent_no(r[3], c), *r[4:]] for c in range(copy) for r in t_rows]
    patents = patents[:TARGET_PATENTS]
    exclusivities = [[r[0], appl(c, r[1]), *r[2:]] for c in range(copy) for r in e_rows][:TARGET_EXCLUSIVITIES]
    new = {"products.txt": products, "patent.txt": patents, "exclusivity.txt": exclusivities}
    old = _previous_release(new)
    heads = {"products.txt": p_head, "patent.txt": t_head, "exclusivity.txt": e_head}
    for name, release in (("new", new), ("old", old)):
        out = folder / name
        out.mkdir(parents=True, exist_ok=True)
        for file, rows in release.items():
            # CRLF like FDA's patent and exclusivity files.
            (out / file).write_bytes("\r\n".join([heads[file], *("~".join(r) for r in rows)]).encode("ascii"))
    return {k: len(v) for k, v in new.items()}


def _previous_release(new: dict[str, list[list[str]]]) -> dict[str, list[list[str]]]:
    """The release before `new`: every kind of change the diff reports, a few hundred times each."""
    patents: list[list[str]] = []
    for i, r in enumerate(new["patent.txt"]):
        if i % 50 == 7:
            continue  # listed in the new release only: patent_added
        row = list(r)
        if i % 40 == 3:
            row[4] = _fmt_date(parse_date(row[4]) - timedelta(days=365))  # patent_expiry_moved
        if row[8] == "Y" and i % 3 == 0:
            row[8] = ""  # delisted in the new release: patent_delisted
        patents.append(row)
        if i % 60 == 11 and not row[3].endswith("*PED"):
            patents.append([*row[:3], f"{row[3]}9", *row[4:]])  # gone from the new release
    exclusivities = [r for i, r in enumerate(new["exclusivity.txt"]) if i % 30 != 5]  # exclusivity_added
    products = [r for i, r in enumerate(new["products.txt"]) if not (r[5] == "A" and i % 100 < 3)]  # generics
    return {"products.txt": products, "patent.txt": patents, "exclusivity.txt": exclusivities}


def _read(folder: Path) -> list[bytes]:
    return [(folder / f).read_bytes() for f in FILES]


def split_only(raws: list[bytes]) -> list[list[list[str]]]:
    """The baseline: decode each file and split every line into its fields, nothing else."""
    return [[line.split("~") for line in raw.decode("ascii").splitlines()] for raw in raws]


def parse(raws: list[bytes]) -> Release:
    return build_release(*(decode(r) for r in raws))


def pipeline(raws: list[bytes], old: Release, old_calendar: list[Any]) -> tuple[Release, list[Any], list[Any]]:
    """The measured work. Like the baseline it returns what it built, so neither pays inside the
    timed region for freeing its results."""
    # One pause of the cyclic collector around the whole work, as the load step does.
    with gc_paused():
        new = parse(raws)
        calendar = build_calendar(new)
        events = diff_releases(old, new, old_calendar=old_calendar, new_calendar=calendar)
    return new, calendar, events


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, list[float], Any]:
    """Best CPU time of `repeat` runs (seconds), every time, and the last result.

    CPU time of this process, not wall time: the benchmark machine is shared, and waiting for a
    core is not work the code does. Both sides of the comparison are measured the same way.
    """
    times, result = [], None
    for _ in range(repeat):
        result = None  # free the previous result outside the timed region
        gc.collect()
        start = time.process_time()
        result = fn()
        times.append(time.process_time() - start)
    return min(times), times, result


def peak_memory(fn: Callable[[], Any]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def split_gc_paused(raws: list[bytes]) -> list[list[list[str]]]:
    """The baseline with the cyclic collector paused, as the pipeline code pauses it (for comparison)."""
    with gc_paused():
        return split_only(raws)


def measure(workdir: Path, repeat: int) -> dict[str, Any]:
    counts = generate(workdir)
    new_raws, old_raws = _read(workdir / "new"), _read(workdir / "old")
    old = parse(old_raws)
    old_calendar = build_calendar(old)
    # The baseline and the measured work alternate, so a busy machine slows both alike; best of each.
    split_all: list[float] = []
    total_all: list[float] = []
    for _ in range(repeat):
        split_s, _, split_rows = best_of(lambda: split_only(new_raws), 1)
        total_s, _, (release, calendar, events) = best_of(lambda: pipeline(new_raws, old, old_calendar), 1)
        errors, entries, n_events = len(release.errors), len(calendar), len(events)
        split_all.append(split_s)
        total_all.append(total_s)
    split_s, total_s = min(split_all), min(total_all)
    parse_s, _, release = best_of(lambda: parse(new_raws), repeat)
    cal_s, _, calendar = best_of(lambda: build_calendar(release), repeat)
    diff_s, _, _ = best_of(lambda: diff_releases(old, release, old_calendar=old_calendar, new_calendar=calendar),
                           repeat)
    cold_s, _, _ = best_of(lambda: pipeline(new_raws, parse(old_raws), build_calendar(parse(old_raws))), repeat)
    split_paused_s, _, _ = best_of(lambda: split_gc_paused(new_raws), repeat)
    rows = [
        ("split into fields (baseline)", split_s, f"{peak_memory(lambda: split_only(new_raws)) / 1e6:.1f} MB"),
        ("parse into typed rows", parse_s, ""),
        ("patent-cliff calendar", cal_s, ""),
        ("diff against the previous release", diff_s, ""),
        ("parse + calendar + diff (target <= 5x)", total_s,
         f"{peak_memory(lambda: pipeline(new_raws, old, old_calendar)) / 1e6:.1f} MB"),
        ("same, previous release re-parsed too", cold_s, ""),
        ("split, garbage collector paused (for comparison)", split_paused_s, ""),
    ]
    return {"counts": counts, "size_mb": sum(len(r) for r in new_raws) / 1e6, "rows": rows, "split_s": split_s,
            "total_s": total_s, "split_all": split_all, "total_all": total_all, "errors": errors, "entries": entries,
            "events": n_events, "fields": sum(len(f) for rows in split_rows for f in rows), "repeat": repeat,
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def markdown(m: dict[str, Any], verdict: str) -> str:
    c, split_s = m["counts"], m["split_s"]
    lines = [
        "# Orange Book benchmark",
        "",
        (f"`benchmarks/orange_book.py`, {platform.python_implementation()} {platform.python_version()} on "
         f"{platform.machine()} ({os.cpu_count()} cores), best of {m['repeat']} runs each (CPU time of the "
         "process), all in one process."),
        "",
        (f"Corpus, generated from the recorded fixture rows under var/bench/: {c['products.txt']:,} product rows, "
         f"{c['patent.txt']:,} patent rows, {c['exclusivity.txt']:,} exclusivity rows ({m['size_mb']:.1f} MB). "
         f"Each copy of the fixture gets its own application and patent numbers, and each ANDA row is copied "
         f"{ANDA_COPIES + 1} times per copy, so about 3 in 4 product rows are ANDAs (the fixture rows were "
         "picked for variety and are mostly NDAs). The previous release is derived from it with patents "
         "added, delisted, removed and with moved expiry dates, new exclusivities and new generics."),
        "",
        "| step | best (CPU ms) | x split | peak traced memory |",
        "|---|---:|---:|---:|",
        *(f"| {name} | {secs * 1000:.1f} | {secs / split_s:.2f} | {mem} |" for name, secs, mem in m["rows"]),
        "",
        (f"**{verdict}.** Median of the alternating runs: {median(m['total_all']) / median(m['split_all']):.2f}x. "
         f"{m['entries']:,} calendar entries, {m['events']:,} diff events, {m['errors']} row "
         f"errors; process max RSS {m['max_rss_mb']:.0f} MB (the generator, both releases and the "
         f"baseline's fields included). All timed runs (ms): split "
         f"{', '.join(f'{t * 1000:.0f}' for t in m['split_all'])}; parse + calendar + diff "
         f"{', '.join(f'{t * 1000:.0f}' for t in m['total_all'])}."),
        "",
        ("The baseline decodes the three files and splits every line on `~`, keeping the fields. The "
         "measured work starts from the same bytes and ends with typed rows, one calendar entry per NDA "
         "product and the diff events; the previous release is the state the previous run left (parsed, "
         "with its calendar), and the next row re-parses it as well. Parsing, the calendar and the diff "
         "pause Python's cyclic garbage collector while they build rows (they create no cycles); the last "
         "row shows the baseline under the same condition. Peak memory is what tracemalloc saw during one "
         "pass, the input bytes and the previous release excluded."),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "orange_book.md")
    parser.add_argument("--workdir", type=Path, default=REPO / "var" / "bench" / "orange_book")
    args = parser.parse_args(argv)
    console = Console()
    m = measure(args.workdir, args.repeat)
    ratio = m["total_s"] / m["split_s"]
    c = m["counts"]
    table = Table(title=f"Orange Book release: {c['products.txt']:,} products, {c['patent.txt']:,} patents, "
                        f"{c['exclusivity.txt']:,} exclusivities ({m['size_mb']:.1f} MB)")
    for col in ("step", f"best of {args.repeat} (CPU ms)", "x split", "peak traced memory"):
        table.add_column(col, justify="left" if col == "step" else "right")
    for name, secs, mem in m["rows"]:
        table.add_row(name, f"{secs * 1000:.1f}", f"{secs / m['split_s']:.2f}", mem)
    console.print(table)
    verdict = (f"{'MET' if ratio <= TARGET_RATIO else 'NOT MET'}: parse + calendar + diff took {ratio:.2f}x the "
               f"split time (target <= {TARGET_RATIO:g}x)")
    console.print(f"{verdict}; {m['entries']:,} calendar entries, {m['events']:,} diff events, {m['errors']} row "
                  f"errors, {m['fields']:,} fields split; max RSS {m['max_rss_mb']:.0f} MB")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown(m, verdict))
    console.print(f"wrote {args.out}")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
