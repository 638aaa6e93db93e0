"""patent_ip end to end: in-process runs on PostgreSQL against a local server serving an Orange Book ZIP.

The ZIP is built here from the three recorded fixture files. The derived release (run 2) makes one
change of each kind the diff reports, plus two unreadable rows; every expected value below is
worked out by hand from the fixture rows named in the comments.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from notifications.routing import route_signal
from pipelines.core.ledger import QuarantinedRecord
from pipelines.core.signal_models import AlertOutbox, Signal
from pipelines.patents.models import (
    OB_TABLES,
    ObCalendarEntry,
    ObExclusivity,
    ObPatent,
    ObProduct,
    ObRelease,
    ObReleaseEvent,
)
from tests.conftest import shared_fixture
from tests.support.csv_rows import expected_rows, read_csv
from tests.support.http_server import Answer, LocalHttpServer, Request
from tests.support.pipeline_harness import PipelineHarness, truncate
from tests.support.services import engine_env

FILES = ("products.txt", "patent.txt", "exclusivity.txt")
CONF = {"as_of": "2026-06-01", "revenue_shares": {"IMBRUVICA": 0.3, "QVAR REDIHALER": 0.12}}
# Test-made rows of the derived release (not FDA data): a patent listed for IMBRUVICA 70MG, an
# orphan exclusivity for KOMZIFTI, and a generic of GILENYA 0.5MG from an obviously fictional firm.
ADDED_PATENT = "N~205552~002~11111111~Jun 3, 2033~Y~~U-1946~~May 1, 2026"
ADDED_EXCLUSIVITY = "N~220305~001~ODE-500~Nov 13, 2032"
ADDED_GENERIC = ("FINGOLIMOD HYDROCHLORIDE~CAPSULE;ORAL~FINGOLIMOD HYDROCHLORIDE~TEST GENERICS~EQ 0.5MG BASE~A~"
                 "299999~001~AB~Apr 1, 2026~No~No~RX~TEST GENERICS LLC")
BAD_PATENT = "N~205552~001~12345678~Jun 3, 2031~~~U-1745"  # 8 fields instead of 10
BAD_EXCLUSIVITY = "N~205552~001~NPP~TBD"  # unknown date text

REPO = Path(__file__).resolve().parents[2]


def fixture_text(name: str) -> str:
    return shared_fixture("orange_book", name).read_bytes().decode("ascii")


def make_zip(texts: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in FILES:
            zf.writestr(name, texts[name].encode("ascii"))
    return buf.getvalue()


def recorded_zip() -> bytes:
    return make_zip({f: fixture_text(f) for f in FILES})


def derived_zip() -> bytes:
    products = fixture_text("products.txt").rstrip("\n") + "\n" + ADDED_GENERIC + "\n"
    patents = fixture_text("patent.txt")
    # QVAR 0.08MG: patent 8931476 (Jul 17, 2031, DP) gets Delist_Flag Y.
    old = "N~207921~002~8931476~Jul 17, 2031~~Y~~~Aug 28, 2017"
    assert old in patents
    patents = patents.replace(old, "N~207921~002~8931476~Jul 17, 2031~~Y~~Y~Aug 28, 2017")
    # KOSELUGO 10MG: patent 9562017 moves from Dec 12, 2026 to Jun 12, 2027 (product 001 only).
    old = "N~213756~001~9562017~Dec 12, 2026~Y~~U-4357~~May 6, 2020"
    assert old in patents
    patents = patents.replace(old, "N~213756~001~9562017~Jun 12, 2027~Y~~U-4357~~May 6, 2020")
    patents += "\r\n" + ADDED_PATENT + "\r\n" + BAD_PATENT
    exclusivity = fixture_text("exclusivity.txt") + "\r\n" + ADDED_EXCLUSIVITY + "\r\n" + BAD_EXCLUSIVITY
    return make_zip({"products.txt": products, "patent.txt": patents, "exclusivity.txt": exclusivity})


class Upstream(LocalHttpServer):
    """Serves /ob.zip (whatever the test sets), SEC's recorded company_tickers.json, and 404 for
    anything else: the Paragraph IV list (none is recorded) and the USPTO API."""

    def __init__(self) -> None:
        self.zip = b""
        self.tickers = shared_fixture("edgar_index", "company_tickers_trimmed.json").read_bytes()
        super().__init__(self.answer)

    def answer(self, request: Request) -> Answer:
        if request.path == "/ob.zip":
            return 200, self.zip, "application/zip"
        if request.path == "/sec/files/company_tickers.json":
            return 200, self.tickers, "application/json"
        return 404, b"not found", "text/plain"


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    with Upstream() as server:
        yield server


class Harness(PipelineHarness):
    snapshot_models = (ObRelease, ObProduct, ObPatent, ObExclusivity, ObCalendarEntry, ObReleaseEvent, Signal,
                       AlertOutbox, QuarantinedRecord)

    def __init__(self, settings: Any, upstream: Upstream) -> None:
        super().__init__(settings, "patent_ip", ("pipelines.patent_ip",), ORANGE_BOOK_URL=f"{upstream.url}/ob.zip",
                         PARAGRAPH_IV_URL=f"{upstream.url}/piv", SEC_USER_AGENT="", USPTO_API_KEY="")
        self.upstream = upstream

    def run(self, zip_bytes: bytes | None = None, *, replay_of: int | None = None, expect: str = "success",
            **conf: Any) -> int:
        if zip_bytes is not None:
            self.upstream.zip = zip_bytes
        return self.manual({**CONF, **conf}, replay_of=replay_of, expect=expect)


@pytest.fixture
def ob(settings, upstream) -> Harness:
    truncate(settings, OB_TABLES)
    return Harness(settings, upstream)


def test_first_release_is_loaded_calendared_scored_and_reported(ob):
    run = ob.run(recorded_zip())
    counts = ob.run_row(run).counts
    assert counts["extraction.products"] == 35 and counts["extraction.patents"] == 57
    assert counts["extraction.exclusivities"] == 53 and counts["extraction.skipped_unchanged"] == 0
    assert counts["load.baseline_release"] == 1 and counts["load.events"] == 0
    (release,) = ob.rows(ObRelease)
    assert release.sha256 == hashlib.sha256(ob.upstream.zip).hexdigest()
    assert (release.product_count, release.patent_count, release.exclusivity_count) == (35, 57, 53)
    assert release.run_id == run and release.as_of == date(2026, 6, 1)
    assert ob.total(ObProduct) == 35 and ob.total(ObPatent) == 57 and ob.total(ObExclusivity) == 53
    # Row fields as in the files: N~205552~001~8476284*PED~Jun 28, 2027~~~~~ (PED row, no submission date).
    (ped,) = ob.rows(ObPatent, ObPatent.patent_no == "8476284", ObPatent.ped.is_(True))
    assert (ped.appl_no, ped.product_no, ped.expire_date, ped.submission_date) == ("205552", "001",
                                                                                  date(2027, 6, 28), None)
    (hy_pam,) = ob.rows(ObProduct, ObProduct.appl_no == "088713")
    assert (hy_pam.trade_name, hy_pam.approval_date, hy_pam.type) == ('HY-PAM "25"', date(1985, 3, 4), "DISCN")
    calendar = {(c.appl_no, c.product_no): c for c in ob.rows(ObCalendarEntry)}
    assert len(calendar) == 32  # 32 NDA rows in products.txt
    # IMBRUVICA 140MG: 10004746*PED Dec 3, 2031 is the last patent; PED exclusivity Feb 24, 2030.
    imb = calendar[("205552", "001")]
    assert (imb.effective_loe, imb.last_exclusivity_expiry, imb.ped_applied, imb.ticker) == (
        date(2031, 12, 3), date(2030, 2, 24), True, "ABBV")  # PHARMACYCLICS LLC -> ABBV (override table)
    # IMBRUVICA 140MG from 2026-06-01: LOE > 36 months away (0), no generic (0), 30% revenue (3).
    assert imb.score == 3.0
    assert [c["name"] for c in imb.score_components] == ["time_to_loe", "generic_pressure", "revenue_exposure"]
    # UCERIS: no patents; ANDA 215328 (same ingredient, form, strength, AB) -> one generic.
    uceris = calendar[("205613", "001")]
    assert (uceris.effective_loe, uceris.generic_count, uceris.generics[0]["appl_no"]) == (None, 1, "215328")
    # KOSELUGO 10MG: 12364684 Mar 26, 2029, within 36 months of 2026-06-01 -> 1 point.
    assert calendar[("213756", "001")].effective_loe == date(2029, 3, 26)
    assert calendar[("213756", "001")].score == 1.0
    assert ob.total(Signal) == 0 and ob.total(ObReleaseEvent) == 0

    piv = ob.artifact(run, "enrichment/paragraph_iv.json").decode()
    assert '"status": "unavailable"' in piv and "404" in piv
    assert '"status": "off"' in ob.artifact(run, "enrichment/uspto.json").decode()
    reports = ob.settings.var_dir / "reports"
    rows = list(csv.DictReader(io.StringIO((reports / "orange_book_calendar.csv").read_text())))
    assert len(rows) == 32 and rows[0]["appl_no"] == "205613"
    ics = (reports / "orange_book_loe.ics").read_bytes()
    assert ics.count(b"BEGIN:VEVENT") == 25  # 32 NDA products, 7 of them without any patent or exclusivity
    assert ics == ob.artifact(run, "reports/orange_book_loe.ics")
    html = (reports / "orange_book_report.html").read_text()
    assert "Cliffs in the next 36 months" in html and "<svg" in html and "KOSELUGO" in html

    # `signals patents`: the same calendar from the database, by loss of exclusivity.
    def patents(*args: str) -> Any:
        proc = subprocess.run([sys.executable, "-m", "workers.cli", "patents", *args], cwd=REPO,
                              env=engine_env(ob.settings.DATABASE_URL, ob.settings.var_dir, COLUMNS="160"),
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout) if "--json" in args else proc.stdout

    soon = patents("--json", "--from", "2026-06-01")  # 36 months by default
    assert soon["release_as_of"] == "2026-06-01"
    assert read_csv(patents("--csv", "--from", "2026-06-01")) == expected_rows(
        soon["products"], {"release_as_of": "2026-06-01"})
    loes = [p["effective_loe"] for p in soon["products"]]
    assert loes == sorted(loes) and all("2026-06-01" <= d <= "2029-06-01" for d in loes)
    within = {key for key, c in calendar.items()
              if c.effective_loe and date(2026, 6, 1) <= c.effective_loe <= date(2029, 6, 1)}
    assert {(p["appl_no"], p["product_no"]) for p in soon["products"]} == within
    assert ("213756", "001") in within  # KOSELUGO 2029-03-26
    abbv = patents("abbv", "--json", "--all")["products"]  # a ticker, any case
    assert ("205552", "001") in {(p["appl_no"], p["product_no"]) for p in abbv}
    assert {p["ticker"] for p in abbv} == {"ABBV"}
    imb = next(p for p in abbv if (p["appl_no"], p["product_no"]) == ("205552", "001"))
    assert (imb["effective_loe"], imb["ped_applied"], imb["score"]) == ("2031-12-03", True, 3.0)
    [uc] = patents("uceris", "--json", "--all")["products"]  # part of a trade name
    assert (uc["effective_loe"], uc["generic_count"]) == (None, 1)
    assert "KOSELUGO" in patents("--from", "2026-06-01")


def test_unchanged_zip_is_skipped_and_the_run_recorded(ob):
    ob.run(recorded_zip())
    before = ob.snapshot()
    run = ob.run()  # the server still serves the same bytes
    counts = ob.run_row(run).counts
    assert counts["extraction.skipped_unchanged"] == 1
    assert counts["enrichment.skipped"] == counts["calendar.skipped"] == counts["load.skipped"] == 1
    assert counts["alert.reports_skipped"] == 1
    assert ob.snapshot() == before


def test_derived_release_gives_events_scored_signals_and_outbox_rows(ob):
    ob.run(recorded_zip())
    run = ob.run(derived_zip())
    counts = ob.run_row(run).counts
    assert counts["extraction.row_errors_quarantined"] == 2 and counts["load.events"] == 5
    quarantined = ob.rows(QuarantinedRecord, QuarantinedRecord.run_id == run)
    assert sorted(q.raw.decode() for q in quarantined) == sorted([BAD_PATENT, BAD_EXCLUSIVITY])
    assert any("expected 10 fields, found 8" in q.error for q in quarantined)
    assert any("unknown date text 'TBD'" in q.error for q in quarantined)
    # The rest of the release went on: 35 + 1 products, 57 + 1 patents, 53 + 1 exclusivities.
    (_, new) = ob.rows(ObRelease)
    assert (new.product_count, new.patent_count, new.exclusivity_count, new.row_error_count) == (36, 58, 54, 2)

    events = {e.event_key: e for e in ob.rows(ObReleaseEvent)}
    assert set(events) == {
        "orange_book:patent_added:N205552-002:11111111",
        "orange_book:patent_delisted:N207921-002:8931476",
        "orange_book:patent_expiry_moved:N213756-001:9562017:2027-06-12",
        "orange_book:exclusivity_added:N220305-001:ODE-500:2032-11-13",
        "orange_book:generic_approval:N022527-001:A299999-001",
    }
    moved = events["orange_book:patent_expiry_moved:N213756-001:9562017:2027-06-12"]
    assert (moved.detail["old_expire_date"], moved.detail["new_expire_date"]) == ("2026-12-12", "2027-06-12")

    signals = {s.event_key: s for s in ob.rows(Signal, Signal.run_id == run)}
    assert len(signals) == 5
    added = signals["orange_book:patent_added:N205552-002:11111111"]
    # IMBRUVICA 70MG: LOE 2031-06-03 -> 2033-06-03 (> 36 months: 0), no generic (0), 30% revenue (3),
    # newly listed patent (+1), LOE moved (+1): 5, raised to the alert floor of 7 (listing change, exposure 3).
    assert [(c["name"], c["value"]) for c in added.components] == [
        ("time_to_loe", 0.0), ("generic_pressure", 0.0), ("revenue_exposure", 3.0), ("event", 1.0),
        ("loe_moved", 1.0), ("alert_floor", 2.0)]
    assert (added.score, added.ticker, added.signal_type, added.alert_state) == (
        7.0, "ABBV", "orange_book_patent_added", "queued")
    assert {"label": "Orange Book patents and exclusivities",
            "url": "https://www.accessdata.fda.gov/scripts/cder/ob/patent_info.cfm?Product_No=002&Appl_No=205552"
                   "&Appl_type=N"} in added.links
    # QVAR 0.08MG: LOE stays 2041-05-05 (0), no generic, 12% revenue (2), delisted (+2): 4, floor -> 7.
    delisted = signals["orange_book:patent_delisted:N207921-002:8931476"]
    assert (delisted.score, delisted.ticker) == (7.0, "TEVA")  # NORTON WATERFORD LTD -> TEVA (override table)
    # GILENYA 0.5MG: LOE 2027-12-25 is within 24 months (2), now one generic (+1), first generic (+2): 5.
    generic = signals["orange_book:generic_approval:N022527-001:A299999-001"]
    assert (generic.score, generic.ticker, generic.alert_state) == (5.0, "NVS", "below_threshold")
    assert generic.details["anda_applicant"] == "TEST GENERICS LLC"
    # KOSELUGO 10MG: LOE 2029-03-26 within 36 months (1), no revenue share supplied, expiry moved (+1): 2.
    assert signals["orange_book:patent_expiry_moved:N213756-001:9562017:2027-06-12"].score == 2.0
    revenue = next(c for c in signals["orange_book:patent_expiry_moved:N213756-001:9562017:2027-06-12"].components
                   if c["name"] == "revenue_exposure")
    assert revenue["value"] == 0.0 and revenue["explanation"].startswith("unavailable")

    outbox = ob.rows(AlertOutbox, AlertOutbox.run_id == run, AlertOutbox.kind == "signal")
    by_signal = {(o.signal_id, o.channel) for o in outbox}
    expected = {(s.id, ch) for s in (added, delisted)
                for ch in route_signal(7.0, s.ticker, False, ob.settings).channels}
    assert expected and by_signal == expected
    assert ob.run_row(run).counts["alert.alerts_pending"] >= len(outbox)


def test_loading_the_same_release_twice_changes_nothing(ob):
    ob.run(recorded_zip())
    run = ob.run(derived_zip())
    before = ob.snapshot()
    replay = ob.run(replay_of=run)  # recomputed from run's stored ZIP: the load finds the release there
    assert ob.run_row(replay).counts["load.already_loaded"] == 1
    forced = ob.run(force=True)  # the same ZIP downloaded again and forced through
    assert ob.run_row(forced).counts["load.already_loaded"] == 1
    after = ob.snapshot()
    # Only the quarantine grows: the forced run read (and reported) the same two bad rows again.
    assert after.pop("QuarantinedRecord") == before.pop("QuarantinedRecord") + 2
    assert after == before
    assert ob.upstream.paths().count("/ob.zip") == 3  # the replay did not download


def test_truncated_zip_fails_the_run_clearly(ob):
    data = recorded_zip()
    run = ob.run(data[: len(data) // 2], expect="failed")
    failed = ob.run_row(run)
    assert failed.failed_step == "extraction"
    assert "Orange Book ZIP is truncated or invalid" in failed.error
    assert ob.total(ObRelease) == 0
    alerts = ob.rows(AlertOutbox, AlertOutbox.run_id == run, AlertOutbox.kind == "failure")
    assert alerts and all("extraction" in a.payload["title"] for a in alerts)


def test_inspect_orange_book_prints_the_calendar(capsys, tmp_path, monkeypatch):
    from rich.console import Console

    from workers.cli import inspect_orange_book
    from workers.cli.inspect_orange_book import run

    monkeypatch.setattr(inspect_orange_book, "console", Console(width=220))  # a wide terminal

    folder = shared_fixture("orange_book", "products.txt").parent
    assert run(argparse.Namespace(dir=str(folder), json=True)) == 0
    records = json.loads(capsys.readouterr().out)
    assert len(records) == 32  # one object per NDA row of products.txt
    # IMBRUVICA 140MG: 10004746*PED (Dec 3, 2031) is the last patent, none flagged DS/DP; PED
    # exclusivity Feb 24, 2030 is the last exclusivity; no ANDA shares its ingredient.
    assert next(r for r in records if (r["appl_no"], r["product_no"]) == ("205552", "001")) == {
        "appl_no": "205552", "product_no": "001", "trade_name": "IMBRUVICA", "ingredient": "IBRUTINIB",
        "applicant": "PHARMACYCLICS LLC", "last_patent_expiry": "2031-12-03", "last_ds_dp_patent_expiry": None,
        "last_exclusivity_expiry": "2030-02-24", "effective_loe": "2031-12-03", "ped_applied": True,
        "generic_count": 0,
    }
    assert run(argparse.Namespace(dir=str(folder), json=False)) == 0
    plain = capsys.readouterr().out
    assert "IMBRUVICA" in plain and "2031-12-03" in plain and "32 NDA products" in plain
    assert run(argparse.Namespace(dir=str(tmp_path), json=True)) == 2
    assert "missing products.txt" in capsys.readouterr().err


def test_optional_enrichers_are_recorded_and_never_fail_the_run(ob):
    ob.settings = ob.settings.replace(USPTO_API_KEY="test-key", USPTO_BASE_URL=ob.upstream.url,
                                      SEC_USER_AGENT="Signals Test Suite ops@signals.example",
                                      SEC_WWW_BASE_URL=f"{ob.upstream.url}/sec")
    run = ob.run(recorded_zip())
    # USPTO: one lookup was tried, with the key header; the 404 made the enricher "unavailable".
    uspto = json.loads(ob.artifact(run, "enrichment/uspto.json"))
    assert uspto["status"] == "unavailable" and "404" in uspto["reason"]
    lookups = [r for r in ob.upstream.requests if r.path.startswith("/api/v1/patent/applications/search")]
    assert len(lookups) == 1 and lookups[0].headers.get("X-API-KEY") == "test-key"
    # SEC tickers: fetched (and kept as a raw artifact); none of its titles is an Orange Book
    # applicant, so the mapping still comes from the override table.
    assert ob.artifact(run, "raw/company_tickers.json") == shared_fixture(
        "edgar_index", "company_tickers_trimmed.json").read_bytes()
    tickers = json.loads(ob.artifact(run, "enrichment/tickers.json"))
    assert tickers["sec_tickers"] == "fetched"
    assert tickers["applicants"]["PHARMACYCLICS LLC"] == {"ticker": "ABBV", "cik": None, "source": "override"}
    assert "IPSEN BIOPHARMACEUTICALS INC" in tickers["unmapped"]
