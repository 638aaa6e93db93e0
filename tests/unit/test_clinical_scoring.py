"""Clinical-trial event scores: every component, the whyStopped classes, materiality and bounds."""
from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from pipelines.scoring.clinical import (
    Materiality,
    classify_why_stopped,
    score_event,
    signal_to_json,
)
from pipelines.sources.ctgov.diff import ChangeEvent, diff_snapshots
from pipelines.sources.ctgov.normalize import PartialDate, normalize_study
from pipelines.sources.sponsors import SponsorMatch
from tests.conftest import shared_fixture

EXACT = SponsorMatch("UCB BIOSCIENCES GmbH", "UCBJY", None, "override", 1.0)
FUZZY = SponsorMatch("Meta Platform, Inc.", "META", 1326801, "fuzzy", 0.95)
SMALL = Materiality(market_cap_usd=1.5e9)
BIG = Materiality(market_cap_usd=120e9)


def full(**status_changes: Any) -> dict[str, Any]:
    obj = json.loads(shared_fixture(
        "clinicaltrials", "study_NCT02552212_phase3_full_with_results_trimmed.json").read_bytes())
    obj["protocolSection"]["statusModule"].update(status_changes)
    return obj


def status_event(to: str, why: str | None = None) -> ChangeEvent:
    changes: dict[str, Any] = {"overallStatus": to}
    if why is not None:
        changes["whyStopped"] = why
    [event] = diff_snapshots(normalize_study(full(overallStatus="RECRUITING")), normalize_study(full(**changes)))
    return event


def components(signal) -> dict[str, float]:
    return {name: value for name, value, _ in signal.components}


@pytest.mark.parametrize("text, expected", [
    ("The DSMB recommended stopping the study for futility", "efficacy_safety"),
    ("Lack of efficacy at interim analysis", "efficacy_safety"),
    ("Safety concerns", "efficacy_safety"),
    ("Business decision, not due to safety concerns", "business"),
    ("Sponsor decision; no safety issues", "business"),
    ("Strategic portfolio prioritization", "business"),
    ("Slow enrollment", "accrual"),
    ("Low accrual; DMC recommended termination for futility", "efficacy_safety"),
    ("PI left the institution", "other"),
    ("", "none"),
    (None, "none"),
])
def test_why_stopped_classes(text, expected):
    assert classify_why_stopped(text) == expected


def test_terminated_for_futility_at_a_small_sponsor():
    s = score_event(status_event("TERMINATED", "The DSMB recommended stopping for futility"), EXACT, SMALL)
    assert components(s) == {"event_base": 5, "why_stopped": 2, "materiality": 2, "lead_asset": 0,
                             "mapping_multiplier": 1.0}
    assert s.score == 9.0
    assert (s.ticker, s.signal_type) == ("UCBJY", "ctgov_status_changed")
    assert s.event_key == "NCT02552212:overall_status:TERMINATED"
    assert s.links == ("https://clinicaltrials.gov/study/NCT02552212",)
    assert s.event_time == PartialDate(2022, 8, 18)
    assert all(explanation for _, _, explanation in s.components)


def test_business_and_accrual_reasons():
    business = score_event(status_event("SUSPENDED", "Business decision, not due to safety concerns"), EXACT, BIG)
    assert components(business)["why_stopped"] == 1
    assert business.score == 4 + 1 + 0
    accrual = score_event(status_event("WITHDRAWN", "Slow enrollment"), EXACT, BIG)
    assert components(accrual)["why_stopped"] == 0
    assert accrual.score == 2


def test_completed_at_big_pharma_and_unknown_size_is_neutral():
    event = status_event("COMPLETED")
    assert score_event(event, EXACT, BIG).score == 4
    neutral = score_event(event, EXACT, None)
    assert components(neutral)["materiality"] == 1 and neutral.score == 5
    assert components(score_event(event, EXACT, Materiality(size_class="early_stage")))["materiality"] == 2
    assert components(score_event(event, EXACT, Materiality(market_cap_usd=5e9)))["materiality"] == 1


def test_fuzzy_match_multiplies_by_point_eight():
    s = score_event(status_event("COMPLETED"), FUZZY, None)
    assert components(s)["mapping_multiplier"] == 0.8
    assert s.score == pytest.approx((4 + 1) * 0.8)
    weak = SponsorMatch("x", "X", None, "fuzzy", 0.5)
    assert components(score_event(status_event("COMPLETED"), weak, None))["mapping_multiplier"] == 0.5


def test_lead_asset_adds_a_point_and_the_score_stays_within_ten():
    event = status_event("TERMINATED", "Futility")
    s = score_event(event, EXACT, SMALL, lead_asset=True)
    assert components(s)["lead_asset"] == 1
    assert s.score == 10.0


def pc_event(old: str, new: str) -> ChangeEvent:
    a = normalize_study(full(primaryCompletionDateStruct={"date": old, "type": "ESTIMATED"}))
    b = normalize_study(full(primaryCompletionDateStruct={"date": new, "type": "ESTIMATED"}))
    [event] = diff_snapshots(a, b)
    return event


@pytest.mark.parametrize("old, new, base", [
    ("2018-05", "2018-08", 3),        # 92 days later
    ("2018-05-01", "2018-05-31", 1),  # 30 days later
    ("2018-05", "2018-03", 2),        # earlier
])
def test_primary_completion_moves(old, new, base):
    assert components(score_event(pc_event(old, new), EXACT, BIG))["event_base"] == base


def test_other_event_bases():
    old = full()
    old["hasResults"] = False
    del old["protocolSection"]["statusModule"]["resultsFirstPostDateStruct"]
    [posted] = diff_snapshots(normalize_study(old), normalize_study(full()))
    assert components(score_event(posted, EXACT, BIG))["event_base"] == 4
    estimated = full(primaryCompletionDateStruct={"date": "2018-05", "type": "ESTIMATED"})
    [actual] = diff_snapshots(normalize_study(estimated), normalize_study(full()))
    assert components(score_event(actual, EXACT, BIG))["event_base"] == 2


def test_every_combination_stays_in_bounds():
    events = [status_event(s, w) for s in ("TERMINATED", "SUSPENDED", "WITHDRAWN", "COMPLETED",
                                           "ACTIVE_NOT_RECRUITING") for w in ("Futility", "Funding", None)]
    matches = [EXACT, FUZZY, SponsorMatch("x", "X", None, "fuzzy", 0.0)]
    sizes = [None, SMALL, BIG, Materiality(size_class="mid")]
    for event, match, size, lead in itertools.product(events, matches, sizes, (None, True, False)):
        assert 0 <= score_event(event, match, size, lead_asset=lead).score <= 10


def test_bad_inputs_are_rejected():
    event = status_event("COMPLETED")
    with pytest.raises(ValueError, match="size class"):
        score_event(event, EXACT, Materiality(size_class="enormous"))
    with pytest.raises(ValueError, match="confidence"):
        score_event(event, SponsorMatch("x", "X", None, "exact", 1.5), None)
    odd = ChangeEvent("NCT02552212", "mystery", "x", None, None, {}, "k", None)
    with pytest.raises(ValueError, match="mystery"):
        score_event(odd, EXACT, None)


def test_signal_json():
    out = signal_to_json(score_event(status_event("COMPLETED"), EXACT, BIG))
    assert out["score"] == 4 and out["event_time"] == "2022-08-18"
    assert [c["name"] for c in out["components"]] == [
        "event_base", "why_stopped", "materiality", "lead_asset", "mapping_multiplier"]
    json.dumps(out)
