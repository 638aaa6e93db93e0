"""Patent-cliff calendar, roll-ups, ticker mapping and the LOE opportunity score.

Every NDA product of the recorded fixture is checked against dates worked out by hand from
patent.txt and exclusivity.txt; the comment on each line names the rows that decide it.
"""
from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from pipelines.core.errors import ConfigError
from pipelines.scoring.patent import (
    PivStatus,
    generic_pressure_component,
    revenue_exposure_component,
    score_calendar,
    score_entry,
    score_events,
    time_to_loe_component,
)
from pipelines.sources.orange_book.applicants import (
    load_applicant_overrides,
    map_applicant,
    normalize_company,
    parse_company_tickers,
    rollup_applicants,
)
from pipelines.sources.orange_book.calendar import (
    JSON_FIELDS,
    add_months,
    build_calendar,
    calendar_from_dir,
    calendar_to_json,
    months_to_loe,
    rollup_brands,
    te_compatible,
)
from pipelines.sources.orange_book.diff import diff_releases
from pipelines.sources.orange_book.parse import build_release
from tests.conftest import shared_fixture

D = date
# (appl_no, product_no): (last_patent_expiry, last_ds_dp_patent_expiry, last_exclusivity_expiry,
#                         effective_loe, ped_applied, generic_count)
EXPECTED = {
    # UCERIS: no patent/exclusivity rows; ANDA 215328 (PADAGIS, AB, RX) has the same
    # ingredient, AEROSOL, FOAM;RECTAL and 2MG/ACTUATION -> 1 generic.
    ("205613", "001"): (None, None, None, None, False, 1),
    ("050801", "001"): (None, None, None, None, False, 0),  # EVOCLIN: no rows
    ("021812", "001"): (None, None, None, None, False, 0),  # MEN'S ROGAINE: no rows
    # AIRSUPRA: patent 9415009 May 28, 2030 (no flags); excl M-317 Sep 15, 2028, NP Jan 10, 2026.
    ("214070", "001"): (D(2030, 5, 28), None, D(2028, 9, 15), D(2030, 5, 28), False, 0),
    ("016402", "001"): (None, None, None, None, False, 0),  # ALUPENT: no rows
    # BREZTRI 001: 8815258 Mar 17, 2031 and 8703806 May 28, 2030, no flags; no exclusivity.
    ("212122", "001"): (D(2031, 3, 17), None, None, D(2031, 3, 17), False, 0),
    ("212122", "002"): (None, None, None, None, False, 0),  # BREZTRI 002: no rows
    # PROAIR HFA (TE AB2): SANDOZ ANDA 207085 matches ingredient/form/strength but is AB1,
    # i.e. rated against a different reference drug -> not counted.
    ("021457", "001"): (None, None, None, None, False, 0),
    # QVAR 0.04MG: 12296089 Jan 26, 2038 (DP); 11395889, 10022510, 10695512 (May 18, 2031) are delisted.
    ("207921", "001"): (D(2038, 1, 26), D(2038, 1, 26), None, D(2038, 1, 26), False, 0),
    # QVAR 0.08MG: 11957832 May 5, 2041 (DP), 8931476 Jul 17, 2031 (DP).
    ("207921", "002"): (D(2041, 5, 5), D(2041, 5, 5), None, D(2041, 5, 5), False, 0),
    # TECHNEGAS: 7722856 Feb 24, 2031; NP Sep 29, 2026.
    ("022335", "001"): (D(2031, 2, 24), None, D(2026, 9, 29), D(2031, 2, 24), False, 0),
    # AUGTYRO 40MG: 11452725 Jul 24, 2036 > 12310968 Jul 20, 2036; ODE-483 Jun 13, 2031 (> ODE-455, NCE).
    ("218213", "001"): (D(2036, 7, 24), None, D(2031, 6, 13), D(2036, 7, 24), False, 0),
    # AUGTYRO 160MG: same patents; ODE-483 Jun 13, 2031 (> ODE* Nov 15, 2030, NCE Nov 15, 2028).
    ("218213", "002"): (D(2036, 7, 24), None, D(2031, 6, 13), D(2036, 7, 24), False, 0),
    # AZSTARYS: 10954213 and 10858341 both Dec 9, 2037; NCE May 7, 2026.
    ("212994", "003"): (D(2037, 12, 9), None, D(2026, 5, 7), D(2037, 12, 9), False, 0),
    # BYLVAY 0.4MG: 12545705 Nov 8, 2031 (U-3186, U-3648); ODE-436 Jun 13, 2030 is the last exclusivity.
    ("215498", "002"): (D(2031, 11, 8), None, D(2030, 6, 13), D(2031, 11, 8), False, 0),
    ("215498", "004"): (D(2031, 11, 8), None, D(2030, 6, 13), D(2031, 11, 8), False, 0),  # BYLVAY 1.2MG, same
    ("018312", "001"): (None, None, None, None, False, 0),  # CALDEROL: no rows
    # CALQUENCE: 9796721 Jul 1, 2036 (DS+DP) > 10272083 Jan 21, 2035; D-200 Feb 19, 2029 (> I-960, ODE-274).
    ("210259", "001"): (D(2036, 7, 1), D(2036, 7, 1), D(2029, 2, 19), D(2036, 7, 1), False, 0),
    # CAMZYOS 001-004: RE50050 Apr 28, 2036 (DS+DP) > 9585883 Jun 19, 2034; ODE-398 Apr 28, 2029.
    ("214998", "001"): (D(2036, 4, 28), D(2036, 4, 28), D(2029, 4, 28), D(2036, 4, 28), False, 0),
    ("214998", "002"): (D(2036, 4, 28), D(2036, 4, 28), D(2029, 4, 28), D(2036, 4, 28), False, 0),
    ("214998", "003"): (D(2036, 4, 28), D(2036, 4, 28), D(2029, 4, 28), D(2036, 4, 28), False, 0),
    ("214998", "004"): (D(2036, 4, 28), D(2036, 4, 28), D(2029, 4, 28), D(2036, 4, 28), False, 0),
    # GILENYA 0.25MG: 9592208 Mar 30, 2032 (DP) and 9592208*PED Sep 30, 2032; the PED row carries its
    # base patent's DP flag, so the DS/DP date is the PED date too.
    ("022527", "002"): (D(2032, 9, 30), D(2032, 9, 30), None, D(2032, 9, 30), True, 0),
    # GILENYA 0.5MG: 10543179 Dec 25, 2027 only (no flags, no PED row for product 001).
    ("022527", "001"): (D(2027, 12, 25), None, None, D(2027, 12, 25), False, 0),
    # GOMEKLI 1MG/2MG: 11883375 Mar 16, 2043 > 12295925 Feb 17, 2041; ODE-488 Feb 11, 2032.
    ("219389", "001"): (D(2043, 3, 16), None, D(2032, 2, 11), D(2043, 3, 16), False, 0),
    ("219389", "002"): (D(2043, 3, 16), None, D(2032, 2, 11), D(2043, 3, 16), False, 0),
    # HETLIOZ: 9539234 and 9855241 both Jan 25, 2033; ODE-330 Dec 1, 2027.
    ("205677", "001"): (D(2033, 1, 25), None, D(2027, 12, 1), D(2033, 1, 25), False, 0),
    # IMBRUVICA 70MG: 10004746 Jun 3, 2031 (no PED patent row for 002); PED exclusivity Feb 24, 2030
    # (> ODE-405 Aug 24, 2029) -> ped_applied.
    ("205552", "002"): (D(2031, 6, 3), None, D(2030, 2, 24), D(2031, 6, 3), True, 0),
    # IMBRUVICA 140MG: 10004746*PED Dec 3, 2031 > 9125889/8999999/10004746 Jun 3, 2031 > 8476284*PED
    # Jun 28, 2027; PED exclusivity Feb 24, 2030.
    ("205552", "001"): (D(2031, 12, 3), None, D(2030, 2, 24), D(2031, 12, 3), True, 0),
    # KOMZIFTI: 12410184 Jul 16, 2044 (DS+DP, two use codes); NCE Nov 13, 2030.
    ("220305", "001"): (D(2044, 7, 16), D(2044, 7, 16), D(2030, 11, 13), D(2044, 7, 16), False, 0),
    # KOSELUGO 10MG/25MG: 12364684 Mar 26, 2029 > 9562017 Dec 12, 2026 (DS only); NPP Nov 19, 2028.
    ("213756", "001"): (D(2029, 3, 26), D(2026, 12, 12), D(2028, 11, 19), D(2029, 3, 26), False, 0),
    ("213756", "002"): (D(2029, 3, 26), D(2026, 12, 12), D(2028, 11, 19), D(2029, 3, 26), False, 0),
}
AS_OF = D(2026, 6, 1)


def fixture_text(name: str) -> str:
    return shared_fixture("orange_book", name).read_bytes().decode("ascii")


@pytest.fixture(scope="module")
def entries():
    release = build_release(fixture_text("products.txt"), fixture_text("patent.txt"), fixture_text("exclusivity.txt"))
    assert release.errors == ()
    return build_calendar(release)


def entry(entries, appl_no, product_no):
    return next(e for e in entries if (e.appl_no, e.product_no) == (appl_no, product_no))


def test_every_nda_product_matches_hand_worked_dates(entries):
    assert sorted((e.appl_no, e.product_no) for e in entries) == sorted(EXPECTED)  # NDAs only, no ANDA
    for e in entries:
        got = (e.last_patent_expiry, e.last_ds_dp_patent_expiry, e.last_exclusivity_expiry,
               e.effective_loe, e.ped_applied, e.generic_count)
        assert got == EXPECTED[(e.appl_no, e.product_no)], (e.appl_no, e.product_no, e.trade_name)


def test_loe_source_names_the_deciding_row(entries):
    assert entry(entries, "205552", "001").loe_source == "patent 10004746*PED"
    assert entry(entries, "022335", "001").last_exclusivity_code == "NP"
    assert entry(entries, "205613", "001").loe_source == ""
    # IMBRUVICA 140MG lists 4 distinct patents (9125889, 8999999, 8476284, 10004746); PED rows add none.
    assert entry(entries, "205552", "001").patent_count == 4
    # QVAR 0.04MG: three of four patents are delisted.
    assert entry(entries, "207921", "001").patent_count == 1


def test_generic_details(entries):
    uceris = entry(entries, "205613", "001")
    assert [(g.appl_no, g.applicant, g.approval_date, g.te_code, g.type) for g in uceris.generics] == [
        ("215328", "PADAGIS ISRAEL", D(2023, 4, 12), "AB", "RX")]
    assert entry(entries, "021457", "001").generics == ()
    assert te_compatible("AB2", "AB1") is False
    assert te_compatible("AB", "AB") and te_compatible("", "AB") and te_compatible("AB1", "AB1")


HEADER_P = fixture_text("products.txt").split("\n")[0]
HEADER_PT = fixture_text("patent.txt").split("\r\n")[0]
HEADER_EX = fixture_text("exclusivity.txt").split("\r\n")[0]
BRAND = "DRUGX~TABLET;ORAL~BRANDX~MAKER~10MG **Federal Register note**~N~100001~001~AB~Jan 2, 2010~Yes~Yes~RX~MAKER INC"


def constructed(products: list[str], patents: list[str], excl: list[str] = ()):
    return build_calendar(build_release("\n".join([HEADER_P, *products]), "\r\n".join([HEADER_PT, *patents]),
                                        "\r\n".join([HEADER_EX, *excl])))


def test_delisted_patent_is_excluded_even_when_latest():
    [e] = constructed([BRAND], [
        "N~100001~001~1111111~Jan 1, 2040~Y~~~Y~Jan 1, 2010",  # delisted, latest
        "N~100001~001~2222222~Jan 1, 2030~~~U-1~~Jan 1, 2010",
    ])
    assert (e.last_patent_expiry, e.last_ds_dp_patent_expiry, e.effective_loe) == (D(2030, 1, 1), None, D(2030, 1, 1))


def test_ped_row_follows_its_base_patent():
    rows = [
        "N~100001~001~1111111~Jan 1, 2040~Y~~~~Jan 1, 2010",
        "N~100001~001~1111111*PED~Jul 1, 2040~~~~~",
        "N~100001~001~2222222~Jan 1, 2035~~~U-1~~Jan 1, 2010",
    ]
    [e] = constructed([BRAND], rows)
    assert (e.last_patent_expiry, e.last_ds_dp_patent_expiry, e.ped_applied) == (D(2040, 7, 1), D(2040, 7, 1), True)
    assert e.loe_source == "patent 1111111*PED"
    # Delisting the base patent drops its PED extension too.
    [e] = constructed([BRAND], [rows[0].replace("~~Jan 1, 2010", "~Y~Jan 1, 2010"), *rows[1:]])
    assert (e.last_patent_expiry, e.ped_applied) == (D(2035, 1, 1), True)


def test_exclusivity_later_than_patents_sets_loe():
    [e] = constructed([BRAND], ["N~100001~001~2222222~Jan 1, 2030~~~U-1~~Jan 1, 2010"],
                      ["N~100001~001~NCE~Mar 1, 2031", "N~100001~001~PED~Sep 1, 2031"])
    assert (e.effective_loe, e.loe_source, e.ped_applied) == (D(2031, 9, 1), "exclusivity PED", True)


def test_generic_count_skips_discontinued_and_ignores_strength_notes():
    rx = "DRUGX~TABLET;ORAL~DRUGX~GEN ONE~10MG~A~200001~001~AB~Jan 2, 2020~No~No~RX~GEN ONE INC"
    discn = "DRUGX~TABLET;ORAL~DRUGX~GEN TWO~10MG~A~200002~001~AB~Jan 2, 2019~No~No~DISCN~GEN TWO INC"
    other = "DRUGX~TABLET;ORAL~DRUGX~GEN THREE~20MG~A~200003~001~AB~Jan 2, 2019~No~No~RX~GEN THREE INC"
    [e] = constructed([BRAND, rx, discn, other], [])
    assert e.generic_count == 1
    assert [g.appl_no for g in e.generics] == ["200001", "200002"]


def test_calendar_json_has_exactly_the_fields(entries):
    records = json.loads(calendar_to_json(entries))
    assert len(records) == 32
    assert all(tuple(r) == JSON_FIELDS for r in records)
    imbruvica = next(r for r in records if (r["appl_no"], r["product_no"]) == ("205552", "001"))
    assert imbruvica == {
        "appl_no": "205552", "product_no": "001", "trade_name": "IMBRUVICA", "ingredient": "IBRUTINIB",
        "applicant": "PHARMACYCLICS LLC", "last_patent_expiry": "2031-12-03", "last_ds_dp_patent_expiry": None,
        "last_exclusivity_expiry": "2030-02-24", "effective_loe": "2031-12-03", "ped_applied": True,
        "generic_count": 0,
    }


def test_calendar_from_dir(entries):
    got, errors = calendar_from_dir(shared_fixture("orange_book", "products.txt").parent)
    assert errors == [] and got == entries


def test_months_and_add_months():
    assert add_months(D(2026, 1, 31), 1) == D(2026, 2, 28)
    assert add_months(D(2026, 6, 1), 36) == D(2029, 6, 1)
    assert months_to_loe(D(2026, 12, 1), AS_OF) == 6.0
    assert months_to_loe(D(2026, 6, 16), AS_OF) == 0.5  # 15 of June's 30 days
    assert months_to_loe(D(2026, 5, 1), AS_OF) == -1.0
    assert months_to_loe(None, AS_OF) is None


def test_brand_rollup(entries):
    brands = {b.trade_name: b for b in rollup_brands(entries)}
    assert brands["CAMZYOS"].products == (("214998", "001"), ("214998", "002"), ("214998", "003"), ("214998", "004"))
    assert (brands["IMBRUVICA"].earliest_loe, brands["IMBRUVICA"].latest_loe) == (D(2031, 6, 3), D(2031, 12, 3))
    assert brands["BREZTRI AEROSPHERE"].earliest_loe == D(2031, 3, 17)  # 002 has no date
    assert rollup_brands(entries)[0].trade_name == "GILENYA"  # 0.5MG, Dec 25, 2027, is the first cliff


def test_company_tickers_and_mapping():
    index = parse_company_tickers(shared_fixture("edgar_index", "company_tickers_trimmed.json").read_bytes())
    assert index.by_title[normalize_company("Alphabet Inc.")] == (1652044, ("GOOGL", "GOOG"))
    assert index.cik_by_ticker["BRK-A"] == 1067983
    # "ELI LILLY & Co" (cik 59478, LLY) in the SEC file.
    lilly = map_applicant("ELI LILLY AND CO", {}, index)
    assert (lilly.ticker, lilly.cik, lilly.source) == ("LLY", 59478, "sec_title")
    assert map_applicant("PHARMACYCLICS LLC", load_applicant_overrides(), index).ticker == "ABBV"
    assert map_applicant("PADAGIS ISRAEL PHARMACEUTICALS LTD", load_applicant_overrides(), index) is None


def test_override_table_rejects_bad_rows(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text("applicant_full_name,ticker,note\nACME INC,,missing ticker\n")
    with pytest.raises(ConfigError, match="line 2"):
        load_applicant_overrides(path)
    path.write_text("name,ticker\nACME INC,ACME\n")
    with pytest.raises(ConfigError, match="header"):
        load_applicant_overrides(path)


def test_applicant_rollup(entries):
    rollups = {r.key: r for r in rollup_applicants(entries, AS_OF, overrides=load_applicant_overrides())}
    azn = rollups["AZN"]
    assert set(azn.applicant_full_names) == {"ASTRAZENECA PHARMACEUTICALS LP", "ASTRAZENECA AB", "ASTRAZENECA UK LTD"}
    # KOSELUGO 001 and 002 (Mar 26, 2029) fall within 36 months of Jun 1, 2026; AIRSUPRA (2030) does not.
    assert (azn.next_loe, azn.next_loe_brand, azn.cliffs_in_horizon) == (D(2029, 3, 26), "KOSELUGO", 2)
    assert (rollups["NVS"].next_loe, rollups["NVS"].cliffs_in_horizon) == (D(2027, 12, 25), 1)
    assert rollups["IPSEN BIOPHARMACEUTICALS INC"].ticker is None


# ---- scoring ---------------------------------------------------------------------------------

def test_time_to_loe_bands():
    assert time_to_loe_component(D(2026, 12, 1), AS_OF).value == 4  # exactly 6 months
    assert time_to_loe_component(D(2026, 12, 2), AS_OF).value == 3
    assert time_to_loe_component(D(2028, 6, 1), AS_OF).value == 2
    assert time_to_loe_component(D(2029, 6, 1), AS_OF).value == 1
    assert time_to_loe_component(D(2029, 6, 2), AS_OF).value == 0
    assert time_to_loe_component(D(2026, 1, 1), AS_OF).value == 0
    assert time_to_loe_component(None, AS_OF).value == 0


def test_generic_pressure_and_exposure_components():
    assert generic_pressure_component(0).value == 0
    c = generic_pressure_component(1)
    assert c.value == 1 and "unavailable" in c.explanation and "39%" in c.explanation
    assert generic_pressure_component(6, PivStatus(listed=True, first_filer_count=3)).value == 3
    assert generic_pressure_component(0, PivStatus(listed=True, first_filer_count=1)).value == 1
    missing = revenue_exposure_component(None)
    assert (missing.name, missing.value) == ("revenue_exposure", None) and "unavailable" in missing.explanation
    assert [revenue_exposure_component(s).value for s in (0.3, 0.25, 0.1, 0.05, 0.04)] == [3, 3, 2, 1, 0]
    with pytest.raises(ConfigError):
        revenue_exposure_component(25.0)


def test_score_entries(entries):
    gilenya = score_entry(entry(entries, "022527", "001"), AS_OF)
    # Dec 25, 2027 is within 24 months (2), no generic (0), exposure unavailable.
    assert [(c.name, c.value) for c in gilenya.components] == [
        ("time_to_loe", 2), ("generic_pressure", 0), ("revenue_exposure", None)]
    assert gilenya.score == 2
    scores = {(s.appl_no, s.product_no): s for s in score_calendar(
        entries, AS_OF, revenue_shares={"koselugo": 0.12}, piv={"213756": PivStatus(True, 2)})}
    # KOSELUGO: Mar 26, 2029 <= 36 months (1) + PIV listed and 2 first filers (2) + 12% of revenue (2).
    assert scores[("213756", "001")].score == 5
    assert scores[("205613", "001")].score == 1  # UCERIS: no LOE date, one marketed generic


def test_event_scores_from_a_diff(entries):
    old = build_release(fixture_text("products.txt"), fixture_text("patent.txt"), fixture_text("exclusivity.txt"))
    delist = fixture_text("patent.txt").replace(
        "N~213756~001~12364684~Mar 26, 2029~~~U-4357~~Aug 19, 2025",
        "N~213756~001~12364684~Mar 26, 2029~~~U-4357~Y~Aug 19, 2025")
    new = build_release(fixture_text("products.txt"), delist, fixture_text("exclusivity.txt"))
    events = diff_releases(old, new, event_time=datetime(2026, 6, 2, tzinfo=UTC))
    assert [e.key for e in events] == ["orange_book:patent_delisted:N213756-001:12364684"]
    new_cal = build_calendar(new)
    [plain] = score_events(events, new_cal, AS_OF)
    # The last listed patent becomes 9562017 (Dec 12, 2026), so NPP Nov 19, 2028 now sets the LOE:
    # <= 36 months (1); delisting +2; LOE moved from 2029-03-26 +1.
    assert [(c.name, c.value) for c in plain.components] == [
        ("time_to_loe", 1), ("generic_pressure", 0), ("revenue_exposure", None), ("event", 2), ("loe_moved", 1)]
    assert plain.score == 4
    assert plain.components[-1].explanation == "effective LOE moved from 2029-03-26 to 2028-11-19"
    [small] = score_events(events, new_cal, AS_OF, revenue_shares={"KOSELUGO": 0.02})
    assert small.score == 4  # exposure 0 < 2: no floor
    [big] = score_events(events, new_cal, AS_OF, revenue_shares={"KOSELUGO": 0.5})
    assert big.score == 7  # 1 + 0 + 3 + 2 + 1; already at the floor, so no floor component
    assert [c.name for c in big.components][-1] == "loe_moved"
    low = score_events(events, [], AS_OF, revenue_shares={"KOSELUGO": 0.5})[0]
    assert low.components[0].value is None  # product missing from the calendar


def test_alert_floor_for_listing_change_with_high_exposure(entries):
    old = build_release(fixture_text("products.txt"), fixture_text("patent.txt"), fixture_text("exclusivity.txt"))
    added = fixture_text("patent.txt") + "\r\nN~207921~002~12999999~May 5, 2041~~Y~~~May 1, 2026"
    new = build_release(fixture_text("products.txt"), added, fixture_text("exclusivity.txt"))
    events = diff_releases(old, new, event_time=datetime(2026, 6, 2, tzinfo=UTC))
    [s] = score_events(events, build_calendar(new), AS_OF, revenue_shares={"QVAR REDIHALER": 0.10})
    # QVAR 0.08MG LOE 2041 (0) + no generic (0) + exposure 2 + patent_added 1 = 3 -> floored to 7.
    assert s.score == 7
    assert s.components[-1].name == "alert_floor" and s.components[-1].value == 4
