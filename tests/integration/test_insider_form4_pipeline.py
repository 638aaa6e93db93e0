"""insider_form4 end to end: in-process runs on PostgreSQL against a local stand-in for www.sec.gov.

The server serves the recorded getcurrent Atom pages and the recorded daily form index; each
accession they list is mapped to one recorded Form 4 XML (or to a broken variant of one), served
at the accession's folder with an index.json listing naming it. The mapping pairs filings with
documents of other issuers, so the feed's (Issuer) entries disagree with the documents: those
signals must be held as inconsistent. Expected values are read from the fixture files here.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import defusedxml.ElementTree as DET
import pytest

from pipelines.core.ledger import QuarantinedRecord
from pipelines.core.signal_models import AlertOutbox, Signal
from pipelines.form4 import discovery
from pipelines.form4.store import (
    TABLES,
    Form4Filing,
    Form4Transaction,
    InsiderPurchaseMonth,
)
from tests.conftest import shared_fixture
from tests.support.csv_rows import expected_rows, read_csv
from tests.support.http_server import NOT_FOUND, Answer, LocalHttpServer, Request
from tests.support.pipeline_harness import PipelineHarness, truncate
from tests.support.services import engine_env

REPO = Path(__file__).resolve().parents[2]
UA = "Signals Test Suite ops@signals.example"
ET = ZoneInfo("America/New_York")
NAME = "insider_form4"
FLWS = "form4_1800flowers_P_purchase_3_owners_X0508.xml"
WATER = "form4_374water_A_grant_rsu_and_option_X0508.xml"
SNOW = "form4_snowflake_M_exercise_and_S_sales_X0306.xml"
TCR2 = "form4_tcr2_P_purchase_3_reporting_owners_X0407.xml"
TELOS = "form4_telos_P_purchase_single_owner_X0407.xml"
PAGE1 = "getcurrent_all_forms_page1_trimmed.atom"  # 14 entries, 4 Form 4 accessions
PAGE2 = "getcurrent_page2_form4_and_4A_entries_only.atom"  # 9 entries, 5 accessions (one 4/A)
FORM_IDX = "form.20200318_daily_by_formtype_trimmed.idx"


def xml(name: str) -> bytes:
    return shared_fixture("edgar_form4", name).read_bytes()


def fields(name: str) -> dict[str, Any]:
    """What the tests compare with, read from the XML itself."""
    root = DET.fromstring(xml(name))

    def value(node: Any, path: str) -> str:
        found = node.find(path)
        inner = found.find("value")
        return (inner if inner is not None else found).text.strip()

    rows = [{"shares": Decimal(value(r, "transactionAmounts/transactionShares")),
             "price": Decimal(value(r, "transactionAmounts/transactionPricePerShare")),
             "code": r.find("transactionCoding/transactionCode").text.strip(),
             "date": value(r, "transactionDate")}
            for r in root.findall("nonDerivativeTable/nonDerivativeTransaction")]
    return {"issuer_cik": int(root.find("issuer/issuerCik").text),
            "ticker": root.find("issuer/issuerTradingSymbol").text,
            "owner_ciks": [int(o.text) for o in root.findall("reportingOwner/reportingOwnerId/rptOwnerCik")],
            "rows": rows}


def amendment_of_telos(original_filed: str) -> bytes:
    """No real 4/A XML was found (PROVENANCE.md): the Telos filing restated as a 4/A with one price corrected."""
    raw = xml(TELOS)
    raw = raw.replace(b"<documentType>4</documentType>",
                      b"<documentType>4/A</documentType>\n    <dateOfOriginalSubmission>" + original_filed.encode()
                      + b"</dateOfOriginalSubmission>", 1)
    return raw.replace(b"<value>2.36</value>", b"<value>2.41</value>", 1)


BOMB = (b'<?xml version="1.0"?>\n<!DOCTYPE ownershipDocument [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>\n'
        b"<ownershipDocument><documentType>&c;</documentType></ownershipDocument>")
EXTERNAL = (b'<?xml version="1.0"?>\n<!DOCTYPE ownershipDocument [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
            b"<ownershipDocument><remarks>&x;</remarks></ownershipDocument>")


def broken() -> dict[str, tuple[bytes, str]]:
    """Bad documents and a fragment of the error each must give."""
    tcr2, telos, flws = xml(TCR2), xml(TELOS), xml(FLWS)
    return {
        "truncated": (tcr2[: len(tcr2) // 2], "malformed or truncated XML"),
        "bomb": (BOMB, "document type declaration"),
        "external": (EXTERNAL, "document type declaration"),
        "missing": (re.sub(rb"<issuer>.*?</issuer>", b"", telos, count=1, flags=re.DOTALL),
                    "missing required element issuer"),
        "namespace": (flws.replace(b"<ownershipDocument>",
                                   b'<ownershipDocument xmlns="http://www.sec.gov/edgar/ownership">', 1),
                      "namespace 'http://www.sec.gov/edgar/ownership'"),
        "latin1": (tcr2.replace(b"TANG KEVIN C", "TANG KÉVIN C".encode("latin-1"), 1), "not valid utf-8"),
    }


class Sec(LocalHttpServer):
    """www.sec.gov: getcurrent pages by `start`, daily indexes, filing folders (index.json + XML)."""

    def __init__(self) -> None:
        self.feed: dict[int, bytes] = {}
        self.indexes: dict[str, bytes] = {}
        self.docs: dict[str, tuple[str, bytes]] = {}  # accession without dashes -> (file name, bytes)
        super().__init__(self.answer)

    def answer(self, request: Request) -> Answer:
        path = request.path
        if path == "/cgi-bin/browse-edgar":
            page = self.feed.get(int(request.query["start"][0]))
            return (200, page, "application/atom+xml") if page else (404, b"", "text/plain")
        if path in self.indexes:
            return 200, self.indexes[path], "text/plain"
        match = re.fullmatch(r"/Archives/edgar/data/\d+/(\d{18})/(.+)", path)
        if match and match[1] in self.docs:
            name, body = self.docs[match[1]]
            if match[2] == "index.json":
                acc = f"{match[1][:10]}-{match[1][10:12]}-{match[1][12:]}"
                items = [{"name": f"{acc}-index-headers.html", "type": "text.gif"},
                         {"name": f"{acc}-index.html", "type": "text.gif"}, {"name": f"{acc}.txt", "type": "text.gif"},
                         {"name": "xslF345X05", "type": "folder.gif"}, {"name": name, "type": "text.gif"}]
                return 200, json.dumps({"directory": {"item": items}}).encode(), "application/json"
            if match[2] == name:
                return 200, body, "application/xml"
        return NOT_FOUND

    def serve(self, accession: str, name: str, body: bytes) -> None:
        self.docs[accession.replace("-", "")] = (name, body)

    def document_requests(self, accession: str) -> int:
        name = self.docs[accession.replace("-", "")][0]
        return sum(1 for p in self.paths() if p.endswith(f"/{accession.replace('-', '')}/{name}"))


@pytest.fixture
def sec() -> Iterator[Sec]:
    with Sec() as server:
        yield server


class Harness(PipelineHarness):
    def __init__(self, settings: Any, sec: Sec) -> None:
        super().__init__(settings, NAME, (f"pipelines.{NAME}",), SEC_USER_AGENT=UA, SEC_WWW_BASE_URL=sec.url,
                         SEC_DATA_BASE_URL=sec.url, SEC_MAX_RPS=200.0, SLACK_ENABLED=True,
                         SLACK_WEBHOOK_URL=f"{sec.url}/slack-webhook")
        self.sec = sec

    def poll(self, start: str, end: str) -> int:
        return self.manual({"data_interval_start": start, "data_interval_end": end})

    def filing(self, accession: str) -> Form4Filing:
        (row,) = self.rows(Form4Filing, Form4Filing.accession == accession)
        return row


@pytest.fixture
def f4(settings, sec) -> Harness:
    truncate(settings, TABLES)
    return Harness(settings, sec)


def signals_for(f4: Harness, issuer_cik: int) -> list[Signal]:
    return [s for s in f4.rows(Signal) if s.details["issuer_cik"] == issuer_cik]


def component(signal: Signal, name: str) -> dict[str, Any]:
    (found,) = [c for c in signal.components if c["name"] == name]
    return found


# Feed accessions (read from the Atom fixtures) and the document each one is served with.
A_TCR2, A_SNOW, A_WATER, A_TELOS = ("0000080661-26-000032", "0001069202-26-000002", "0001603945-26-000001",
                                    "0000080661-26-000030")
B_FLWS, B_TRUNC, B_BOMB, B_EXT, B_AMEND = ("0000080661-26-000008", "0002104634-26-000007", "0000080661-26-000006",
                                           "0000080661-26-000004", "0001012975-26-000025")


def test_feed_polls_parse_score_dedup_amend_and_quarantine(f4: Harness, monkeypatch, tmp_path: Path) -> None:
    sec = f4.sec
    bad = broken()
    for acc, name in ((A_TCR2, TCR2), (A_SNOW, SNOW), (A_WATER, WATER), (A_TELOS, TELOS), (B_FLWS, FLWS)):
        sec.serve(acc, name, xml(name))
    for acc, kind in ((B_TRUNC, "truncated"), (B_BOMB, "bomb"), (B_EXT, "external")):
        sec.serve(acc, f"{kind}.xml", bad[kind][0])
    sec.serve(B_AMEND, "amendment.xml", amendment_of_telos("2026-01-12"))
    # Pages of 14 entries, so page 1 (14 entries) is full and page 2 follows at start=14.
    monkeypatch.setattr(discovery, "PAGE_SIZE", 14)
    page1 = shared_fixture("edgar_index", PAGE1).read_bytes()
    page2 = shared_fixture("edgar_index", PAGE2).read_bytes()

    # Poll 1 covers 11:32-11:40 ET: page 1 already reaches entries older than the interval.
    sec.feed = {0: page1, 14: page2}
    first = f4.poll("2026-01-12T16:32:00+00:00", "2026-01-12T16:40:00+00:00")
    assert sum(p == "/cgi-bin/browse-edgar" for p in sec.paths()) == 1
    assert {f.accession for f in f4.rows(Form4Filing)} == {A_TCR2, A_SNOW, A_WATER, A_TELOS}
    assert f4.counts(first)["detect.parsed"] == 4

    # Transactions attributed to the document's issuer, row by row as in the XML.
    for acc, name in ((A_TCR2, TCR2), (A_SNOW, SNOW), (A_TELOS, TELOS)):
        want = fields(name)
        rows = sorted(f4.rows(Form4Transaction, Form4Transaction.accession == acc,
                              Form4Transaction.table_name == "non_derivative"), key=lambda r: r.row_index)
        assert [(r.issuer_cik, r.code, Decimal(r.shares), Decimal(r.price), r.trade_date.isoformat())
                for r in rows] == [(want["issuer_cik"], x["code"], x["shares"], x["price"], x["date"])
                                   for x in want["rows"]]
        assert f4.filing(acc).issuer_cik == want["issuer_cik"]

    tcr2, snow, water, telos = fields(TCR2), fields(SNOW), fields(WATER), fields(TELOS)
    (buy,) = signals_for(f4, tcr2["issuer_cik"])
    assert buy.signal_type == "insider_buy" and buy.ticker == tcr2["ticker"]
    total = sum(x["shares"] * x["price"] for x in tcr2["rows"])
    assert Decimal(buy.details["total_value"]) == total
    assert component(buy, "dollar_conviction")["value"] == 0.5  # $25k-$100k tier
    assert component(buy, "breadth")["value"] == 2.0  # three joint filers are one insider
    assert buy.score == pytest.approx(min(10.0, max(0.0, sum(c["value"] for c in buy.components))), abs=0.01)
    assert buy.links == [{"label": f"EDGAR filing {A_TCR2}", "url": f"{sec.url}/Archives/edgar/data/"
                          f"{tcr2['issuer_cik']}/{A_TCR2.replace('-', '')}/{A_TCR2}-index.htm"}]
    # The feed listed PROGRESSIVE (CIK 80661) as this filing's issuer, the document says TCR2: held.
    assert buy.held and "differs from the listing's CIK 80661" in buy.hold_reason
    assert buy.alert_state == "held"
    # Grants (374Water) and an exercise with sales (Snowflake): no buy signal, sales on their own track.
    assert signals_for(f4, water["issuer_cik"]) == []
    assert [s.signal_type for s in signals_for(f4, snow["issuer_cik"])] == ["insider_sale"]

    # Poll 2 reaches back to 09:50 ET: page 1 again (already seen), then page 2.
    second = f4.poll("2026-01-12T15:00:00+00:00", "2026-01-12T16:31:00+00:00")
    assert sum(p == "/cgi-bin/browse-edgar" for p in sec.paths()) == 3
    counts = f4.counts(second)
    assert counts["fetch.new_filings"] == 5 and counts["fetch.documents"] == 5
    for acc in (A_TCR2, A_SNOW, A_WATER, A_TELOS, B_FLWS):
        assert sec.document_requests(acc) == 1  # seen by two polls, fetched and parsed once
    assert len(f4.rows(Form4Transaction, Form4Transaction.accession == A_TCR2)) == len(tcr2["rows"])

    # The broken documents are quarantined with their raw bytes; the rest of the batch went on.
    assert counts["detect.quarantined"] == 3 and counts["detect.parsed"] == 2
    for acc, kind in ((B_TRUNC, "truncated"), (B_BOMB, "bomb"), (B_EXT, "external")):
        (q,) = f4.rows(QuarantinedRecord, QuarantinedRecord.record_key == acc)
        assert q.raw == bad[kind][0] and bad[kind][1] in q.error and q.run_id == second
        assert f4.filing(acc).state == "quarantined"

    # The 4/A restates the Telos filing: the original's rows are superseded, the corrected ones stand.
    assert f4.filing(A_TELOS).superseded_by == B_AMEND and f4.filing(B_AMEND).amends == A_TELOS
    assert all(r.superseded_by == B_AMEND for r in f4.rows(Form4Transaction, Form4Transaction.accession == A_TELOS))
    amended = sorted(f4.rows(Form4Transaction, Form4Transaction.accession == B_AMEND), key=lambda r: r.row_index)
    assert [Decimal(r.price) for r in amended] == [Decimal("2.41")] + [x["price"] for x in telos["rows"][1:]]
    (restated,) = [s for s in signals_for(f4, telos["issuer_cik"]) if s.run_id == second]
    assert restated.held and f"amended filing (4/A) {B_AMEND}" in restated.hold_reason

    # A rerun of poll 1 (`backfill --reprocess all`) recomputes it from its stored artifacts, fetching nothing.
    f4.rerun(first)  # asserts the same run id ran again, to success
    assert f4.counts(first)["fetch.earlier_try"] == 4 and f4.counts(first)["detect.parsed"] == 4
    assert all(sec.document_requests(acc) == 1 for acc in (A_TCR2, A_SNOW, A_WATER, A_TELOS))
    assert f4.filing(A_TELOS).superseded_by == B_AMEND  # the rerun did not undo the 4/A

    # Purchase months for the routine/opportunistic test, one per owner and month bought.
    months = {(m.owner_cik, m.year, m.month) for m in f4.rows(InsiderPurchaseMonth)}
    flws = fields(FLWS)
    expected = {(cik, int(x["date"][:4]), int(x["date"][5:7])) for f in (tcr2, telos, flws)
                for cik in f["owner_ciks"] for x in f["rows"] if x["code"] == "P"}
    assert months == expected

    # `signals insiders` lists what was stored, latest filed first; the 4/A's rows replace the original's.
    def insiders(*args: str) -> Any:
        proc = subprocess.run([sys.executable, "-m", "workers.cli", "insiders", *args], cwd=REPO,
                              env=engine_env(f4.settings.DATABASE_URL, tmp_path, COLUMNS="160"), capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout) if "--json" in args else proc.stdout

    listed = insiders(tcr2["ticker"], "--json")
    assert read_csv(insiders(tcr2["ticker"], "--csv")) == expected_rows(listed)  # exact figures, as filed
    # One filing: its rows, the last first.
    assert [(r["code"], Decimal(r["shares"]), Decimal(r["price"]), r["trade_date"]) for r in listed] == [
        (x["code"], x["shares"], x["price"], x["date"]) for x in reversed(tcr2["rows"])]
    assert all(r["issuer_cik"] == tcr2["issuer_cik"] and r["owner_ciks"] == tcr2["owner_ciks"] for r in listed)
    assert all(Decimal(r["value"]) == Decimal(r["shares"]) * Decimal(r["price"]) for r in listed)
    telos_rows = insiders(telos["ticker"], "--json")
    assert {r["accession"] for r in telos_rows} == {B_AMEND} and all(r["amended"] for r in telos_rows)
    assert sorted(Decimal(r["price"]) for r in telos_rows) == sorted(
        [Decimal("2.41")] + [x["price"] for x in telos["rows"][1:]])
    assert {r["code"] for r in insiders("--json", "--code", "s", "--limit", "500")} == {"S"}  # Snowflake's sales
    table = insiders(tcr2["ticker"])
    assert f"{tcr2['ticker']}: {len(listed)} insider trade(s)" in table and "P purchase" in table

    # OpenInsider's screens: by the insider's role and the trade's value (shares x price as filed).
    current = [r for r in f4.rows(Form4Transaction) if r.superseded_by is None and r.table_name == "non_derivative"]

    def expect(keep: Any) -> set[tuple[str, int]]:
        return {(r.accession, r.row_index) for r in current if keep(r)}

    def got(*args: str) -> set[tuple[str, int]]:
        return {(r["accession"], r["row"]) for r in insiders("--json", "--limit", "500", *args)}

    titled = {r.officer_title for r in current if r.officer_title}
    assert titled >= {"Chief Financial Officer", "Chief Technology Officer"}  # the recorded officers
    senior = expect(lambda r: r.officer_title == "Chief Financial Officer")
    assert senior and got("--role", "senior") == senior  # a CFO is senior; a CTO is an officer only
    assert got("--role", "officer") == expect(lambda r: r.is_officer) != senior
    assert got("--role", "director", "--role", "owner") == expect(lambda r: r.is_director or r.is_ten_percent_owner)
    floor = Decimal(100000)
    big = expect(lambda r: r.shares and r.price and Decimal(r.shares) * Decimal(r.price) >= floor)
    assert big and got("--min-value", str(floor)) == big != expect(lambda r: True)
    assert got("--role", "owner", "--min-value", str(floor)) == big & expect(lambda r: r.is_ten_percent_owner)
    assert len(insiders("--json", "--min-value", "0", "--limit", "2")) == 2  # the limit counts kept rows only


# Daily form index of 2020-03-18 (read from the fixture) and the document each accession gets.
INDEX_DOCS = {"0000899243-20-008928": TCR2, "0001638599-20-000321": TELOS, "0001638599-20-000322": FLWS,
              "0001638599-20-000323": SNOW, "0001638599-20-000324": WATER}
INDEX_BAD = {"0001127602-20-011233": "missing", "0001493152-20-004252": "namespace",
             "0001493152-20-004254": "latin1"}
INDEX_UNSERVED = {"0001493152-20-004255", "0001493152-20-004256", "0001269847-20-000023", "0001209191-20-019882",
                  "0001209191-20-019902", "0001209191-20-019903"}


def serve_index_day(sec: Sec) -> dict[str, tuple[bytes, str]]:
    sec.indexes["/Archives/edgar/daily-index/2020/QTR1/form.20200318.idx"] = \
        shared_fixture("edgar_index", FORM_IDX).read_bytes()
    for acc, name in INDEX_DOCS.items():
        sec.serve(acc, name, xml(name))
    bad = broken()
    for acc, kind in INDEX_BAD.items():
        sec.serve(acc, f"{kind}.xml", bad[kind][0])
    return bad


def test_backfill_reads_the_daily_index_and_stores_history_without_alerting(f4: Harness) -> None:
    bad = serve_index_day(f4.sec)
    start = datetime(2020, 3, 18, 22, 0, tzinfo=ET)
    opened = f4.dispatcher().backfill(NAME, start, datetime(2020, 3, 18, 22, 30, tzinfo=ET))
    assert len(opened) == 4  # 22:00, 22:10, 22:20, 22:30
    for o in opened:
        f4.check(o.run_id)
    # Only the day's last run reads its index; the feed is never polled by a backfill.
    assert [f4.counts(o.run_id).get("fetch.index_days", 0) for o in opened] == [0, 0, 0, 1]
    assert "/cgi-bin/browse-edgar" not in f4.sec.paths()
    states = {f.accession: f.state for f in f4.rows(Form4Filing)}
    assert states == {**{a: "parsed" for a in INDEX_DOCS}, **{a: "quarantined" for a in INDEX_BAD},
                      **{a: "pending" for a in INDEX_UNSERVED}}
    for acc, kind in INDEX_BAD.items():
        (q,) = f4.rows(QuarantinedRecord, QuarantinedRecord.record_key == acc)
        assert q.raw == bad[kind][0] and bad[kind][1] in q.error
    # Not yet in the archive (404): left pending for a later run, with the reason.
    for acc in INDEX_UNSERVED:
        filing = f4.filing(acc)
        assert filing.attempts == 1 and "HTTP 404" in filing.error
    # History for routine/opportunistic is built; backfilled signals are stored but held.
    owners = {m.owner_cik for m in f4.rows(InsiderPurchaseMonth)}
    assert owners == {cik for name in (TCR2, TELOS, FLWS) for cik in fields(name)["owner_ciks"]}
    found = f4.rows(Signal)
    assert found and all(s.held and "backfill" in s.hold_reason for s in found)
    assert f4.rows(AlertOutbox) == []


def test_first_morning_run_reconciles_yesterday_and_alerts_significant_buying_at_once(f4: Harness) -> None:
    serve_index_day(f4.sec)
    f4.sec.feed = {0: shared_fixture("edgar_index", PAGE2).read_bytes()}  # its filings are not served: 404
    telos = fields(TELOS)
    # A routine buyer: the Telos owner bought in May (the month of its 2023 trades) in each prior year.
    with f4.sessions.begin() as s:
        for year in (2020, 2021, 2022):
            s.add(InsiderPurchaseMonth(owner_cik=telos["owner_ciks"][0], year=year, month=5,
                                       first_accession=f"history-{year}"))
    f4.settings = f4.settings.replace(FORM4_REALTIME_MIN_SCORE=1.5)
    tick = f4.dispatcher().tick(NAME, now=datetime(2020, 3, 19, 6, 0, 5, tzinfo=ET))
    assert tick is not None
    f4.check(tick.run_id)
    assert f4.counts(tick.run_id)["fetch.index_days"] == 1  # the 06:00 run read 2020-03-18's index

    tcr2 = fields(TCR2)
    (buy,) = signals_for(f4, tcr2["issuer_cik"])
    assert not buy.held and buy.alert_state == "queued", buy.components
    assert component(buy, "opportunistic")["value"] == 1.0  # no purchase in May 2020-2022 in our store
    (routine,) = signals_for(f4, telos["issuer_cik"])
    assert component(routine, "opportunistic")["value"] == -1.0
    outbox = f4.rows(AlertOutbox, AlertOutbox.signal_id == buy.id)
    assert {(o.channel, o.tier) for o in outbox} >= {("slack", "realtime")}
    assert outbox[0].payload["links"][0]["url"].endswith(f"/{next(iter(INDEX_DOCS))}-index.htm")
    # Filings the feed listed but the archive does not serve yet stay pending; the next poll retries them.
    pending = {f.accession for f in f4.rows(Form4Filing, Form4Filing.state == "pending")}
    assert {B_FLWS, B_AMEND} <= pending
    f4.sec.serve(B_FLWS, FLWS, xml(FLWS))
    later = f4.dispatcher().tick(NAME, now=datetime(2020, 3, 19, 6, 10, 5, tzinfo=ET))
    f4.check(later.run_id)
    assert f4.filing(B_FLWS).state == "parsed" and f4.filing(B_FLWS).attempts == 1
    assert f4.counts(later.run_id).get("fetch.index_days", 0) == 0


def test_which_days_a_run_reconciles_against_the_daily_index(settings) -> None:
    calendar = discovery.form4_calendar(settings)
    monday = datetime(2020, 3, 23, 6, 0, tzinfo=ET)
    friday_last = calendar.previous_fire(monday)
    assert friday_last == datetime(2020, 3, 20, 22, 30, tzinfo=ET)
    # The first Monday run reads Friday, Saturday and Sunday (weekend indexes are simply absent).
    assert [d.isoformat() for d in discovery.reconcile_days("schedule", friday_last, monday, {}, calendar)] == \
        ["2020-03-20", "2020-03-21", "2020-03-22"]
    later = calendar.next_fire(monday)
    assert discovery.reconcile_days("schedule", monday, later, {}, calendar) == []
    assert discovery.reconcile_days("manual", friday_last, monday, {}, calendar) == []
    assert [d.isoformat() for d in discovery.reconcile_days(
        "manual", monday, later, {"reconcile_day": "2020-03-18"}, calendar)] == ["2020-03-18"]
    # A backfill reads a day in that day's last run only.
    evening = datetime(2020, 3, 18, 22, 30, tzinfo=ET)
    assert [d.isoformat() for d in discovery.reconcile_days(
        "backfill", calendar.previous_fire(evening), evening, {}, calendar)] == ["2020-03-18"]
    assert discovery.reconcile_days("backfill", evening - timedelta(minutes=20), evening - timedelta(minutes=10),
                                    {}, calendar) == []
