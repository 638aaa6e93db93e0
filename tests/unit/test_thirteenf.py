"""13F-HR parsing, value units, cover checks, amendments and quarter-over-quarter diffs.

Expected values are read from the recorded files in ../shared/fixtures/edgar_13f (see PROVENANCE.md).
"""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

import pytest

from pipelines.core.errors import DataError
from pipelines.sources.edgar.thirteenf import (
    CoverPage,
    Report,
    check_against_cover,
    parse_cover,
    parse_infotable,
    parse_infotable_expat,
    thirteenf_to_json,
    value_multiplier,
)
from pipelines.sources.edgar.thirteenf_reports import apply_amendment, diff_quarters, report_as_of, report_parts_as_of
from pipelines.sources.edgar.thirteenf_scan import scan_infotable
from pipelines.scoring.institutional import share_values
from pipelines.thirteenf.store import filing_figures, holding_text, with_filing_id
from tests.conftest import shared_fixture

LTS_FILED = date(2023, 11, 14)  # signatureDate of the LTS One cover; filed the same day
BRK_FILED = date(2023, 2, 14)  # Q4-2022 tables were due 45 days after 2022-12-31


def _read(name: str) -> bytes:
    return shared_fixture("edgar_13f", name).read_bytes()


@pytest.fixture(scope="module")
def lts_cover_raw() -> bytes:
    return _read("13f_hr_ltsone_2023q3_primary_doc.xml")


@pytest.fixture(scope="module")
def lts_table_raw() -> bytes:
    return _read("13f_hr_ltsone_2023q3_infotable.xml")


@pytest.fixture(scope="module")
def brk_table_raw() -> bytes:
    return _read("13f_hr_berkshire_2022q4_infotable_trimmed.xml")


def _drop_row(raw: bytes, cusip: str) -> bytes:
    """Remove the infoTable block holding `cusip` (either namespace style)."""
    pattern = re.compile(rb"\s*<(ns1:)?infoTable>(?:(?!</(ns1:)?infoTable>).)*?<(ns1:)?cusip>"
                         + cusip.encode() + rb"</(ns1:)?cusip>.*?</(ns1:)?infoTable>", re.DOTALL)
    out, n = pattern.subn(b"", raw, count=1)
    assert n == 1, cusip
    return out


def _brk_cover(period: date) -> CoverPage:
    # The Berkshire fixture has no cover page; the tests supply one for the period it reports.
    return CoverPage(filer_cik=1067983, filer_name="Berkshire Hathaway Inc", submission_type="13F-HR",
                     period=period, report_type="13F HOLDINGS REPORT", is_amendment=False, amendment_number=None,
                     amendment_type=None, entry_total=None, value_total=None, other_included_managers_count=None,
                     other_managers=(), is_confidential_omitted=False, signature_date=None)


# --- cover page -------------------------------------------------------------------------------------

def test_cover_page_fields(lts_cover_raw: bytes) -> None:
    cover = parse_cover(lts_cover_raw)
    assert cover.filer_cik == 1894188
    assert cover.filer_name == "LTS One Management LP"
    assert cover.submission_type == "13F-HR"
    assert cover.period == date(2023, 9, 30)  # written 09-30-2023
    assert cover.report_type == "13F HOLDINGS REPORT"
    assert cover.is_amendment is False and cover.amendment_type is None and cover.amendment_number is None
    assert cover.entry_total == 14
    assert cover.value_total == 454926000
    assert cover.other_included_managers_count == 0
    assert cover.other_managers == ()
    assert cover.is_confidential_omitted is False
    assert cover.signature_date == date(2023, 11, 14)


def test_cover_amendment_and_other_managers(lts_cover_raw: bytes) -> None:
    raw = lts_cover_raw.replace(b"<submissionType>13F-HR<", b"<submissionType>13F-HR/A<").replace(
        b"</reportCalendarOrQuarter>",
        b"</reportCalendarOrQuarter><isAmendment>true</isAmendment><amendmentNo>2</amendmentNo>"
        b"<amendmentInfo><amendmentType>NEW HOLDINGS</amendmentType></amendmentInfo>").replace(
        b"</isConfidentialOmitted>",
        b"</isConfidentialOmitted><otherManagers2Info><otherManager2><sequenceNumber>4</sequenceNumber>"
        b"<otherManager><cik>0000123456</cik><form13FFileNumber>028-00001</form13FFileNumber>"
        b"<name>Test Manager Four</name></otherManager></otherManager2></otherManagers2Info>")
    cover = parse_cover(raw)
    assert cover.submission_type == "13F-HR/A"
    assert cover.is_amendment is True
    assert cover.amendment_number == 2
    assert cover.amendment_type == "NEW HOLDINGS"
    assert len(cover.other_managers) == 1
    manager = cover.other_managers[0]
    assert (manager.sequence_number, manager.cik, manager.name, manager.file_number) == (
        4, 123456, "Test Manager Four", "028-00001")


@pytest.mark.parametrize("mutate, message", [
    (lambda raw: raw[: len(raw) // 2], "malformed"),
    (lambda raw: raw.replace(b"09-30-2023", b"2023/09/30"), "not MM-DD-YYYY"),
    (lambda raw: raw.replace(b"<tableEntryTotal>14<", b"<tableEntryTotal>fourteen<"), "tableEntryTotal"),
    (lambda raw: raw.replace(b"edgarSubmission", b"somethingElse"), "expected <edgarSubmission>"),
])
def test_cover_bad_input_raises_clear_error(lts_cover_raw: bytes, mutate, message: str) -> None:
    with pytest.raises(DataError, match=message):
        parse_cover(mutate(lts_cover_raw))


# --- information table ------------------------------------------------------------------------------

def test_lts_one_rows_prefixed_namespace(lts_table_raw: bytes) -> None:
    holdings, errors = parse_infotable(lts_table_raw, filed=LTS_FILED)
    assert errors == []
    assert len(holdings) == 14
    amazon = holdings[0]
    assert (amazon.name_of_issuer, amazon.title_of_class, amazon.cusip) == ("AMAZON COM INC", "COM", "023135106")
    assert amazon.value_usd == 17479000
    assert (amazon.shares_or_principal, amazon.sh_prn_type, amazon.put_call) == (137500, "SH", None)
    assert amazon.investment_discretion == "SOLE"
    assert amazon.other_managers == ()
    assert (amazon.voting_sole, amazon.voting_shared, amazon.voting_none) == (137500, 0, 0)
    femsa = holdings[4]
    assert (femsa.name_of_issuer, femsa.title_of_class, femsa.cusip) == (
        "FOMENTO ECONOMICO MEXICANO S", "SPON ADR UNITS", "344419106")
    assert (femsa.value_usd, femsa.shares_or_principal) == (31654000, 290000)
    iff = holdings[7]
    assert iff.name_of_issuer == "INTERNATIONAL FLAVORS&FRAGRA"  # &amp; in the file
    assert (iff.cusip, iff.value_usd, iff.shares_or_principal) == ("459506101", 154405000, 2265000)
    assert holdings[-1].name_of_issuer == "VISA INC" and holdings[-1].cusip == "92826C839"
    assert [h.row for h in holdings] == list(range(1, 15))


def test_lts_one_table_matches_its_cover(lts_cover_raw: bytes, lts_table_raw: bytes) -> None:
    cover = parse_cover(lts_cover_raw)
    holdings, _ = parse_infotable(lts_table_raw, filed=LTS_FILED)
    assert sum(h.value_usd for h in holdings) == 454926000
    assert len(holdings) == 14
    assert check_against_cover(holdings, cover) is None


def test_cover_mismatch_is_reported(lts_cover_raw: bytes, lts_table_raw: bytes) -> None:
    cover = parse_cover(lts_cover_raw)
    short, _ = parse_infotable(_drop_row(lts_table_raw, "126408103"), filed=LTS_FILED)
    error = check_against_cover(short, cover)
    assert isinstance(error, DataError)
    assert "13 rows" in str(error) and "tableEntryTotal is 14" in str(error)

    inflated, _ = parse_infotable(lts_table_raw.replace(b">17479000<", b">18479000<"), filed=LTS_FILED)
    error = check_against_cover(inflated, cover)
    assert isinstance(error, DataError) and "$455,926,000" in str(error) and "454,926,000" in str(error)

    # A row rounded the other way stays within half a unit per row.
    rounded, _ = parse_infotable(lts_table_raw.replace(b">17479000<", b">17479001<"), filed=LTS_FILED)
    assert check_against_cover(rounded, cover) is None


def test_berkshire_default_namespace_repeated_cusips(brk_table_raw: bytes) -> None:
    holdings, errors = parse_infotable(brk_table_raw, filed=BRK_FILED)
    assert errors == []
    assert len(holdings) == 12
    assert [h.cusip for h in holdings[:2]] == ["00507V109", "00507V109"]
    assert [h.other_managers for h in holdings[:2]] == [(4, 5), (4, 8, 11)]
    assert [h.value_usd for h in holdings[:2]] == [59096600, 1302218536]
    assert [h.shares_or_principal for h in holdings[:2]] == [772000, 17011346]
    assert holdings[3].other_managers == (2, 4, 11)
    assert holdings[9].other_managers == (1, 2, 4, 11)
    assert {h.investment_discretion for h in holdings} == {"DFND"}
    apple = holdings[8]
    assert (apple.cusip, apple.shares_or_principal, apple.voting_sole) == ("037833100", 1025856, 692000)
    # Already in dollars: ATVI at the 2022-12-30 close of 76.55.
    assert holdings[0].value_usd / holdings[0].shares_or_principal == pytest.approx(76.55)


def test_value_unit_follows_filing_date(lts_table_raw: bytes) -> None:
    assert value_multiplier(date(2023, 1, 2)) == 1000
    assert value_multiplier(date(2023, 1, 3)) == 1
    before, _ = parse_infotable(lts_table_raw, filed=date(2023, 1, 2))
    on, _ = parse_infotable(lts_table_raw, filed=date(2023, 1, 3))
    assert before[0].value_usd == 17479000 * 1000
    assert on[0].value_usd == 17479000
    assert before[0].filed == date(2023, 1, 2)


def test_cover_total_in_thousands_for_old_filings(lts_cover_raw: bytes, lts_table_raw: bytes) -> None:
    # The same table as if filed in 2022: rows and cover total are both thousands.
    cover = replace(parse_cover(lts_cover_raw), value_total=454926)
    scaled = lts_table_raw
    for value in re.findall(rb"<ns1:value>(\d+)</ns1:value>", lts_table_raw):
        scaled = scaled.replace(b">" + value + b"<", b">" + str(int(value) // 1000).encode() + b"<")
    holdings, _ = parse_infotable(scaled, filed=date(2022, 11, 14))
    assert holdings[0].value_usd == 17479000
    assert check_against_cover(holdings, cover) is None


def test_put_call_and_principal_rows(brk_table_raw: bytes) -> None:
    raw = brk_table_raw.replace(
        b"<sshPrnamtType>SH</sshPrnamtType>\n    </shrsOrPrnAmt>\n    <investmentDiscretion>",
        b"<sshPrnamtType>PRN</sshPrnamtType>\n    </shrsOrPrnAmt>\n    <putCall>CALL</putCall>\n"
        b"    <investmentDiscretion>", 1)
    holdings, errors = parse_infotable(raw, filed=BRK_FILED)
    assert errors == []
    assert (holdings[0].sh_prn_type, holdings[0].put_call) == ("PRN", "Call")
    assert (holdings[1].sh_prn_type, holdings[1].put_call) == ("SH", None)


def test_bad_row_is_reported_with_its_bytes_and_the_rest_go_on(lts_table_raw: bytes) -> None:
    raw = lts_table_raw.replace(b"<ns1:cusip>126408103</ns1:cusip>", b"<ns1:cusip>12640</ns1:cusip>")
    raw = raw.replace(b"<ns1:value>12785000</ns1:value>", b"<ns1:value>12,785k</ns1:value>")
    holdings, errors = parse_infotable(raw, filed=LTS_FILED)
    assert len(holdings) == 12
    assert "126408103" not in {h.cusip for h in holdings} and "29414B104" not in {h.cusip for h in holdings}
    assert [e.error.record_key for e in errors] == ["row 3 cusip 12640", "row 4 cusip 29414B104"]
    assert "CUSIP '12640' is not 9 letters or digits" in str(errors[0].error)
    assert "value is not a whole number: '12,785k'" in str(errors[1].error)
    assert errors[0].raw.startswith(b"<ns1:infoTable>") and errors[0].raw.endswith(b"</ns1:infoTable>")
    assert b"<ns1:nameOfIssuer>CSX CORP</ns1:nameOfIssuer>" in errors[0].raw
    assert errors[0].raw in raw
    assert all(e.error.source == "edgar.13f" for e in errors)


def test_truncated_table_keeps_rows_before_the_break(lts_table_raw: bytes) -> None:
    cut = lts_table_raw[: lts_table_raw.index(b"<ns1:nameOfIssuer>HUMANA INC")]
    holdings, errors = parse_infotable(cut, filed=LTS_FILED)
    assert [h.name_of_issuer for h in holdings] == [
        "AMAZON COM INC", "COSTAR GROUP INC", "CSX CORP", "EPAM SYS INC", "FOMENTO ECONOMICO MEXICANO S"]
    assert len(errors) == 1
    assert "truncated or malformed after row 5" in str(errors[0].error)
    assert errors[0].raw == cut


def test_wrong_document_and_entities_are_refused(lts_cover_raw: bytes) -> None:
    holdings, errors = parse_infotable(lts_cover_raw, filed=LTS_FILED)
    assert holdings == [] and "expected <informationTable>" in str(errors[0].error)
    bomb = b'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY a "aaaa">]><informationTable>&a;</informationTable>'
    holdings, errors = parse_infotable(bomb, filed=LTS_FILED)
    assert holdings == [] and "entities or a DTD" in str(errors[0].error)


def test_large_table_streams_and_cites_bad_rows_exactly(lts_table_raw: bytes) -> None:
    head, _, rest = lts_table_raw.partition(b"\t<ns1:infoTable>")
    block = b"\t<ns1:infoTable>" + rest.split(b"</ns1:infoTable>")[0] + b"</ns1:infoTable>\n"
    bad = block.replace(b"023135106", b"0231351XX6")
    raw = head + block * 15000 + bad + block * 5000 + b"</ns1:informationTable>\n"
    holdings, errors = parse_infotable(raw, filed=LTS_FILED)
    assert len(holdings) == 20000 and holdings[-1].row == 20001
    assert [e.error.record_key for e in errors] == ["row 15001 cusip 0231351XX6"]
    assert errors[0].raw == bad.strip()  # the row's own bytes, far past the first read chunk


# --- JSON view --------------------------------------------------------------------------------------

def test_json_output(lts_cover_raw: bytes, lts_table_raw: bytes) -> None:
    holdings, _ = parse_infotable(lts_table_raw, filed=LTS_FILED)
    doc = thirteenf_to_json(parse_cover(lts_cover_raw), holdings)
    assert doc["cover"] == {"period": "2023-09-30", "entry_total": 14, "value_total": 454926000}
    assert len(doc["holdings"]) == 14
    assert doc["holdings"][0] == {
        "name_of_issuer": "AMAZON COM INC", "title_of_class": "COM", "cusip": "023135106", "value_usd": 17479000,
        "shares_or_principal": 137500, "sh_prn_type": "SH", "put_call": None, "investment_discretion": "SOLE",
        "other_managers": [], "voting_sole": 137500, "voting_shared": 0, "voting_none": 0}
    assert thirteenf_to_json(None, [])["cover"] is None
    # The cover's total is converted like the rows: a filing before 2023-01-03 printed thousands.
    assert thirteenf_to_json(parse_cover(lts_cover_raw), [], filed=date(2022, 11, 14))["cover"]["value_total"] == \
        454926000 * 1000


# --- quarter-over-quarter diffs ---------------------------------------------------------------------

def test_diff_aggregates_repeated_cusips(brk_table_raw: bytes) -> None:
    cur_rows, _ = parse_infotable(brk_table_raw, filed=BRK_FILED)
    prev_raw = _drop_row(brk_table_raw, "02005N100")  # ALLY: the first of its two rows
    prev_raw = _drop_row(prev_raw, "02005N100")  # ... and the second: a new position this quarter
    prev_raw = prev_raw.replace(b"<sshPrnamt>8390000</sshPrnamt>", b"<sshPrnamt>4000000</sshPrnamt>")
    prev_raw = prev_raw.replace(b"<sshPrnamt>11900000</sshPrnamt>", b"<sshPrnamt>12900000</sshPrnamt>")
    prev_rows, _ = parse_infotable(prev_raw, filed=date(2022, 11, 14))
    prev = Report(_brk_cover(date(2022, 9, 30)), tuple(prev_rows), date(2022, 11, 14))
    cur = Report(_brk_cover(date(2022, 12, 31)), tuple(cur_rows), BRK_FILED)

    changes = {c.cusip: c for c in diff_quarters(prev, cur, tickers={"023135106": "AMZN", "037833100": "AAPL"})}
    assert len(changes) == 6  # twelve rows, six securities
    ally = changes["02005N100"]
    assert ally.status == "new" and ally.shares_prev == 0 and ally.shares_cur == 13519675 + 2803875
    assert ally.value_cur_usd == 330556054 + 68554744 and ally.rows_cur == 2
    assert ally.ticker is None and ally.mapped is False
    amazon = changes["023135106"]
    assert amazon.status == "increased" and (amazon.ticker, amazon.mapped) == ("AMZN", True)
    assert (amazon.shares_prev, amazon.shares_cur) == (4000000 + 2276000, 8390000 + 2276000)
    assert amazon.shares_change == 4390000
    bank = changes["060505104"]
    assert bank.status == "decreased" and bank.shares_change == -1000000
    apple = changes["037833100"]
    assert apple.status == "unchanged" and apple.shares_change == 0 and apple.shares_change_pct == 0.0
    assert apple.value_cur_usd == 133289470 + 498931200
    activision = changes["00507V109"]
    assert activision.shares_cur == 772000 + 17011346 and activision.value_cur_usd == 59096600 + 1302218536
    # ATVI ($1.36B) is the largest of the six in this trimmed table.
    assert activision.rank_cur == 1
    assert sum(c.weight_cur for c in changes.values()) == pytest.approx(1.0)


def test_diff_closed_positions_and_first_report(lts_cover_raw: bytes, lts_table_raw: bytes) -> None:
    cover = parse_cover(lts_cover_raw)
    cur_rows, _ = parse_infotable(_drop_row(lts_table_raw, "594918104"), filed=LTS_FILED)  # MSFT sold
    prev_rows, _ = parse_infotable(lts_table_raw, filed=date(2023, 8, 14))
    prev = Report(replace(cover, period=date(2023, 6, 30)), tuple(prev_rows), date(2023, 8, 14))
    cur = Report(cover, tuple(cur_rows), LTS_FILED)
    changes = {c.cusip: c for c in diff_quarters(prev, cur)}
    msft = changes["594918104"]
    assert msft.status == "closed" and msft.shares_prev == 65000 and msft.shares_cur == 0
    assert msft.value_change_usd == -20524000 and msft.rank_cur is None and msft.weight_cur == 0.0
    assert msft.shares_change_pct == -1.0
    assert {c.status for cusip, c in changes.items() if cusip != "594918104"} == {"unchanged"}
    first = diff_quarters(None, cur)
    assert len(first) == 13 and {c.status for c in first} == {"new"}
    with pytest.raises(ValueError, match="not before"):
        diff_quarters(cur, prev)


def test_options_kept_apart_from_shares(brk_table_raw: bytes) -> None:
    cur_raw = brk_table_raw.replace(
        b"<sshPrnamtType>SH</sshPrnamtType>\n    </shrsOrPrnAmt>\n    <investmentDiscretion>",
        b"<sshPrnamtType>SH</sshPrnamtType>\n    </shrsOrPrnAmt>\n    <putCall>Put</putCall>\n"
        b"    <investmentDiscretion>", 1)
    rows, _ = parse_infotable(cur_raw, filed=BRK_FILED)
    changes = diff_quarters(None, Report(_brk_cover(date(2022, 12, 31)), tuple(rows), BRK_FILED))
    atvi = sorted((c.put_call or "", c.shares_cur) for c in changes if c.cusip == "00507V109")
    assert atvi == [("", 17011346), ("Put", 772000)]


# --- amendments, point in time ----------------------------------------------------------------------

def _amendment_cover(raw: bytes, kind: bytes) -> CoverPage:
    return parse_cover(raw.replace(b"</reportCalendarOrQuarter>",
                                   b"</reportCalendarOrQuarter><isAmendment>true</isAmendment>"
                                   b"<amendmentInfo><amendmentType>" + kind + b"</amendmentType></amendmentInfo>"))


def test_restatement_replaces_and_new_holdings_add(lts_cover_raw: bytes, lts_table_raw: bytes,
                                                    brk_table_raw: bytes) -> None:
    base_rows, _ = parse_infotable(lts_table_raw, filed=LTS_FILED)
    base = Report(parse_cover(lts_cover_raw), tuple(base_rows), LTS_FILED, accession="0001894188-23-000007")

    restated_rows, _ = parse_infotable(_drop_row(lts_table_raw, "824348106"), filed=date(2023, 12, 1))
    restatement = Report(_amendment_cover(lts_cover_raw, b"RESTATEMENT"), tuple(restated_rows), date(2023, 12, 1),
                         accession="A-1")
    restated = apply_amendment(base, restatement)
    assert len(restated.holdings) == 13 and "824348106" not in {h.cusip for h in restated.holdings}
    assert restated.filed == date(2023, 12, 1)
    assert restated.sources == ("0001894188-23-000007", "A-1")

    added_rows, _ = parse_infotable(_drop_row(_drop_row(brk_table_raw, "00507V109"), "00507V109"),
                                    filed=date(2023, 12, 5))
    addition = Report(_amendment_cover(lts_cover_raw, b"NEW HOLDINGS"), tuple(added_rows), date(2023, 12, 5),
                      accession="A-2")
    combined = apply_amendment(base, addition)
    assert len(combined.holdings) == 14 + 10
    assert combined.cover == base.cover and combined.filed == date(2023, 12, 5)
    assert {h.filed for h in combined.holdings} == {LTS_FILED, date(2023, 12, 5)}

    # Point in time: nothing before filing, the original until the amendment is filed, then the amended view.
    assert report_as_of([base, restatement], date(2023, 11, 13)) is None
    assert report_as_of([restatement, base], date(2023, 11, 30)) == base
    assert len(report_as_of([restatement, base], date(2023, 12, 1)).holdings) == 13
    assert len(report_as_of([base, restatement, addition], date(2023, 12, 5)).holdings) == 13 + 10
    # The filings whose rows each view holds, in order (what the SQL diff reads).
    for day, parts in ((date(2023, 11, 30), [base]), (date(2023, 12, 1), [restatement]),
                       (date(2023, 12, 5), [restatement, addition])):
        view, held = report_parts_as_of([base, restatement, addition], day)
        assert view == report_as_of([base, restatement, addition], day) and list(held) == parts
        assert view.holdings == tuple(h for part in held for h in part.holdings)
    assert report_parts_as_of([base], date(2023, 11, 13)) is None


def test_bad_amendments_are_refused(lts_cover_raw: bytes, lts_table_raw: bytes) -> None:
    rows, _ = parse_infotable(lts_table_raw, filed=LTS_FILED)
    base = Report(parse_cover(lts_cover_raw), tuple(rows), LTS_FILED)
    with pytest.raises(DataError, match="not an amendment"):
        apply_amendment(base, base)
    other_period = Report(replace(_amendment_cover(lts_cover_raw, b"RESTATEMENT"), period=date(2023, 6, 30)),
                          tuple(rows), date(2023, 12, 1))
    with pytest.raises(DataError, match="period 2023-06-30"):
        apply_amendment(base, other_period)
    too_early = Report(_amendment_cover(lts_cover_raw, b"RESTATEMENT"), tuple(rows), date(2023, 11, 1))
    with pytest.raises(DataError, match="before the report it amends"):
        apply_amendment(base, too_early)
    with pytest.raises(DataError, match="neither RESTATEMENT nor NEW HOLDINGS"):
        _amendment_cover(lts_cover_raw, b"CORRECTION")


# --- fast path (compiled-regex scanner) against expat -------------------------------------------------

def _both(raw: bytes, filed: date = LTS_FILED) -> tuple[list, list]:
    """The scanner's holdings (asserting it took the document) and expat's, which must have no errors."""
    scanned = scan_infotable(raw, filed)
    assert scanned is not None, raw[:300]
    expat, errors = parse_infotable_expat(raw, filed=filed)
    assert errors == []
    return scanned, expat


def test_fast_path_matches_expat_on_the_fixtures(lts_table_raw: bytes, brk_table_raw: bytes) -> None:
    for raw, filed in ((lts_table_raw, LTS_FILED), (brk_table_raw, BRK_FILED), (lts_table_raw, date(2022, 5, 16))):
        scanned, expat = _both(raw, filed)
        assert scanned == expat and len(scanned) == raw.count(b"nameOfIssuer>") // 2
        assert [vars(h) for h in scanned] == [vars(h) for h in expat]  # nothing extra stored either


# Every field's variants; row i takes variant i % len of each list (lengths chosen so combinations mix).
_NAMES = ("ACME CORP", "  SPACED NAME\t", "A&amp;B &lt;C&gt; &quot;D&quot; &apos;E&apos;", "NUM&#65;&#x42;",
          "CAF\u00c9 S.A.", "NBSP\u00a0", "TAB&#9;IN", "BACK\\SLASH", "X > Y", "&#x10000;WIDE")
_TITLES = ("COM", "", "SPON ADR", " CL A ", "W&amp;T", "\u00c9")
_CUSIPS = ("023135106", "g0403h108", "\n 12345678Z \n", "00507V109", "9128285M8")
_FIGIS = (None, "BBG000BVPV84", "")
_VALUES = ("17479000", " 0 ", "007", "1302218536", "12")
_SH_PRN = (("100", "SH"), ("\n 5 \n", "PRN"), ("772000", "sh"), ("0", "prn"))
_PUT_CALL = (None, "Put", "CALL", "call", "Call", "PUT", "put")
_DISCRETIONS = ("SOLE", "DFND", "otr", "Dfnd", "OTR", "sole", "Otr", "dfnd", "Sole")
_OTHERS = (None, "", "4", "4,8,11", " 1 , 2 ", "1\n2", ",3,", "\t7\t")
_VOTING = (("0", "0", "0"), ("137500", " 5", "0"), ("1", "2", "\n3\n"))


def _generated_table(rows: int, prefix: str, ws: str, head: str) -> bytes:
    p = f"{prefix}:" if prefix else ""
    xmlns = (f' xmlns:{prefix}="http://www.sec.gov/edgar/document/thirteenf/informationtable"' if prefix
             else ' xmlns="http://www.sec.gov/edgar/document/thirteenf/informationtable"')

    def el(name: str, text: str | None, depth: int) -> str:
        return "" if text is None else f"{ws * depth}<{p}{name}>{text}</{p}{name}>{ws and chr(10)}"

    out = [head, f"<{p}informationTable{xmlns} xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\""
           ' xsi:schemaLocation="http://www.sec.gov/edgar/document/thirteenf/informationtable x.xsd">\n']
    for i in range(rows):
        amount, sh_prn = _SH_PRN[i % len(_SH_PRN)]
        sole, shared, none = _VOTING[i % len(_VOTING)]
        out += [f"{ws}<{p}infoTable>\n", el("nameOfIssuer", _NAMES[i % len(_NAMES)], 2),
                el("titleOfClass", _TITLES[i % len(_TITLES)], 2), el("cusip", _CUSIPS[i % len(_CUSIPS)], 2),
                el("figi", _FIGIS[i % len(_FIGIS)], 2), el("value", _VALUES[i % len(_VALUES)], 2),
                f"{ws * 2}<{p}shrsOrPrnAmt>", el("sshPrnamt", amount, 3), el("sshPrnamtType", sh_prn, 3),
                f"</{p}shrsOrPrnAmt>", el("putCall", _PUT_CALL[i % len(_PUT_CALL)], 2),
                el("investmentDiscretion", _DISCRETIONS[i % len(_DISCRETIONS)], 2),
                el("otherManager", _OTHERS[i % len(_OTHERS)], 2), f"<{p}votingAuthority>",
                el("Sole", sole, 3), el("Shared", shared, 3), el("None", none, 3),
                f"</{p}votingAuthority>{ws}</{p}infoTable>{ws and chr(10)}"]
    out.append(f"</{p}informationTable>\n")
    return "".join(out).encode("utf-8")


@pytest.mark.parametrize("prefix,ws,head", [
    ("ns1", "\t", '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'),
    ("", "  ", ""),
    ("n", "", "<?xml version='1.0' encoding='utf-8'?>"),
    ("", "\r\n ", '\ufeff<?xml version="1.0"?>\r\n'),
    ("a.b", " ", ""),
])
def test_fast_path_matches_expat_on_every_field_variant(prefix: str, ws: str, head: str) -> None:
    raw = _generated_table(2520, prefix, ws, head)  # 2520: a multiple of every variant list's length
    for filed in (LTS_FILED, date(2022, 11, 14)):
        scanned, expat = _both(raw, filed)
        assert scanned == expat and len(scanned) == 2520
    # Values written into the generator above, decoded by hand.
    assert [h.name_of_issuer for h in scanned[:10]] == [
        "ACME CORP", "SPACED NAME", "A&B <C> \"D\" 'E'", "NUMAB", "CAF\u00c9 S.A.", "NBSP", "TAB\tIN",
        "BACK\\SLASH", "X > Y", "\U00010000WIDE"]
    assert [h.title_of_class for h in scanned[:6]] == ["COM", "", "SPON ADR", "CL A", "W&T", "\u00c9"]
    assert [h.cusip for h in scanned[:3]] == ["023135106", "G0403H108", "12345678Z"]
    assert [h.value_usd for h in scanned[:3]] == [17479000000, 0, 7000]  # filed in 2022: thousands
    assert [(h.shares_or_principal, h.sh_prn_type) for h in scanned[:4]] == [
        (100, "SH"), (5, "PRN"), (772000, "SH"), (0, "PRN")]
    assert [h.put_call for h in scanned[:7]] == [None, "Put", "Call", "Call", "Call", "Put", "Put"]
    assert [h.investment_discretion for h in scanned[:3]] == ["SOLE", "DFND", "OTR"]
    assert [h.other_managers for h in scanned[:8]] == [(), (), (4,), (4, 8, 11), (1, 2), (1, 2), (3,), (7,)]
    assert [(h.voting_sole, h.voting_shared, h.voting_none) for h in scanned[:3]] == [
        (0, 0, 0), (137500, 5, 0), (1, 2, 3)]
    assert [h.row for h in scanned] == list(range(1, 2521))


@pytest.mark.parametrize("prefix,ws,head", [("ns1", "\t", ""), ("", "\r\n ", '\ufeff<?xml version="1.0"?>\r\n')])
def test_scanned_rows_load_without_building_holdings(prefix: str, ws: str, head: str) -> None:
    """Row count, value total and COPY text come from the scanner's columns, equal to the Holdings' own."""
    raw = _generated_table(2520, prefix, ws, head)  # every field variant: refs, escapes, case, zeros, spaces
    for filed in (LTS_FILED, date(2022, 11, 14)):
        rows = scan_infotable(raw, filed)
        expat, _ = parse_infotable_expat(raw, filed=filed)
        assert check_against_cover(rows, replace(_brk_cover(date(2022, 9, 30)), entry_total=2520,
                                                 value_total=sum(h.value_usd for h in expat) // (
                                                     value_multiplier(filed)))) is None
        assert len(rows) == 2520 and rows.value_total() == sum(h.value_usd for h in expat)
        assert holding_text(rows) == holding_text(expat)
        # The filing's screen figures: CUSIPs repeat and some rows are options, in every spelling.
        assert len(set(h.cusip for h in expat)) < len(expat) and {h.put_call for h in expat} >= {None, "Put", "Call"}
        assert sorted(rows.share_position_values()) == sorted(share_values(expat).values())
        assert filing_figures(rows) == filing_figures(expat)
        assert rows._holdings is None  # nothing built so far (private: the point of the class)
        assert rows[1] == expat[1] and rows[:3] == expat[:3] and rows == expat and list(rows) == expat


_EVIL = b'<!DOCTYPE ns1:informationTable [<!ENTITY evil "EVIL">]>'


@pytest.mark.parametrize("old,new", [
    (b"?>\n", b"?>\n<!DOCTYPE ns1:informationTable>\n"),  # DOCTYPE, no entities
    (b"?>\n", b"?>\n" + _EVIL),  # ENTITY declared, not used
    (b"AMAZON COM INC", b"AMAZON &evil;"),  # entity used, never declared
    (b"CSX CORP", b"CSX <!-- note --> CORP"),
    (b"CSX CORP", b"<![CDATA[CSX CORP]]>"),
    (b"CSX CORP", b"CSX ]]> CORP"),
    (b"CSX CORP", b"CSX<?pi x?>CORP"),
    (b"CSX CORP", b"CSX\rCORP"),
    (b"CSX CORP", b"CSX\x01CORP"),
    (b"CSX CORP", b"CSX &nbsp; CORP"),
    (b"CSX CORP", b"CSX &#0; CORP"),
    (b"CSX CORP", b""),  # missing name: a bad row
    (b"126408103", b"12640"),  # bad CUSIP: a bad row
    (b"<ns1:value>17479000", b"<ns1:value>1" + b"0" * 40),
    (b"<ns1:investmentDiscretion>SOLE", b"<ns1:extra>1</ns1:extra><ns1:investmentDiscretion>SOLE"),
    (b"\t<ns1:infoTable>", b"\t<ns1:infoTable id=\"1\">"),
    (b"<ns1:putCall>", b"<ns1:putCall>"),  # placeholder replaced below: an empty <putCall/>
    (b"xmlns:ns1=", b"xmlns:ns2="),  # unbound prefix
    (b"xmlns:ns1=", b'a="1" a="2" xmlns:ns1='),  # duplicate attribute
    (b'encoding="UTF-8"', b'encoding="ISO-8859-1"'),
    (b"</ns1:informationTable>", b"</ns1:informationTable><x/>"),
    (b"<ns1:titleOfClass>COM</ns1:titleOfClass>\n\t\t<ns1:cusip>023135106</ns1:cusip>",
     b"<ns1:cusip>023135106</ns1:cusip>\n\t\t<ns1:titleOfClass>COM</ns1:titleOfClass>"),  # order
])
def test_anything_unusual_goes_to_expat_with_identical_results(lts_table_raw: bytes, old: bytes, new: bytes) -> None:
    if old == b"<ns1:putCall>":
        old, new = b"</ns1:shrsOrPrnAmt>", b"</ns1:shrsOrPrnAmt><ns1:putCall/>"
    assert old in lts_table_raw
    raw = lts_table_raw.replace(old, new, 1)
    assert scan_infotable(raw, LTS_FILED) is None
    holdings, errors = parse_infotable(raw, filed=LTS_FILED)
    expat, expat_errors = parse_infotable_expat(raw, filed=LTS_FILED)
    assert holdings == expat
    assert [(str(e.error), e.error.record_key, e.raw) for e in errors] == [
        (str(e.error), e.error.record_key, e.raw) for e in expat_errors]



def test_names_and_titles_are_checked_after_the_loose_capture(lts_table_raw: bytes) -> None:
    """Names and titles are captured loosely, then checked: tab, newline, DEL and references stay legal
    text; a character XML forbids, \r, U+FFFE or a bare "&" in either still sends the table to expat."""
    raw = lts_table_raw.replace(b"CSX CORP", b"CSX\tCORP\n X", 1).replace(b"AMAZON COM INC", b"AMAZON\x7fCOM", 1)
    scanned, expat = _both(raw)
    assert scanned == expat and {"CSX\tCORP\n X", "AMAZON\x7fCOM", "INTERNATIONAL FLAVORS&FRAGRA"} <= {
        h.name_of_issuer for h in scanned}
    for bad in (b"\x00", b"\x08", b"\x0b", b"\x0c", b"\x1f", b"\r", "\ufffe".encode(), b"& ", b"&amp"):
        for old in (b"CSX\tCORP", b">COM<"):  # in a name, in a title
            broken = raw.replace(old, old[:2] + bad + old[2:], 1)
            assert scan_infotable(broken, LTS_FILED) is None
            holdings, errors = parse_infotable(broken, filed=LTS_FILED)
            expat, expat_errors = parse_infotable_expat(broken, filed=LTS_FILED)
            assert holdings == expat and [str(e.error) for e in errors] == [str(e.error) for e in expat_errors]
            assert bool(errors) is (bad != b"\r")  # expat reads \r as a newline; the rest it refuses

def test_prefix_is_matched_literally() -> None:
    raw = _generated_table(3, "a.b", "", "").replace(b"<a.b:infoTable>", b"<aXb:infoTable>", 1)
    assert scan_infotable(raw, LTS_FILED) is None
    holdings, errors = parse_infotable(raw, filed=LTS_FILED)
    assert len(errors) == 1 and "malformed" in str(errors[0].error)


def test_dtd_and_entity_documents_never_take_the_fast_path(lts_table_raw: bytes) -> None:
    for raw in (lts_table_raw.replace(b"?>\n", b"?>\n" + _EVIL, 1).replace(b"AMAZON COM INC", b"&evil;"),
                lts_table_raw.replace(b"?>\n", b"?>\n<!DOCTYPE ns1:informationTable SYSTEM \"http://x/t.dtd\">", 1),
                _generated_table(3, "", "", '<!DOCTYPE t [<!ENTITY a "aaaa">]>')):
        assert scan_infotable(raw, LTS_FILED) is None
        holdings, errors = parse_infotable(raw, filed=LTS_FILED)
        assert holdings == [] and len(errors) == 1 and "entities or a DTD" in str(errors[0].error)
        assert errors[0].raw == raw


def test_copy_text_of_a_filing_is_escaped_and_numbered(lts_table_raw: bytes) -> None:
    holdings = parse_infotable(lts_table_raw, filed=LTS_FILED)[0][:2]
    assert with_filing_id(42, holding_text(holdings)) == (
        "42\t1\t023135106\tAMAZON COM INC\tCOM\t17479000\t137500\tSH\t\\N\tSOLE\t\t137500\t0\t0\n"
        "42\t2\t22160N109\tCOSTAR GROUP INC\tCOM\t7689000\t100000\tSH\t\\N\tSOLE\t\t100000\t0\t0\n")
    odd = replace(holdings[1], name_of_issuer="A\tB\\C", title_of_class="CL\nA", put_call="Put", other_managers=(4, 8))
    assert with_filing_id(7, holding_text([holdings[0], odd])).splitlines()[1] == (
        "7\t2\t22160N109\tA\\tB\\\\C\tCL\\nA\t7689000\t100000\tSH\tPut\tSOLE\t4,8\t100000\t0\t0")
    assert with_filing_id(7, holding_text([])) == ""
