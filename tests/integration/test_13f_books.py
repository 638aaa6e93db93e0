"""`signals portfolio` and `signals holders` over stored 13F report versions, on PostgreSQL and on
SQLite (the embedded default): each manager's latest version as known on a day, a manager's book in
rank order with its closed positions last, and who holds a security."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from pipelines.core.db import session_factory
from pipelines.thirteenf.holders import holders
from pipelines.thirteenf.models import ThirteenFPositionChange, ThirteenFReport
from pipelines.thirteenf.portfolio import find_managers, latest_books, portfolio
from tests.support.csv_rows import expected_rows, read_csv
from tests.support.services import engine_env

REPO = Path(__file__).resolve().parents[2]
Q2, Q3 = date(2023, 6, 30), date(2023, 9, 30)


def _report(s: Any, cik: int, name: str, period: date, as_of: date, diffed: bool, rows: int, value: int) -> int:
    r = ThirteenFReport(cik=cik, manager_name=name, period=period, as_of=as_of, accession=f"{cik:010d}-{as_of:%y%m%d}",
                        sources=[f"{cik:010d}-{as_of:%y%m%d}"], rows=rows, value_usd=value, qualified=True,
                        prev_period=Q2 if diffed else None, diff_state="diffed" if diffed else "no_prior",
                        link=f"https://www.sec.gov/{cik}", created_at=datetime(2023, 12, 1, tzinfo=timezone.utc))
    s.add(r)
    s.flush()
    return r.id


def _change(s: Any, report: int, cusip: str, status: str, prev: int, cur: int, rank: int | None, weight: float,
            ticker: str | None = None) -> None:
    s.add(ThirteenFPositionChange(
        report_id=report, cusip=cusip, put_call="", title_of_class="COM", sh_prn_type="SH", name_of_issuer=cusip,
        ticker=ticker, mapped=ticker is not None, status=status, shares_prev=prev, shares_cur=cur,
        value_prev_usd=prev * 10, value_cur_usd=cur * 10, weight_cur=weight, rank_cur=rank, rows_cur=int(cur > 0)))


@pytest.fixture
def url(either_db: str) -> str:
    with session_factory(either_db)() as s:
        _report(s, 1, "Alpha Capital", Q2, date(2023, 8, 14), False, 2, 3000)
        first = _report(s, 1, "Alpha Capital", Q3, date(2023, 11, 14), True, 2, 3000)
        for args in (("BBB000002", "new", 0, 100, 2, 1 / 3), ("AAA000001", "increased", 100, 200, 1, 2 / 3, "AAA"),
                     ("CCC000003", "closed", 150, 0, None, 0.0), ("DDD000004", "closed", 50, 0, None, 0.0)):
            _change(s, first, *args)  # type: ignore[arg-type]
        amended = _report(s, 1, "Alpha Capital", Q3, date(2023, 11, 20), True, 3, 4000)
        for args in (("EEE000005", "new", 0, 100, 3, 0.25), ("AAA000001", "increased", 100, 200, 1, 0.5, "AAA"),
                     ("BBB000002", "new", 0, 100, 2, 0.25)):
            _change(s, amended, *args)  # type: ignore[arg-type]
        beta = _report(s, 2, "Beta Partners", Q3, date(2023, 11, 15), True, 1, 500)
        _change(s, beta, "AAA000001", "decreased", 80, 50, 1, 1.0, "AAA")
        s.commit()
    return either_db


def test_books_portfolios_and_holders(url: str, tmp_path: Path) -> None:
    with session_factory(url)() as s:
        assert find_managers(s, "0000000001") == [(1, "Alpha Capital")]  # a CIK, zero-padded as EDGAR writes it
        assert find_managers(s, "PART") == [(2, "Beta Partners")] and len(find_managers(s, "a")) == 2
        assert [(r.cik, r.as_of) for r in latest_books(s, date(2023, 11, 16))] == [
            (1, date(2023, 11, 14)), (2, date(2023, 11, 15))]
        assert [(r.cik, r.as_of) for r in latest_books(s, date(2023, 11, 21))][0] == (1, date(2023, 11, 20))
        assert [(r.cik, r.period) for r in latest_books(s, date(2023, 9, 1))] == [(1, Q2)]

        book = portfolio(s, 1, as_of=date(2023, 11, 16))
        assert book is not None and book.report.as_of == date(2023, 11, 14)
        # Held by rank, then the closed ones, larger before smaller.
        assert [c.cusip for c in book.positions] == ["AAA000001", "BBB000002", "CCC000003", "DDD000004"]
        assert book.value_prev_usd == 3000 and book.top_weight(1) == pytest.approx(2 / 3)
        assert [c.cusip for c in portfolio(s, 1, as_of=date(2023, 11, 21)).positions] == [  # type: ignore[union-attr]
            "AAA000001", "BBB000002", "EEE000005"]
        before = portfolio(s, 1, period=Q2, as_of=date(2023, 11, 21))
        assert before is not None and before.report.diff_state == "no_prior" and before.positions == []
        assert portfolio(s, 2, as_of=date(2023, 11, 14)) is None

        quarter, found = holders(s, "aaa", as_of=date(2023, 11, 16))
        assert quarter == Q3 and [(h.cik, h.change.status) for h in found] == [(1, "increased"), (2, "decreased")]

    env = engine_env(url, tmp_path, COLUMNS="160")
    proc = subprocess.run([sys.executable, "-m", "workers.cli", "portfolio", "--as-of", "2023-11-21", "--json"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert [(b["manager"], b["version_as_of"]) for b in json.loads(proc.stdout)["managers"]] == [
        ("Alpha Capital", "2023-11-20"), ("Beta Partners", "2023-11-15")]
    proc = subprocess.run([sys.executable, "-m", "workers.cli", "portfolio", "alpha", "--as-of", "2023-11-16",
                           "--moves", "--json"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [(p["cusip"], p["status"], p["rank_cur"]) for p in doc["positions"]] == [
        ("AAA000001", "increased", 1), ("BBB000002", "new", 2), ("CCC000003", "closed", None),
        ("DDD000004", "closed", None)]

    # --csv: the same records, a row each, each with the manager and quarter the document gives once.
    def csv_of(*args: str) -> list[dict[str, str]]:
        out = subprocess.run([sys.executable, "-m", "workers.cli", *args, "--csv"], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return read_csv(out.stdout)

    book = {k: doc[k] for k in ("cik", "manager", "period", "prev_period", "as_of", "version_as_of", "accession")}
    positions = csv_of("portfolio", "alpha", "--as-of", "2023-11-16", "--moves")
    assert positions == expected_rows(doc["positions"], book) and positions[0]["weight_cur"] == repr(2 / 3)
    managers = csv_of("portfolio", "--as-of", "2023-11-21")
    assert [(m["as_of"], m["manager"], m["qualified"]) for m in managers] == [
        ("2023-11-21", "Alpha Capital", "true"), ("2023-11-21", "Beta Partners", "true")]
    proc = subprocess.run([sys.executable, "-m", "workers.cli", "holders", "AAA", "--as-of", "2023-11-16", "--json"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    held = json.loads(proc.stdout)
    holder_rows = csv_of("holders", "AAA", "--as-of", "2023-11-16")
    assert holder_rows == expected_rows(held["holders"], {"security": "AAA", "period": "2023-09-30",
                                                          "as_of": "2023-11-16"})
    assert [r["manager"] for r in holder_rows] == ["Alpha Capital", "Beta Partners"]
    out = subprocess.run([sys.executable, "-m", "workers.cli", "holders", "AAA", "--json", "--csv"], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "not allowed with argument" in out.stderr  # one format or the other
