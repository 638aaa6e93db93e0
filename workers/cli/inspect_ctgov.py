"""`signals inspect ctgov FILE [--json]` and `signals inspect ctgov-diff OLD NEW [--json]`.

FILE is a single study (`GET /studies/{nct}`) or a list page (`GET /studies`); the plain output is
one table per study, with the bad studies of a page listed after them.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.table import Table

from pipelines.sources.ctgov import inspect_diff, inspect_document

from .common import console, print_json, shown

_FIELDS = (
    ("brief_title", "title"), ("overall_status", "status"), ("why_stopped", "why stopped"),
    ("primary_completion", "primary completion"), ("completion", "completion"), ("enrollment", "enrollment"),
    ("has_results", "has results"), ("results_first_posted", "results first posted"),
    ("lead_sponsor_name", "lead sponsor"), ("lead_sponsor_class", "sponsor class"), ("phases", "phases"),
    ("conditions", "conditions"), ("interventions", "interventions"), ("last_update_posted", "last update posted"),
)


def _show(value: Any) -> str:
    if value is None:
        return "[dim]-[/dim]"
    if isinstance(value, list):
        return ", ".join(shown(v) for v in value) if value else "[dim]none[/dim]"
    if isinstance(value, dict) and "date" in value:  # a date struct keeps its precision
        kind = f" {value['type']}" if value.get("type") else ""
        return shown(f"{value['date']} ({value['precision']}{kind})")
    if isinstance(value, dict) and "count" in value:
        return shown(f"{value['count']}" + (f" ({value['type']})" if value.get("type") else ""))
    return shown(value)


def _study_table(study: dict[str, Any]) -> Table:
    table = Table(title=shown(f"{study['nct_id']}  {study['url']}"), show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, label in _FIELDS:
        table.add_row(label, _show(study[key]))
    return table


def run(args: argparse.Namespace) -> int:
    """Print the normalized study, or each study of a list page and its bad studies."""
    doc = inspect_document(Path(args.file).read_bytes())
    if args.json:
        print_json(doc)
        return 0
    if doc["kind"] == "study":
        console.print(_study_table(doc["study"]))
        return 0
    total = "not given (a later page)" if doc["total_count"] is None else doc["total_count"]
    token = shown(doc["next_page_token"]) if doc["next_page_token"] else "[dim]none (last page)[/dim]"
    console.print(f"list page: {len(doc['studies'])} studies, totalCount {total}, nextPageToken {token}")
    for study in doc["studies"]:
        console.print(_study_table(study))
    if doc["errors"]:
        bad = Table(title=f"{len(doc['errors'])} bad studies", title_justify="left")
        bad.add_column("record")
        bad.add_column("error", overflow="fold")
        for err in doc["errors"]:
            bad.add_row(shown(err["record_key"]), shown(err["message"]))
        console.print(bad)
    return 1 if doc["errors"] else 0


def run_diff(args: argparse.Namespace) -> int:
    """Print the change events between two versions of one study."""
    doc = inspect_diff(Path(args.old).read_bytes(), Path(args.new).read_bytes())
    if args.json:
        print_json(doc)
        return 0
    old, new = doc["old"], doc["new"]
    fields = Table(title=f"{shown(new['nct_id'])}: tracked fields, old -> new", title_justify="left")
    for col in ("field", "old", "new"):
        fields.add_column(col, overflow="fold")
    for key, label in _FIELDS:
        before, after = _show(old[key]), _show(new[key])
        style = "bold yellow" if old[key] != new[key] else None
        fields.add_row(label, before, after, style=style)
    console.print(fields)
    if not doc["events"]:
        console.print("no change events")
        return 0
    events = Table(title=f"{len(doc['events'])} change event(s)", title_justify="left")
    events.add_column("event", style="bold")
    events.add_column("change", overflow="fold")
    events.add_column("detail", overflow="fold")
    for e in doc["events"]:
        detail = "\n".join(shown(f"{k}: {v}") for k, v in e["detail"].items() if k not in ("from", "to"))
        events.add_row(shown(e["event_type"]), f"{_show(e['old'])} -> {_show(e['new'])}",
                       f"{detail}\n[dim]{shown(e['event_key'])}[/dim]".strip())
    console.print(events)
    return 0
