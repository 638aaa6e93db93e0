"""Lead sponsor -> ticker: the shipped override table, exact and fuzzy matches against SEC tickers."""
from __future__ import annotations

import json

import pytest

from pipelines.core.errors import ConfigError, DataError
from pipelines.sources.ctgov.normalize import normalize_study
from pipelines.sources.sponsors import (
    DEFAULT_OVERRIDES_PATH,
    SponsorMapper,
    load_company_tickers,
    load_overrides,
    normalize_name,
    parse_overrides,
)
from tests.conftest import shared_fixture


@pytest.fixture
def tickers_path():
    return shared_fixture("edgar_index", "company_tickers_trimmed.json")


@pytest.fixture
def mapper(tickers_path):
    return SponsorMapper.from_files(tickers_path)


def test_ticker_file_is_read_in_position_order(tickers_path):
    entries = load_company_tickers(tickers_path.read_bytes())
    assert len(entries) == 14
    assert (entries[0].cik, entries[0].ticker, entries[0].title) == (789019, "MSFT", "MICROSOFT CORP")
    assert [e.ticker for e in entries[-2:]] == ["GOOG", "BRK-A"]  # keys 7615, 7617 after "11"


def test_shipped_override_table_is_well_formed():
    rows = load_overrides(DEFAULT_OVERRIDES_PATH)
    assert len(rows) >= 10
    assert all(r.ticker == r.ticker.upper() and r.note for r in rows)


def test_override_for_the_recorded_industry_sponsor(mapper):
    study = normalize_study(json.loads(shared_fixture(
        "clinicaltrials", "study_NCT02552212_phase3_full_with_results_trimmed.json").read_bytes()))
    m = mapper.match(study.lead_sponsor_name, study.lead_sponsor_class)
    assert (m.sponsor, m.ticker, m.method, m.confidence) == ("UCB BIOSCIENCES GmbH", "UCBJY", "override", 1.0)
    assert m.cik is None  # UCB's ADR is not in the SEC ticker file


@pytest.mark.parametrize("sponsor, ticker", [
    ("Genentech, Inc.", "RHHBY"),
    ("Hoffmann-La Roche", "RHHBY"),
    ("Janssen Research & Development, LLC", "JNJ"),
    ("Merck Sharp & Dohme LLC", "MRK"),
    ("Bayer", "BAYRY"),
])
def test_subsidiaries_map_through_overrides(mapper, sponsor, ticker):
    m = mapper.match(sponsor, "INDUSTRY")
    assert (m.ticker, m.method) == (ticker, "override")


def test_override_pattern_with_a_space_does_not_catch_longer_words(mapper):
    assert mapper.match("Bayerische Pharma Werke", "INDUSTRY") is None


def test_override_cik_comes_from_the_ticker_file(tickers_path):
    tickers = load_company_tickers(tickers_path.read_bytes())
    overrides = parse_overrides("sponsor_pattern,ticker,note\nLoxo Oncology*,lly,acquired by Lilly in 2019\n")
    m = SponsorMapper(tickers, overrides).match("Loxo Oncology, Inc.", "INDUSTRY")
    assert (m.ticker, m.cik, m.method) == ("LLY", 59478, "override")


@pytest.mark.parametrize("sponsor, ticker, cik", [
    ("Eli Lilly and Company", "LLY", 59478),      # SEC title "ELI LILLY & Co"
    ("Novo Nordisk A/S", "NVO", 353278),          # SEC title "NOVO NORDISK A S"
    ("Alphabet Inc.", "GOOGL", 1652044),          # first share class listed, not GOOG
    ("Berkshire Hathaway Inc.", "BRK-B", 1067983),
    ("Microsoft Corporation", "MSFT", 789019),
])
def test_exact_matches_after_normalization(mapper, sponsor, ticker, cik):
    m = mapper.match(sponsor, "INDUSTRY")
    assert (m.ticker, m.cik, m.method, m.confidence) == (ticker, cik, "exact", 1.0)


def test_fuzzy_match_carries_its_confidence(tickers_path):
    m = SponsorMapper.from_files(tickers_path).match("Meta Platform, Inc.", "INDUSTRY")
    assert (m.ticker, m.cik, m.method) == ("META", 1326801, "fuzzy")
    assert 0.9 <= m.confidence < 1.0
    strict = SponsorMapper.from_files(tickers_path, fuzzy_threshold=99)
    assert strict.match("Meta Platform, Inc.", "INDUSTRY") is None


def test_only_industry_sponsors_are_mapped(mapper):
    assert mapper.match("Eli Lilly and Company", "OTHER") is None
    assert mapper.match("Eli Lilly and Company", None) is None  # projected record without class
    assert mapper.match("", "INDUSTRY") is None


def test_unmapped_lists_industry_sponsors_without_a_match(mapper):
    sponsors = [
        ("Neuren Pharmaceuticals Limited", "INDUSTRY"),
        ("Sichuan Baili Pharmaceutical Co., Ltd.", "INDUSTRY"),
        ("Neuren Pharmaceuticals Limited", "INDUSTRY"),
        ("Fudan University", "OTHER"),
        ("Genentech, Inc.", "INDUSTRY"),
    ]
    assert mapper.unmapped(sponsors) == ["Neuren Pharmaceuticals Limited", "Sichuan Baili Pharmaceutical Co., Ltd."]


def test_name_normalization_keeps_industry_words():
    assert normalize_name("VERTEX PHARMACEUTICALS INC / MA") == "vertex pharmaceuticals"
    assert normalize_name("Sichuan Baili Pharmaceutical Co., Ltd.") == "sichuan baili pharmaceutical"
    assert normalize_name("The Medicines Company") == "medicines"
    assert normalize_name("Inc.") == "inc"  # never reduced to nothing


def test_bad_tables():
    with pytest.raises(ConfigError, match="header"):
        parse_overrides("pattern,ticker\nX,Y\n")
    with pytest.raises(ConfigError, match="line 2"):
        parse_overrides("sponsor_pattern,ticker,note\nAcme*,,missing ticker\n")
    with pytest.raises(DataError, match="not valid JSON"):
        load_company_tickers(b'{"0": {"cik_str": 1')
    with pytest.raises(DataError, match="'0'"):
        load_company_tickers(b'{"0": {"cik_str": "789019", "ticker": "MSFT", "title": "MICROSOFT CORP"}}')
    with pytest.raises(ConfigError):
        SponsorMapper([], fuzzy_threshold=0)


REVERSE_SPONSORS = ["Genentech, Inc.", "Hoffmann-La Roche", "Eli Lilly and Company", "Meta Platform, Inc.",
                    "Alphabet Inc.", "Microsoft Corporation", "Novo Nordisk A/S", "UCB BIOSCIENCES GmbH",
                    "Sichuan Baili Pharmaceutical Co., Ltd.", "Bayerische Pharma Werke", "", "   "]


@pytest.mark.parametrize("ticker, sponsors, method", [
    ("RHHBY", ["Genentech, Inc.", "Hoffmann-La Roche"], "override"),
    ("lly", ["Eli Lilly and Company"], "exact"),  # any case
    ("META", ["Meta Platform, Inc."], "fuzzy"),
    ("UCBJY", ["UCB BIOSCIENCES GmbH"], "override"),
    ("GOOG", [], None),  # Alphabet maps to its first share class, GOOGL
    ("ZZZZ", [], None),
])
def test_matches_to_finds_the_sponsors_a_ticker_is_mapped_from(mapper, ticker, sponsors, method):
    found = mapper.matches_to(ticker, REVERSE_SPONSORS)
    assert [m.sponsor for m in found] == sponsors
    assert {m.method for m in found} <= {method}


def test_matches_to_agrees_with_match_for_every_ticker(tickers_path):
    # The reverse lookup skips the full match for names that cannot reach a ticker's titles; it must
    # still give exactly what matching every sponsor would, at the default and at a looser threshold.
    tickers = load_company_tickers(tickers_path.read_bytes())
    overrides = load_overrides(DEFAULT_OVERRIDES_PATH)
    for threshold in (90.0, 60.0):
        m = SponsorMapper(tickers, overrides, fuzzy_threshold=threshold)
        every = [m.match(s, "INDUSTRY") for s in REVERSE_SPONSORS]
        for ticker in {e.ticker for e in tickers} | {o.ticker for o in overrides}:
            assert m.matches_to(ticker, REVERSE_SPONSORS) == [x for x in every if x and x.ticker == ticker], ticker
