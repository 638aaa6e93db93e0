"""Alert throughput: scored signals through dedup and the outbox to a webhook, against plain HTTP posts.

Both sides post to the same local webhook sink (a separate process: http.server, HTTP/1.1
keep-alive, answering "ok" like Slack), in the same run, on PostgreSQL and a private Redis:

- outbox: `record_signals` in score-step transactions of --chunk signals (signal row, dedup
  decision, outbox row) and then `deliver_all` (claim with FOR UPDATE SKIP LOCKED, Redis lease
  per alert, Redis rate limiter with SLACK_MAX_PER_SECOND raised, render, POST, sent marker,
  batched write-back), through the real SlackChannel;
- plain: a loop of `requests.Session().post(url, json=payload)` with the same Slack payloads,
  rendered before the clock starts.

The signals are synthetic (generated here, one distinct event each so none is deduplicated
away); every run checks that the sink received exactly one POST per alert. The two sides take
turns every --chunk alerts, so load from elsewhere on the machine hits both alike; the medians
of --repeat runs are reported.

Target: >= 500 alerts/s through the outbox, and outbox time <= 2x the plain posts.

    python -m benchmarks.alerts_throughput [--alerts 4000] [--repeat 3] [--chunk 500]
"""
from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import redis
import requests
from rich.console import Console
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from notifications.channels.slack import webhook_session
from notifications.message import AlertMessage, Link, ScoreComponent
from notifications.outbox import deliver_all
from notifications.render_chat import render_slack
from pipelines.core import migrate
from pipelines.core.db import get_engine, session_factory
from pipelines.core.ledger import PipelineRun
from pipelines.core.model import StepContext
from pipelines.core.settings import Settings, load_settings
from pipelines.core.signal_models import AlertDedup
from pipelines.core.signals import SignalRecord, record_signals
from tests.support.services import PrivateRedis, create_database, drop_database

console = Console()
TARGET_RATE = 500.0
TARGET_RATIO = 2.0
WEBHOOK_PATH = "/services/TBENCH/BBENCH/bench"


# ---------------------------------------------------------------- the sink (runs in its own process)

def serve_sink() -> None:
    """Answer every POST with 200 "ok" over keep-alive; GET /count returns how many POSTs arrived."""
    count = 0

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle on, the body waits for the client's
        # delayed ACK (40 ms) on every request.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            nonlocal count
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            count += 1
            self._answer(b"ok")

        def do_GET(self) -> None:
            self._answer(str(count).encode())

        def _answer(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


def start_sink() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.alerts_throughput", "--sink"], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    return proc, f"http://127.0.0.1:{port}"


def sink_count(url: str) -> int:
    return int(requests.get(url + "/count", timeout=10).text)


# ---------------------------------------------------------------- synthetic signals

TICKERS = [f"T{i:03d}" for i in range(400)]


def make_records(n: int, tag: str, rng: random.Random) -> list[SignalRecord]:
    """n distinct insider-style signals scored 7.0-8.9 (Slack only in this benchmark's routing)."""
    base = datetime(2025, 3, 3, 20, 45, tzinfo=UTC)
    out = []
    for i in range(n):
        ticker = rng.choice(TICKERS)
        value = round(rng.uniform(7.0, 8.9), 2)
        out.append(SignalRecord(
            signal_type="insider_cluster_buy", event_key=f"bench-{tag}-{i:07d}", score=value,
            title=f"Synthetic benchmark signal {i}: {rng.randint(2, 5)} insiders bought", summary="benchmark record",
            ticker=ticker, company=f"{ticker} Benchmark Corp",
            components=(ScoreComponent("Cluster of buyers", 3.0, "synthetic"),
                        ScoreComponent("Purchase size", round(value - 3.0, 2), "synthetic")),
            links=(Link("Form 4 filing", f"https://www.sec.gov/Archives/edgar/data/{i}/bench.xml"),),
            event_time=base - timedelta(minutes=i)))
    return out


def plain_payloads(records: list[SignalRecord]) -> list[dict]:
    """The Slack payloads the outbox sends for these records (first generation), rendered up front."""
    now = datetime.now(UTC)
    return [render_slack(AlertMessage(
        alert_id=f"{r.dedup_key}|g1", kind="signal", tier="high", pipeline="bench", title=r.title,
        summary=r.summary, signal_type=r.signal_type, ticker=r.ticker or "", company=r.company or "",
        score=r.score, components=r.components, links=r.links, event_time=r.event_time, detected_at=now))
        for r in records]


# ---------------------------------------------------------------- the two sides

def run_plain(url: str, payloads: list[dict]) -> float:
    session = requests.Session()
    started = time.perf_counter()
    for payload in payloads:
        response = session.post(url + WEBHOOK_PATH, json=payload, timeout=30)
        response.raise_for_status()
    return time.perf_counter() - started


def bench_settings(db_url: str, redis_url: str, sink_url: str, work: Path) -> Settings:
    """Slack only, its rate limit raised out of the way (the limiter still runs for every alert)."""
    return load_settings(work / "absent.env").replace(
        DATABASE_URL=db_url, CELERY_BROKER_URL=redis_url, CONSOLE_ALERTS_ENABLED=False, EMAIL_ENABLED=False,
        SMS_ENABLED=False, SLACK_ENABLED=True, SLACK_WEBHOOK_URL=sink_url + WEBHOOK_PATH,
        SLACK_MAX_PER_SECOND=1_000_000.0, ALERT_HIGH_CHANNELS=["slack"], ALERT_CRITICAL_CHANNELS=["slack"],
        ALERT_REALTIME_CHANNELS=["slack"])


def record_all(settings: Settings, records: list[SignalRecord], chunk: int) -> float:
    """Seconds to record the signals in score-step transactions of `chunk` signals."""
    sessions = session_factory(settings.DATABASE_URL)
    started = time.perf_counter()
    for i in range(0, len(records), chunk):
        now = datetime.now(UTC)
        with sessions.begin() as session:
            run = PipelineRun(pipeline="bench", trigger="manual", data_interval_start=now, data_interval_end=now,
                              conf={}, state="running", counts={})
            session.add(run)
            session.flush()
            ctx = StepContext(run_id=run.id, pipeline="bench", step="score", data_interval_start=now,
                              data_interval_end=now, trigger="manual", conf={}, settings=settings, session=session,
                              artifacts=None, quarantine=lambda *a: None)
            record_signals(ctx, records[i:i + chunk])
    return time.perf_counter() - started


def run_outbox(settings: Settings, records: list[SignalRecord], chunk: int) -> tuple[float, float]:
    """(seconds recording, seconds delivering) for all records."""
    recording = record_all(settings, records, chunk)
    started = time.perf_counter()
    report = deliver_all(settings)
    delivering = time.perf_counter() - started
    if report.sent != len(records) or report.retry or report.failed:
        raise RuntimeError(f"outbox delivered {report} for {len(records)} alerts")
    return recording, delivering


def reset(db_url: str) -> None:
    with get_engine(db_url).begin() as conn:
        conn.execute(text("TRUNCATE alert_outbox, alert_dedup, signals, pipeline_runs RESTART IDENTITY CASCADE"))


def post_costs(url: str, payload: dict, n: int = 2000) -> dict[str, float]:
    """Milliseconds per POST of one payload: a default requests.Session (the plain loop's), and the
    session SlackChannel builds, whose proxy settings are resolved once instead of on every post."""
    sessions = {"POST, requests.Session() (the plain loop)": requests.Session(),
                "POST, SlackChannel's session (environment read once)": webhook_session(url + WEBHOOK_PATH)}
    totals = dict.fromkeys(sessions, 0.0)
    for _ in range(4):  # taking turns, so load from elsewhere hits both alike
        for name, session in sessions.items():
            started = time.perf_counter()
            for _ in range(n // 4):
                session.post(url + WEBHOOK_PATH, json=payload, timeout=30).raise_for_status()
            totals[name] += time.perf_counter() - started
    return {name: total / n * 1000 for name, total in totals.items()}


def statement_costs(db_url: str, redis_url: str, n: int = 3000) -> dict[str, float]:
    """Milliseconds per call, same run: a Redis round trip, a PostgreSQL round trip, a single-row ORM
    INSERT ... ON CONFLICT ... RETURNING (record_signals' former per-row statement), and the same rows
    as one executemany."""
    client = redis.Redis.from_url(redis_url)
    started = time.perf_counter()
    for _ in range(n):
        client.ping()
    costs = {"Redis round trip (PING)": (time.perf_counter() - started) / n * 1000}
    sessions = session_factory(db_url)
    table = AlertDedup.__table__
    now = datetime.now(UTC)

    def row(i: int) -> dict:
        return {"dedup_key": f"cost-{i}", "generation": 1, "window_started_at": now, "last_score": 7.0,
                "last_tier": "high", "suppressed": 0}

    def bare(session, rows: range) -> None:
        for _ in rows:
            session.execute(text("SELECT 1")).scalar()

    def orm_single(session, rows: range) -> None:
        for i in rows:
            stmt = postgresql.insert(AlertDedup).values(**row(i)).on_conflict_do_nothing(index_elements=["dedup_key"])
            session.execute(stmt.returning(AlertDedup.dedup_key)).scalar_one_or_none()

    def batched(session, rows: range) -> None:
        session.execute(postgresql.insert(table).on_conflict_do_nothing(index_elements=["dedup_key"]),
                        [row(i) for i in rows])

    for name, fn in (("PostgreSQL round trip (SELECT 1)", bare), ("single-row ORM insert", orm_single),
                     ("executemany insert, per row", batched)):
        with sessions.begin() as session:
            fn(session, range(200))  # warm the statement cache
        with sessions.begin() as session:
            started = time.perf_counter()
            fn(session, range(1000, 1000 + n))
            costs[name] = (time.perf_counter() - started) / n * 1000
        reset(db_url)
    return costs


def measure(settings: Settings, url: str, args: argparse.Namespace) -> dict[str, list[float]]:
    """Per repeat, the seconds each side took. The sides alternate every --chunk alerts, so a burst of
    load from elsewhere on the machine hits both alike."""
    rng = random.Random(20250303)
    warm = make_records(200, "warm", rng)
    run_outbox(settings, warm, args.chunk)  # warm-up: imports, pools, statement caches
    run_plain(url, plain_payloads(warm))
    times: dict[str, list[float]] = {"plain": [], "record": [], "deliver": []}
    for rep in range(args.repeat):
        reset(settings.DATABASE_URL)
        records = make_records(args.alerts, f"r{rep}", rng)
        payloads = plain_payloads(records)
        before = sink_count(url)
        plain = record = deliver = 0.0
        for i in range(0, len(records), args.chunk):
            plain += run_plain(url, payloads[i:i + args.chunk])
            recording, delivering = run_outbox(settings, records[i:i + args.chunk], args.chunk)
            record, deliver = record + recording, deliver + delivering
        for name, value in (("plain", plain), ("record", record), ("deliver", deliver)):
            times[name].append(value)
        received = sink_count(url) - before
        if received != 2 * args.alerts:
            raise RuntimeError(f"the sink received {received} posts, expected {2 * args.alerts}")
    return times


def report(n: int, repeat: int, chunk: int, times: dict[str, list[float]], costs: dict[str, float],
           out: Path) -> bool:
    plain, rec, dlv = (statistics.median(times[k]) for k in ("plain", "record", "deliver"))
    total = statistics.median([r + d for r, d in zip(times["record"], times["deliver"], strict=True)])

    def ms(seconds: float) -> str:
        return f"{seconds / n * 1000:.2f} ms"

    rows = [
        ("plain posts (requests.Session)", f"{plain:.2f} s", ms(plain), f"{n / plain:,.0f}/s", "1.00x", ""),
        ("record_signals (signal, dedup, outbox rows)", f"{rec:.2f} s", ms(rec), f"{n / rec:,.0f}/s",
         f"{rec / plain:.2f}x", ""),
        ("deliver_all (claim, lease, rate limit, send, write-back)", f"{dlv:.2f} s", ms(dlv), f"{n / dlv:,.0f}/s",
         f"{dlv / plain:.2f}x", ""),
        ("outbox end to end", f"{total:.2f} s", ms(total), f"{n / total:,.0f}/s", f"{total / plain:.2f}x",
         f">= {TARGET_RATE:.0f}/s, <= {TARGET_RATIO:.0f}x"),
    ]
    table = Table("path", "time", "per alert", "alerts/s", "vs plain", "target",
                  title=f"alerts throughput ({n:,} alerts, median of {repeat}, PostgreSQL, sink in its own process)")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    rate_met, ratio_met = n / total >= TARGET_RATE, total / plain <= TARGET_RATIO
    console.print(f"rate target {'met' if rate_met else 'NOT met'}, ratio target {'met' if ratio_met else 'NOT met'}")
    lines = ["| path | time | per alert | alerts/s | vs plain | target |", "|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    cost_lines = [f"| {name} | {value:.3f} ms |" for name, value in costs.items()]
    orm = costs["single-row ORM insert"]
    post_plain, post_slack = (costs[k] for k in costs if k.startswith("POST, "))
    why = [
        "",
        (f"Rate target (>= {TARGET_RATE:.0f} alerts/s end to end): {'met' if rate_met else 'NOT met'}. "
         f"Ratio target (<= {TARGET_RATIO:.0f}x the plain posts): {'met' if ratio_met else 'NOT met'}."),
        "",
        "Round trips and statements, measured in the same run:",
        "",
        "| call | cost |",
        "|---|---|",
        *cost_lines,
        "",
        (f"Delivery alone is {dlv / plain:.2f}x the plain posts. It makes the same `requests` POST through "
         "SlackChannel's kept-alive session, plus one Redis round trip per alert (one script that writes the "
         "previous alert's sent marker, takes the lease and a slot in the channel's rate window) and the "
         "Block Kit render; the database costs one claim (a CTE that locks due rows FOR UPDATE SKIP LOCKED "
         "and marks them, one statement) and one write-back (UPDATE ... FROM unnest(arrays)), each with its "
         "commit, per batch of 100 alerts. Part of the gap to the plain loop is made up by a cheaper POST, "
         "not a cheaper outbox: SlackChannel reads the environment's proxy settings once, where a default "
         f"requests.Session (the plain loop's) walks the environment on every post ({post_plain:.3f} ms "
         f"against {post_slack:.3f} ms per POST above). With its POSTs costed as the plain loop's (scaled by "
         f"that ratio), end to end would be about {(total + plain * (1 - post_slack / post_plain)) / plain:.2f}x."),
        "",
        (f"Recording takes {ms(rec)} per signal, {rec / plain:.2f}x a plain POST: `record_signals` "
         "(pipelines/core/signals.py) sends a few multi-row statements per score-step transaction whatever "
         "the number of signals: the signal rows, the new dedup rows and the outbox rows each as one "
         "INSERT ... SELECT FROM unnest(arrays) ... ON CONFLICT DO NOTHING RETURNING, the existing dedup rows "
         "locked by one SELECT ... FOR UPDATE (in key order) and written back by one UPDATE. The single-row "
         f"ORM insert above ({orm:.3f} ms) is what it paid per row before, three or more times per signal."),
    ]
    out.write_text(f"Measured {datetime.now(UTC):%Y-%m-%d} on this 2-core machine ({n:,} alerts per side, "
                   f"median of {repeat} runs, the two sides taking turns every {chunk} alerts; the machine is "
                   "shared with other jobs, so compare the ratios rather than the absolute figures):\n\n"
                   + "\n".join(lines + why) + "\n")
    return rate_met and ratio_met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=500, help="signals per score-step transaction")
    parser.add_argument("--sink", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "alerts_throughput.md"))
    args = parser.parse_args()
    if args.sink:
        serve_sink()
        return 0

    work = Path(tempfile.mkdtemp(prefix="signals-bench-alerts-"))
    redis_server = PrivateRedis(work)
    db_url = create_database()
    sink, url = start_sink()
    try:
        migrate.upgrade(db_url)
        settings = bench_settings(db_url, f"{redis_server.url}/0", url, work)
        times = measure(settings, url, args)
        costs = statement_costs(db_url, settings.CELERY_BROKER_URL)
        costs.update(post_costs(url, plain_payloads(make_records(1, "cost", random.Random(1)))[0]))
    finally:
        sink.terminate()
        sink.wait(timeout=10)
        redis_server.stop()
        get_engine(db_url).dispose()
        drop_database(db_url)
        shutil.rmtree(work, ignore_errors=True)
    return 0 if report(args.alerts, args.repeat, args.chunk, times, costs, Path(args.out)) else 1


if __name__ == "__main__":
    sys.exit(main())
