"""ClinicalTrials.gov v2: normalizing recorded studies and pages, bad input, and change detection."""
from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any

import pytest

from pipelines.core.errors import DataError
from pipelines.sources.ctgov import diff as d
from pipelines.sources.ctgov.fast import fast_study
from pipelines.sources.ctgov.normalize import (
    Enrollment,
    PartialDate,
    StudyDataError,
    StudyDate,
    inspect_document,
    normalize_study,
    parse_studies_page,
    snapshot_to_json,
    validated_study,
)
from tests.conftest import shared_fixture

FULL = "study_NCT02552212_phase3_full_with_results_trimmed.json"
FIELDS = "study_NCT06382129_phase3_fields.json"
PAGE1 = "studies_page1_phelan_pagesize5.json"
PAGE2 = "studies_page2_phelan_pagetoken.json"
LAST = "studies_lastpage_nsclc_egfr_no_token.json"


def raw(name: str) -> bytes:
    return shared_fixture("clinicaltrials", name).read_bytes()


def load(name: str) -> Any:
    return json.loads(raw(name))


# --- PartialDate ---------------------------------------------------------------------------------

def test_month_only_date_is_a_window_not_a_day():
    p = PartialDate.parse("2026-12")
    assert (p.year, p.month, p.day) == (2026, 12, None)
    assert p.precision == "month"
    assert (p.start, p.end) == (date(2026, 12, 1), date(2026, 12, 31))
    assert p.isoformat() == "2026-12"
    assert PartialDate.parse("2024-02").end == date(2024, 2, 29)


def test_day_date_and_bad_dates():
    p = PartialDate.parse("2024-05-17")
    assert (p.year, p.month, p.day, p.precision) == (2024, 5, 17, "day")
    assert p.start == p.end == date(2024, 5, 17)
    for bad in ("2026", "2026-13", "2025-02-30", "12/2026", "2026-1-05"):
        with pytest.raises(ValueError):
            PartialDate.parse(bad)


# --- normalize_study on recorded records ---------------------------------------------------------

def test_full_record_with_results():
    s = normalize_study(load(FULL))
    assert s.nct_id == "NCT02552212"
    assert s.brief_title == ("Multicenter Study Evaluating Certolizumab Pegol Compared to Placebo in "
                             "Subjects With axSpA Without X-ray Evidence of AS")
    assert s.overall_status == "COMPLETED"
    assert s.why_stopped is None
    assert s.primary_completion == StudyDate(PartialDate(2018, 5, None), "ACTUAL")
    assert s.completion == StudyDate(PartialDate(2020, 5, None), "ACTUAL")
    assert s.enrollment == Enrollment(317, "ACTUAL")
    assert s.has_results is True
    assert s.results_first_posted == PartialDate(2020, 8, 17)
    # leadSponsor, not identificationModule.organization ("UCB Pharma")
    assert (s.lead_sponsor_name, s.lead_sponsor_class) == ("UCB BIOSCIENCES GmbH", "INDUSTRY")
    assert s.phases == ("PHASE3",)
    assert s.conditions == ("Axial Spondyloarthritis", "Nonradiographic Axial Spondyloarthritis", "Nr-axSpA")
    assert s.interventions == ("Certolizumab Pegol", "Placebo")
    assert s.last_update_posted == PartialDate(2022, 8, 18)
    assert s.url == "https://clinicaltrials.gov/study/NCT02552212"


def test_projected_record_leaves_missing_fields_none():
    s = normalize_study(load(FIELDS))
    assert s.nct_id == "NCT06382129"
    assert s.brief_title.startswith("A Study Comparing BL-B01D1 With Docetaxel")
    assert s.overall_status == "ACTIVE_NOT_RECRUITING"
    assert s.primary_completion is None  # not projected
    assert s.completion == StudyDate(PartialDate(2026, 12, None), None)  # "2026-12", no type key
    assert s.enrollment == Enrollment(698, None)
    assert s.has_results is None
    assert s.results_first_posted is None
    assert s.lead_sponsor_name == "Sichuan Baili Pharmaceutical Co., Ltd."
    assert s.lead_sponsor_class is None
    assert s.phases == ("PHASE3",)
    assert s.conditions == ("Non-small Cell Lung Cancer",)
    assert s.interventions == ("BL-B01D1", "Docetaxel")
    assert s.last_update_posted is None


def test_snapshot_json_keeps_precision():
    out = snapshot_to_json(normalize_study(load(FULL)))
    assert out["primary_completion"] == {"date": "2018-05", "precision": "month", "type": "ACTUAL"}
    assert out["results_first_posted"] == "2020-08-17"
    assert out["enrollment"] == {"count": 317, "type": "ACTUAL"}
    json.dumps(out)  # JSON-able


# --- list pages ----------------------------------------------------------------------------------

def test_first_page_has_total_and_token():
    page = parse_studies_page(raw(PAGE1))
    assert page.errors == []
    assert page.total_count == 21
    assert page.next_page_token == "ZVt07cGHkvI2wRk2CJf6_LLq14bEL8swd7KrgP4dnDeTsPkw"
    assert [s.nct_id for s in page.snapshots] == [
        "NCT02710084", "NCT05105685", "NCT01525901", "NCT03493607", "NCT07119606"]
    by_id = {s.nct_id: s for s in page.snapshots}
    assert by_id["NCT05105685"].phases == ("PHASE1", "PHASE2")
    assert by_id["NCT05105685"].interventions == ("recombinant human growth hormone", "Saline")
    assert by_id["NCT01525901"].completion == StudyDate(PartialDate(2016, 8, 23), None)
    last = by_id["NCT07119606"]
    assert (last.overall_status, last.phases, last.enrollment) == ("NOT_YET_RECRUITING", ("NA",), Enrollment(650, None))
    assert last.lead_sponsor_name == "Assistance Publique - H\u00f4pitaux de Paris"


def test_later_page_has_no_total():
    snapshots, token, total, errors = parse_studies_page(raw(PAGE2))
    assert (total, errors) == (None, [])
    assert token == "ZVt07cGHkvI2wRk2CJf6_LLq14bEL8swd7KrgP4bmjeauvk_IQ"
    assert len(snapshots) == 5
    neuren = next(s for s in snapshots if s.nct_id == "NCT07281079")
    assert neuren.phases == ("PHASE3",)
    assert neuren.overall_status == "RECRUITING"
    assert neuren.lead_sponsor_name == "Neuren Pharmaceuticals Limited"
    assert neuren.enrollment == Enrollment(160, None)
    assert neuren.completion == StudyDate(PartialDate(2027, 11, 15), None)
    assert neuren.interventions == ("NNZ-2591", "Placebo")
    pixi = next(s for s in snapshots if s.nct_id == "NCT03836300")
    assert pixi.overall_status == "ENROLLING_BY_INVITATION"
    assert len(pixi.conditions) == 14 and pixi.conditions[-1] == "Down Syndrome"


def test_last_page_has_no_token_and_a_study_without_phases():
    page = parse_studies_page(raw(LAST))
    assert page.next_page_token is None
    assert page.total_count == 2
    assert [s.nct_id for s in page.snapshots] == ["NCT06382129", "NCT06604689"]
    assert page.snapshots[1].phases == ()
    assert page.snapshots[0].completion.date == PartialDate(2026, 12, None)


def test_study_without_phases_is_an_error_when_phases_are_required():
    page = parse_studies_page(raw(LAST), require_phases=True)
    assert [s.nct_id for s in page.snapshots] == ["NCT06382129"]
    assert len(page.errors) == 1
    err = page.errors[0]
    assert isinstance(err, StudyDataError) and isinstance(err, DataError)
    assert err.record_key == "NCT06604689"
    assert err.source == "ctgov"
    assert "designModule.phases" in str(err) and "NCT06604689" in str(err)
    assert json.loads(err.raw) == load(LAST)["studies"][1]


def test_bad_studies_are_reported_and_the_page_goes_on():
    page = load(PAGE1)
    studies = page["studies"]
    del studies[1]["protocolSection"]
    del studies[2]["protocolSection"]["identificationModule"]
    studies[3]["protocolSection"]["statusModule"]["overallStatus"] = "PAUSED_FOR_LUNCH"
    studies[4]["protocolSection"]["designModule"]["phases"] = ["PHASE5"]
    broken = copy.deepcopy(studies)

    result = parse_studies_page(page)
    assert [s.nct_id for s in result.snapshots] == ["NCT02710084"]
    assert [e.record_key for e in result.errors] == ["studies[1]", "studies[2]", "NCT03493607", "NCT07119606"]
    assert "protocolSection" in str(result.errors[0])
    assert "identificationModule" in str(result.errors[1])
    assert "overallStatus" in str(result.errors[2]) and "PAUSED_FOR_LUNCH" in str(result.errors[2])
    assert "PHASE5" in str(result.errors[3])
    assert [json.loads(e.raw) for e in result.errors] == broken[1:]
    assert result.total_count == 21  # page metadata survives bad studies


def test_bad_nct_id_and_wrong_types():
    study = load(FIELDS)
    study["protocolSection"]["identificationModule"]["nctId"] = "NCT123"
    with pytest.raises(DataError, match="nctId"):
        normalize_study(study)
    study = load(FIELDS)
    study["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = "698"
    with pytest.raises(DataError, match="enrollmentInfo.count"):
        normalize_study(study)
    study = load(FULL)
    study["protocolSection"]["statusModule"]["primaryCompletionDateStruct"]["date"] = "May 2018"
    with pytest.raises(DataError, match="primaryCompletionDateStruct"):
        normalize_study(study)


def _every_recorded_study() -> list[dict[str, Any]]:
    found = []
    for name in (FULL, FIELDS, PAGE1, PAGE2, LAST):
        doc = load(name)
        found += doc.get("studies", [doc])
    return found


def test_fast_path_reads_every_recorded_study_as_the_validated_reader_does():
    studies = _every_recorded_study()
    assert len(studies) == 14
    for study in studies:
        for require_phases in (False, True):
            try:
                expected = validated_study(study, require_phases=require_phases)
            except DataError:
                assert fast_study(study, require_phases) is None  # only NCT06604689, without phases
                continue
            assert fast_study(study, require_phases) == expected


def test_fast_path_gives_every_unusual_study_to_the_validated_reader():
    def variant(edit) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        study = load(FULL)
        edit(study, study["protocolSection"])
        return study

    odd = [
        variant(lambda s, p: p["statusModule"].update(overallStatus="PAUSED")),
        variant(lambda s, p: p["statusModule"].update(whyStopped=3)),
        variant(lambda s, p: p["statusModule"]["primaryCompletionDateStruct"].update(type="GUESSED")),
        variant(lambda s, p: p["statusModule"]["completionDateStruct"].update(date="2020-13")),
        variant(lambda s, p: p["statusModule"].update(lastUpdatePostDateStruct="2022-08-18")),
        variant(lambda s, p: p["designModule"]["enrollmentInfo"].update(count=True)),
        variant(lambda s, p: p["designModule"].update(phases="PHASE3")),
        variant(lambda s, p: p["sponsorCollaboratorsModule"]["leadSponsor"].update({"class": "BIG_PHARMA"})),
        variant(lambda s, p: p["armsInterventionsModule"]["interventions"].append("Placebo")),
        variant(lambda s, p: p["conditionsModule"].update(conditions=["axSpA", None])),
        variant(lambda s, p: s.update(hasResults="yes")),
        variant(lambda s, p: p.update(statusModule=None)),  # null module: valid, read as absent
    ]
    for study in odd:
        assert fast_study(study, False) is None
    assert normalize_study(odd[-1]).overall_status is None
    for study in odd[:-1]:
        with pytest.raises(DataError):
            normalize_study(study)


def test_truncated_json_is_a_data_error():
    data = raw(PAGE1)
    with pytest.raises(DataError, match="not valid JSON"):
        parse_studies_page(data[: len(data) // 2])
    with pytest.raises(DataError, match="'studies' list"):
        parse_studies_page(b'{"totalCount": 3}')


def test_inspect_document_handles_study_and_page():
    single = inspect_document(raw(FIELDS))
    assert single["kind"] == "study" and single["study"]["nct_id"] == "NCT06382129"
    page = inspect_document(raw(PAGE2))
    assert page["kind"] == "page" and page["total_count"] is None
    assert [s["nct_id"] for s in page["studies"]][-1] == "NCT07281079"
    assert page["errors"] == []


# --- change detection ----------------------------------------------------------------------------

def full_with(**status_changes: Any) -> dict[str, Any]:
    obj = load(FULL)
    obj["protocolSection"]["statusModule"].update(status_changes)
    return obj


def test_first_sighting_and_no_change_give_no_events():
    new = normalize_study(load(FULL))
    assert d.diff_snapshots(None, new) == []
    assert d.diff_snapshots(normalize_study(load(FULL)), new) == []


def test_status_transition_to_completed():
    old = normalize_study(full_with(overallStatus="ACTIVE_NOT_RECRUITING"))
    [event] = d.diff_snapshots(old, normalize_study(load(FULL)))
    assert event.event_type == d.STATUS_CHANGED
    assert (event.field, event.old, event.new) == ("overall_status", "ACTIVE_NOT_RECRUITING", "COMPLETED")
    assert event.detail == {"from": "ACTIVE_NOT_RECRUITING", "to": "COMPLETED"}
    assert event.event_key == "NCT02552212:overall_status:COMPLETED"
    assert event.event_time == PartialDate(2022, 8, 18)


def test_termination_carries_why_stopped_and_unwatched_moves_are_ignored():
    old = normalize_study(full_with(overallStatus="RECRUITING"))
    new = normalize_study(full_with(overallStatus="TERMINATED", whyStopped="Futility at interim analysis"))
    [event] = d.diff_snapshots(old, new)
    assert event.detail == {"from": "RECRUITING", "to": "TERMINATED",
                            "why_stopped": "Futility at interim analysis"}
    not_yet = normalize_study(full_with(overallStatus="NOT_YET_RECRUITING"))
    assert d.diff_snapshots(not_yet, old) == []  # NOT_YET_RECRUITING -> RECRUITING is no catalyst


def pc(date_text: str, kind: str = "ESTIMATED") -> dict[str, Any]:
    return full_with(primaryCompletionDateStruct={"date": date_text, "type": kind})


def test_primary_completion_month_windows():
    # May -> August: window midpoints May 16 and Aug 16 are 92 days apart
    [moved] = d.diff_snapshots(normalize_study(pc("2018-05")), normalize_study(pc("2018-08")))
    assert moved.event_type == d.PRIMARY_COMPLETION_MOVED
    assert (moved.old, moved.new) == ("2018-05", "2018-08")
    assert moved.detail["days"] == 92 and moved.detail["direction"] == "later"
    assert moved.event_key == "NCT02552212:primary_completion:2018-08"
    # a day inside the old month is a refinement, not a move (and the reverse too)
    assert d.diff_snapshots(normalize_study(pc("2018-05")), normalize_study(pc("2018-05-20"))) == []
    assert d.diff_snapshots(normalize_study(pc("2018-05-20")), normalize_study(pc("2018-05"))) == []


def test_primary_completion_days_earlier():
    [moved] = d.diff_snapshots(normalize_study(pc("2018-05-10")), normalize_study(pc("2018-04-30")))
    assert moved.detail["days"] == -10 and moved.detail["direction"] == "earlier"
    assert (moved.detail["old_precision"], moved.detail["new_precision"]) == ("day", "day")


def test_estimated_becoming_actual():
    old = normalize_study(pc("2018-05", "ESTIMATED"))
    [event] = d.diff_snapshots(old, normalize_study(load(FULL)))  # fixture: 2018-05 ACTUAL
    assert event.event_type == d.PRIMARY_COMPLETION_ACTUAL
    assert (event.old, event.new) == ("ESTIMATED", "ACTUAL")
    assert event.event_key == "NCT02552212:primary_completion_type:ACTUAL"


def with_enrollment(count: int) -> dict[str, Any]:
    obj = load(FULL)
    obj["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = count
    return obj


def test_enrollment_change_threshold():
    new = normalize_study(load(FULL))  # 317
    [event] = d.diff_snapshots(normalize_study(with_enrollment(500)), new)
    assert event.event_type == d.ENROLLMENT_CHANGED
    assert (event.old, event.new) == (500, 317)
    assert event.detail["direction"] == "cut" and event.detail["change_pct"] == -36.6
    assert d.diff_snapshots(normalize_study(with_enrollment(400)), new) == []  # -20.75%
    [lower] = d.diff_snapshots(normalize_study(with_enrollment(400)), new, enrollment_threshold=0.2)
    assert lower.event_key == "NCT02552212:enrollment:317"


def test_results_posted():
    old_obj = load(FULL)
    old_obj["hasResults"] = False
    del old_obj["resultsSection"]
    del old_obj["protocolSection"]["statusModule"]["resultsFirstPostDateStruct"]
    [event] = d.diff_snapshots(normalize_study(old_obj), normalize_study(load(FULL)))
    assert event.event_type == d.RESULTS_POSTED
    assert (event.old, event.new) == (False, True)
    assert event.detail == {"results_first_posted": "2020-08-17"}


def test_fields_missing_on_one_side_are_not_changes():
    projected = normalize_study(load(FIELDS))
    without_enrollment = load(FIELDS)
    del without_enrollment["protocolSection"]["designModule"]["enrollmentInfo"]
    del without_enrollment["protocolSection"]["statusModule"]["overallStatus"]
    assert d.diff_snapshots(projected, normalize_study(without_enrollment)) == []


def test_diff_rejects_different_studies_and_events_serialize():
    with pytest.raises(ValueError):
        d.diff_snapshots(normalize_study(load(FIELDS)), normalize_study(load(FULL)))
    old = normalize_study(full_with(overallStatus="SUSPENDED", whyStopped="Funding"))
    out = d.events_to_json(d.diff_snapshots(old, normalize_study(load(FULL))))
    assert out == [{
        "nct_id": "NCT02552212", "event_type": "status_changed", "field": "overall_status",
        "old": "SUSPENDED", "new": "COMPLETED", "detail": {"from": "SUSPENDED", "to": "COMPLETED"},
        "event_key": "NCT02552212:overall_status:COMPLETED", "event_time": "2022-08-18",
    }]


def test_inspect_diff_reads_two_study_files():
    old = json.dumps(full_with(overallStatus="RECRUITING")).encode()
    out = d.inspect_diff(old, raw(FULL))
    assert out["old"]["overall_status"] == "RECRUITING" and out["new"]["overall_status"] == "COMPLETED"
    assert [e["event_key"] for e in out["events"]] == ["NCT02552212:overall_status:COMPLETED"]
    with pytest.raises(DataError, match="old study file"):
        d.inspect_diff(old[:50], raw(FULL))
