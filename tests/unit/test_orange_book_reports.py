"""Calendar outputs: CSV, iCalendar feed, HTML report with the inline SVG timeline, and the render script."""
from __future__ import annotations

import csv
import importlib.util
import io
import re
from datetime import UTC, date, datetime
from pathlib import Path

import icalendar
import pytest

from pipelines.sources.orange_book.calendar import build_calendar
from pipelines.sources.orange_book.parse import build_release
from pipelines.sources.orange_book.reports import (
    CSV_COLUMNS,
    calendar_to_csv,
    calendar_to_html,
    calendar_to_ical,
    loe_uid,
    timeline_svg,
)
from tests.conftest import shared_fixture

AS_OF = date(2026, 6, 1)
REPO = Path(__file__).resolve().parents[2]


def fixture_text(name: str) -> str:
    return shared_fixture("orange_book", name).read_bytes().decode("ascii")


@pytest.fixture(scope="module")
def entries():
    return build_calendar(build_release(
        fixture_text("products.txt"), fixture_text("patent.txt"), fixture_text("exclusivity.txt")))


def test_csv_has_one_row_per_nda_product(entries):
    rows = list(csv.DictReader(io.StringIO(calendar_to_csv(entries, AS_OF, {("205552", "001"): 0.0}))))
    assert len(rows) == 32  # 35 products.txt rows minus 3 ANDAs (215328, 207085, 088713)
    assert tuple(rows[0]) == CSV_COLUMNS
    imbruvica = next(r for r in rows if (r["appl_no"], r["product_no"]) == ("205552", "001"))
    assert (imbruvica["effective_loe"], imbruvica["last_patent_no"], imbruvica["ped_applied"]) == (
        "2031-12-03", "10004746*PED", "Y")
    assert (imbruvica["last_exclusivity_code"], imbruvica["score"]) == ("PED", "0")
    uceris = next(r for r in rows if r["appl_no"] == "205613")
    assert (uceris["effective_loe"], uceris["months_to_loe"], uceris["generic_te_codes"]) == ("", "", "AB")
    # the Federal Register note stays in the strength column
    assert next(r for r in rows if r["appl_no"] == "050801")["strength"].endswith("effectiveness reasons**")


def test_ical_parses_back_with_stable_uids(entries):
    first = calendar_to_ical(entries, generated_at=datetime(2026, 6, 1, 8, tzinfo=UTC))
    second = calendar_to_ical(entries, generated_at=datetime(2026, 7, 1, 8, tzinfo=UTC))
    cal = icalendar.Calendar.from_ical(first)
    events = list(cal.walk("VEVENT"))
    # 32 NDA products minus 7 with neither patent nor exclusivity rows (UCERIS, EVOCLIN, MEN'S ROGAINE,
    # ALUPENT, BREZTRI 002, PROAIR HFA, CALDEROL).
    assert len(events) == 25
    uids = [str(e["uid"]) for e in events]
    assert len(set(uids)) == 25
    assert uids == [str(e["uid"]) for e in icalendar.Calendar.from_ical(second).walk("VEVENT")]
    gilenya = next(e for e in events if str(e["uid"]) == "orange-book-loe-022527-001@investment-signals")
    assert gilenya.decoded("dtstart") == date(2027, 12, 25)
    assert gilenya.decoded("dtend") == date(2027, 12, 26)
    assert str(gilenya["summary"]) == "LOE: GILENYA EQ 0.5MG BASE (NDA 022527/001)"
    assert "patent 10543179" in str(gilenya["description"])
    assert str(cal["version"]) == "2.0"
    assert loe_uid(entries[0]) == "orange-book-loe-205613-001@investment-signals"


def test_timeline_shows_only_cliffs_within_36_months(entries):
    svg = timeline_svg(entries, AS_OF)
    # Within Jun 1, 2026 .. Jun 1, 2029: GILENYA 0.5MG (Dec 25, 2027) and KOSELUGO 10MG+25MG (Mar 26, 2029),
    # the two KOSELUGO strengths sharing one row.
    labels = re.findall(r'class="label">([A-Z][A-Z ]+)</text>', svg)
    assert labels == ["GILENYA", "KOSELUGO"]
    assert "EQ 10MG BASE, EQ 25MG BASE" in svg
    assert "Dec 25, 2027" in svg and "Mar 26, 2029" in svg
    assert "IMBRUVICA" not in svg  # Dec 3, 2031 is past the horizon
    empty = timeline_svg(entries, date(2045, 1, 1))
    assert "No effective LOE dates in the next 36 months" in empty


def test_html_is_self_contained_and_escaped(entries):
    odd = entries[0]._replace(trade_name="A<B & C", effective_loe=date(2026, 9, 1))
    html = calendar_to_html([*entries, odd], AS_OF)
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html
    assert "<script" not in html.lower()
    assert not re.search(r'(src|href)=["\']?https?:', html)
    assert "A&lt;B &amp; C" in html and "A<B" not in html
    assert "33 NDA products" in html and "4 lose exclusivity by 2029-06-01" in html
    assert html.count("<tr class=soon>") == 4


def test_render_script_writes_three_files(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("render_ob", REPO / "scripts" / "render_orange_book_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    folder = shared_fixture("orange_book", "products.txt").parent
    assert module.main([str(folder), "--as-of", "2026-06-01", "--out", str(tmp_path)]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["orange_book_calendar.csv", "orange_book_loe.ics", "orange_book_report.html"]
    assert len(icalendar.Calendar.from_ical((tmp_path / "orange_book_loe.ics").read_bytes()).walk("VEVENT")) == 25
    assert "NVS" in capsys.readouterr().out  # GILENYA's applicant mapped through the override table
    assert module.main([str(tmp_path / "missing"), "--out", str(tmp_path)]) == 2
