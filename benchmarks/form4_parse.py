"""Form 4 parse throughput: our `parse_form4` against edgartools' Form 4 parsing of the same files.

Generates a corpus under var/bench/form4/ from the five recorded ownership documents: each file
is one of them with its issuer and owner CIKs and names, share counts, prices, holdings after and
dates varied, and its transaction and holding rows resampled from its own rows (between none, or
one non-derivative transaction, and twice the template's count of each kind of row). Both parsers
then read every file from memory in the same process:

- ours: `pipelines.sources.edgar.form4.parse_form4(bytes)` (guarded expat, typed records);
- edgartools: `edgar.ownership.Form4.parse_xml(text)` (edgartools is installed for this benchmark
  only, never a project dependency).

edgartools looks up every reporting owner on data.sec.gov while parsing (`Entity(cik).data`, to
decide whether to reverse a person's name), which needs the network and an EDGAR identity; offline
it raises IdentityNotSetError. The benchmark replaces that look-up with an offline stub answering
"not a company" at once, so edgartools is timed on its XML parsing and table building only, which
favours it. Each parser's output is cross-checked (issuer CIK and transaction count per file).

Usage: .venv/bin/python benchmarks/form4_parse.py [--documents 2000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import copy
import gc
import platform
import random
import statistics
import sys
import time
import types
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import defusedxml.ElementTree as DET  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from pipelines.sources.edgar.form4 import parse_form4  # noqa: E402
from pipelines.sources.edgar.xml_safety import parse_xml  # noqa: E402
from tests.conftest import SHARED  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FIXTURES = SHARED / "fixtures" / "edgar_form4"
OUT_DIR = REPO / "var" / "bench" / "form4"
RESULTS = REPO / "benchmarks" / "results" / "form4_parse.md"
TARGET = 10.0
console = Console()


def _set_value(node: ET.Element | None, text: str) -> None:
    """Set a leaf's value, inside its <value> when it has one; footnote-only leaves stay as they are."""
    if node is None:
        return
    inner = node.find("value")
    if inner is not None:
        inner.text = text
    elif len(node) == 0:
        node.text = text


def _vary_row(row: ET.Element, rng: random.Random) -> None:
    factor = rng.uniform(0.2, 5.0)
    for path, places in (("transactionAmounts/transactionShares", 0),
                         ("postTransactionAmounts/sharesOwnedFollowingTransaction", 0),
                         ("transactionAmounts/transactionPricePerShare", 4)):
        node = row.find(path)
        inner = node.find("value") if node is not None else None
        if inner is not None and inner.text and inner.text.strip():
            value = float(inner.text) * factor
            _set_value(node, f"{value:.{places}f}" if places else str(max(1, round(value))))
    date = row.find("transactionDate")
    if date is not None and date.find("value") is not None:
        _set_value(date, f"20{rng.randint(18, 26):02d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}")


def _resample(table: ET.Element | None, tag: str, low: int, rng: random.Random) -> None:
    """Between `low` and twice the template's count of `tag` rows, drawn from the template's own rows."""
    if table is None:
        return
    rows = table.findall(tag)
    if not rows:
        return
    for row in rows:
        table.remove(row)
    for _ in range(rng.randint(low, 2 * len(rows))):
        row = copy.deepcopy(rng.choice(rows))
        _vary_row(row, rng)
        table.append(row)
    # Schema order: transactions before holdings inside each table.
    table[:] = sorted(table, key=lambda e: "Holding" in e.tag)


def generate(count: int, seed: int = 4) -> list[Path]:
    """Write `count` varied documents under var/bench/form4/ and return their paths."""
    rng = random.Random(seed)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for old in OUT_DIR.glob("*.xml"):
        old.unlink()
    templates = [DET.fromstring(p.read_bytes()) for p in sorted(FIXTURES.glob("*.xml"))]
    paths = []
    for i in range(count):
        root = copy.deepcopy(templates[i % len(templates)])
        root.find("issuer/issuerCik").text = f"{rng.randint(1000, 2_100_000):010d}"
        root.find("issuer/issuerName").text = f"Benchmark Issuer {i} Inc."
        root.find("issuer/issuerTradingSymbol").text = "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ", k=4))
        for n, owner in enumerate(root.findall("reportingOwner/reportingOwnerId")):
            owner.find("rptOwnerCik").text = f"{rng.randint(1000, 2_100_000):010d}"
            owner.find("rptOwnerName").text = f"Owner {i}-{n} Benchmark"
        for table, prefix in (("nonDerivativeTable", "nonDerivative"), ("derivativeTable", "derivative")):
            node = root.find(table)
            _resample(node, f"{prefix}Transaction", 1 if prefix == "nonDerivative" else 0, rng)
            _resample(node, f"{prefix}Holding", 0, rng)
        path = OUT_DIR / f"{i:05d}.xml"
        path.write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))
        paths.append(path)
    return paths


def edgartools_parser() -> Callable[[str], Any]:
    """edgartools' Form 4 parser with its per-owner network look-up stubbed out (see the docstring)."""
    import edgar.ownership.owners as owners
    from edgar.ownership import Form4

    class OfflineEntity:
        def __init__(self, cik: int) -> None:
            self.data = types.SimpleNamespace(is_company=False)

    owners.Entity = OfflineEntity  # type: ignore[misc,assignment]
    return Form4.parse_xml


def _pass(parse: Callable[[Any], Any], inputs: list[Any], summary: Callable[[Any], tuple[int, int]],
          collect: bool) -> tuple[float, float, list[tuple[int, int]]]:
    """One pass over every input: (wall seconds, CPU seconds, per-document summary for the cross-check).

    Outputs are dropped as soon as they are summarised, as the pipeline's detect step does, so no
    pass pays for collecting objects another pass left behind. `collect=False` turns the garbage
    collector off while timing, as `timeit` does.
    """
    out = []
    gc.collect()
    if not collect:
        gc.disable()
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        for item in inputs:
            out.append(summary(parse(item)))
        return time.perf_counter() - wall, time.process_time() - cpu, out
    finally:
        gc.enable()


def _ours_summary(doc: Any) -> tuple[int, int]:
    return doc.issuer.cik, sum(t.table == "non_derivative" for t in doc.transactions)


def _theirs_summary(form: Any) -> tuple[int, int]:
    return int(form.issuer.cik), len(form.non_derivative_table.transactions)


def alternating(ours: Callable[[bytes], Any], theirs: Callable[[str], Any], raw: list[bytes], text: list[str],
                repeat: int, collect: bool) -> dict[str, float]:
    """Medians of `repeat` passes of each parser, taking turns pass by pass so load changes hit both alike."""
    totals: dict[str, list[float]] = {k: [] for k in ("ours_wall", "ours_cpu", "theirs_wall", "theirs_cpu")}
    for _ in range(repeat):
        w, c, mine = _pass(ours, raw, _ours_summary, collect)
        totals["ours_wall"].append(w)
        totals["ours_cpu"].append(c)
        w, c, other = _pass(theirs, text, _theirs_summary, collect)
        totals["theirs_wall"].append(w)
        totals["theirs_cpu"].append(c)
        assert mine == other, "the two parsers disagree on an issuer CIK or a transaction count"
    return {k: statistics.median(v) for k, v in totals.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()

    paths = generate(args.documents)
    raw = [p.read_bytes() for p in paths]
    text = [r.decode("utf-8") for r in raw]
    rows = sum(len(root.findall("nonDerivativeTable/*")) + len(root.findall("derivativeTable/*"))
               for root in map(DET.fromstring, raw))
    edgar_parse = edgartools_parser()
    edgar_parse(text[0])  # warm-up: imports and caches

    n = len(raw)
    size = sum(map(len, raw))
    table = Table(title=f"Form 4 parsing, {n:,} documents ({size / 2**20:.1f} MiB, {rows:,} table rows)")
    for col in ("garbage collector", "parser", "wall per pass", "per document", "documents/s", "CPU per pass"):
        table.add_column(col, justify="right" if col not in ("parser", "garbage collector") else "left")
    lines, ratios = [], {}
    for mode, collect in (("on (as in the pipeline)", True), ("off (as in timeit)", False)):
        med = alternating(parse_form4, edgar_parse, raw, text, args.repeat, collect)
        ratios[mode] = (med["theirs_wall"] / med["ours_wall"], med["theirs_cpu"] / med["ours_cpu"])
        for label, key in (("ours: parse_form4", "ours"), ("edgartools: Form4.parse_xml", "theirs")):
            seconds, cpu_seconds = med[f"{key}_wall"], med[f"{key}_cpu"]
            cells = (mode, label, f"{seconds:.3f} s", f"{seconds / n * 1e6:,.0f} us", f"{n / seconds:,.0f}",
                     f"{cpu_seconds:.3f} s")
            table.add_row(*cells)
            lines.append("| " + " | ".join(cells) + " |")
    console.print(table)
    # Where our time goes: the safe XML parse alone, and the stdlib C parser it cannot use.
    parts = {}
    for label, fn in (("guarded expat parse only (`parse_xml(plain=True)`)", lambda b: parse_xml(b, plain=True)),
                      ("stdlib C parser (`ET.fromstring`, no DTD/entity guards: not used)", ET.fromstring)):
        cpu_times = [_pass(fn, raw, lambda root: (0, 0), False)[1] for _ in range(args.repeat)]
        parts[label] = statistics.median(cpu_times)
    breakdown = [f"| {label} | {seconds / n * 1e6:,.0f} us |" for label, seconds in parts.items()]
    console.print("\n".join(breakdown))
    # CPU time decides: on a shared machine wall time swings with other processes' load.
    ratio = min(r[1] for r in ratios.values())
    verdict = "met" if ratio >= TARGET else "NOT met"
    summary = "; ".join(f"GC {mode}: {wall:.1f}x by wall time, {cpu:.1f}x by CPU time"
                        for mode, (wall, cpu) in ratios.items())
    console.print(f"ours is faster: {summary} (target {TARGET:.0f}x): {verdict}")

    import edgar

    report = [
        "# Form 4 parse benchmark",
        "",
        f"`benchmarks/form4_parse.py --documents {args.documents} --repeat {args.repeat}` on "
        f"{platform.machine()}, Python {platform.python_version()}, edgartools {edgar.__version__}.",
        "",
        f"Corpus: {n:,} ownership documents ({size / 2**20:.1f} MiB, {rows:,} table rows) generated under "
        "var/bench/form4/ from the five recorded Form 4 fixtures, with CIKs, names, share counts, prices, "
        "dates and row counts (each kind of row resampled between none, or one non-derivative transaction, and "
        "twice the template's count) varied. Both parsers read the same "
        "files from memory in the same process; each file's issuer CIK and non-derivative transaction count "
        "agree between them.",
        "",
        "| garbage collector | parser | wall time per pass | per document | documents/s | CPU time per pass |",
        "|---|---|---:|---:|---:|---:|",
        *lines,
        "",
        f"Ours is faster: {summary}. Target: at least {TARGET:.0f}x by CPU time in both modes (wall time "
        f"swings with the load of other processes on this shared machine): **{verdict}**. "
        f"Medians of {args.repeat} passes of each parser over the whole corpus, the parsers taking turns pass "
        "by pass; each output is dropped once summarised, as the detect step does.",
        "",
        "Where our time goes (CPU time per document, garbage collector off):",
        "",
        "| step | per document |",
        "|---|---:|",
        *breakdown,
        "",
        "Most of our time is the XML parse itself: expat with defusedxml's guards (any DTD, entity "
        "declaration or external reference refused) feeding the C TreeBuilder. The stdlib C parser is a "
        "little faster but cannot refuse a DTD, so it is not used for untrusted XML.",
        "",
        "edgartools' `Form4.parse_xml` looks up every reporting owner on data.sec.gov "
        "(`Entity(cik).data`, to decide whether to reverse a person's name); offline that raises "
        "`IdentityNotSetError`. The look-up was replaced by an offline stub that answers at once, so the "
        "edgartools figure is its XML parsing and table building only; with the network it would be slower.",
        "",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(report))
    console.print(f"wrote {args.out}")
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
