"""Outside data made safe for the terminal (workers.cli.common.visible / shown) and for a spreadsheet
(csv_cell / print_csv)."""
from __future__ import annotations

import csv
import io

import pytest
from rich.console import Console
from rich.markup import render

from workers.cli.common import csv_cell, print_csv, shown, visible


@pytest.mark.parametrize(("raw", "expected"), [
    ("plain text", "plain text"),
    ("tab\tand\nnewline stay", "tab\tand\nnewline stay"),
    ("esc \x1b[2J", "esc \\x1b[2J"),
    ("bell \x07 nul \x00 del \x7f", "bell \\x07 nul \\x00 del \\x7f"),
    ("c1 csi \x9b31m and nel \x85", "c1 csi \\x9b31m and nel \\x85"),
    ("accents é and ü stay, so does \u00a0", "accents é and ü stay, so does \u00a0"),
])
def test_visible_writes_control_characters_as_escapes(raw: str, expected: str) -> None:
    assert visible(raw) == expected


@pytest.mark.parametrize("raw", ["[/]", "[red]x[/red]", "a [link=http://e.example]b[/link]", "ends in \\",
                                 "[bold", "x \\[y]", "\x1b[31m[/red]"])
def test_shown_renders_back_to_the_visible_text(raw: str) -> None:
    # Through rich's own markup parser, inside markup of ours: exactly the text, no style taken from it.
    text = render(f"[green]{shown(raw)}[/green]")
    assert text.plain == visible(raw)
    assert {str(span.style) for span in text.spans} == {"green"}


def test_shown_prints_without_markup_errors() -> None:
    console = Console(width=80, record=True, color_system=None)
    console.print(f"title: {shown('x[/]y')}")
    assert console.export_text().strip() == "title: x[/]y"


@pytest.mark.parametrize(("value", "cell"), [
    (None, ""), (True, "true"), (False, "false"), (42, "42"), (0.1, "0.1"), ("ACME CORP", "ACME CORP"),
    ("-1250.50", "-1250.50"), ("+3", "+3"), ("1e5", "1e5"),  # numbers as filed stay numbers
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("+1 555 0100", "'+1 555 0100"),
    ("-ACME", "'-ACME"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"),  # never a formula
    (["Doe John", "Roe Jane"], "Doe John; Roe Jane"), ([1, 2], "1; 2"), (["=A", "=B"], "'=A; =B"),
    ([{"name": "breadth", "value": 1.5}], '[{"name":"breadth","value":1.5}]'), ({"a": [1]}, '{"a":[1]}'),
])
def test_csv_cell(value: object, cell: str) -> None:
    assert csv_cell(value) == cell


def test_print_csv_writes_a_header_of_every_key_and_the_context_on_each_row(capsys) -> None:
    print_csv([{"cusip": "AAA000001", "name": "A, \"quoted\"\nline"}, {"cusip": "BBB000002", "rank": 2}],
              context={"period": "2023-09-30"})
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows == [["period", "cusip", "name", "rank"], ["2023-09-30", "AAA000001", "A, \"quoted\"\nline", ""],
                    ["2023-09-30", "BBB000002", "", "2"]]
    print_csv([], context={"period": "2023-09-30"})
    assert capsys.readouterr().out == "period\n"
