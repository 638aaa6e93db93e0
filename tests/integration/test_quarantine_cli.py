"""`signals quarantine` / `quarantine-show`: the kept bad records listed and filtered, one shown in full,
its raw payload given back byte for byte; through the real command line, on PostgreSQL and SQLite."""
from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pipelines.core.db import session_factory
from pipelines.core.ledger import PipelineRun, QuarantinedRecord
from tests.support.csv_rows import expected_rows, read_csv
from tests.support.services import engine_env

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 20, 23, 0, tzinfo=timezone.utc)
ZIP_ISH = b"PK\x03\x04\x00\xff\xfe binary \r\n\x00 payload"  # not UTF-8: must come back unchanged
TABLE = "<informationTable><infoTable><value>12x</value></infoTable></informationTable>".encode()


def _seed(url: str) -> tuple[int, list[int]]:
    with session_factory(url)() as s:
        run = PipelineRun(pipeline="institutional_13f", trigger="schedule", state="success",
                          data_interval_start=T0, data_interval_end=T0 + timedelta(days=1))
        s.add(run)
        s.flush()
        records = [
            QuarantinedRecord(run_id=None, pipeline="patent_ip", step="extraction", source="orange_book",
                              record_key="EOBZIP_2026_10.zip", error="not a ZIP file", raw=ZIP_ISH,
                              created_at=T0 - timedelta(days=10)),
            QuarantinedRecord(run_id=run.id, pipeline="institutional_13f", step="detect", source="edgar.13f",
                              record_key="0001067983-23-000012 row 1",
                              error="13F filing 0001067983-23-000012: row 1: value '12x' is not a whole number\n"
                                    "second line [/] \x1b[2J", raw=TABLE, created_at=T0),
            QuarantinedRecord(run_id=run.id, pipeline="institutional_13f", step="detect", source="edgar.13f",
                              record_key="0001067983-23-000013", error="table has 3 rows, cover says 4",
                              raw=b"<x/>", created_at=T0 + timedelta(minutes=1)),
        ]
        s.add_all(records)
        s.commit()
        return run.id, [r.id for r in records]


def signals(url: str, tmp_path: Path, *args: str, binary: bool = False) -> subprocess.CompletedProcess:
    env = engine_env(url, tmp_path, COLUMNS="160")
    return subprocess.run([sys.executable, "-m", "workers.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=not binary, timeout=60)


def test_quarantine_lists_filters_and_gives_the_payload_back(either_db, tmp_path: Path) -> None:
    url = either_db
    run_id, (zip_id, row_id, cover_id) = _seed(url)
    listed = json.loads(signals(url, tmp_path, "quarantine", "--json").stdout)
    assert [r["id"] for r in listed] == [cover_id, row_id, zip_id]
    assert read_csv(signals(url, tmp_path, "quarantine", "--csv").stdout) == expected_rows(listed)
    assert listed[1] == {"id": row_id, "created_at": T0.isoformat(), "run_id": run_id,
                         "pipeline": "institutional_13f", "step": "detect", "source": "edgar.13f",
                         "record_key": "0001067983-23-000012 row 1", "error": listed[1]["error"],
                         "raw_bytes": len(TABLE)}
    assert [r["id"] for r in json.loads(signals(url, tmp_path, "quarantine", "--json", "--run", str(run_id)).stdout)] \
        == [cover_id, row_id]
    assert [r["id"] for r in json.loads(
        signals(url, tmp_path, "quarantine", "--json", "--pipeline", "patent_ip").stdout)] == [zip_id]
    assert [r["id"] for r in json.loads(
        signals(url, tmp_path, "quarantine", "--json", "--since", "2026-11-15", "--limit", "1").stdout)] == [cover_id]

    raw = signals(url, tmp_path, "quarantine-show", str(zip_id), "--raw", binary=True)
    assert raw.returncode == 0 and raw.stdout == ZIP_ISH
    shown = json.loads(signals(url, tmp_path, "quarantine-show", str(zip_id), "--json").stdout)
    assert base64.b64decode(shown["raw_base64"]) == ZIP_ISH
    assert shown["raw_sha256"] == hashlib.sha256(ZIP_ISH).hexdigest() and shown["error"] == "not a ZIP file"

    missing = signals(url, tmp_path, "quarantine-show", "999999")
    assert missing.returncode == 2 and "no quarantined record 999999" in missing.stderr


def test_quarantine_table_and_record_show_errors_as_written(either_db, tmp_path: Path) -> None:
    url = either_db
    _, (_, row_id, _) = _seed(url)
    table = signals(url, tmp_path, "quarantine")
    assert table.returncode == 0, table.stderr
    assert "3 quarantined record(s)" in table.stdout
    flat = " ".join(table.stdout.split())  # the error column may wrap
    assert "value '12x' is not a whole number" in flat and "second line" not in flat  # its first line only
    one = signals(url, tmp_path, "quarantine-show", str(row_id))
    assert one.returncode == 0, one.stderr
    assert "\x1b" not in one.stdout
    assert "second line [/] \\x1b[2J" in one.stdout
    assert f"raw payload: {len(TABLE)} bytes, sha256 {hashlib.sha256(TABLE).hexdigest()}" in one.stdout
