"""`signals schedule [PIPELINE] [--from ISO_DATETIME] [--count N] [--json]`: the next fire times."""
from __future__ import annotations

import argparse
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from rich.table import Table

from .common import console, context, parse_when, print_json


def add_commands(sub: argparse._SubParsersAction) -> None:
    sch = sub.add_parser("schedule", help="print the next fire times of scheduled pipelines")
    sch.add_argument("pipeline", nargs="?")
    sch.add_argument("--from", dest="start", help="ISO datetime to start from (default: now); naive = schedule zone")
    sch.add_argument("--count", type=int, default=5, help="fire times per pipeline")
    sch.add_argument("--json", action="store_true")
    sch.set_defaults(func=_schedule)


def next_fires(calendar, start: datetime, count: int) -> list[datetime]:  # type: ignore[no-untyped-def]
    fires, at = [], start
    # next_fire is strictly after; step back a microsecond so a fire exactly at --from is included
    at = at - (datetime.min.replace(microsecond=1) - datetime.min)
    for _ in range(count):
        at = calendar.next_fire(at)
        fires.append(at)
    return fires


def _schedule(args: argparse.Namespace) -> int:
    settings, registry = context()
    tz = ZoneInfo(settings.TIMEZONE)
    start = parse_when(args.start, settings.TIMEZONE) if args.start else datetime.now(timezone.utc)
    pipelines = [registry.get(args.pipeline)] if args.pipeline else list(registry.pipelines)
    rows = []
    for p in pipelines:
        calendar = p.calendar_for(settings)
        if calendar is None:
            if args.pipeline:
                raise ValueError(f"pipeline {p.name} is manual only; it has no schedule")
            continue
        for fire in next_fires(calendar, start, args.count):
            rows.append({"pipeline": p.name, "fire_at_utc": fire.astimezone(timezone.utc).isoformat(),
                         "fire_at_local": fire.astimezone(tz).isoformat()})
    if args.json:
        print_json(rows)
        return 0
    table = Table("pipeline", f"fire at ({settings.TIMEZONE})", "fire at (UTC)")
    for r in rows:
        table.add_row(r["pipeline"], r["fire_at_local"], r["fire_at_utc"])
    console.print(table)
    return 0
