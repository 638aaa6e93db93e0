"""Job-board normalisers (Greenhouse, Lever, Ashby) and posting tracking.

Expected values are read from ../shared/fixtures/jobs (see PROVENANCE.md).
"""
from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from pipelines.sources.jobs.boards import (
    Posting,
    ashby_job_board_url,
    greenhouse_jobs_url,
    html_to_text,
    lever_postings_url,
    parse_ashby,
    parse_board,
    parse_greenhouse,
    parse_lever,
)
from pipelines.sources.jobs.tracking import (
    PostingEvent,
    Seen,
    classify_department,
    department_mix,
    events_from,
    hiring_velocity,
    track,
)
from tests.conftest import shared_fixture

EDT = timezone(timedelta(hours=-4))


def _load(name: str) -> tuple[bytes, object]:
    raw = shared_fixture("jobs", name).read_bytes()
    return raw, json.loads(raw)


@pytest.fixture(scope="module")
def greenhouse() -> tuple[bytes, object]:
    return _load("greenhouse_boards_api_jobs_content_true_smarterdx.json")


@pytest.fixture(scope="module")
def lever() -> tuple[bytes, object]:
    return _load("lever_postings_mode_json_palantir.json")


@pytest.fixture(scope="module")
def ashby() -> tuple[bytes, object]:
    return _load("ashby_posting_api_job_board_openevidence.json")


# --- Greenhouse -------------------------------------------------------------------------------------

def test_greenhouse_postings(greenhouse) -> None:
    raw, payload = greenhouse
    postings, errors = parse_greenhouse(payload, company_token="smarterdx", raw=raw)
    assert errors == []
    assert [p.posting_id for p in postings] == ["5193736007", "5099964007"]
    first, second = postings
    assert (first.board, first.company_token) == ("greenhouse", "smarterdx")
    assert first.title == "Client Support Analyst I"
    assert second.title == "Clinical Coding Specialist"  # trailing space in the file
    assert (first.department, second.department) == ("Customer Success", "Clinical Operations")
    assert first.location == "Remote (United States)"
    assert first.url == "https://job-boards.greenhouse.io/smarterdx/jobs/5193736007"
    assert first.published_at == datetime(2026, 7, 27, 13, 48, 30, tzinfo=EDT)
    assert first.updated_at == datetime(2026, 7, 27, 14, 17, 12, tzinfo=EDT)
    assert second.published_at == datetime(2026, 4, 6, 9, 38, 12, tzinfo=EDT)
    assert first.published_at.utcoffset() == timedelta(hours=-4)


def test_greenhouse_content_is_unescaped_then_stripped(greenhouse) -> None:
    _, payload = greenhouse
    assert payload["jobs"][0]["content"].startswith("&lt;div class=&quot;content-intro&quot;&gt;&lt;p&gt;")
    [first, _], _ = parse_greenhouse(payload, company_token="smarterdx")
    text = first.description_text
    assert text.startswith("SmarterDx is transforming how health systems use clinical AI")
    assert "<" not in text and "&lt;" not in text and "&quot;" not in text and "&amp;" not in text
    assert "Client Support Analyst" in text


def test_html_to_text() -> None:
    assert html_to_text("<div><p>One &amp; two</p><ul><li>a</li><li>b</li></ul><script>x()</script></div>") == \
        "One & two\n\na\n\nb"


# --- Lever ------------------------------------------------------------------------------------------

def test_lever_postings(lever) -> None:
    raw, payload = lever
    postings, errors = parse_lever(payload, company_token="palantir", raw=raw)
    assert errors == []
    first, second = postings
    assert first.posting_id == "ac978161-6f46-4f6b-ad9e-a258e642751c"
    assert first.title == "Administrative Business Partner"
    assert second.title == "Administrative Business Partner - Security"
    assert (first.team, first.location, first.employment_type) == ("Administrative", "London, United Kingdom",
                                                                    "Full-time")
    assert second.location == "Palo Alto, CA"
    assert first.department is None  # no categories.department in these postings
    assert first.url == "https://jobs.lever.co/palantir/ac978161-6f46-4f6b-ad9e-a258e642751c"
    # createdAt 1711403416463 and 1778622524938 are epoch milliseconds
    assert first.published_at == datetime(2024, 3, 25, 21, 50, 16, 463000, tzinfo=UTC)
    assert second.published_at == datetime(2026, 5, 12, 21, 48, 44, 938000, tzinfo=UTC)
    assert first.description_text.startswith("A World-Changing Company")
    assert "What We Require" in first.description_text and "<li>" not in first.description_text


# --- Ashby ------------------------------------------------------------------------------------------

def test_ashby_postings(ashby) -> None:
    raw, payload = ashby
    postings, errors = parse_ashby(payload, company_token="openevidence", raw=raw)
    assert errors == []
    first, second = postings
    assert first.posting_id == "4c577aae-1ad0-444b-9e15-2ad994333de4"
    assert (first.title, second.title) == ("Member of Technical Staff", "Software Engineer, Data Platform")
    assert (first.department, first.team, first.location) == ("Engineering", "Engineering", "San Francisco")
    assert first.employment_type == "FullTime"
    assert first.url == "https://jobs.ashbyhq.com/openevidence/4c577aae-1ad0-444b-9e15-2ad994333de4"
    assert first.published_at == datetime(2026, 1, 22, 21, 44, 44, 930000, tzinfo=UTC)
    assert second.published_at == datetime(2026, 2, 23, 4, 19, 16, 820000, tzinfo=UTC)
    assert first.description_text.startswith("OpenEvidence is the most widely used medical AI platform")


def test_ashby_unlisted_jobs_are_skipped(ashby) -> None:
    _, payload = ashby
    edited = copy.deepcopy(payload)
    edited["jobs"][0]["isListed"] = False
    postings, errors = parse_ashby(edited, company_token="openevidence")
    assert errors == [] and [p.posting_id for p in postings] == ["db203104-7408-48ee-8e11-25340e11b739"]


# --- bad input --------------------------------------------------------------------------------------

def test_posting_without_id_is_reported_and_the_rest_go_on(greenhouse, lever, ashby) -> None:
    for (_, payload), parse, jobs_of in ((greenhouse, parse_greenhouse, lambda d: d["jobs"]),
                                         (lever, parse_lever, lambda d: d),
                                         (ashby, parse_ashby, lambda d: d["jobs"])):
        edited = copy.deepcopy(payload)
        del jobs_of(edited)[0]["id"]
        postings, errors = parse(edited, company_token="acme")
        assert len(postings) == 1 and len(errors) == 1
        assert "posting acme#0: has no id" in str(errors[0].error)
        assert errors[0].error.record_key == "acme#0"
        assert json.loads(errors[0].raw) == jobs_of(edited)[0]


def test_bad_dates_are_reported(lever, greenhouse) -> None:
    _, payload = lever
    edited = copy.deepcopy(payload)
    edited[1]["createdAt"] = 1778622524  # seconds, not milliseconds
    postings, errors = parse_lever(edited, company_token="palantir")
    assert len(postings) == 1
    assert "createdAt 1778622524 looks like epoch seconds" in str(errors[0].error)
    assert errors[0].error.record_key == "palantir/0bbfd4f4-41ff-4ec6-b73f-5200efd5d4d3"

    _, payload = greenhouse
    edited = copy.deepcopy(payload)
    edited["jobs"][0]["first_published"] = "2026-07-27T13:48:30"
    postings, errors = parse_greenhouse(edited, company_token="smarterdx")
    assert len(postings) == 1 and "has no UTC offset" in str(errors[0].error)


def test_wrong_shapes_and_non_json(lever, greenhouse) -> None:
    raw, payload = lever
    postings, errors = parse_greenhouse(payload, company_token="palantir", raw=raw)
    assert postings == [] and "not an object with a 'jobs' list (got list)" in str(errors[0].error)
    assert errors[0].raw == raw
    postings, errors = parse_board("lever", b'{"ok": false, "error": "Document not found"}', company_token="x")
    assert postings == [] and "not a top-level array" in str(errors[0].error)
    truncated = greenhouse[0][:500]
    postings, errors = parse_board("greenhouse", truncated, company_token="smarterdx")
    assert postings == [] and "is not JSON" in str(errors[0].error) and errors[0].raw == truncated
    edited = copy.deepcopy(greenhouse[1])
    edited["jobs"][1] = "not a job"
    postings, errors = parse_greenhouse(edited, company_token="smarterdx")
    assert len(postings) == 1 and "is a str, not an object" in str(errors[0].error)
    with pytest.raises(ValueError, match="unknown job board"):
        parse_board("workday", b"[]", company_token="x")


def test_url_builders() -> None:
    assert greenhouse_jobs_url("https://boards-api.greenhouse.io/v1", "smarterdx") == \
        "https://boards-api.greenhouse.io/v1/boards/smarterdx/jobs?content=true"
    assert lever_postings_url("https://api.lever.co/v0/", "palantir") == \
        "https://api.lever.co/v0/postings/palantir?mode=json"
    assert ashby_job_board_url("http://127.0.0.1:8080/posting-api", "openevidence") == \
        "http://127.0.0.1:8080/posting-api/job-board/openevidence?includeCompensation=true"


# --- tracking ---------------------------------------------------------------------------------------

def test_new_removed_reposted(ashby) -> None:
    raw, _ = ashby
    first, second = parse_board("ashby", raw, company_token="openevidence")[0]
    day1, day2, day3 = (datetime(2026, 3, d, 12, tzinfo=UTC) for d in (1, 2, 3))

    r1 = track({}, [first, second], seen_at=day1)
    assert [p.posting_id for p in r1.new] == [first.posting_id, second.posting_id]
    assert r1.removed == () and r1.reposted == () and r1.open_count == 2

    r2 = track(r1.state, [first], seen_at=day2)
    assert r2.new == () and r2.removed == (second.posting_id,)
    assert r2.state[second.posting_id] == Seen(day1, day1, False)
    assert r2.state[first.posting_id] == Seen(day1, day2, True)

    stored = {k: tuple(v) for k, v in r2.state.items()}  # as a store would hand it back
    r3 = track(stored, [first, second], seen_at=day3)
    assert r3.new == () and r3.removed == ()
    assert [p.posting_id for p in r3.reposted] == [second.posting_id]
    assert r3.state[second.posting_id] == Seen(day1, day3, True)

    events = events_from(r2, at=day2) + events_from(r3, at=day3)
    assert [(e.kind, e.posting_id) for e in events] == [("removed", second.posting_id),
                                                        ("reposted", second.posting_id)]


def _event(kind: str, days_ago: int, n: int, as_of: datetime) -> list[PostingEvent]:
    return [PostingEvent(f"{kind}-{days_ago}-{i}", kind, as_of - timedelta(days=days_ago)) for i in range(n)]


def test_hiring_velocity_windows() -> None:
    as_of = datetime(2026, 6, 30, tzinfo=UTC)
    events = (_event("opened", 10, 6, as_of) + _event("removed", 20, 2, as_of) + _event("reposted", 5, 1, as_of)
              + _event("opened", 45, 3, as_of)  # prior 30 days, current 90 days
              + _event("removed", 100, 4, as_of)  # prior 90 days
              + _event("opened", 30, 1, as_of)  # exactly 30 days back: the prior 30-day window
              + _event("opened", 200, 9, as_of))  # outside every window
    v = hiring_velocity(events, as_of=as_of, open_now=20)
    v30, v90 = v[30], v[90]
    assert (v30.opened, v30.removed, v30.reposted, v30.net) == (6, 2, 1, 5)
    assert v30.prior_net == 4 and v30.change == 1
    assert v30.open_at_start == 15 and v30.rate == pytest.approx(5 / 15)
    assert (v90.opened, v90.net, v90.prior_net) == (10, 9, -4)
    assert v90.open_at_start == 11 and v90.rate == pytest.approx(9 / 11)
    assert hiring_velocity(events, as_of=as_of)[90].rate is None


@pytest.mark.parametrize("title, department, group", [
    ("Clinical Coding Specialist ", "Clinical Operations ", "research_clinical"),  # Greenhouse fixture
    ("Client Support Analyst I", "Customer Success ", "other"),  # Greenhouse fixture
    ("Administrative Business Partner", None, "other"),  # Lever fixture (team Administrative)
    ("Member of Technical Staff", "Engineering", "other"),  # Ashby fixture
    ("Regulatory Affairs Manager", None, "regulatory"),
    ("Senior Scientist, Discovery Biology", "R&D", "research_clinical"),
    ("Clinical Sales Specialist", None, "commercial"),
    ("Medical Science Liaison", "Medical Affairs", "commercial"),
    ("Director", "Market Access", "commercial"),
    ("Pharmacovigilance Associate", "Clinical Development", "regulatory"),
])
def test_classify_department(title: str, department: str | None, group: str) -> None:
    assert classify_department(title, department) == group


def test_department_mix(greenhouse, ashby) -> None:
    postings: list[Posting] = parse_board("greenhouse", greenhouse[0], company_token="smarterdx")[0]
    postings += parse_board("ashby", ashby[0], company_token="openevidence")[0]
    mix = department_mix(postings)
    assert mix.total == 4
    assert dict(mix.counts) == {"research_clinical": 1, "regulatory": 0, "commercial": 0, "other": 3}
    assert mix.share("research_clinical") == 0.25
