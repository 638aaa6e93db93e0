"""institutional_13f, hiring and insider_hiring_master run in-process on PostgreSQL against a local
HTTP server that serves the recorded payloads of ../shared/fixtures (EDGAR listings, 13F documents at
their filing paths, each job board).

Test-built inputs are made from the fixtures' own bytes and say so: a previous quarter for LTS One
(its Q3-2023 rows less iRhythm, plus one Berkshire row, MSFT and INTU share counts changed), two
amendments, cover pages for tables that have none, and submissions JSON in the recorded MSFT file's
shape listing these filings. Expected values are read from the fixture files, never from the code.
"""
from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import date, datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select, text

from pipelines.core.db import get_engine, session_factory
from pipelines.core.dispatch import Dispatcher
from pipelines.core.executor import run_locally
from pipelines.core.ledger import PipelineRun, QuarantinedRecord
from pipelines.core.registry import load_registry
from pipelines.core.runs import RunRequest
from pipelines.core.signal_models import AlertOutbox, Signal
from pipelines.jobboards.models import JobBoardPoll, JobPosting, JobPostingEvent
from pipelines.thirteenf.background_copy import BackgroundCopyError
from pipelines.thirteenf.models import ThirteenFFiling, ThirteenFHolding, ThirteenFPositionChange, ThirteenFReport
from pipelines.thirteenf.tickers import title_index
from tests.conftest import shared_fixture
from tests.support.csv_rows import expected_rows, read_csv
from tests.support.services import engine_env
from tests.support.infotables import field, ns1, split, with_value
from tests.integration.test_13f_diff_sql import diff_both_ways, snapshot

REPO = Path(__file__).resolve().parents[2]
OWN_TABLES = ("thirteenf_position_changes", "thirteenf_reports", "thirteenf_holdings", "thirteenf_filings",
              "job_posting_events", "job_board_polls", "job_postings")
UA = "Signals Test Suite ops@signals.example"
LTS, BRK, GSI = 1894188, 1067983, 1760076  # GSI: Global Strategic Investment Solutions, in the form index
ACC_Q3 = "0001894188-23-000007"  # the recorded LTS One filing
# Test-built filings (accession numbers in EDGAR's shape, not real ones):
ACC_Q2, ACC_A1, ACC_A2, ACC_BRK = ("0001894188-23-000005", "0001894188-23-000009", "0001894188-23-000010",
                                   "0001067983-23-000001")
ACC_GSI = "0001760076-20-000004"  # the form index row of GSI's 13F-HR
IRHYTHM, MSFT, INTU, CSX, ALLY, AAPL = "450056106", "594918104", "461202103", "126408103", "02005N100", "037833100"


# --- a local EDGAR / job-board server ------------------------------------------------------------------

class Server:
    def __init__(self) -> None:
        self.docs: dict[str, tuple[int, bytes]] = {}
        self.seen: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                path = urlsplit(self.path).path
                owner.seen.append(path)
                status, body = owner.docs.get(path, (404, b"Not Found"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def put(self, path: str, body: bytes, status: int = 200) -> None:
        self.docs[path] = (status, body)

    def filing(self, cik: int, accession: str, docs: dict[str, bytes]) -> None:
        folder = f"/Archives/edgar/data/{cik}/{accession.replace('-', '')}"
        listing = {"directory": {"name": folder, "parent-dir": f"/Archives/edgar/data/{cik}",
                                 "item": [{"name": n, "type": "text.gif", "size": str(len(b))}
                                          for n, b in docs.items()]}}
        self.put(f"{folder}/index.json", json.dumps(listing).encode())
        for name, body in docs.items():
            self.put(f"{folder}/{name}", body)


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.httpd.shutdown()


@pytest.fixture
def db(settings):
    with get_engine(settings.DATABASE_URL).begin() as conn:
        conn.execute(text("TRUNCATE " + ", ".join(OWN_TABLES) + " CASCADE"))
    return session_factory(settings.DATABASE_URL)


def run(settings, modules: tuple[str, ...], name: str, **conf: Any) -> PipelineRun:
    registry = load_registry(modules)
    dispatcher = Dispatcher(settings, registry, lambda p, rid: run_locally(settings, registry, rid, lambda s: None))
    run_id = dispatcher.manual(name, conf).run_id
    with session_factory(settings.DATABASE_URL)() as s:
        return s.get(PipelineRun, run_id)


# --- 13F inputs built from the fixture bytes -------------------------------------------------------------

def _read(folder: str, name: str) -> bytes:
    return shared_fixture(folder, name).read_bytes()


def _cover(period: str, signed: str, entries: int, total: int, *, cik: int = LTS, name: str = "",
           amendment: str | None = None) -> bytes:
    raw = _read("edgar_13f", "13f_hr_ltsone_2023q3_primary_doc.xml").decode()
    raw = raw.replace("09-30-2023", period).replace("11-14-2023", signed)
    raw = raw.replace("<tableEntryTotal>14<", f"<tableEntryTotal>{entries}<")
    raw = raw.replace("<tableValueTotal>454926000<", f"<tableValueTotal>{total}<")
    raw = raw.replace("<cik>0001894188</cik>", f"<cik>{cik:010d}</cik>")
    if name:
        raw = raw.replace("<name>LTS One Management LP</name>", f"<name>{name}</name>")
    if amendment:
        raw = raw.replace("<submissionType>13F-HR<", "<submissionType>13F-HR/A<").replace(
            "<filingManager>", "<isAmendment>true</isAmendment><amendmentNo>1</amendmentNo><amendmentInfo>"
            f"<amendmentType>{amendment}</amendmentType></amendmentInfo><filingManager>")
    return raw.encode()


def _total(blocks: list[bytes]) -> int:
    return sum(int(field(b, "value")) for b in blocks)


def _submissions(cik: int, name: str, filings: list[tuple[str, str, str, str]]) -> bytes:
    """The recorded MSFT submissions JSON's shape, listing (accession, form, filed, period) newest first."""
    doc = json.loads(_read("edgar_index", "submissions_CIK0000789019_msft_2022_trimmed.json"))
    doc = copy.deepcopy(doc)
    doc.update(cik=str(cik), name=name, tickers=[], exchanges=[])
    recent = doc["filings"]["recent"]
    values = {"accessionNumber": 0, "form": 1, "filingDate": 2, "reportDate": 3}
    for key, column in list(recent.items()):
        if key in values:
            recent[key] = [f[values[key]] for f in filings]
        elif key == "acceptanceDateTime":
            recent[key] = [f"{f[2]}T16:05:12.000Z" for f in filings]
        elif key == "primaryDocument":
            recent[key] = ["xslForm13F_X02/primary_doc.xml" for _ in filings]
        else:
            recent[key] = [type(column[0])() for _ in filings]
    doc["filings"]["files"] = []
    return json.dumps(doc).encode()


@pytest.fixture
def edgar(server: Server, tmp_path: Path) -> dict[str, Any]:
    """Serve the 13F world; returns the row blocks each filing holds, for the expectations."""
    q3 = _read("edgar_13f", "13f_hr_ltsone_2023q3_infotable.xml")
    head, rows, tail = split(q3)
    brk_raw = _read("edgar_13f", "13f_hr_berkshire_2022q4_infotable_trimmed.xml")
    _, brk_rows, _ = split(brk_raw)
    ally = next(b for b in brk_rows if field(b, "cusip") == ALLY)
    aapl = next(b for b in brk_rows if field(b, "cusip") == AAPL)

    def table(blocks: list[bytes]) -> bytes:
        return head + b"".join(blocks) + tail

    # Q2 (test-built): iRhythm not yet bought, MSFT 30,000 shares, INTU 65,000 shares, ALLY held.
    q2_rows = []
    for b in rows:
        cusip = field(b, "cusip")
        if cusip == IRHYTHM:
            continue
        if cusip == MSFT:
            b = with_value(with_value(b, "sshPrnamt", "30000"), "Sole", "30000")
        if cusip == INTU:
            b = with_value(with_value(b, "sshPrnamt", "65000"), "Sole", "65000")
        q2_rows.append(b)
    q2_rows.append(ns1(ally))
    a1_rows = [ns1(aapl)]  # NEW HOLDINGS: adds an Apple row
    a2_rows = [b for b in rows if field(b, "cusip") != CSX]  # RESTATEMENT: the table without CSX
    gsi_rows = rows[:-1]  # 13 rows against a cover that says 14

    server.put(f"/submissions/CIK{LTS:010d}.json", _submissions(LTS, "LTS One Management LP", [
        (ACC_A2, "13F-HR/A", "2023-11-27", "2023-09-30"), (ACC_A1, "13F-HR/A", "2023-11-20", "2023-09-30"),
        (ACC_Q3, "13F-HR", "2023-11-14", "2023-09-30"), (ACC_Q2, "13F-HR", "2023-08-14", "2023-06-30")]))
    server.put(f"/submissions/CIK{BRK:010d}.json", _submissions(BRK, "BERKSHIRE HATHAWAY INC", [
        (ACC_BRK, "13F-HR", "2023-02-14", "2022-12-31")]))
    server.put("/Archives/edgar/daily-index/2023/QTR4/form.20231114.idx",
               _read("edgar_index", "form.20200318_daily_by_formtype_trimmed.idx"))
    server.put("/files/company_tickers.json", _read("edgar_index", "company_tickers_trimmed.json"))
    server.filing(LTS, ACC_Q2, {"primary_doc.xml": _cover("06-30-2023", "08-14-2023", len(q2_rows), _total(q2_rows)),
                                "infotable.xml": table(q2_rows)})
    server.filing(LTS, ACC_Q3, {"primary_doc.xml": _read("edgar_13f", "13f_hr_ltsone_2023q3_primary_doc.xml"),
                                "index.xml": q3})
    server.filing(LTS, ACC_A1, {"primary_doc.xml": _cover("09-30-2023", "11-20-2023", 1, _total(a1_rows),
                                                          amendment="NEW HOLDINGS"), "infotable.xml": table(a1_rows)})
    server.filing(LTS, ACC_A2, {"primary_doc.xml": _cover("09-30-2023", "11-27-2023", len(a2_rows),
                                                          _total(a2_rows), amendment="RESTATEMENT"),
                                "infotable.xml": table(a2_rows)})
    server.filing(BRK, ACC_BRK, {"primary_doc.xml": _cover("12-31-2022", "02-14-2023", len(brk_rows),
                                                           _total(brk_rows), cik=BRK, name="Berkshire Hathaway Inc"),
                                 "infotable.xml": brk_raw})
    server.filing(GSI, ACC_GSI, {"primary_doc.xml": _cover("09-30-2023", "03-18-2020", 14, 454926, cik=GSI),
                                 "infotable.xml": table(gsi_rows)})
    managers = tmp_path / "managers.csv"
    managers.write_text(f"cik,name,note\n{LTS},LTS One Management LP,\n{BRK},Berkshire Hathaway Inc,\n"
                        f"{GSI},\"Global Strategic Investment Solutions, LLC\",\n")
    return {"rows": rows, "brk_rows": brk_rows, "q2_rows": q2_rows, "aapl": aapl, "managers": managers}


@pytest.fixture
def sec_settings(settings, server: Server, edgar: dict[str, Any], db):
    return settings.replace(SEC_WWW_BASE_URL=server.url, SEC_DATA_BASE_URL=server.url, SEC_EFTS_BASE_URL=server.url,
                            SEC_USER_AGENT=UA, SEC_MAX_RPS=200.0, THIRTEENF_MANAGERS_FILE=str(edgar["managers"]))


THIRTEENF = ("pipelines.institutional_13f",)


def _13f_run(sec_settings, start: str, end: str, **conf: Any) -> PipelineRun:
    return run(sec_settings, THIRTEENF, "institutional_13f", data_interval_start=start, data_interval_end=end, **conf)


def _changes(session, accession: str, as_of: date) -> dict[str, ThirteenFPositionChange]:
    report = session.scalar(select(ThirteenFReport).where(ThirteenFReport.accession == accession,
                                                          ThirteenFReport.as_of == as_of))
    rows = session.scalars(select(ThirteenFPositionChange).where(ThirteenFPositionChange.report_id == report.id))
    return {c.cusip: c for c in rows}


def test_13f_discovers_loads_diffs_and_scores(sec_settings, server: Server, edgar: dict[str, Any], db) -> None:
    first = _13f_run(sec_settings, "2023-11-13T00:00:00+00:00", "2023-11-15T05:00:00+00:00")
    assert first.state == "success", first.error
    assert "/Archives/edgar/daily-index/2023/QTR4/form.20231114.idx" in server.seen
    rows = edgar["rows"]
    with db() as s:
        filings = {f.accession: f for f in s.scalars(select(ThirteenFFiling))}
        # Amendments filed after 2023-11-15 are not visible yet (point in time).
        assert set(filings) == {ACC_Q2, ACC_Q3, ACC_BRK, ACC_GSI}
        q3 = filings[ACC_Q3]
        assert (q3.state, q3.period, q3.filed, q3.rows, q3.infotable) == ("loaded", date(2023, 9, 30),
                                                                           date(2023, 11, 14), 14, "index.xml")
        assert (q3.entry_total, q3.value_total_reported, q3.value_total_usd) == (14, 454926000, 454926000)
        held = s.scalars(select(ThirteenFHolding).where(ThirteenFHolding.filing_id == q3.id)
                         .order_by(ThirteenFHolding.row)).all()
        for h, block in zip(held, rows, strict=True):  # field by field against the recorded table
            assert h.cusip == field(block, "cusip")
            assert h.name_of_issuer == field(block, "nameOfIssuer").replace("&amp;", "&")
            assert h.title_of_class == field(block, "titleOfClass")
            assert h.value_usd == int(field(block, "value"))  # filed 2023-11-14: dollars as printed
            assert h.shares_or_principal == int(field(block, "sshPrnamt"))
            assert (h.sh_prn_type, h.investment_discretion) == (field(block, "sshPrnamtType"),
                                                                field(block, "investmentDiscretion"))
            assert (h.voting_sole, h.voting_shared, h.voting_none) == (
                int(field(block, "Sole")), int(field(block, "Shared")), int(field(block, "None")))
        assert sum(h.value_usd for h in held) == 454926000  # the cover's tableValueTotal
        brk = s.scalars(select(ThirteenFHolding).where(ThirteenFHolding.filing_id == filings[ACC_BRK].id)
                        .order_by(ThirteenFHolding.row)).all()
        assert [(h.cusip, h.other_managers, h.shares_or_principal) for h in brk] == [
            (field(b, "cusip"), field(b, "otherManager"), int(field(b, "sshPrnamt"))) for b in edgar["brk_rows"]]
        assert len({h.cusip for h in brk}) == 6  # repeated CUSIPs kept, one row per manager combination

        # Bad inputs were quarantined with clear errors while the rest loaded.
        gsi = filings[ACC_GSI]
        assert (gsi.state, gsi.discovered_via) == ("quarantined", "daily_index")
        assert "has 13 rows but the cover's tableEntryTotal is 14" in gsi.error
        quarantined = {(q.source, q.record_key): q for q in s.scalars(select(QuarantinedRecord))}
        assert "has 13 rows" in quarantined[("edgar.13f", ACC_GSI)].error
        assert "HTTP 404" in quarantined[("edgar.submissions", f"CIK{GSI:010d}")].error

        reports = {(r.accession, r.as_of): r for r in s.scalars(select(ThirteenFReport))}
        assert reports[(ACC_Q3, date(2023, 11, 14))].diff_state == "diffed"
        assert reports[(ACC_Q3, date(2023, 11, 14))].prev_period == date(2023, 6, 30)
        assert reports[(ACC_Q2, date(2023, 8, 14))].diff_state == "no_prior"
        assert reports[(ACC_BRK, date(2023, 2, 14))].diff_state == "no_prior"

        changes = _changes(s, ACC_Q3, date(2023, 11, 14))
        irhythm = next(b for b in rows if field(b, "cusip") == IRHYTHM)
        assert (changes[IRHYTHM].status, changes[IRHYTHM].shares_prev, changes[IRHYTHM].shares_cur) == (
            "new", 0, int(field(irhythm, "sshPrnamt")))
        msft, intu = changes[MSFT], changes[INTU]
        assert (msft.status, msft.shares_prev, msft.shares_cur) == ("increased", 30000, 65000)
        assert (intu.status, intu.shares_prev, intu.shares_cur) == ("decreased", 65000, 32500)
        assert (changes[ALLY].status, changes[ALLY].shares_cur) == ("closed", 0)
        assert changes[CSX].status == "unchanged"
        # CUSIP -> ticker by issuer name against company_tickers.json; said where not possible.
        assert (changes[MSFT].ticker, changes[MSFT].mapped) == ("MSFT", True)
        assert (changes["023135106"].ticker, changes["023135106"].mapped) == ("AMZN", True)
        assert (changes[IRHYTHM].ticker, changes[IRHYTHM].mapped) == (None, False)

        signals = {sig.details["cusip"]: sig for sig in s.scalars(select(Signal).where(Signal.run_id == first.id))}
    # Hand-computed from the recorded values (scoring rules in pipelines.scoring.institutional):
    # iRhythm: 1 qualified opener, ranked 2nd by value (top five), 1 of 1 holder adding -> (1+1+2)*10/8 = 5.0;
    # MSFT: ranked 7th but shares up 117% -> conviction 1, net flow 2 -> 3.75. Nothing else moved up.
    values = sorted((int(field(b, "value")) for b in rows), reverse=True)
    assert values.index(int(field(irhythm, "value"))) + 1 == 2
    assert set(signals) == {IRHYTHM, MSFT}
    assert (signals[IRHYTHM].score, signals[IRHYTHM].ticker) == (5.0, None)
    assert "not mapped to a ticker" in signals[IRHYTHM].summary
    assert (signals[MSFT].score, signals[MSFT].ticker) == (3.75, "MSFT")
    assert signals[IRHYTHM].event_key == "13f:2023-09-30:450056106"
    assert [c["name"] for c in signals[MSFT].components] == ["breadth", "conviction", "net_flow", "crowding",
                                                              "staleness"]

    # A replay re-computes from the first run's artifacts without fetching and scores the same events.
    fetched = len(server.seen)
    registry = load_registry(THIRTEENF)
    replay = Dispatcher(sec_settings, registry, lambda p, rid: run_locally(sec_settings, registry, rid)).manual(
        "institutional_13f", {}, replay_of=first.id)
    with db() as s:
        assert s.get(PipelineRun, replay.run_id).state == "success"
        assert {sig.event_key for sig in s.scalars(select(Signal).where(Signal.run_id == replay.run_id))} == {
            signals[IRHYTHM].event_key, signals[MSFT].event_key}
    assert len(server.seen) == fetched

    # Amendments apply point in time: NEW HOLDINGS (2023-11-20) adds Apple, RESTATEMENT (11-27) replaces it all.
    second = _13f_run(sec_settings, "2023-11-15T05:00:00+00:00", "2023-11-28T05:00:00+00:00")
    assert second.state == "success", second.error
    aapl_shares = int(field(edgar["aapl"], "sshPrnamt"))
    with db() as s:
        assert _changes(s, ACC_Q3, date(2023, 11, 14)).keys() == changes.keys()  # the old view is unchanged
        added = _changes(s, ACC_A1, date(2023, 11, 20))
        assert (added[AAPL].status, added[AAPL].shares_cur) == ("new", aapl_shares)
        assert added[CSX].status == "unchanged"
        restated = _changes(s, ACC_A2, date(2023, 11, 27))
        assert AAPL not in restated and restated[CSX].status == "closed"
        version = s.scalar(select(ThirteenFReport).where(ThirteenFReport.as_of == date(2023, 11, 27)))
        assert version.sources == [ACC_Q3, ACC_A1, ACC_A2] and version.rows == 13
        again = s.scalar(select(Signal).where(Signal.run_id == second.id,
                                              Signal.event_key == signals[IRHYTHM].event_key))
    # Two full weeks past the 2023-11-14 deadline: 5.0 * 0.9**2.
    assert again.score == pytest.approx(4.05)


def test_holders_shows_each_managers_position_as_known_on_a_day(sec_settings, server: Server, edgar: dict[str, Any],
                                                                db, tmp_path: Path) -> None:
    assert _13f_run(sec_settings, "2023-11-13T00:00:00+00:00", "2023-11-15T05:00:00+00:00").state == "success"
    assert _13f_run(sec_settings, "2023-11-15T05:00:00+00:00", "2023-11-28T05:00:00+00:00").state == "success"
    env = engine_env(sec_settings.DATABASE_URL, tmp_path, COLUMNS="150")

    def holders(*args: str, as_json: bool = True) -> Any:
        proc = subprocess.run([sys.executable, "-m", "workers.cli", "holders", *args, *(["--json"] if as_json else [])],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout) if as_json else proc.stdout

    msft = holders("msft", "--as-of", "2023-11-14")  # a ticker, any case
    assert msft["period"] == "2023-09-30"
    [lts] = msft["holders"]
    assert (lts["cik"], lts["as_of"], lts["status"], lts["shares_prev"], lts["shares_cur"], lts["ticker"]) == (
        LTS, "2023-11-14", "increased", 30000, 65000, "MSFT")
    [rhythm] = holders(IRHYTHM, "--as-of", "2023-11-14")["holders"]  # a CUSIP no ticker maps to
    assert (rhythm["status"], rhythm["ticker"], rhythm["shares_prev"]) == ("new", None, 0)
    # Point in time: the NEW HOLDINGS amendment of 2023-11-20 adds Apple, the RESTATEMENT of 11-27 drops it.
    assert holders(AAPL, "--as-of", "2023-11-19")["holders"] == []
    assert [(h["status"], h["as_of"]) for h in holders(AAPL, "--as-of", "2023-11-21")["holders"]] == [
        ("new", "2023-11-20")]
    assert holders(AAPL, "--as-of", "2023-11-27")["holders"] == []
    assert [h["status"] for h in holders(CSX, "--as-of", "2023-11-27")["holders"]] == ["closed"]
    assert holders("MSFT", "--as-of", "2023-11-13")["period"] is None  # nothing diffed yet that day

    table = holders("MSFT", "--as-of", "2023-11-14", as_json=False)
    assert "quarter ended 2023-09-30, as known on 2023-11-14" in table
    assert "increased" in table and "30,000" in table and "65,000" in table and "+117%" in table
    assert "1 position(s): 1 increased; net +35,000 shares" in table


def test_portfolio_shows_a_managers_quarter_against_the_one_before(sec_settings, server: Server,
                                                                    edgar: dict[str, Any], db, tmp_path: Path) -> None:
    assert _13f_run(sec_settings, "2023-11-13T00:00:00+00:00", "2023-11-15T05:00:00+00:00").state == "success"
    assert _13f_run(sec_settings, "2023-11-15T05:00:00+00:00", "2023-11-28T05:00:00+00:00").state == "success"
    env = engine_env(sec_settings.DATABASE_URL, tmp_path, COLUMNS="160")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "workers.cli", "portfolio", *args], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=60)

    def portfolio(*args: str) -> Any:
        proc = cli(*args, "--json")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    rows = edgar["rows"]
    doc = portfolio(str(LTS), "--as-of", "2023-11-14")
    assert (doc["cik"], doc["manager"], doc["period"], doc["prev_period"], doc["version_as_of"], doc["sources"]) == (
        LTS, "LTS One Management LP", "2023-09-30", "2023-06-30", "2023-11-14", [ACC_Q3])
    held = [p for p in doc["positions"] if p["rank_cur"] is not None]
    closed = [p for p in doc["positions"] if p["rank_cur"] is None]
    # Every row of the recorded table is a position (no CUSIP repeats in it), ranked by value.
    assert [p["rank_cur"] for p in held] == list(range(1, len(rows) + 1))
    assert [p["value_cur_usd"] for p in held] == sorted((int(field(b, "value")) for b in rows), reverse=True)
    assert sum(p["value_cur_usd"] for p in held) == doc["value_usd"] == 454926000  # the cover's total
    assert sum(p["weight_cur"] for p in held) == pytest.approx(1.0)
    assert doc["top5_weight"] == pytest.approx(sum(p["weight_cur"] for p in held[:5]))
    assert [(p["cusip"], p["status"], p["shares_cur"]) for p in closed] == [(ALLY, "closed", 0)]
    assert doc["value_prev_usd"] == _total(edgar["q2_rows"])  # the quarter before, closed positions included
    by_cusip = {p["cusip"]: p for p in doc["positions"]}
    assert (by_cusip[MSFT]["status"], by_cusip[MSFT]["shares_prev"], by_cusip[MSFT]["ticker"]) == (
        "increased", 30000, "MSFT")
    assert (by_cusip[IRHYTHM]["status"], by_cusip[IRHYTHM]["ticker"]) == ("new", None)
    assert by_cusip[INTU]["status"] == "decreased" and by_cusip[CSX]["status"] == "unchanged"

    # By part of the name; only the moves; at most N.
    assert portfolio("lts one", "--as-of", "2023-11-14")["positions"] == doc["positions"]
    moves = portfolio("LTS", "--as-of", "2023-11-14", "--moves")["positions"]
    assert {p["status"] for p in moves} == {"new", "increased", "decreased", "closed"}
    assert [p["cusip"] for p in moves] == [p["cusip"] for p in doc["positions"] if p["status"] != "unchanged"]
    top3 = portfolio(str(LTS), "--as-of", "2023-11-14", "--limit", "3")["positions"]
    assert [p["rank_cur"] for p in top3] == [1, 2, 3]
    # Point in time: the NEW HOLDINGS amendment adds Apple; the RESTATEMENT replaces the table, CSX closed.
    added = portfolio(str(LTS), "--as-of", "2023-11-21")
    assert added["version_as_of"] == "2023-11-20" and added["sources"] == [ACC_Q3, ACC_A1]
    assert {p["cusip"]: p["status"] for p in added["positions"]}[AAPL] == "new"
    restated = {p["cusip"]: p["status"] for p in portfolio(str(LTS), "--as-of", "2023-11-27")["positions"]}
    assert AAPL not in restated and restated[CSX] == "closed"
    # The quarter before had none before it: recorded, not diffed, so no positions are kept.
    first = portfolio(str(LTS), "--as-of", "2023-11-14", "--period", "2023-06-30")
    assert (first["diff_state"], first["positions"], first["rows"]) == ("no_prior", [], len(edgar["q2_rows"]))

    table = cli("lts", "--as-of", "2023-11-14")
    assert table.returncode == 0, table.stderr
    assert "13F positions for the quarter ended 2023-09-30 against 2023-06-30" in table.stdout
    assert "+117%" in table.stdout and "unmapped" in table.stdout and "top five" in table.stdout
    assert "1 new, 1 increased, 1 decreased, 1 closed" in table.stdout
    # No manager: every manager's latest version known that day, by name.
    books = portfolio("--as-of", "2023-11-21")["managers"]
    assert [(b["cik"], b["period"], b["version_as_of"], b["diff_state"]) for b in books] == [
        (BRK, "2022-12-31", "2023-02-14", "no_prior"), (LTS, "2023-09-30", "2023-11-20", "diffed")]
    assert books[1]["rows"] == len(rows) + 1 and books[1]["accession"] == ACC_A1
    assert [b["version_as_of"] for b in portfolio("--as-of", "2023-08-14")["managers"]] == ["2023-02-14", "2023-08-14"]
    listed = cli("--as-of", "2023-11-21")
    assert "2 13F manager(s)" in listed.stdout and "no earlier quarter" in listed.stdout

    # Errors say what is wrong: no such manager, several, or nothing recorded by that day.
    missing, several, early = cli("nobody at all"), cli("a"), cli(str(LTS), "--as-of", "2023-08-01")
    assert missing.returncode == 2 and "no 13F manager" in missing.stderr
    assert several.returncode == 2 and "managers match 'a'; name one by CIK" in several.stderr
    assert early.returncode == 2 and "has no 13F report version" in early.stderr


def test_13f_copy_error_fails_the_detect_step_and_rolls_it_back(sec_settings, server: Server,
                                                               edgar: dict[str, Any], db) -> None:
    """A row PostgreSQL refuses in the background COPY (an issuer name longer than the column; the
    parser takes it) fails the detect step with that error, and none of the step's writes stay."""
    q3 = _read("edgar_13f", "13f_hr_ltsone_2023q3_infotable.xml")
    server.filing(LTS, ACC_Q3, {"primary_doc.xml": _read("edgar_13f", "13f_hr_ltsone_2023q3_primary_doc.xml"),
                                "index.xml": q3.replace(b"AMAZON COM INC", b"AMAZON " * 50)})
    with pytest.raises(BackgroundCopyError, match="value too long"):  # recorded, then raised to the worker
        _13f_run(sec_settings, "2023-11-13T00:00:00+00:00", "2023-11-15T05:00:00+00:00")
    with db() as s:
        failed = s.scalar(select(PipelineRun).where(PipelineRun.pipeline == "institutional_13f"))
        assert (failed.state, failed.failed_step) == ("failed", "detect")
        assert "background COPY thirteenf_holdings failed" in failed.error and "value too long" in failed.error
        for model in (ThirteenFFiling, ThirteenFHolding, ThirteenFReport):
            assert s.scalar(select(func.count()).select_from(model)) == 0
        assert s.scalar(select(func.count()).select_from(QuarantinedRecord).where(
            QuarantinedRecord.step == "detect")) == 0  # the GSI table's quarantine went with the rest


def test_13f_sql_diff_equals_the_python_diff_on_these_quarters(sec_settings, server: Server, edgar: dict[str, Any],
                                                               db) -> None:
    """The report pairs above, amendments included: the versions the runs recorded (the SQL diff, on
    PostgreSQL) are the ones the Python diff (SQLite's path) records from the same filings."""
    for start, end in (("2023-11-13T00:00:00+00:00", "2023-11-15T05:00:00+00:00"),
                       ("2023-11-15T05:00:00+00:00", "2023-11-28T05:00:00+00:00")):
        assert _13f_run(sec_settings, start, end).state == "success"
    with db() as s:
        recorded = snapshot(s)
        pairs = sorted(set(s.execute(select(ThirteenFReport.cik, ThirteenFReport.period)).all()))
    assert pairs == [(BRK, date(2022, 12, 31)), (LTS, date(2023, 6, 30)), (LTS, date(2023, 9, 30))]
    names = {LTS: "LTS One Management LP", BRK: "Berkshire Hathaway Inc"}
    titles = title_index(_read("edgar_index", "company_tickers_trimmed.json"))
    both = diff_both_ways(db, server.url, pairs, names, date(2023, 11, 28), titles)
    assert both[True] == both[False]
    assert (both[False][1], both[False][2]) == recorded
    assert len(recorded[0]) == 5 and len(recorded[1]) > 40


# --- hiring -------------------------------------------------------------------------------------------

HIRING = ("pipelines.hiring",)
GH_PATH, LEVER_PATH = "/gh/boards/smarterdx/jobs", "/lever/postings/palantir"
ASHBY_PATH = "/ashby/job-board/openevidence"


@pytest.fixture
def boards(server: Server, tmp_path: Path) -> dict[str, Any]:
    raw = {"greenhouse": _read("jobs", "greenhouse_boards_api_jobs_content_true_smarterdx.json"),
           "lever": _read("jobs", "lever_postings_mode_json_palantir.json"),
           "ashby": _read("jobs", "ashby_posting_api_job_board_openevidence.json")}
    server.put(GH_PATH, raw["greenhouse"])
    server.put(LEVER_PATH, raw["lever"])
    server.put(ASHBY_PATH, raw["ashby"])
    companies = tmp_path / "companies.csv"
    companies.write_text("ticker,board,token,name\n,greenhouse,smarterdx,SmarterDx\nPLTR,lever,palantir,Palantir\n"
                         ",ashby,openevidence,OpenEvidence\n,greenhouse,nosuchboard,Missing Board\n")
    return {"raw": raw, "json": {k: json.loads(v) for k, v in raw.items()}, "companies": companies}


@pytest.fixture
def job_settings(settings, server: Server, boards: dict[str, Any], db):
    return settings.replace(GREENHOUSE_BASE_URL=server.url + "/gh", LEVER_BASE_URL=server.url + "/lever",
                            ASHBY_BASE_URL=server.url + "/ashby", HIRING_COMPANIES_FILE=str(boards["companies"]),
                            HIRING_ALERT_RATE=0.5, HIRING_ALERT_MIN_NET=2)


def _postings(session, board: str) -> dict[str, JobPosting]:
    return {p.posting_id: p for p in session.scalars(select(JobPosting).where(JobPosting.board == board))}


def test_hiring_tracks_postings_and_scores_velocity(job_settings, server: Server, boards: dict[str, Any], db,
                                                    tmp_path: Path) -> None:
    gh, lever, ashby = (boards["json"][b] for b in ("greenhouse", "lever", "ashby"))
    first = run(job_settings, HIRING, "hiring")
    assert first.state == "success", first.error
    with db() as s:
        polls = {p.company_token: p for p in s.scalars(select(JobBoardPoll))}
        assert {t: (p.baseline, p.open_count) for t, p in polls.items()} == {
            "smarterdx": (True, len(gh["jobs"])), "palantir": (True, len(lever)),
            "openevidence": (True, len([j for j in ashby["jobs"] if j["isListed"]]))}
        seen_at = polls["smarterdx"].polled_at
        lever_seen_at = polls["palantir"].polled_at
        g = _postings(s, "greenhouse")
        assert set(g) == {str(j["id"]) for j in gh["jobs"]}
        for job in gh["jobs"]:
            row = g[str(job["id"])]
            assert (row.title, row.url, row.state) == (job["title"].strip(), job["absolute_url"], "open")
            assert row.published_at == datetime.fromisoformat(job["first_published"])  # the offset kept
            assert row.first_seen == row.last_seen == seen_at
        pl = _postings(s, "lever")
        for post in lever:  # createdAt is epoch milliseconds
            assert pl[post["id"]].published_at == datetime.fromtimestamp(post["createdAt"] / 1000, timezone.utc)
            assert pl[post["id"]].title == post["text"]
        ab = _postings(s, "ashby")
        for job in ashby["jobs"]:
            assert ab[job["id"]].published_at == datetime.fromisoformat(job["publishedAt"])
        assert s.scalar(select(func.count()).select_from(JobPostingEvent)) == 0  # a baseline has no events
        assert s.scalar(select(func.count()).select_from(Signal)) == 0
        missing = s.scalar(select(QuarantinedRecord).where(QuarantinedRecord.record_key == "nosuchboard"))
        assert "HTTP 404" in missing.error

    # Poll 2 (test-built payloads): a Greenhouse job gone, two new Ashby jobs plus one without an id,
    # Lever answering with an HTML error page.
    gone = str(gh["jobs"][1]["id"])
    server.put(GH_PATH, json.dumps({**gh, "jobs": gh["jobs"][:1]}).encode())
    new_jobs = [{**ashby["jobs"][0], "id": f"test-new-{i}"} for i in (1, 2)]
    server.put(ASHBY_PATH, json.dumps({**ashby, "jobs": ashby["jobs"] + new_jobs
                                       + [{k: v for k, v in ashby["jobs"][1].items() if k != "id"}]}).encode())
    server.put(LEVER_PATH, b"<html><body>502 Bad Gateway</body></html>")
    second = run(job_settings, HIRING, "hiring")
    assert second.state == "success", second.error
    with db() as s:
        events = {(e.board, e.posting_id, e.kind) for e in s.scalars(select(JobPostingEvent))}
        assert events == {("greenhouse", gone, "removed"), ("ashby", "test-new-1", "opened"),
                          ("ashby", "test-new-2", "opened")}
        assert _postings(s, "greenhouse")[gone].state == "removed"
        # The unreadable Lever payload is quarantined and its postings stay as they were.
        assert {p.state for p in _postings(s, "lever").values()} == {"open"}
        assert {p.last_seen for p in _postings(s, "lever").values()} == {lever_seen_at}
        errors = [q.error for q in s.scalars(select(QuarantinedRecord).where(QuarantinedRecord.run_id == second.id))]
        assert any("lever response for 'palantir' is not JSON" in e for e in errors)
        assert any("has no id" in e for e in errors)
        assert _postings(s, "ashby")[ashby["jobs"][1]["id"]].state == "open"
        sigs = {sig.details["token"]: sig for sig in s.scalars(select(Signal).where(Signal.run_id == second.id))}
        # Greenhouse: net -1 of 2 roles open before (-50%), under HIRING_ALERT_MIN_NET=2: context only, held.
        assert (sigs["smarterdx"].held, sigs["smarterdx"].alert_state, sigs["smarterdx"].score) == (True, "held", 6.0)
        assert (sigs["smarterdx"].details["net_90d"], sigs["smarterdx"].details["open_now"]) == (-1, 1)
        # Ashby: net +2 on 2 open before (+100%): a large change, full scale, alerted.
        big = sigs["openevidence"]
        assert (big.held, big.score, big.details["net_90d"], big.details["open_now"]) == (False, 10.0, 2, 4)
        assert big.alert_state == "queued"
        assert s.scalar(select(func.count()).select_from(AlertOutbox).where(AlertOutbox.signal_id == big.id)) > 0

    # Poll 3: the Greenhouse job is back under its id: reposted, not new.
    server.put(GH_PATH, boards["raw"]["greenhouse"])
    server.put(LEVER_PATH, boards["raw"]["lever"])
    third = run(job_settings, HIRING, "hiring")
    assert third.state == "success", third.error
    with db() as s:
        back = _postings(s, "greenhouse")[gone]
        assert (back.state, back.reposts) == ("open", 1)
        kinds = [e.kind for e in s.scalars(select(JobPostingEvent).where(JobPostingEvent.run_id == third.id))]
        assert kinds == ["reposted"]

    # `signals hiring`: each board as of its latest poll, velocity as the score step measures it.
    env = engine_env(job_settings.DATABASE_URL, tmp_path, COLUMNS="200",
                     HIRING_COMPANIES_FILE=str(boards["companies"]))
    proc = subprocess.run([sys.executable, "-m", "workers.cli", "hiring", "--json"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    seen = {o["token"]: o for o in json.loads(proc.stdout)}
    assert set(seen) == {"smarterdx", "palantir", "openevidence"}  # the missing board was never polled
    as_csv = subprocess.run([sys.executable, "-m", "workers.cli", "hiring", "--csv"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=60)
    assert read_csv(as_csv.stdout) == expected_rows(json.loads(proc.stdout))  # velocity and departments as JSON
    gh_now, ab_now = seen["smarterdx"], seen["openevidence"]
    assert (gh_now["company"], gh_now["open_now"]) == ("SmarterDx", len(gh["jobs"]))
    assert {k: gh_now["velocity"]["30"][k] for k in ("opened", "removed", "reposted", "net")} == {
        "opened": 0, "removed": 1, "reposted": 1, "net": 0}
    assert (ab_now["open_now"], ab_now["velocity"]["90"]["net"], ab_now["velocity"]["90"]["rate"]) == (4, 2, 1.0)
    assert sum(ab_now["open_by_department"].values()) == 4
    assert (seen["palantir"]["ticker"], seen["palantir"]["velocity"]["30"]["net"]) == ("PLTR", 0)
    one = subprocess.run([sys.executable, "-m", "workers.cli", "hiring", "pltr"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=60)
    assert one.returncode == 0, one.stderr
    assert "1 job board(s)" in one.stdout and "Palantir (PLTR)" in one.stdout and "lever:palantir" in one.stdout


# --- the master trigger -------------------------------------------------------------------------------

MASTER = ("pipelines.insider_form4", "pipelines.institutional_13f", "pipelines.hiring",
          "pipelines.insider_hiring_master")


def _children(session, parent: int) -> dict[str, PipelineRun]:
    return {r.pipeline: r for r in session.scalars(select(PipelineRun).where(PipelineRun.parent_run_id == parent))}


def test_master_runs_the_three_children_and_reports_them_as_one(sec_settings, job_settings, db) -> None:
    both = sec_settings.replace(**{k: job_settings.values[k] for k in (
        "GREENHOUSE_BASE_URL", "LEVER_BASE_URL", "ASHBY_BASE_URL", "HIRING_COMPANIES_FILE")})
    # insider_form4.poll=false reaches only that child: no getcurrent feed here, so it reads no listings.
    master = run(both, MASTER, "insider_hiring_master", **{"insider_form4.poll": False})
    assert master.state == "success", master.error
    with db() as s:
        children = _children(s, master.id)
        assert {n: r.state for n, r in children.items()} == {"insider_form4": "success",
                                                             "institutional_13f": "success", "hiring": "success"}
        assert children["insider_form4"].conf["poll"] is False
        assert all(r.data_interval_end == master.data_interval_end for r in children.values())
        # As of today every LTS One filing and the Berkshire one are visible and load.
        assert children["institutional_13f"].counts["detect.filings_loaded"] == 5
        assert children["hiring"].counts["detect.baselines"] == 3
    assert (master.counts["trigger.dispatched"], master.counts["collect.children"],
            master.counts["collect.succeeded"]) == (3, 3, 3)
    assert "collect.institutional_13f.signals" in master.counts

    # Running the same master run again opens no second set of children.
    registry = load_registry(MASTER)
    dispatcher = Dispatcher(both, registry, lambda p, rid: run_locally(both, registry, rid, lambda s: None))
    again = dispatcher.open(registry.get("insider_hiring_master"), RunRequest(
        "insider_hiring_master", "manual", (master.data_interval_start, master.data_interval_end)), reprocess="all")
    assert (again.run_id, again.action) == (master.id, "rerun")
    with db() as s:
        rerun = s.get(PipelineRun, master.id)
        assert rerun.state == "success"
        assert (rerun.counts["trigger.dispatched"], rerun.counts["trigger.already_open"]) == (0, 3)
        assert len(_children(s, master.id)) == 3


def test_master_fails_naming_the_failed_child(sec_settings, db, tmp_path: Path) -> None:
    broken = sec_settings.replace(HIRING_COMPANIES_FILE=str(tmp_path / "no-such-companies.csv"))
    master = run(broken, MASTER, "insider_hiring_master", **{"insider_form4.poll": False})
    assert (master.state, master.failed_step) == ("failed", "collect")
    assert "child pipeline(s) failed: hiring" in master.error
    assert "no-such-companies.csv" in master.error
    with db() as s:
        children = _children(s, master.id)
        assert {n: r.state for n, r in children.items()} == {"insider_form4": "success",
                                                             "institutional_13f": "success", "hiring": "failed"}
        alerts = s.scalars(select(AlertOutbox).where(AlertOutbox.run_id == master.id, AlertOutbox.kind == "failure"))
        assert any("hiring" in a.payload["summary"] for a in alerts)


# --- the inspect commands and small pieces --------------------------------------------------------------

def test_inspect_13f_json_is_exactly_the_issue_shape(capsys) -> None:
    from workers.cli import inspect_13f

    table, cover = shared_fixture("edgar_13f", "13f_hr_ltsone_2023q3_infotable.xml"), \
        shared_fixture("edgar_13f", "13f_hr_ltsone_2023q3_primary_doc.xml")
    args = argparse.Namespace(infotable=str(table), cover=str(cover), filed=None, json=True)
    assert inspect_13f.run(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["cover"] == {"period": "2023-09-30", "entry_total": 14, "value_total": 454926000}
    first = split(table.read_bytes())[1][0]
    assert doc["holdings"][0] == {
        "name_of_issuer": field(first, "nameOfIssuer"), "title_of_class": field(first, "titleOfClass"),
        "cusip": field(first, "cusip"), "value_usd": int(field(first, "value")),
        "shares_or_principal": int(field(first, "sshPrnamt")), "sh_prn_type": field(first, "sshPrnamtType"),
        "put_call": None, "investment_discretion": field(first, "investmentDiscretion"), "other_managers": [],
        "voting_sole": int(field(first, "Sole")), "voting_shared": int(field(first, "Shared")),
        "voting_none": int(field(first, "None"))}

    brk = shared_fixture("edgar_13f", "13f_hr_berkshire_2022q4_infotable_trimmed.xml")
    args = argparse.Namespace(infotable=str(brk), cover=None, filed="2023-02-14", json=True)
    assert inspect_13f.run(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["cover"] is None
    assert [h["other_managers"] for h in doc["holdings"]] == [
        [int(m) for m in field(b, "otherManager").split(",")] for b in split(brk.read_bytes())[1]]


def test_inspect_jobs_reads_each_board(capsys) -> None:
    from workers.cli import inspect_jobs

    lever = shared_fixture("jobs", "lever_postings_mode_json_palantir.json")
    assert inspect_jobs.run(argparse.Namespace(board="lever", file=str(lever), json=True)) == 0
    doc = json.loads(capsys.readouterr().out)
    recorded = json.loads(lever.read_bytes())
    assert [p["posting_id"] for p in doc["postings"]] == [p["id"] for p in recorded]
    assert doc["postings"][0]["published_at"] == datetime.fromtimestamp(recorded[0]["createdAt"] / 1000,
                                                                        timezone.utc).isoformat()
    greenhouse = shared_fixture("jobs", "greenhouse_boards_api_jobs_content_true_smarterdx.json")
    assert inspect_jobs.run(argparse.Namespace(board="lever", file=str(greenhouse), json=True)) == 1
    assert "is not a top-level array" in capsys.readouterr().err  # a Greenhouse object read as Lever


def test_companies_file_is_checked(tmp_path: Path) -> None:
    from pipelines.core.errors import ConfigError
    from pipelines.jobboards.companies import load_companies

    shipped = load_companies()
    assert {c.board for c in shipped} <= {"greenhouse", "lever", "ashby"} and all(c.ticker for c in shipped)
    bad = tmp_path / "c.csv"
    bad.write_text("ticker,board,token,name\nX,workday,acme,Acme\n")
    with pytest.raises(ConfigError, match="line 2: board 'workday'"):
        load_companies(bad)
    bad.write_text("ticker,board,token,name\nX,lever,acme,Acme\nY,lever,acme,Acme again\n")
    with pytest.raises(ConfigError, match="listed twice"):
        load_companies(bad)
