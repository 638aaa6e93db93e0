"""`signals inspect jobs BOARD FILE [--json]`: one Greenhouse, Lever or Ashby response as we read it.

The company token is taken from the file name (it only labels errors). Postings that cannot be read
are listed after the others, on stderr, and make the exit status 1.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.table import Table

from pipelines.sources.jobs.boards import Posting, parse_board
from pipelines.sources.jobs.tracking import classify_department, department_mix

from .common import console, make_console, print_json, shown

errors = make_console(stderr=True)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def posting_json(p: Posting) -> dict[str, Any]:
    return {"posting_id": p.posting_id, "title": p.title, "department": p.department, "team": p.team,
            "location": p.location, "url": p.url, "published_at": _iso(p.published_at),
            "updated_at": _iso(p.updated_at), "employment_type": p.employment_type,
            "department_group": classify_department(p.title, p.department), "description_text": p.description_text}


def run(args: argparse.Namespace) -> int:
    """Print the normalised postings, the department mix and the postings that failed."""
    path = Path(args.file)
    postings, bad = parse_board(args.board, path.read_bytes(), company_token=path.stem)
    mix = department_mix(postings)
    if args.json:
        print_json({"board": args.board, "postings": [posting_json(p) for p in postings],
                    "department_mix": dict(mix.counts),
                    "errors": [{"record_key": b.error.record_key, "error": str(b.error)} for b in bad]})
    else:
        table = Table(title=f"{shown(args.board)}: {len(postings)} postings", title_justify="left")
        for column in ("id", "title", "department / team", "group", "location", "published", "updated", "type"):
            table.add_column(column, overflow="fold")
        for p in postings:
            team = " / ".join(x for x in (p.department, p.team) if x)
            table.add_row(shown(p.posting_id), shown(p.title), shown(team),
                          classify_department(p.title, p.department), shown(p.location or ""),
                          _iso(p.published_at) or "", _iso(p.updated_at) or "", shown(p.employment_type or ""))
        console.print(table)
        console.print("department mix: " + ", ".join(f"{g} {n}" for g, n in mix.counts.items()))
    for b in bad:
        errors.print(f"[red]{shown(b.error.record_key)}: {shown(b.error)}[/red]")
    return 1 if bad else 0
