"""Insider signal rules on constructed trades, plus the recorded Form 4s end to end."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from pipelines.scoring.insider import (
    InsiderScoringConfig,
    InsiderSignal,
    InsiderTrade,
    detect_insider_signals,
    trades_from_form4,
)
from pipelines.sources.edgar.form4 import parse_form4
from tests.conftest import shared_fixture

DAY = date(2025, 3, 10)
AS_OF = datetime(2025, 3, 11, 23, 0, tzinfo=UTC)
ISSUER = 1750019


def trade(owner: int = 1001, *, code: str = "P", shares: str = "10000", price: str | None = "5", after: str = "110000",
          day: date = DAY, accession: str | None = None, **changes) -> InsiderTrade:
    base = InsiderTrade(
        accession=accession or f"0000{owner:06d}-25-000001",
        row=("non_derivative", 0),
        issuer_cik=ISSUER,
        ticker="TCRR",
        owner_ciks=(owner,),
        owner_names=(f"Insider {owner}",),
        is_director=True,
        is_officer=False,
        is_ten_percent_owner=False,
        officer_title=None,
        table="non_derivative",
        code=code,
        trade_date=day,
        filed_at=datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC),
        shares=Decimal(shares),
        price=None if price is None else Decimal(price),
        acquired_disposed="D" if code == "S" else "A",
        shares_owned_after=Decimal(after),
        ownership="D",
        nature_of_ownership=None,
        plan_10b5_1=False,
        amended=False,
    )
    return replace(base, **changes)


def component(signal: InsiderSignal, name: str) -> float:
    return next(value for n, value, _ in signal.components if n == name)


def only(signals: list[InsiderSignal]) -> InsiderSignal:
    assert len(signals) == 1, signals
    return signals[0]


def assert_composes(signal: InsiderSignal) -> None:
    for name, value, why in signal.components:
        assert isinstance(name, str) and isinstance(value, float) and why
    total = sum(value for _, value, _ in signal.components)
    assert signal.score == round(min(10.0, max(0.0, total)), 2)
    assert 0.0 <= signal.score <= 10.0


# --- eligibility --------------------------------------------------------------------------------

def test_cluster_of_three_scores_higher_than_one():
    one = only(detect_insider_signals([trade(1001)], as_of=AS_OF))
    three = only(detect_insider_signals([trade(1001), trade(1002), trade(1003)], as_of=AS_OF))
    assert three.score > one.score
    assert component(one, "breadth") == 2.0 and component(three, "breadth") == 4.5
    assert one.signal_type == "insider_buy"  # below cluster_min_insiders
    assert three.signal_type == "insider_cluster_buy"  # 3 insiders, $150k >= $50k
    assert three.accession_numbers == tuple(sorted(t.accession for t in (trade(1001), trade(1002), trade(1003))))
    assert_composes(one)
    assert_composes(three)


def test_cluster_needs_the_minimum_dollars():
    small = [trade(1001, shares="1000", price="2"), trade(1002, shares="1000", price="2")]  # $4k
    assert only(detect_insider_signals(small, as_of=AS_OF)).signal_type == "insider_buy"
    cfg = InsiderScoringConfig(cluster_min_dollars=Decimal(1000))
    assert only(detect_insider_signals(small, as_of=AS_OF, config=cfg)).signal_type == "insider_cluster_buy"


@pytest.mark.parametrize("code", ["A", "F", "M", "X", "G", "C", "W", "J"])
def test_non_purchase_codes_are_not_buy_signals(code):
    assert detect_insider_signals([trade(1001, code=code), trade(1002, code=code)], as_of=AS_OF) == []


def test_derivative_rows_are_not_buy_signals():
    assert detect_insider_signals([trade(1001, table="derivative")], as_of=AS_OF) == []


def test_snowflake_m_plus_s_yields_no_buy_signal():
    doc = parse_form4(shared_fixture("edgar_form4", "form4_snowflake_M_exercise_and_S_sales_X0306.xml").read_bytes())
    trades = trades_from_form4(doc, accession="0001640147-22-000001",
                               filed_at=datetime(2022, 12, 14, 21, 0, tzinfo=UTC))
    signals = detect_insider_signals(trades, as_of=datetime(2022, 12, 15, tzinfo=UTC))
    assert [s.signal_type for s in signals] == ["insider_sale"]
    sale = signals[0]
    # Five S rows read from the XML: shares x weighted-average price.
    expected = (Decimal(73170) * Decimal("150.841") + Decimal(74907) * Decimal("151.814")
                + Decimal(41986) * Decimal("152.655") + Decimal(5496) * Decimal("153.872")
                + Decimal(4441) * Decimal("154.76"))
    assert f"${expected:,.0f} total" in {n: w for n, _, w in sale.components}["dollar_conviction"]
    assert component(sale, "role") == 0.5  # Chief Financial Officer
    assert_composes(sale)


def test_374water_grant_yields_no_signal():
    doc = parse_form4(shared_fixture("edgar_form4", "form4_374water_A_grant_rsu_and_option_X0508.xml").read_bytes())
    trades = trades_from_form4(doc, accession="0000933972-25-000001",
                               filed_at=datetime(2025, 5, 2, 21, 0, tzinfo=UTC))
    assert len(trades) == 2
    assert detect_insider_signals(trades, as_of=datetime(2025, 5, 3, tzinfo=UTC)) == []


# --- discounts and components -------------------------------------------------------------------

def test_10b5_1_purchase_is_discounted():
    plain = only(detect_insider_signals([trade(1001)], as_of=AS_OF))
    planned = only(detect_insider_signals([trade(1001, plan_10b5_1=True)], as_of=AS_OF))
    assert planned.score < plain.score
    assert component(plain, "plan_10b5_1") == 0.0
    assert component(planned, "plan_10b5_1") == -3.0
    half = only(detect_insider_signals([trade(1001, plan_10b5_1=True), trade(1002)], as_of=AS_OF))
    assert component(half, "plan_10b5_1") == -1.5  # equal dollars, half under a plan


def test_aff10b5one_box_marks_every_row_of_the_filing():
    body = shared_fixture("edgar_form4", "form4_tcr2_P_purchase_3_reporting_owners_X0407.xml").read_bytes()
    doc = parse_form4(body.replace(b"<aff10b5One>0</aff10b5One>", b"<aff10b5One>1</aff10b5One>"))
    trades = trades_from_form4(doc, accession="0001209191-23-029527", filed_at=AS_OF)
    assert all(t.plan_10b5_1 for t in trades)


def test_sales_are_a_low_weight_track():
    buy = only(detect_insider_signals([trade(1001, shares="100000", price="20")], as_of=AS_OF))
    sale = only(detect_insider_signals([trade(1001, code="S", shares="100000", price="20")], as_of=AS_OF))
    assert sale.signal_type == "insider_sale"
    assert sale.score < buy.score
    subtotal = sum(v for n, v, _ in sale.components if n != "sale_track_weight")
    assert component(sale, "sale_track_weight") == pytest.approx(-0.6 * subtotal)
    assert_composes(sale)


@pytest.mark.parametrize("dollars, points", [("20000", 0.0), ("50000", 0.5), ("500000", 1.0), ("2000000", 1.5)])
def test_dollar_conviction_tiers(dollars, points):
    signal = only(detect_insider_signals([trade(1001, shares=dollars, price="1", after="99999999")], as_of=AS_OF))
    assert component(signal, "dollar_conviction") == points


def test_routine_and_opportunistic_insiders():
    march = [(2024, 3), (2023, 3), (2022, 3)]
    routine = only(detect_insider_signals([trade(1001)], as_of=AS_OF, purchase_history={1001: march}))
    opportunistic = only(detect_insider_signals([trade(1001)], as_of=AS_OF, purchase_history={1001: march[:2]}))
    unknown = only(detect_insider_signals([trade(1001)], as_of=AS_OF))
    assert component(routine, "opportunistic") == -1.0
    assert component(opportunistic, "opportunistic") == 1.0  # missed March 2022
    assert component(unknown, "opportunistic") == 0.0
    assert opportunistic.score > unknown.score > routine.score
    mixed = only(detect_insider_signals([trade(1001), trade(1002)], as_of=AS_OF, purchase_history={1001: march}))
    assert component(mixed, "opportunistic") == 0.0  # one routine, one opportunistic


@pytest.mark.parametrize(
    "changes, points",
    [
        ({"officer_title": "President and CEO", "is_officer": True}, 0.5),
        ({"officer_title": "Chief Financial Officer", "is_officer": True}, 0.5),
        ({"officer_title": "Chairman of the Board", "is_officer": True}, 0.5),
        ({"officer_title": "VP, Sales", "is_officer": True, "is_director": False}, 0.25),
        ({}, 0.25),  # director
        ({"is_director": False, "is_ten_percent_owner": True}, 0.0),
    ],
)
def test_role_weights(changes, points):
    assert component(only(detect_insider_signals([trade(1001, **changes)], as_of=AS_OF)), "role") == points


@pytest.mark.parametrize("days_ago, points", [(1, 0.0), (2, 0.0), (5, -0.5), (20, -1.0), (45, -1.5)])
def test_freshness(days_ago, points):
    day = AS_OF.date() - timedelta(days=days_ago)
    t = trade(1001, day=day, filed_at=AS_OF - timedelta(days=days_ago))
    assert component(only(detect_insider_signals([t], as_of=AS_OF)), "freshness") == points


def test_change_in_ownership():
    big = only(detect_insider_signals([trade(1001, shares="10000", after="60000")], as_of=AS_OF))  # 10k on 50k
    small = only(detect_insider_signals([trade(1001, shares="1000", after="101000")], as_of=AS_OF))  # 1%
    new = only(detect_insider_signals([trade(1001, shares="1000", after="1000")], as_of=AS_OF))
    assert (component(big, "delta_own"), component(small, "delta_own"), component(new, "delta_own")) == (0.5, 0.0, 0.5)
    unknown = only(detect_insider_signals([trade(1001, shares_owned_after=None)], as_of=AS_OF))
    assert component(unknown, "delta_own") == 0.0


def test_size_proxy():
    cap = {ISSUER: Decimal(500000000)}
    assert component(only(detect_insider_signals([trade(1001)], as_of=AS_OF, market_caps=cap)), "size") == 0.5
    big = {ISSUER: Decimal(50000000000)}
    assert component(only(detect_insider_signals([trade(1001)], as_of=AS_OF, market_caps=big)), "size") == 0.0


def test_score_bounds():
    best = [trade(1000 + i, shares="100000", price="20", after="100000",
                  officer_title="CEO", is_officer=True) for i in range(6)]
    top = only(detect_insider_signals(best, as_of=AS_OF, purchase_history={},
                                      market_caps={ISSUER: Decimal(100000000)}))
    assert top.score == 9.0  # 5 + 1.5 + 1 + 0.5 + 0.5 + 0 + 0.5
    assert_composes(top)
    capped = only(detect_insider_signals(best, as_of=AS_OF, config=InsiderScoringConfig(breadth_points=(20.0,))))
    assert capped.score == 10.0
    stale_day = AS_OF.date() - timedelta(days=90)
    worst = trade(1001, shares="10", price="1", after="1000000", day=stale_day, plan_10b5_1=True,
                  is_director=False, is_ten_percent_owner=True, filed_at=AS_OF - timedelta(days=89))
    low = only(detect_insider_signals([worst], as_of=AS_OF,
                                      purchase_history={1001: [(2024, 12), (2023, 12), (2022, 12)]}))
    assert sum(v for _, v, _ in low.components) < 0
    assert low.score == 0.0


# --- grouping, dedupe, keys, holds ---------------------------------------------------------------

def test_joint_filers_count_as_one_insider():
    body = shared_fixture("edgar_form4", "form4_tcr2_P_purchase_3_reporting_owners_X0407.xml").read_bytes()
    doc = parse_form4(body)
    trades = trades_from_form4(doc, accession="0001209191-23-029527",
                               filed_at=datetime(2023, 5, 15, 21, 0, tzinfo=UTC))
    assert len(trades) == 2  # one per row, not per owner
    signal = only(detect_insider_signals(trades, as_of=datetime(2023, 5, 16, tzinfo=UTC)))
    assert component(signal, "breadth") == 2.0  # three owners, one insider
    assert component(signal, "role") == 0.0  # all 10% owners
    expected = Decimal(38765) * Decimal("1.95") + Decimal(6183) * Decimal("1.95")
    assert {n: w for n, _, w in signal.components}["dollar_conviction"] == f"${expected:,.0f} total"
    assert (signal.ticker, signal.issuer_cik, signal.accession_numbers) == ("TCRR", 1750019, ("0001209191-23-029527",))
    assert signal.held is False and signal.hold_reason is None
    assert_composes(signal)


def test_same_indirect_trade_filed_twice_counts_once():
    first = trade(1001, accession="0000001001-25-000001", ownership="I", nature_of_ownership="By LP")
    again = replace(first, accession="0000001002-25-000001", owner_ciks=(1002,), owner_names=("Insider 1002",))
    signal = only(detect_insider_signals([first, again], as_of=AS_OF))
    assert component(signal, "breadth") == 2.0  # the two filers are linked as one insider
    assert "$50,000 total" in {n: w for n, _, w in signal.components}["dollar_conviction"]


def test_identical_direct_trades_by_two_insiders_are_two_trades():
    signal = only(detect_insider_signals([trade(1001), trade(1002)], as_of=AS_OF))
    assert component(signal, "breadth") == 3.5
    assert "$100,000 total" in {n: w for n, _, w in signal.components}["dollar_conviction"]


def test_same_filing_ingested_twice_counts_once():
    signal = only(detect_insider_signals([trade(1001), trade(1001)], as_of=AS_OF))
    assert "$50,000 total" in {n: w for n, _, w in signal.components}["dollar_conviction"]


def test_amended_and_inconsistent_filings_are_held():
    amended = only(detect_insider_signals([trade(1001, amended=True)], as_of=AS_OF))
    assert amended.held and "amended filing (4/A)" in amended.hold_reason
    body = shared_fixture("edgar_form4", "form4_telos_P_purchase_single_owner_X0407.xml").read_bytes()
    doc = parse_form4(body)
    trades = trades_from_form4(doc, accession="0000320121-23-000040", listed_issuer_cik=1831624,
                               filed_at=datetime(2023, 5, 15, 21, 0, tzinfo=UTC))
    wrong = only(detect_insider_signals(trades, as_of=datetime(2023, 5, 16, tzinfo=UTC)))
    assert wrong.held and "issuer CIK 320121 differs from the listing's CIK 1831624" in wrong.hold_reason
    tcr2 = shared_fixture("edgar_form4", "form4_tcr2_P_purchase_3_reporting_owners_X0407.xml").read_bytes()
    no_price = parse_form4(tcr2.replace(b"<value>1.95</value>", b"", 1))
    assert no_price.transactions[0].is_footnote_only("price")
    held = only(detect_insider_signals(
        trades_from_form4(no_price, accession="0001209191-23-029527", filed_at=AS_OF), as_of=AS_OF))
    assert held.held and "shares or price given only as a footnote" in held.hold_reason
    assert "1 row(s) without a value" in {n: w for n, _, w in held.components}["dollar_conviction"]
    tx_issue = only(detect_insider_signals([trade(1001, issues=("code P but marked disposed (D)",))], as_of=AS_OF))
    assert tx_issue.held and "code P but marked disposed" in tx_issue.hold_reason


def test_event_key_is_stable_and_tracks_accessions():
    a = only(detect_insider_signals([trade(1001), trade(1002)], as_of=AS_OF))
    b = only(detect_insider_signals([trade(1002), trade(1001)], as_of=AS_OF + timedelta(hours=3)))
    c = only(detect_insider_signals([trade(1001), trade(1002), trade(1003)], as_of=AS_OF))
    assert a.event_key == b.event_key
    assert a.event_key != c.event_key
    assert a.event_key.startswith(f"{ISSUER}:insider_cluster_buy:{DAY.isoformat()}/")
    assert a.event_time == max(trade(1001).filed_at, trade(1002).filed_at)


def test_windows_split_and_point_in_time():
    later = DAY + timedelta(days=30)
    signals = detect_insider_signals(
        [trade(1001), trade(1002, day=later, filed_at=AS_OF)],
        as_of=datetime.combine(later, datetime.min.time(), UTC) + timedelta(days=2),
    )
    assert [s.window_start for s in signals] == [DAY, later]
    future = trade(1003, filed_at=AS_OF + timedelta(days=1))
    assert detect_insider_signals([future], as_of=AS_OF) == []
    with pytest.raises(ValueError):
        detect_insider_signals([trade(1001)], as_of=datetime(2025, 3, 11))
