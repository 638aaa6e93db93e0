"""EDGAR listing parsers (Atom feed, indexes, submissions, tickers) against the recorded files."""
from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from pipelines.core.errors import DataError
from pipelines.sources.edgar.feeds import (
    FilingRef,
    dedupe_filings,
    filing_document_url,
    filing_index_url,
    filing_text_url,
    next_page_start,
    normalize_accession,
    parse_company_tickers,
    parse_crawler_index,
    parse_current_feed,
    parse_form_index,
    parse_master_index,
    parse_submissions,
    parse_submissions_page,
)
from tests.conftest import shared_fixture

PAGE1 = "getcurrent_all_forms_page1_trimmed.atom"
PAGE2 = "getcurrent_page2_form4_and_4A_entries_only.atom"
MASTER = "master.20200103_daily_trimmed.idx"
FORM = "form.20200318_daily_by_formtype_trimmed.idx"
CRAWLER = "crawler_sample_20250501_trimmed_by_source.idx"
SUBMISSIONS = "submissions_CIK0000789019_msft_2022_trimmed.json"
TICKERS = "company_tickers_trimmed.json"
EST = timezone(timedelta(hours=-5))


def raw(name: str) -> bytes:
    return shared_fixture("edgar_index", name).read_bytes()


# --- getcurrent Atom ----------------------------------------------------------------------------

def test_page1_entries():
    refs, bad = parse_current_feed(raw(PAGE1), source=PAGE1)
    assert bad == []
    assert len(refs) == 14
    first = refs[0]
    assert first == FilingRef(
        accession="0002074440-26-000002", form_type="13F-HR", cik=2074440,
        company="Ryan Investment Management, Inc.", filed=date(2026, 1, 12), role=None,
        url="https://www.sec.gov/Archives/edgar/data/2074440/000207444026000002/0002074440-26-000002-index.htm",
        accepted_at=datetime(2026, 1, 12, 11, 27, 39, tzinfo=EST),
    )
    assert [r.form_type for r in refs] == [
        "13F-HR", "D", "4", "4", "4", "4", "D/A", "497", "4", "4", "S-1/A", "4", "4", "424B2"]
    # "&#39;" unescaped; a name holding " - " keeps it.
    assert refs[7].company == "Advisors' Inner Circle Fund II"
    assert (refs[6].form_type, refs[6].company, refs[6].cik) == ("D/A", "WAAIV LLC - Series 001", 1877808)


def test_page1_form4_reporting_issuer_pairs():
    refs, _ = parse_current_feed(raw(PAGE1), forms={"4", "4/A"})
    pairs = [(r.accession, r.cik, r.role, r.company) for r in refs]
    assert pairs == [
        ("0000080661-26-000032", 1071287, "Reporting", "DAVIS CHARLES A"),
        ("0000080661-26-000032", 80661, "Issuer", "PROGRESSIVE CORP/OH/"),
        ("0001069202-26-000002", 1424543, "Reporting", "Somasundaram Sivasankaran"),
        ("0001069202-26-000002", 1069202, "Issuer", "LENNOX INTERNATIONAL INC"),
        ("0001603945-26-000001", 1603945, "Reporting", "MANSFIELD WILLIAM P"),
        ("0001603945-26-000001", 205402, "Issuer", "GRAYBAR ELECTRIC CO INC"),
        ("0000080661-26-000030", 1232910, "Reporting", "Craig Pamela J."),
        ("0000080661-26-000030", 80661, "Issuer", "PROGRESSIVE CORP/OH/"),
    ]
    # The link sits under each entry's own CIK.
    assert refs[1].url == "https://www.sec.gov/Archives/edgar/data/80661/000008066126000032/0000080661-26-000032-index.htm"


def test_page1_dedupe_keeps_issuer_cik():
    refs, _ = parse_current_feed(raw(PAGE1))
    unique = dedupe_filings(refs)
    assert len(unique) == 10
    form4 = [(r.accession, r.cik, r.role) for r in unique if r.form_type == "4"]
    assert form4 == [
        ("0000080661-26-000032", 80661, "Issuer"),
        ("0001069202-26-000002", 1069202, "Issuer"),
        ("0001603945-26-000001", 205402, "Issuer"),
        ("0000080661-26-000030", 80661, "Issuer"),
    ]


def test_page2_amendments_and_unpaired_issuer_entry():
    refs, bad = parse_current_feed(raw(PAGE2))
    assert bad == [] and len(refs) == 9
    amendments = [(r.cik, r.role, r.company) for r in refs if r.form_type == "4/A"]
    assert amendments == [(1290872, "Reporting", "Ball Susan E"), (1141103, "Issuer", "CROSS COUNTRY HEALTHCARE INC")]
    assert {r.accession for r in refs if r.form_type == "4/A"} == {"0001012975-26-000025"}
    lone = [r for r in refs if r.accession == "0000080661-26-000004"]
    assert [(r.cik, r.role) for r in lone] == [(80661, "Issuer")]  # no (Reporting) twin in the file
    unique = dedupe_filings(refs)
    assert [(r.accession, r.cik) for r in unique] == [
        ("0000080661-26-000008", 80661),
        ("0002104634-26-000007", 1833197),
        ("0000080661-26-000006", 80661),
        ("0000080661-26-000004", 80661),
        ("0001012975-26-000025", 1141103),
    ]
    assert unique[-1].accepted_at == datetime(2026, 1, 12, 10, 43, 34, tzinfo=EST)


def test_dedupe_across_pages_and_non_adjacent_pairs():
    page1, _ = parse_current_feed(raw(PAGE1))
    page2, _ = parse_current_feed(raw(PAGE2))
    reporting_only = [r for r in page1 if r.role == "Reporting"]
    issuer_only = [r for r in page1 if r.role == "Issuer"]
    # Reporting halves first, issuer halves pages later, one page re-listed (offset shift).
    combined = reporting_only + page2 + issuer_only + page2
    unique = dedupe_filings(combined)
    assert len(unique) == 4 + 5
    assert [r.cik for r in unique[:4]] == [80661, 1069202, 205402, 80661]
    assert len({r.accession for r in unique}) == len(unique)


def test_bad_entry_is_returned_with_its_raw_text():
    body = raw(PAGE1).replace(b"<title>497 - Advisors&#39; Inner Circle Fund II (0000890540) (Filer)</title>",
                              b"<title>no cik here</title>")
    refs, bad = parse_current_feed(body, source="page1")
    assert len(refs) == 13 and len(bad) == 1
    assert "entry[7]" in str(bad[0].error) and "no cik here" in str(bad[0].error)
    assert "0001398344-26-000546" in bad[0].raw
    assert bad[0].error.source == "page1"


def test_feed_level_errors():
    with pytest.raises(DataError, match="expected an Atom <feed>"):
        parse_current_feed(b"<ownershipDocument/>")
    with pytest.raises(DataError, match="DTD"):
        parse_current_feed(b'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY a "b">]><feed/>')
    with pytest.raises(DataError, match="truncated"):
        parse_current_feed(raw(PAGE1)[:500])


def test_next_page_start():
    assert next_page_start(0, 100, 100) == 100
    assert next_page_start(100, 100, 100) == 200
    assert next_page_start(100, 100, 9) is None
    assert next_page_start(0, 40, 0) is None
    with pytest.raises(ValueError):
        next_page_start(0, 101, 101)
    with pytest.raises(ValueError):
        next_page_start(-1, 100, 100)


# --- daily indexes ------------------------------------------------------------------------------

def test_master_index():
    refs, bad = parse_master_index(raw(MASTER), source=MASTER)
    assert bad == [] and len(refs) == 125
    assert refs[0] == FilingRef(
        accession="0001209191-20-000788", form_type="4", cik=1000229, company="CORE LABORATORIES N V",
        filed=date(2020, 1, 3), role=None,
        url="https://www.sec.gov/Archives/edgar/data/1000229/0001209191-20-000788.txt",
    )
    assert (refs[-1].cik, refs[-1].company, refs[-1].form_type, refs[-1].accession) == (
        1066194, "EGAIN Corp", "4/A", "0001104659-20-000847")
    assert sum(r.form_type == "4" for r in refs) == 99
    assert [r.accession for r in refs if r.form_type == "4/A"] == [
        "0001004702-20-000002", "0001009874-20-000003", "0001104659-20-000847"]
    corresp = [(r.cik, r.filed) for r in refs if r.form_type == "CORRESP"]
    assert corresp == [(1006415, date(2019, 10, 4)), (1006415, date(2019, 10, 8))]
    assert any(r.company == "UNIVERSAL DISPLAY CORP \\PA\\" for r in refs)
    thirteen_f = [r for r in refs if r.form_type == "13F-HR"]
    assert [(r.cik, r.company) for r in thirteen_f] == [(1026200, "PRIVATE ASSET MANAGEMENT INC")]
    # Sorted by CIK as text upstream: 1004702 comes before 100517.
    ciks = [r.cik for r in refs]
    assert ciks.index(1004702) < ciks.index(100517) < ciks.index(1005284)


def test_master_index_bad_rows_and_header():
    text = raw(MASTER).decode() + "123|ONLY THREE|4\n1|X|4|2020013|edgar/data/1/0000000001-20-000001.txt\n"
    refs, bad = parse_master_index(text)
    assert len(refs) == 125 and len(bad) == 2
    assert "expected 5" in str(bad[0].error) and bad[0].raw == "123|ONLY THREE|4"
    assert "line 134" in str(bad[1].error)
    with pytest.raises(DataError, match="no dashed rule"):
        parse_master_index("CIK|Company Name|Form Type|Date Filed|File Name\n1|a|4|20200101|x.txt\n")


def test_form_index_fixed_width():
    refs, bad = parse_form_index(raw(FORM))
    assert bad == [] and len(refs) == 28
    assert (refs[2].form_type, refs[2].company, refs[2].cik, refs[2].accession) == (
        "1-A POS", "Belpointe REIT, Inc.", 1749817, "0001010549-20-000033")
    assert refs[2].url == "https://www.sec.gov/Archives/edgar/data/1749817/0001010549-20-000033.txt"
    assert (refs[1].company, refs[1].cik) == ("Investment Grade R.E. Income Fund, L.P.", 1798925)
    by_form = {}
    for r in refs:
        by_form[r.form_type] = by_form.get(r.form_type, 0) + 1
    assert by_form == {"1-A": 2, "1-A POS": 2, "13F-HR": 1, "13F-HR/A": 1, "3": 2, "4": 12, "4/A": 3,
                       "SC 13D": 2, "SC 13D/A": 1, "SC 13G": 1, "SC 13G/A": 1}
    assert all(r.filed == date(2020, 3, 18) for r in refs)
    assert (refs[-1].form_type, refs[-1].company, refs[-1].cik) == ("SC 13G/A", "RING ENERGY, INC.", 1384195)


def test_crawler_index_with_wrapped_header():
    refs, bad = parse_crawler_index(raw(CRAWLER))
    assert bad == [] and len(refs) == 8
    assert refs[0] == FilingRef(
        accession="9999999995-25-001299", form_type="EFFECT", cik=1877461, company="1606 CORP.",
        filed=date(2025, 4, 30), role=None,
        url="http://www.sec.gov/Archives/edgar/data/1877461/9999999995-25-001299-index.htm",
    )
    assert [(r.form_type, r.company, r.cik) for r in refs[5:]] == [
        ("SCHEDULE 13D/A", "325 CAPITAL LLC", 1873893),
        ("NT 20-F", "37 CAPITAL INC", 825171),
        ("13F-HR", "3EDGE Asset Management, LP", 1665605),
    ]
    assert [r.accession for r in refs if r.cik == 38723] == ["0000038723-25-000049", "0000038723-25-000050"]


# --- submissions and tickers --------------------------------------------------------------------

def test_submissions():
    subs, bad = parse_submissions(raw(SUBMISSIONS))
    assert bad == []
    assert (subs.cik, subs.name, subs.tickers, subs.exchanges) == (789019, "MICROSOFT CORP", ("MSFT",), ("Nasdaq",))
    assert len(subs.filings) == 18
    first = subs.filings[0]
    assert (first.accession, first.form, first.filing_date, first.report_date) == (
        "0001062993-22-019522", "4", date(2022, 9, 13), date(2022, 9, 12))
    assert first.acceptance_datetime == datetime(2022, 9, 13, 18, 2, 38, tzinfo=UTC)
    assert first.primary_document == "xslF345X03/form4.xml"
    assert [f.form for f in subs.filings[12:]] == ["10-K", "8-K", "10-Q", "SC 13G/A", "DEF 14A", "4/A"]
    sc13g = subs.filings[15]
    assert (sc13g.accession, sc13g.report_date) == ("0001104659-22-018095", None)
    assert subs.filings[13].items == ("2.02", "9.01")
    last = subs.filings[17]
    assert (last.accession, last.form, last.primary_document) == ("0001819285-20-000020", "4/A", "xslF345X03/edgar.xml")
    assert subs.older_pages == ("CIK0000789019-submissions-001.json", "CIK0000789019-submissions-002.json")
    ref = first.to_ref(subs.cik, subs.name, "https://www.sec.gov")
    assert ref.url == "https://www.sec.gov/Archives/edgar/data/789019/000106299322019522/0001062993-22-019522-index.htm"


def test_submissions_bad_rows_and_shapes():
    data = json.loads(raw(SUBMISSIONS))
    data["filings"]["recent"]["filingDate"][2] = "2022-13-45"
    subs, bad = parse_submissions(data)
    assert len(subs.filings) == 17 and len(bad) == 1
    assert "0001062993-22-019438" in str(bad[0].error) and "2022-13-45" in bad[0].raw
    data["filings"]["recent"]["form"].pop()
    with pytest.raises(DataError, match="differ in length"):
        parse_submissions(data)
    with pytest.raises(DataError, match="not valid JSON"):
        parse_submissions(raw(SUBMISSIONS)[:300])
    page, page_bad = parse_submissions_page(json.loads(raw(SUBMISSIONS))["filings"]["recent"])
    assert len(page) == 18 and page_bad == []


def test_company_tickers():
    tickers, bad = parse_company_tickers(raw(TICKERS))
    assert bad == []
    assert len(tickers.ticker_to_cik) == 14
    assert tickers.ticker_to_cik["MSFT"] == 789019
    assert tickers.cik_to_tickers[1652044] == ("GOOGL", "GOOG")
    assert tickers.cik_to_tickers[1067983] == ("BRK-B", "BRK-A")
    assert tickers.ticker_to_cik["BRK-A"] == tickers.ticker_to_cik["BRK-B"] == 1067983
    assert tickers.cik_to_title[59478] == "ELI LILLY & Co"
    data = json.loads(raw(TICKERS))
    data["99"] = {"ticker": "NOCIK", "title": "broken"}
    tickers, bad = parse_company_tickers(data)
    assert len(bad) == 1 and "NOCIK" in bad[0].raw and "NOCIK" not in tickers.ticker_to_cik


# --- URL helpers --------------------------------------------------------------------------------

def test_url_helpers_and_accessions():
    assert normalize_accession("000120919123029527") == "0001209191-23-029527"
    assert normalize_accession("0001209191-23-029527") == "0001209191-23-029527"
    with pytest.raises(DataError):
        normalize_accession("12-34")
    base = "https://www.sec.gov/"
    assert filing_index_url(base, 1750019, "0001209191-23-029527") == (
        "https://www.sec.gov/Archives/edgar/data/1750019/000120919123029527/0001209191-23-029527-index.htm")
    assert filing_text_url(base, 1750019, "000120919123029527") == (
        "https://www.sec.gov/Archives/edgar/data/1750019/000120919123029527/0001209191-23-029527.txt")
    assert filing_document_url(base, 789019, "0001062993-22-019522", "xslF345X03/form4.xml") == (
        "https://www.sec.gov/Archives/edgar/data/789019/000106299322019522/form4.xml")
    assert filing_document_url(base, 789019, "0001062993-22-019522", "xslF345X03/form4.xml", raw_xml=False) == (
        "https://www.sec.gov/Archives/edgar/data/789019/000106299322019522/xslF345X03/form4.xml")
