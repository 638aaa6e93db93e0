"""Outside data made safe for the terminal (workers.cli.common.visible / shown)."""
from __future__ import annotations

import pytest
from rich.console import Console
from rich.markup import render

from workers.cli.common import shown, visible


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
