"""clinical_trials end to end: in-process runs on PostgreSQL against a local ClinicalTrials.gov + SEC server.

The server serves the recorded list pages by pageToken and the recorded company_tickers.json. The
first run sees the recorded studies (plus the recorded full UCB study on the last page: the only
recorded INDUSTRY sponsor, mapped to a ticker by the shipped override table); the second run sees
versions derived from them. Expected values are read from the fixture files here.
"""
from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipelines.core.ledger import QuarantinedRecord
from pipelines.core.signal_models import AlertOutbox, Signal
from pipelines.trials.catalysts import latest_sponsor_mapper
from pipelines.trials.models import (
    TABLES,
    CtgovChangeEvent,
    CtgovStudy,
    CtgovStudyVersion,
)
from tests.conftest import shared_fixture
from tests.support.csv_rows import expected_rows, read_csv
from tests.support.http_server import Answer, LocalHttpServer, Request
from tests.support.pipeline_harness import PipelineHarness, truncate
from tests.support.services import engine_env

UA = "Signals Test Suite ops@signals.example"
REPO = Path(__file__).resolve().parents[2]
UCB = "NCT02552212"  # recorded full record: COMPLETED, INDUSTRY sponsor UCB BIOSCIENCES GmbH
BAILI = "NCT06382129"  # recorded list-page study: PHASE3, Sichuan Baili, no sponsor class projected
NO_PHASES = "NCT06604689"  # recorded list-page study without designModule.phases
# A stand-in for GET /api/v2/version (no recorded copy exists); only its shape matters here.
VERSION_DOC = b'{"apiVersion": "2.0.5", "dataTimestamp": "2026-11-25T09:00:03"}'


def ct_json(name: str) -> Any:
    return json.loads(shared_fixture("clinicaltrials", name).read_bytes())


def ct_bytes(name: str) -> bytes:
    return shared_fixture("clinicaltrials", name).read_bytes()


PAGE1 = "studies_page1_phelan_pagesize5.json"
PAGE2 = "studies_page2_phelan_pagetoken.json"
LAST = "studies_lastpage_nsclc_egfr_no_token.json"
FULL = "study_NCT02552212_phase3_full_with_results_trimmed.json"


class Upstream(LocalHttpServer):
    """ClinicalTrials.gov /api/v2 (studies by pageToken, version) and SEC /files/company_tickers.json."""

    def __init__(self) -> None:
        self.pages: dict[str | None, bytes] = {}
        self.tickers = shared_fixture("edgar_index", "company_tickers_trimmed.json").read_bytes()
        super().__init__(self.answer)

    def answer(self, request: Request) -> Answer:
        if request.path == "/api/v2/studies":
            body = self.pages.get(request.query.get("pageToken", [None])[0])
            status, body = (200, body) if body is not None else (400, b'{"error": "bad pageToken"}')
        elif request.path == "/api/v2/version":
            status, body = 200, VERSION_DOC
        elif request.path == "/sec/files/company_tickers.json":
            status, body = 200, self.tickers
        else:
            status, body = 404, b"{}"
        return status, body, "application/json"

    def serve(self, page1: Any, page2: Any, last: Any) -> None:
        """Chain three pages by the recorded cursors (page 1's and page 2's nextPageToken)."""
        enc = [p if isinstance(p, bytes) else json.dumps(p).encode() for p in (page1, page2, last)]
        t1, t2 = ct_json(PAGE1)["nextPageToken"], ct_json(PAGE2)["nextPageToken"]
        self.pages = {None: enc[0], t1: enc[1], t2: enc[2]}

    def studies_queries(self) -> list[dict[str, list[str]]]:
        return [r.query for r in self.requests if r.path == "/api/v2/studies"]


def recorded_last_with_ucb() -> dict[str, Any]:
    last = ct_json(LAST)
    last["studies"].append(ct_json(FULL))
    return last


def derived_versions() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Run 2: UCB terminated (DSMB futility), primary completion 9 months later, enrolment -30%;
    the Sichuan Baili study posts results and shows its sponsor class."""
    last = recorded_last_with_ucb()
    ucb = last["studies"][-1]["protocolSection"]
    status = ucb["statusModule"]
    status["overallStatus"] = "TERMINATED"
    status["whyStopped"] = "Stopped by the DSMB for futility at the interim analysis"
    status["primaryCompletionDateStruct"]["date"] = "2019-02"
    ucb["designModule"]["enrollmentInfo"]["count"] = 222
    baili = last["studies"][0]
    baili["hasResults"] = True
    baili["protocolSection"]["statusModule"]["resultsFirstPostDateStruct"] = {"date": "2026-11-20", "type": "ACTUAL"}
    baili["protocolSection"]["sponsorCollaboratorsModule"]["leadSponsor"]["class"] = "INDUSTRY"
    return ct_json(PAGE1), ct_json(PAGE2), last


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    with Upstream() as server:
        yield server


@pytest.fixture
def ct(settings, upstream):
    truncate(settings, TABLES)
    return Harness(settings, upstream)


class Harness(PipelineHarness):
    snapshot_models = (CtgovStudy, CtgovStudyVersion, CtgovChangeEvent, Signal, AlertOutbox)

    def __init__(self, settings: Any, upstream: Upstream) -> None:
        super().__init__(settings, "clinical_trials", ("pipelines.clinical_trials",),
                         CTGOV_BASE_URL=f"{upstream.url}/api/v2", SEC_WWW_BASE_URL=f"{upstream.url}/sec",
                         SEC_USER_AGENT=UA, CTGOV_MAX_RPS=200.0, SEC_MAX_RPS=200.0)
        self.upstream = upstream

    def run(self, conf: dict[str, Any] | None = None, replay_of: int | None = None) -> int:
        return self.manual(conf, replay_of=replay_of)


def first_two_runs(ct: Harness) -> tuple[int, int]:
    ct.upstream.serve(ct_json(PAGE1), ct_json(PAGE2), recorded_last_with_ucb())
    run1 = ct.run({"data_interval_start": "2026-11-19T23:00:00+00:00",
                   "data_interval_end": "2026-11-20T23:00:00+00:00"})
    ct.upstream.serve(*derived_versions())
    run2 = ct.run({"data_interval_start": "2026-11-20T23:00:00+00:00",
                   "data_interval_end": "2026-11-21T23:00:00+00:00"})
    return run1, run2


def test_first_run_stores_baselines_and_alerts_nothing(ct):
    ct.upstream.serve(ct_bytes(PAGE1), ct_bytes(PAGE2), recorded_last_with_ucb())
    run1 = ct.run({"data_interval_start": "2026-11-19T23:00:00+00:00",
                   "data_interval_end": "2026-11-20T23:00:00+00:00"})

    # Paging: three requests with the same query, the recorded cursors, only the tracked fields.
    queries = ct.upstream.studies_queries()
    assert len(queries) == 3
    assert queries[0]["filter.advanced"] == ["AREA[Phase]PHASE3 AND AREA[LastUpdatePostDate]RANGE[2026-11-19,MAX]"]
    assert "pageToken" not in queries[0]
    assert queries[1]["pageToken"] == [ct_json(PAGE1)["nextPageToken"]]
    assert queries[2]["pageToken"] == [ct_json(PAGE2)["nextPageToken"]]
    fields = queries[0]["fields"][0].split(",")
    for piece in ("NCTId", "OverallStatus", "WhyStopped", "PrimaryCompletionDate", "EnrollmentCount", "HasResults",
                  "LeadSponsorClass", "LastUpdatePostDate"):
        assert piece in fields
    assert all(q["pageSize"] == ["1000"] for q in queries)

    # Raw pages archived exactly as served; tickers too.
    assert ct.artifact(run1, "raw/ctgov/page-00001.json") == ct_bytes(PAGE1)
    assert ct.artifact(run1, "raw/ctgov/page-00003.json") == ct.upstream.pages[ct_json(PAGE2)["nextPageToken"]]
    assert ct.artifact(run1, "raw/sec/company_tickers.json") == ct.upstream.tickers

    recorded = [s for name in (PAGE1, PAGE2) for s in ct_json(name)["studies"]] + recorded_last_with_ucb()["studies"]
    ids = {s["protocolSection"]["identificationModule"]["nctId"] for s in recorded} - {NO_PHASES}
    studies = {r.nct_id: r for r in ct.rows(CtgovStudy)}
    assert set(studies) == ids and len(ids) == 12
    versions = ct.rows(CtgovStudyVersion)
    assert len(versions) == 12 and {(v.version_no, v.run_id) for v in versions} == {(1, run1)}

    neuren = next(s for s in ct_json(PAGE2)["studies"]
                  if s["protocolSection"]["identificationModule"]["nctId"] == "NCT07281079")["protocolSection"]
    row = studies["NCT07281079"]
    assert row.overall_status == neuren["statusModule"]["overallStatus"] == "RECRUITING"
    assert row.enrollment_count == neuren["designModule"]["enrollmentInfo"]["count"]
    assert row.lead_sponsor_name == neuren["sponsorCollaboratorsModule"]["leadSponsor"]["name"]
    assert row.phases == neuren["designModule"]["phases"]
    assert row.completion_date == neuren["statusModule"]["completionDateStruct"]["date"]
    assert row.conditions == neuren["conditionsModule"]["conditions"]
    full = ct_json(FULL)
    ucb = studies[UCB]
    status = full["protocolSection"]["statusModule"]
    assert (ucb.primary_completion_date, ucb.primary_completion_type) == (
        status["primaryCompletionDateStruct"]["date"], status["primaryCompletionDateStruct"]["type"])
    assert ucb.last_update_posted == status["lastUpdatePostDateStruct"]["date"]
    assert ucb.has_results is full["hasResults"] is True
    assert ucb.lead_sponsor_class == "INDUSTRY"

    # First sighting is a baseline: no events, no signals, no alerts.
    assert ct.total(CtgovChangeEvent) == ct.total(Signal) == ct.total(AlertOutbox) == 0
    # The study without phases is quarantined with its JSON; the rest went on.
    bad = ct.rows(QuarantinedRecord)
    assert [(q.record_key, q.source) for q in bad] == [(NO_PHASES, "ctgov")]
    assert "phases" in bad[0].error
    assert json.loads(bad[0].raw) == ct_json(LAST)["studies"][1]
    counts = ct.counts(run1)
    assert counts["detect.baselines"] == 12 and counts["detect.studies_quarantined"] == 1
    assert counts["fetch.ctgov_pages"] == 3 and counts["fetch.ticker_entries"] == len(json.loads(ct.upstream.tickers))
    assert json.loads(ct.artifact(run1, "report/unmapped_sponsors.json")) == []  # UCB maps by override


def test_trials_lists_the_tracked_studies_next_readouts(ct, tmp_path: Path):
    ct.upstream.serve(ct_bytes(PAGE1), ct_bytes(PAGE2), recorded_last_with_ucb())
    ct.run({"data_interval_start": "2026-11-19T23:00:00+00:00", "data_interval_end": "2026-11-20T23:00:00+00:00"})

    def trials(*args: str) -> Any:
        proc = subprocess.run([sys.executable, "-m", "workers.cli", "trials", *args], cwd=REPO,
                              env=engine_env(ct.settings.DATABASE_URL, tmp_path, COLUMNS="160"),
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout) if "--json" in args else proc.stdout

    every = trials("--json", "--all")
    assert len(every) == 12 and {r["nct_id"] for r in every} == {r.nct_id for r in ct.rows(CtgovStudy)}
    assert read_csv(trials("--csv", "--all")) == expected_rows(every)  # phases joined by "; "
    dated = [r["date"] for r in every if r["date"]]
    assert dated == sorted(dated, key=lambda d: d + "-01-01"[:10 - len(d)])  # by first day; undated ones last
    assert [r["date"] for r in every[len(dated):]] == [None] * (len(every) - len(dated))
    full = ct_json(FULL)["protocolSection"]["statusModule"]
    [ucb] = trials("ucb bio", "--json", "--all")  # part of the sponsor's name, any case
    assert (ucb["nct_id"], ucb["milestone"], ucb["date"], ucb["date_type"], ucb["has_results"]) == (
        UCB, "primary completion", full["primaryCompletionDateStruct"]["date"],
        full["primaryCompletionDateStruct"]["type"], True)
    [baili] = trials(BAILI.lower(), "--json", "--from", "2026-11-20")  # an NCT id; its readout is ahead
    baili_status = next(s["protocolSection"]["statusModule"] for s in ct_json(LAST)["studies"]
                        if s["protocolSection"]["identificationModule"]["nctId"] == BAILI)
    assert (baili["milestone"], baili["date"]) == ("completion", baili_status["completionDateStruct"]["date"])
    # A month-precision date spans its month: 2026-12 is within 30 days of 2026-11-20, not of 2026-10-01.
    soon = {r["nct_id"] for r in trials("--json", "--from", "2026-11-20", "--days", "30")}
    assert BAILI in soon and UCB not in soon
    ahead = trials("--json", "--from", "2026-11-20")  # no --days: everything from that day on, dated
    assert BAILI in {r["nct_id"] for r in ahead} and all(r["date"] for r in ahead)
    assert UCB not in {r["nct_id"] for r in ahead}
    assert BAILI not in {r["nct_id"] for r in trials("--json", "--from", "2026-10-01", "--days", "30")}
    assert {r["status"] for r in trials("--json", "--all", "--status", "recruiting")} == {"RECRUITING"}
    assert all("PHASE3" in r["phases"] for r in trials("--json", "--all", "--phase", "phase3"))
    table = trials("ucb", "--all")
    assert "1 tracked trial(s)" in table and UCB in table and "results posted" in table and "UCBJY" in table

    # By ticker, as the score step maps sponsors: UCB's by the shipped override table; only INDUSTRY
    # sponsors have one (the page records carry no class, so none of theirs is guessed at).
    for asked in ("UCBJY", "ucbjy"):
        [by_ticker] = trials(asked, "--json", "--all")
        assert (by_ticker["nct_id"], by_ticker["ticker"], by_ticker["ticker_match"]) == (UCB, "UCBJY", "override")
    assert {r["nct_id"]: r["ticker"] for r in every if r["ticker"]} == {UCB: "UCBJY"}
    assert trials("MSFT", "--json", "--all") == []  # a ticker no tracked sponsor maps to
    # The SEC tickers are the newest run's archived company_tickers.json: names map by them too.
    no_overrides = tmp_path / "no_overrides.csv"
    no_overrides.write_text("sponsor_pattern,ticker,note\n", encoding="utf-8")
    with ct.sessions() as session:
        mapper = latest_sponsor_mapper(session, ct.settings.replace(CTGOV_SPONSOR_OVERRIDES=str(no_overrides)))
        assert mapper.match("Eli Lilly and Company", "INDUSTRY").ticker == "LLY"


def test_second_run_detects_scores_and_queues_alerts(ct):
    run1, run2 = first_two_runs(ct)
    # The second fetch starts at its own interval start (18:00 New York on 2026-11-20).
    assert ct.upstream.studies_queries()[-1]["filter.advanced"] == [
        "AREA[Phase]PHASE3 AND AREA[LastUpdatePostDate]RANGE[2026-11-20,MAX]"]

    events = {(e.nct_id, e.event_type): e for e in ct.rows(CtgovChangeEvent)}
    assert set(events) == {(UCB, "status_changed"), (UCB, "primary_completion_moved"), (UCB, "enrollment_changed"),
                           (BAILI, "results_posted")}
    assert all(e.run_id == run2 and e.version_no == 2 for e in events.values())
    status = events[(UCB, "status_changed")]
    assert (status.old_value, status.new_value) == ("COMPLETED", "TERMINATED")
    assert status.detail["why_stopped"] == "Stopped by the DSMB for futility at the interim analysis"
    moved = events[(UCB, "primary_completion_moved")]
    old_pc = ct_json(FULL)["protocolSection"]["statusModule"]["primaryCompletionDateStruct"]["date"]
    assert (moved.old_value, moved.new_value) == (old_pc, "2019-02") and old_pc == "2018-05"
    # Month windows: mid-May 2018 (day 16) to mid-February 2019 (day 14.5) is 274.5 days.
    assert moved.detail["direction"] == "later" and moved.detail["days"] in (274, 275)
    enrol = events[(UCB, "enrollment_changed")]
    old_count = ct_json(FULL)["protocolSection"]["designModule"]["enrollmentInfo"]["count"]
    assert (enrol.old_value, enrol.new_value) == (old_count, 222)
    assert enrol.detail["change_pct"] == round((222 - old_count) / old_count * 100, 1)
    versions = ct.rows(CtgovStudyVersion, CtgovStudyVersion.nct_id == UCB)
    assert [(v.version_no, v.run_id, v.overall_status) for v in sorted(versions, key=lambda v: v.version_no)] == [
        (1, run1, "COMPLETED"), (2, run2, "TERMINATED")]
    assert ct.rows(CtgovStudy, CtgovStudy.nct_id == UCB)[0].version_no == 2

    # Scores (domain notes 3.3): base + why-stopped + materiality (unknown size: 1) + lead asset (0),
    # x1.0 for an override match. UCB -> UCBJY by the shipped override table.
    signals = {s.signal_type: s for s in ct.rows(Signal)}
    assert set(signals) == {"ctgov_status_changed", "ctgov_primary_completion_moved", "ctgov_enrollment_changed"}
    expected = {"ctgov_status_changed": 5 + 2 + 1, "ctgov_primary_completion_moved": 3 + 0 + 1,
                "ctgov_enrollment_changed": 2 + 0 + 1}
    for kind, sig in signals.items():
        assert sig.ticker == "UCBJY" and sig.run_id == run2
        assert sig.score == expected[kind]
        assert [c["name"] for c in sig.components] == ["event_base", "why_stopped", "materiality", "lead_asset",
                                                      "mapping_multiplier"]
        assert sig.components[-1]["value"] == 1.0 and "override" in sig.components[-1]["explanation"]
        assert {"label": f"ClinicalTrials.gov {UCB}", "url": f"https://clinicaltrials.gov/study/{UCB}"} in sig.links
    stop = signals["ctgov_status_changed"]
    assert stop.event_key == f"{UCB}:overall_status:TERMINATED"
    assert [c["value"] for c in stop.components[:2]] == [5, 2]
    assert "efficacy_safety" in stop.components[1]["explanation"]

    # Outbox rows exactly for the signals at or over the high threshold (7.0).
    outbox = ct.rows(AlertOutbox)
    over = {s.id for s in signals.values() if s.score >= ct.settings.ALERT_HIGH_THRESHOLD}
    assert over == {stop.id}
    assert outbox and {o.signal_id for o in outbox} == over
    assert all(o.payload["ticker"] == "UCBJY" and o.payload["components"] for o in outbox)
    assert ct.counts(run2)["alert.alerts_pending"] == len(outbox)

    # The Sichuan Baili results event has an INDUSTRY sponsor with no ticker: counted and listed.
    assert ct.counts(run2)["score.events_unmapped"] == 1
    assert ct.counts(run2)["metrics.events_results_posted"] == 1
    unmapped = json.loads(ct.artifact(run2, "report/unmapped_sponsors.json"))
    assert unmapped == [{"sponsor": ct_json(LAST)["studies"][0]["protocolSection"]["sponsorCollaboratorsModule"]
                         ["leadSponsor"]["name"], "studies": 1, "example_nct_id": BAILI}]

    # Rerunning the same interval changes nothing; neither does a new run that sees the same data.
    before = ct.snapshot()
    ct.rerun(run2)
    assert ct.snapshot() == before
    # The rerun found the versions it had made and reported their events again; scoring them again
    # recorded nothing new (same run, same event keys).
    assert ct.counts(run2)["detect.versions_already_recorded"] == 2 and ct.counts(run2)["detect.events"] == 4
    assert ct.counts(run2)["score.signals"] == 0
    ct.run({"data_interval_start": "2026-11-21T23:00:00+00:00", "data_interval_end": "2026-11-22T23:00:00+00:00"})
    assert ct.snapshot() == before


def test_replay_recomputes_from_artifacts_without_http(ct):
    _, run2 = first_two_runs(ct)
    before = ct.snapshot()
    requests_before = len(ct.upstream.requests)
    replay = ct.run(replay_of=run2)
    assert len(ct.upstream.requests) == requests_before  # nothing fetched
    original = {(s.signal_type, s.event_key): s.score for s in ct.rows(Signal, Signal.run_id == run2)}
    again = ct.rows(Signal, Signal.run_id == replay)
    assert {(s.signal_type, s.event_key): s.score for s in again} == original and len(original) == 3
    # The ctgov tables are not re-recorded; the high signal is inside the dedup window: no new alert.
    after = ct.snapshot()
    assert {k: v for k, v in after.items() if k != "Signal"} == {k: v for k, v in before.items() if k != "Signal"}
    assert after["Signal"] == before["Signal"] + 3
    assert {s.alert_state for s in again if s.score >= 7} == {"suppressed"}
    assert ct.counts(replay)["detect.new_versions"] == 2  # UCB and Sichuan Baili, as run 2 saw them


def test_bad_input_is_quarantined_and_the_rest_goes_on(ct):
    page2 = ct_json(PAGE2)
    missing = page2["studies"][0]
    del missing["protocolSection"]["identificationModule"]
    unknown = page2["studies"][4]
    unknown_id = unknown["protocolSection"]["identificationModule"]["nctId"]
    unknown["protocolSection"]["statusModule"]["overallStatus"] = "ON_HOLD"
    truncated = ct_bytes(LAST)[: len(ct_bytes(LAST)) // 2]
    ct.upstream.serve(ct_json(PAGE1), page2, truncated)
    run = ct.run({"data_interval_start": "2026-11-19T23:00:00+00:00", "data_interval_end": "2026-11-20T23:00:00+00:00"})

    bad = {q.record_key: q for q in ct.rows(QuarantinedRecord)}
    assert set(bad) == {"raw/ctgov/page-00002.json:studies[0]", unknown_id, "raw/ctgov/page-00003.json"}
    assert json.loads(bad["raw/ctgov/page-00002.json:studies[0]"].raw) == missing
    assert "identificationModule" in bad["raw/ctgov/page-00002.json:studies[0]"].error
    assert json.loads(bad[unknown_id].raw) == unknown and "'ON_HOLD'" in bad[unknown_id].error
    assert bytes(bad["raw/ctgov/page-00003.json"].raw) == truncated
    assert "not valid JSON" in bad["raw/ctgov/page-00003.json"].error
    good = {s["protocolSection"]["identificationModule"]["nctId"] for s in ct_json(PAGE1)["studies"]} | {
        s["protocolSection"]["identificationModule"]["nctId"] for s in page2["studies"][1:4]}
    assert {r.nct_id for r in ct.rows(CtgovStudy)} == good and len(good) == 8
    counts = ct.counts(run)
    assert counts["fetch.ctgov_pages_unreadable"] == 1
    assert (counts["detect.pages_quarantined"], counts["detect.studies_quarantined"]) == (1, 2)


def test_full_backfill_walks_every_phase3_study(ct, caplog):
    ct.upstream.serve(ct_json(PAGE1), ct_json(PAGE2), recorded_last_with_ucb())
    caplog.set_level("INFO", logger="signals.clinical_trials")
    run = ct.run({"full_backfill": True})
    assert [q["filter.advanced"] for q in ct.upstream.studies_queries()] == [["AREA[Phase]PHASE3"]] * 3
    total = ct_json(PAGE1)["totalCount"]
    pages = [r.getMessage() for r in caplog.records if "ctgov backfill page" in r.getMessage()]
    assert pages == [f"ctgov backfill page 1: 5/{total} studies", f"ctgov backfill page 2: 10/{total} studies",
                     f"ctgov backfill page 3: 13/{total} studies"]
    assert ct.counts(run)["fetch.full_backfill"] == 1 and ct.counts(run)["detect.baselines"] == 12
    assert datetime.now(UTC) > ct.rows(CtgovStudy)[0].first_seen_at
