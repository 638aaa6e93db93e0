"""`signals timeline`: a ticker's signals from every pipeline, each event once as its latest run scored
it, newest event first, with the reasons; through the real command line, on PostgreSQL and on the
embedded SQLite."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pipelines.core.db import session_factory
from pipelines.core.ledger import PipelineRun
from pipelines.core.signal_models import Signal
from tests.support.csv_rows import expected_rows, read_csv
from tests.support.services import engine_env

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 2, 15, 0, tzinfo=timezone.utc)


def _signal(run_id: int | None, pipeline: str, signal_type: str, event_key: str, ticker: str | None, score: float,
            event_time: datetime | None, title: str, **extra: Any) -> Signal:
    values: dict[str, Any] = dict(
        run_id=run_id, pipeline=pipeline, signal_type=signal_type, event_key=event_key, ticker=ticker,
        company=f"{ticker} Inc", score=score, tier="high" if score >= 7 else "info", title=title,
        summary=title + " (summary)", components=[{"name": "size", "value": score / 2, "explanation": "why " + title},
                                                  {"name": "recency", "value": score / 2, "explanation": None}],
        links=[{"label": "filing", "url": "https://www.sec.gov/x"}], details={"k": 1}, event_time=event_time,
        detected_at=T0 + timedelta(days=3), held=False, hold_reason=None, alert_state="queued")
    values.update(extra)
    return Signal(**values)


def _seed(url: str) -> None:
    with session_factory(url)() as s:
        runs = []
        for n in range(2):
            run = PipelineRun(pipeline="insider_form4", trigger="manual", state="success",
                              data_interval_start=T0 + timedelta(hours=n),
                              data_interval_end=T0 + timedelta(hours=n + 1))
            s.add(run)
            s.flush()
            runs.append(run.id)
        s.add_all([
            # the same Form 4 event scored twice: a replay rescored it lower; the timeline shows 6.0
            *(_signal(run, "insider_form4", "insider_cluster_buy", "0001-26-1", "ACME", score, T0,
                      "Cluster buy at ACME") for run, score in zip(runs, (8.0, 6.0), strict=True)),
            _signal(None, "hiring", "hiring_velocity", "gh:acme:2026-11-05", "ACME", 2.0, None,
                    "Hiring up: ACME [R&D] \x1b[31m", held=True, alert_state="held",
                    hold_reason="context signal: below the large-change threshold"),
            _signal(None, "clinical_trials", "trial_status", "NCT1:status", "ACME", 7.5, T0 - timedelta(days=20),
                    "Trial NCT1 suspended"),
            _signal(None, "institutional_13f", "13f_breadth", "2026Q3:OTHR", "OTHR", 5.0, T0 - timedelta(days=1),
                    "Three new holders of OTHR"),
        ])
        s.commit()


def signals(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = engine_env(url, tmp_path, COLUMNS="160")
    return subprocess.run([sys.executable, "-m", "workers.cli", "timeline", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def test_timeline_of_a_ticker_and_of_all(either_db, tmp_path: Path) -> None:
    url = either_db
    _seed(url)
    out = signals(url, tmp_path, "acme", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    # Newest event first; the hiring signal has no event time, so its detection time places it.
    assert [(r["pipeline"], r["score"]) for r in rows] == [
        ("hiring", 2.0), ("insider_form4", 6.0), ("clinical_trials", 7.5)]
    hiring = rows[0]
    assert hiring["alert_state"] == "held" and hiring["hold_reason"].startswith("context signal")
    assert hiring["components"][0] == {"name": "size", "value": 1.0,
                                       "explanation": "why Hiring up: ACME [R&D] \x1b[31m"}
    assert rows[1]["event_time"] == T0.isoformat()

    every = json.loads(signals(url, tmp_path, "--json").stdout)
    # --csv: the same records, a row each; components, links and details as compact JSON.
    assert read_csv(signals(url, tmp_path, "--csv").stdout) == expected_rows(every)
    assert [r["ticker"] for r in every] == ["ACME", "ACME", "OTHR", "ACME"]
    assert [r["ticker"] for r in json.loads(signals(url, tmp_path, "--json", "--min-score", "5").stdout)] == [
        "ACME", "OTHR", "ACME"]
    assert [r["pipeline"] for r in json.loads(signals(url, tmp_path, "--json", "--pipeline", "hiring").stdout)] == [
        "hiring"]
    clusters = json.loads(signals(url, tmp_path, "--json", "--type", "insider_cluster_buy").stdout)
    assert [(r["signal_type"], r["score"]) for r in clusters] == [("insider_cluster_buy", 6.0)]
    assert [r["ticker"] for r in json.loads(signals(url, tmp_path, "--json", "--type", "INSIDER_CLUSTER_BUY",
                                                    "--type", "13f_breadth").stdout)] == ["ACME", "OTHR"]
    assert json.loads(signals(url, tmp_path, "--json", "--type", "insider_sale").stdout) == []
    since = json.loads(signals(url, tmp_path, "--json", "--since", "2026-11-01", "--until", "2026-11-04").stdout)
    assert [r["pipeline"] for r in since] == ["insider_form4", "institutional_13f"]


def test_timeline_table_shows_reasons_and_outside_text_as_written(either_db, tmp_path: Path) -> None:
    url = either_db
    _seed(url)
    out = signals(url, tmp_path, "ACME", "--why")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "ACME: 3 signal(s)" in text
    assert "\x1b" not in text  # the title's ESC is shown as \x1b, not sent
    assert "Hiring up: ACME [R&D] \\x1b[31m" in text
    assert "held: context signal: below the large-change threshold" in text and " alert " in text
    assert "+3.75 size: why Trial NCT1 suspended" in text and "+3.75 recency" in text
    # Event times in the schedule zone: 15:00 UTC on 2 November is 10:00 in New York.
    assert "2026-11-02 10:00" in text
