"""Form 4 freshness: from a filing appearing in the feed to its alert at the Slack webhook.

A real Celery worker (queues pipeline.insider_form4 and alerts) and RedBeat run insider_form4 every
minute (FORM4_CADENCE_MINUTES=1, window 00:00-23:59) against a private Redis and PostgreSQL. A
local server stands in for www.sec.gov and for the Slack webhook. Every minute the benchmark
publishes a few filings at random moments: each one is an Atom entry pair (Reporting, Issuer) built
from the recorded getcurrent fixture's entries, plus a folder listing and an ownership XML built
from the recorded Telos Form 4 (a new issuer per filing, trades dated today, a chief executive
buying just over $1M), which scores at the real-time threshold (5.0) so Slack gets it at once.
Latency is from the moment the entry appears in the feed to the moment the webhook receives the
alert naming that accession.

Target: median at most the poll interval plus 5 s (65 s). A filing appears at a uniformly random
moment, so the expected median is about half the interval plus the run and delivery time.

The store is seeded with one parsed filing four years old, so the routine/opportunistic test has
the history depth it needs (it then finds no earlier purchases: opportunistic, +1).

Usage: .venv/bin/python benchmarks/form4_freshness.py [--minutes 3] [--per-minute 4]
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from pipelines import PRODUCT_MODULES  # noqa: E402
from pipelines.core import migrate  # noqa: E402
from pipelines.core.db import session_factory  # noqa: E402
from pipelines.form4.store import Form4Filing  # noqa: E402
from tests.conftest import SHARED  # noqa: E402
from tests.support import services  # noqa: E402
from tests.support.http_server import Answer, LocalHttpServer, Request  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "form4_freshness.md"
FEED = SHARED / "fixtures" / "edgar_index" / "getcurrent_page2_form4_and_4A_entries_only.atom"
TELOS = SHARED / "fixtures" / "edgar_form4" / "form4_telos_P_purchase_single_owner_X0407.xml"
ET = ZoneInfo("America/New_York")
POLL_SECONDS = 60
TARGET = POLL_SECONDS + 5
console = Console()


class Upstream(LocalHttpServer):
    """www.sec.gov (getcurrent, filing folders) and the Slack webhook, served from memory."""

    def __init__(self) -> None:
        text = FEED.read_bytes().decode("iso-8859-1")
        first = text.index("<entry>")
        self.header = text[:first]
        # The recorded pair for accession 0000080661-26-000008: Callahan (Reporting), PROGRESSIVE (Issuer).
        self.pair = "".join(re.findall(r"<entry>.*?</entry>\n", text, flags=re.DOTALL)[:2])
        self.entries: list[str] = []  # newest first
        self.docs: dict[str, tuple[str, bytes]] = {}
        self.published: dict[str, float] = {}
        self.received: dict[str, float] = {}
        self.lock = threading.Lock()
        super().__init__(self.answer)

    def answer(self, request: Request) -> Answer:
        if request.method == "POST":  # the Slack webhook: the first alert naming an accession ends its wait
            alert = request.body.decode("utf-8", "replace")
            now = time.time()
            with self.lock:
                for acc in self.published:
                    if acc in alert:
                        self.received.setdefault(acc, now)
            return 200, b"ok", None
        status, body = self.get(request.path)
        return status, body, None

    def get(self, path: str) -> tuple[int, bytes]:
        with self.lock:
            if path == "/cgi-bin/browse-edgar":
                return 200, (self.header + "".join(self.entries) + "</feed>\n").encode("iso-8859-1")
            match = re.fullmatch(r"/Archives/edgar/data/\d+/(\d{18})/(.+)", path)
            if match and match[1] in self.docs:
                name, body = self.docs[match[1]]
                if match[2] == "index.json":
                    listing = f'{{"directory": {{"item": [{{"name": "{name}", "type": "text.gif"}}]}}}}'
                    return 200, listing.encode()
                if match[2] == name:
                    return 200, body
        return 404, b"Not Found"

    def publish(self, n: int, today: date) -> str:
        """Put filing number `n` in the feed (entry pair, folder listing, XML); returns its accession."""
        acc = f"0009999999-26-{n:06d}"
        nodash = acc.replace("-", "")
        issuer_cik, owner_cik = 1_900_000 + n, 2_900_000 + n
        ticker = "".join(random.Random(n).choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ", k=4))
        now = datetime.now(ET).replace(microsecond=0)
        issuer_name = f"BENCHMARK ISSUER {n} INC"
        entry_swaps = (
            ("0000080661-26-000008", acc), ("000008066126000008", nodash),
            ("Callahan Patrick K", f"Benchmark Owner {n}"), ("(0001638126)", f"({owner_cik:010d})"),
            ("/data/1638126/", f"/data/{owner_cik}/"), ("PROGRESSIVE CORP/OH/", issuer_name),
            ("(0000080661)", f"({issuer_cik:010d})"), ("/data/80661/", f"/data/{issuer_cik}/"),
            ("2026-01-12T10:51:42-05:00", now.isoformat()), ("2026-01-12", today.isoformat()),
        )
        pair = self.pair
        for old, new in entry_swaps:
            pair = pair.replace(old, new)
        xml_swaps = (
            ("0000320121", f"{issuer_cik:010d}"), ("TELOS CORP", issuer_name),
            ("<issuerTradingSymbol>TLS<", f"<issuerTradingSymbol>{ticker}<"), ("0001831624", f"{owner_cik:010d}"),
            ("<isOfficer>0<", "<isOfficer>1<"),
            ("<officerTitle></officerTitle>", "<officerTitle>Chief Executive Officer</officerTitle>"),
            ("2023-05-12", today.isoformat()), ("<value>84603<", "<value>169206<"), ("<value>84602<", "<value>169204<"),
        )
        xml = TELOS.read_bytes()
        for old, new in xml_swaps:
            xml = xml.replace(old.encode(), new.encode())
        with self.lock:
            self.docs[nodash] = (f"form4-{n}.xml", xml)
            self.entries.insert(0, pair)
            self.published[acc] = time.time()
        return acc


def start(env: dict[str, str], work: Path, name: str, *args: str) -> subprocess.Popen[bytes]:
    log = open(work / f"{name}.log", "wb")
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "workers.app", *args], cwd=REPO, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=10)


def wait_for_log(work: Path, name: str, needle: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in (work / f"{name}.log").read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{name} did not start:\n" + (work / f"{name}.log").read_text(errors="replace")[-3000:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=3, help="minutes during which filings are published")
    parser.add_argument("--per-minute", type=int, default=4, help="filings published at random moments per minute")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="form4-freshness-"))
    redis_server = services.PrivateRedis(work)
    services.REDIS_BASE = redis_server.url
    db_url = services.create_database()
    try:
        upstream = measure(args, work, db_url)
    finally:
        services.drop_database(db_url)
        redis_server.stop()
    return report(args, upstream, work)


def measure(args: argparse.Namespace, work: Path, db_url: str) -> Upstream:
    """Start the stack, publish filings minute by minute, wait for their alerts; the server keeps the times."""
    upstream = Upstream()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        migrate.upgrade(db_url)
        today = datetime.now(ET).date()
        with session_factory(db_url).begin() as session:
            session.add(Form4Filing(accession="0009999999-22-000000", form_type="4", issuer_cik=1,
                                    listed_ciks=[1], folder_cik=1, company="history depth marker",
                                    filed=today - timedelta(days=4 * 366), discovered_by="index", state="parsed",
                                    attempts=0))
        modules = "" if "pipelines.insider_form4" in PRODUCT_MODULES else "pipelines.insider_form4"
        env = services.engine_env(db_url, work, PIPELINE_MODULES=modules,
                                  SEC_USER_AGENT="Signals Bench ops@signals.example", SEC_WWW_BASE_URL=upstream.url,
                                  SEC_DATA_BASE_URL=upstream.url,
                                  FORM4_CADENCE_MINUTES="1", FORM4_WINDOW="00:00-23:59",
                                  FORM4_MARKET_CADENCE_MINUTES="1", SLACK_ENABLED="true",
                                  SLACK_WEBHOOK_URL=f"{upstream.url}/slack-webhook", SLACK_MAX_PER_SECOND="20",
                                  CONSOLE_ALERTS_ENABLED="false", LOG_LEVEL="INFO",
                                  PROMETHEUS_MULTIPROC_DIR=str(work / "metrics"))
        (work / "metrics").mkdir(exist_ok=True)
        procs.append(start(env, work, "worker", "worker", "-Q", "pipeline.insider_form4,alerts", "-c", "2",
                           "--without-mingle", "--without-gossip", "--loglevel", "INFO"))
        wait_for_log(work, "worker", "ready.")
        procs.append(start(env, work, "beat", "beat", "--loglevel", "INFO"))
        rng = random.Random(4)
        n = 0
        started = time.time()
        console.print(f"publishing {args.per_minute} filing(s) a minute for {args.minutes} minute(s)")
        for minute in range(args.minutes):
            moments = sorted(rng.uniform(0, POLL_SECONDS) for _ in range(args.per_minute))
            for at in moments:
                time.sleep(max(0.0, started + minute * POLL_SECONDS + at - time.time()))
                n += 1
                upstream.publish(n, today)
        deadline = time.time() + POLL_SECONDS + 60
        while time.time() < deadline and len(upstream.received) < len(upstream.published):
            time.sleep(0.5)
    finally:
        for proc in reversed(procs):
            stop(proc)
        upstream.close()
    return upstream


def report(args: argparse.Namespace, upstream: Upstream, work: Path) -> int:
    latencies = {acc: upstream.received[acc] - t0 for acc, t0 in upstream.published.items()
                 if acc in upstream.received}
    missing = sorted(set(upstream.published) - set(latencies))
    values = sorted(latencies.values())
    if not values:
        console.print(f"[red]no alert reached the webhook[/red]; logs in {work}")
        return 1
    med = statistics.median(values)
    p90 = values[min(len(values) - 1, int(round(0.9 * (len(values) - 1))))]
    table = Table(title=f"Form 4 freshness: feed -> Slack, {len(values)} of {len(upstream.published)} filings")
    for col in ("poll interval", "median", "p90", "min", "max", "target (median)"):
        table.add_column(col, justify="right")
    cells = (f"{POLL_SECONDS} s", f"{med:.1f} s", f"{p90:.1f} s", f"{values[0]:.1f} s", f"{values[-1]:.1f} s",
             f"<= {TARGET} s")
    table.add_row(*cells)
    console.print(table)
    verdict = "met" if med <= TARGET and not missing else "NOT met"
    console.print(f"median {med:.1f} s (target <= {TARGET} s): {verdict}"
                  + (f"; no alert for {missing}" if missing else ""))
    report = [
        "# Form 4 freshness benchmark",
        "",
        f"`benchmarks/form4_freshness.py --minutes {args.minutes} --per-minute {args.per_minute}` on "
        f"{platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} CPU(s).",
        "",
        "A Celery worker (queues `pipeline.insider_form4`, `alerts`; concurrency 2) and RedBeat run insider_form4 "
        "every minute (FORM4_CADENCE_MINUTES=1) on a private Redis and PostgreSQL. Filings appear in a locally "
        "served getcurrent feed at random moments (entries built from the recorded feed's entry pair, documents "
        "from the recorded Telos Form 4 with a new issuer, today's date and a CEO buying just over $1M, which "
        "scores at the real-time threshold). Latency: from the entry appearing in the feed to the Slack webhook "
        "receiving the alert that names its accession.",
        "",
        "| poll interval | filings | median | p90 | min | max | target (median) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {POLL_SECONDS} s | {len(values)} of {len(upstream.published)} | {med:.1f} s | {p90:.1f} s | "
        f"{values[0]:.1f} s | {values[-1]:.1f} s | <= {TARGET} s |",
        "",
        f"Median **{med:.1f} s** against a target of the poll interval plus 5 s ({TARGET} s): **{verdict}**."
        + (f" No alert arrived for {', '.join(missing)}." if missing else ""),
        "",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(report))
    console.print(f"wrote {args.out}")
    if verdict == "met":
        shutil.rmtree(work, ignore_errors=True)
        return 0
    console.print(f"worker and beat logs kept in {work}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
