"""The `signals inspect` printers on outside data: nothing it holds is read as markup or reaches the
terminal as a control sequence, and figures are never cut short to fit the width."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

from pipelines.sources.edgar.thirteenf import parse_infotable

REPO = Path(__file__).resolve().parents[2]
HOSTILE = "Analyst \x1b[31mRED\x1b[0m \x9b2J [/] [red]x[/red] [link=http://evil.example]y[/link] \\"


def signals(*args: str, columns: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run([sys.executable, "-m", "workers.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60)


def test_inspect_jobs_shows_hostile_titles_as_written(fixture_path, tmp_path: Path) -> None:
    board = json.loads(fixture_path("jobs", "greenhouse_boards_api_jobs_content_true_smarterdx.json").read_text())
    board["jobs"][0]["title"] = HOSTILE
    board["jobs"][0]["location"] = {"name": "[bold]Remote[/bold]"}
    path = tmp_path / "smarterdx.json"
    path.write_text(json.dumps(board), encoding="utf-8")
    proc = signals("inspect", "jobs", "greenhouse", str(path))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "\x1b" not in out and "\x9b" not in out  # no raw ESC or CSI (no colours either: not a terminal)
    flat = re.sub(r"[\s│┃|]+", " ", out)  # the title column may wrap; compare its words
    for part in ("Analyst \\x1b[31mRED\\x1b[0m \\x9b2J [/] [red]x[/red]", "[link=http://evil.example]y[/link]",
                 "[bold]Remote[/bold]"):
        assert part in flat, (part, out)


def test_inspect_13f_never_cuts_figures_at_any_width(fixture_path) -> None:
    table = fixture_path("edgar_13f", "13f_hr_berkshire_2022q4_infotable_trimmed.xml")
    holdings, bad = parse_infotable(table.read_bytes(), filed=date(2023, 2, 14))
    assert holdings and not bad
    for columns in (80, 120, None):  # None: a pipe, printed WIDE
        proc = signals("inspect", "13f", str(table), "--filed", "2023-02-14", columns=columns)
        assert proc.returncode == 0, proc.stderr
        assert "…" not in proc.stdout
        lines = proc.stdout.splitlines()
        lines = lines[next(i for i, line in enumerate(lines) if "───" in line) + 1:]  # the table's body
        for h in holdings:  # each row's figures and codes whole, on the line of its row number
            row = next(line for line in lines if re.match(rf"\s*{h.row}\s", line))
            for text in (h.cusip, f"{h.value_usd:,}", f"{h.shares_or_principal:,}",
                         f"{h.voting_sole:,}/{h.voting_shared:,}/{h.voting_none:,}"):
                assert text in row, (columns, text, row)


def test_a_piped_table_is_not_folded_to_80_columns(fixture_path) -> None:
    table = fixture_path("edgar_13f", "13f_hr_berkshire_2022q4_infotable_trimmed.xml")
    proc = signals("inspect", "13f", str(table), "--filed", "2023-02-14")
    assert proc.returncode == 0, proc.stderr
    assert "ACTIVISION BLIZZARD INC" in proc.stdout  # at 80 columns the issuer column wraps this name
