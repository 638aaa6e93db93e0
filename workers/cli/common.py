"""Helpers shared by the CLI modules: settings, registry, dates and output."""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timezone
from typing import Any, cast
from zoneinfo import ZoneInfo

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Column, Table
from rich.text import Text

from pipelines.core.registry import Registry, registry_for
from pipelines.core.settings import Settings, get_settings

UNBOUNDED = 100_000  # a width to measure a table's minimum against (Measurement clamps to the width)
WIDE = 200  # columns when the output is a file or a pipe: rich's 80 would fold or cut the tables


def make_console(*, stderr: bool = False) -> Console:
    """A console for CLI output. Printed to a terminal it takes the terminal's width; written to a file
    or a pipe (and COLUMNS unset), WIDE columns, so saved output keeps whole rows."""
    stream = sys.stderr if stderr else sys.stdout
    wide = not stream.isatty() and not os.environ.get("COLUMNS")
    return Console(stderr=stderr, width=WIDE if wide else None)


console = make_console()

# C0 controls other than tab and newline, DEL, and C1 controls (which XML 1.0 allows in text). A
# recorded payload is outside data: a job title or a study field carrying ESC or CSI would otherwise
# recolour, move the cursor in or retitle the terminal of whoever inspects it.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def visible(text: str) -> str:
    """`text` with its control characters written as \\xNN escapes, for a terminal."""
    return _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def shown(value: object) -> str:
    """Outside data for rich output (markup on): control characters made visible and markup escaped, so
    a name holding "[/]" or "[red]" prints as written instead of failing or restyling the line."""
    return escape(visible(str(value)))


def listing(title: str) -> Table:
    """The CLI's plain listing table: a rule under the header, no boxes, the title on the left."""
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False)


def print_table(table: Table) -> None:
    """Print `table` whole: figures and codes are never cut short with an ellipsis.

    Rich fits a table to the console by narrowing its wrapping columns (those not no_wrap) and, when
    that is not enough, every column, cutting cells. So the wrapping columns (one per table, rich stops
    narrowing several once they are equally wide) may narrow down to their min_width; a console
    narrower than that prints the table that wide, and the terminal wraps its lines."""
    natural = Measurement.get(console, console.options.update(width=UNBOUNDED), table).maximum
    needed = natural - sum(max(0, _widest(column) - (column.min_width or 1))
                           for column in table.columns if not column.no_wrap)
    if needed <= console.width:
        console.print(table)
        return
    # print(width=) only ever narrows, so a console of the width needed, on the same stream and colours.
    colors = cast(Any, console.color_system)  # the name rich reports is one its constructor takes
    Console(file=console.file, width=needed, color_system=colors, force_terminal=console.is_terminal,
            no_color=console.no_color, highlight=False).print(table)


def _widest(column: Column) -> int:
    return max((Text.from_markup(c).cell_len for c in (column.header, *column.cells) if isinstance(c, str)),
               default=0)


def context() -> tuple[Settings, Registry]:
    settings = get_settings()
    return settings, registry_for(settings)


def parse_when(text: str, tz: str, end_of_day: bool = False) -> datetime:
    """ISO date or datetime; a bare date or a naive time is read in the schedule zone."""
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime.combine(d, time(23, 59, 59) if end_of_day else time(0), ZoneInfo(tz))
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO date or datetime: {text!r}") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=ZoneInfo(tz))


def parse_conf(pairs: list[str] | None) -> dict[str, Any]:
    conf: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--conf takes key=value, not {pair!r}")
        try:
            conf[key] = json.loads(value)  # numbers, booleans and lists keep their type
        except json.JSONDecodeError:
            conf[key] = value
    return conf


def parse_day(text: str | None, flag: str) -> date | None:
    """A YYYY-MM-DD option's date (None when not given); ValueError naming the option otherwise."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{flag} takes a YYYY-MM-DD date, not {text!r}") from None


def iso(dt: datetime | None) -> str | None:
    return dt.astimezone(timezone.utc).isoformat() if dt else None


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def add_output_flags(parser: argparse.ArgumentParser, json_help: str | None = None) -> None:
    """--json for scripts and --csv for spreadsheets (one or the other) on a listing command."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--json", action="store_true", help=json_help)
    group.add_argument("--csv", action="store_true",
                       help="the --json records as CSV, a row each (nested fields as JSON), for a spreadsheet")


def print_records(args: argparse.Namespace, records: list[dict[str, Any]], *, doc: Any = None,
                  context: Mapping[str, Any] | None = None) -> None:
    """A listing's --json or --csv output: the JSON document (`doc`, else the records themselves), or
    the records as CSV with the `context` fields on every row."""
    if args.json:
        print_json(records if doc is None else doc)
    else:
        print_csv(records, context=context)


# A cell a spreadsheet would read as a formula (=, +, -, @, or a tab or carriage return first): outside
# text such as an issuer name or a job title must not run as one where an analyst opens the file.
_FORMULA = re.compile(r"[=+\-@\t\r]")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def csv_cell(value: Any) -> str:
    """A JSON record's value as one CSV cell: nothing for null, true/false, numbers as written, lists
    of scalars joined by "; ", anything nested as compact JSON; a cell that would start a formula is
    quoted with a leading apostrophe (the spreadsheet convention), a number never."""
    text = _plain(value)
    return "'" + text if _FORMULA.match(text) and not _NUMBER.fullmatch(text) else text


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)) and all(v is None or isinstance(v, (str, int, float)) for v in value):
        return "; ".join(_plain(v) for v in value)
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def print_csv(records: Iterable[Mapping[str, Any]], *, context: Mapping[str, Any] | None = None) -> None:
    """`records` (a command's --json records) as CSV on stdout: a header of every key in the order first
    seen, then a row per record, each starting with the `context` fields (what the --json document
    says once for all its records, e.g. the quarter and the day it was known on)."""
    rows = [{**(context or {}), **r} for r in records]
    header = list(dict.fromkeys(k for r in rows for k in r)) or list(context or {})
    # Written as is to a file or a pipe; on a terminal control characters are made visible, as in tables.
    cell = (lambda v: visible(csv_cell(v))) if sys.stdout.isatty() else csv_cell
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([cell(r.get(k)) for k in header] for r in rows)
