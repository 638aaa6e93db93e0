"""13F institutional score: breadth, conviction, net flow, crowding, staleness; managers.csv."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from pipelines.scoring.institutional import (
    InstitutionalConfig,
    ManagerChange,
    TrackedManager,
    filing_deadline,
    is_qualified,
    load_managers,
    manager_changes,
    score_institutional,
)
from pipelines.sources.edgar.thirteenf import Report, parse_cover, parse_infotable
from pipelines.sources.edgar.thirteenf_reports import PositionChange
from tests.conftest import shared_fixture

PERIOD = date(2023, 9, 30)  # deadline 2023-11-14, a Tuesday
CUSIP = "023135106"


def _change(status: str, prev: int, cur: int, rank: int | None, *, put_call: str | None = None,
            ticker: str | None = "AMZN") -> PositionChange:
    return PositionChange(cusip=CUSIP, title_of_class="COM", put_call=put_call, sh_prn_type="SH",
                          name_of_issuer="AMAZON COM INC", ticker=ticker, mapped=ticker is not None, status=status,
                          shares_prev=prev, shares_cur=cur, value_prev_usd=prev * 100, value_cur_usd=cur * 100,
                          weight_cur=0.05 if cur else 0.0, rank_cur=rank)


def _mc(cik: int, qualified: bool, change: PositionChange, filed: date = date(2023, 11, 14),
        link: str = "") -> ManagerChange:
    return ManagerChange(cik, f"test manager {cik}", qualified, change, PERIOD, filed, link)


def _scenario() -> list[ManagerChange]:
    return [
        _mc(1, True, _change("new", 0, 100, 10), link="https://example.test/1"),
        _mc(2, True, _change("new", 0, 500, 3), filed=date(2023, 11, 10), link="https://example.test/2"),
        _mc(3, True, _change("increased", 100, 160, 12), link="https://example.test/1"),
        _mc(4, False, _change("decreased", 100, 50, 40)),
    ]


def _components(signal) -> dict[str, float]:
    return {c.name: c.value for c in signal.components}


def test_score_components_and_total() -> None:
    [signal] = score_institutional(_scenario(), as_of=date(2023, 11, 20), tracked_managers=4)
    parts = _components(signal)
    assert parts["breadth"] == 2.0  # managers 1 and 2 opened
    assert parts["conviction"] == 2.0  # manager 2 top-5, manager 3 +60%
    assert parts["net_flow"] == pytest.approx(1.0)  # (3 adding − 1 cutting) ÷ 4 × 2
    assert parts["crowding"] == pytest.approx(-1.0)  # 3 of 4 qualified holders: 75%, halfway from 50% to 100%
    assert parts["staleness"] == 1.0  # 6 days after the deadline
    assert signal.score == pytest.approx((2 + 2 + 1 - 1) * 10 / 8)
    assert signal.crowded is True
    assert (signal.ticker, signal.cusip, signal.key) == ("AMZN", CUSIP, "AMZN")
    assert signal.signal_type == "institutional_13f"
    assert signal.event_key == "13f:2023-09-30:AMZN"
    assert signal.event_time == datetime(2023, 11, 14, tzinfo=UTC)
    assert signal.links == ("https://example.test/1", "https://example.test/2")
    assert all(c.explanation for c in signal.components)
    assert "test manager 1, test manager 2" in signal.components[0].explanation


def test_staleness_decays_ten_percent_a_week() -> None:
    [fresh] = score_institutional(_scenario(), as_of=date(2023, 11, 20), tracked_managers=4)
    [stale] = score_institutional(_scenario(), as_of=date(2023, 11, 28), tracked_managers=4)  # two weeks
    assert _components(stale)["staleness"] == pytest.approx(0.81)
    assert stale.score == pytest.approx(fresh.score * 0.81, abs=0.01)


def test_crowding_against_active_holders_and_no_penalty_below_threshold() -> None:
    [signal] = score_institutional(_scenario(), as_of=date(2023, 11, 20), tracked_managers=4,
                                   active_holders={"AMZN": 60})
    assert signal.crowded is False and _components(signal)["crowding"] == 0.0
    assert "60 active 13F holders" in signal.components[3].explanation
    assert signal.score == pytest.approx(5 * 10 / 8)


def test_unqualified_managers_do_not_count_for_breadth_or_conviction() -> None:
    changes = [_mc(i, False, _change("new", 0, 100, 1)) for i in range(1, 4)]
    [signal] = score_institutional(changes, as_of=date(2023, 11, 20), tracked_managers=10)
    parts = _components(signal)
    assert parts["breadth"] == 0.0 and parts["conviction"] == 0.0
    assert parts["net_flow"] == 2.0  # everyone added
    assert signal.score == pytest.approx(2 * 10 / 8)


def test_caps_options_and_unmapped_cusips() -> None:
    changes = [_mc(i, True, _change("new", 0, 100, 1, ticker=None)) for i in range(1, 6)]
    changes.append(_mc(9, True, _change("new", 0, 100, 1, put_call="Put", ticker=None)))
    [signal] = score_institutional(changes, as_of=date(2023, 11, 20), tracked_managers=100)
    parts = _components(signal)
    assert parts["breadth"] == 3.0 and parts["conviction"] == 3.0  # capped at five managers each
    assert "5 qualified manager(s) opened" in signal.components[0].explanation  # the put row is left out
    assert signal.ticker is None and signal.key == CUSIP and signal.event_key == f"13f:2023-09-30:{CUSIP}"
    assert signal.score == pytest.approx(10.0)


def test_selling_scores_zero_flow() -> None:
    changes = [_mc(1, True, _change("closed", 100, 0, None)), _mc(2, True, _change("decreased", 100, 10, 30))]
    [signal] = score_institutional(changes, as_of=date(2023, 11, 20), tracked_managers=10)
    assert _components(signal)["net_flow"] == 0.0
    assert "ratio -1.00" in signal.components[2].explanation
    assert signal.score == 0.0


def test_filing_deadline_moves_off_weekends() -> None:
    assert filing_deadline(date(2023, 9, 30)) == date(2023, 11, 14)
    assert filing_deadline(date(2022, 3, 31)) == date(2022, 5, 16)  # 45 days land on Sunday 2022-05-15


def test_signals_from_fixture_reports() -> None:
    cover = parse_cover(shared_fixture("edgar_13f", "13f_hr_ltsone_2023q3_primary_doc.xml").read_bytes())
    raw = shared_fixture("edgar_13f", "13f_hr_ltsone_2023q3_infotable.xml").read_bytes()
    rows, _ = parse_infotable(raw, filed=date(2023, 11, 14))
    cur = Report(cover, tuple(rows), date(2023, 11, 14), accession="0001894188-23-000007")
    # The previous quarter as a modified copy: no Amazon, half the IFF stake.
    prev_rows = tuple(replace(h, shares_or_principal=h.shares_or_principal // 2) if h.cusip == "459506101" else h
                      for h in rows if h.cusip != CUSIP)
    prev = Report(replace(cover, period=date(2023, 6, 30)), prev_rows, date(2023, 8, 14))
    manager = TrackedManager(1894188, "LTS One Management LP")
    link = "https://www.sec.gov/Archives/edgar/data/1894188/000189418823000007/0001894188-23-000007-index.htm"
    changes = manager_changes(manager, prev, cur, tickers={CUSIP: "AMZN", "459506101": "IFF"}, link=link)
    assert is_qualified(cur) is True  # 14 positions, $455M
    signals = {s.key: s for s in score_institutional(changes, as_of=date(2023, 11, 15), tracked_managers=15)}
    amzn, iff = signals["AMZN"], signals["IFF"]
    assert _components(amzn)["breadth"] == 1.0 and _components(amzn)["conviction"] == 0.0  # 10th by value
    assert _components(iff)["breadth"] == 0.0 and _components(iff)["conviction"] == 1.0  # largest, and doubled
    assert amzn.links == (link,) and amzn.event_time == datetime(2023, 11, 14, tzinfo=UTC)
    assert signals["92826C839"].score == 0.0  # VISA unchanged, unmapped


def test_qualification_screen() -> None:
    raw = shared_fixture("edgar_13f", "13f_hr_ltsone_2023q3_infotable.xml").read_bytes()
    cover = parse_cover(shared_fixture("edgar_13f", "13f_hr_ltsone_2023q3_primary_doc.xml").read_bytes())
    rows, _ = parse_infotable(raw, filed=date(2023, 11, 14))
    assert is_qualified(Report(cover, tuple(rows[:4]), date(2023, 11, 14))) is False  # under 5 positions
    assert is_qualified(Report(cover, tuple(rows), date(2023, 11, 14)),
                        InstitutionalConfig(min_portfolio_usd=500_000_000)) is False  # $455M


def test_default_managers_file() -> None:
    managers = load_managers()
    by_cik = {m.cik: m for m in managers}
    assert len(by_cik) == len(managers)
    assert by_cik[1067983].name == "Berkshire Hathaway Inc"
    assert by_cik[1894188].name == "LTS One Management LP"  # the fixture's filer CIK
    assert all(m.name and m.note for m in managers)
