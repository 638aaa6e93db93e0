"""`signals quarantine` and `signals quarantine-show ID`: the bad input records the pipelines kept, and
one of them with its error in full and its raw payload (`--raw` writes the bytes as they came)."""
from __future__ import annotations

import argparse
import base64
import hashlib
import sys
from typing import Any
from zoneinfo import ZoneInfo


from pipelines.core.db import session_factory
from pipelines.core.quarantine import QuarantineEntry, list_quarantine, quarantined_record

from .common import (add_output_flags, console, context, iso, listing, parse_when, print_json, print_records,
                     print_table, shown)


def add_commands(sub: argparse._SubParsersAction) -> None:
    ls = sub.add_parser("quarantine", help="bad input records kept with their raw payload, newest first")
    ls.add_argument("--pipeline")
    ls.add_argument("--run", type=int, metavar="RUN_ID")
    ls.add_argument("--source", help="e.g. edgar.13f, ctgov, jobs.greenhouse")
    ls.add_argument("--since", help="ISO date or datetime (schedule zone if naive)")
    ls.add_argument("--limit", type=int, default=50)
    add_output_flags(ls)
    ls.set_defaults(func=_list)

    show = sub.add_parser("quarantine-show", help="one quarantined record: its error in full and its payload")
    show.add_argument("record_id", type=int)
    out = show.add_mutually_exclusive_group()
    out.add_argument("--raw", action="store_true", help="write the raw payload to stdout, byte for byte")
    out.add_argument("--json", action="store_true", help="the record, its payload base64-encoded")
    show.set_defaults(func=_show)


def entry_json(e: QuarantineEntry) -> dict[str, Any]:
    return {"id": e.id, "created_at": iso(e.created_at), "run_id": e.run_id, "pipeline": e.pipeline,
            "step": e.step, "source": e.source, "record_key": e.record_key, "error": e.error,
            "raw_bytes": e.raw_bytes}


def _list(args: argparse.Namespace) -> int:
    settings, _ = context()
    since = parse_when(args.since, settings.TIMEZONE) if args.since else None
    with session_factory(settings.DATABASE_URL)() as session:
        rows = list_quarantine(session, pipeline=args.pipeline, run_id=args.run, source=args.source, since=since,
                               limit=args.limit)
    if args.json or args.csv:
        print_records(args, [entry_json(e) for e in rows])
        return 0
    zone = ZoneInfo(settings.TIMEZONE)
    table = listing(f"{len(rows)} quarantined record(s), newest first (times {settings.TIMEZONE}); "
                        "`signals quarantine-show ID` for one in full")
    for name in ("id", "when", "pipeline / step", "run", "source", "record", "bytes"):
        table.add_column(name, no_wrap=True, justify="right" if name in ("id", "run", "bytes") else "left")
    table.add_column("error (first line)", overflow="fold", min_width=30)
    for e in rows:
        table.add_row(str(e.id), f"{e.created_at.astimezone(zone):%Y-%m-%d %H:%M}", shown(f"{e.pipeline} / {e.step}"),
                      str(e.run_id or "-"), shown(e.source), shown(e.record_key), f"{e.raw_bytes:,}",
                      shown(e.error.splitlines()[0] if e.error else ""))
    print_table(table)
    return 0


def _show(args: argparse.Namespace) -> int:
    settings, _ = context()
    with session_factory(settings.DATABASE_URL)() as session:
        r = quarantined_record(session, args.record_id)
        raw = bytes(r.raw)
        entry = QuarantineEntry(r.id, r.created_at, r.run_id, r.pipeline, r.step, r.source, r.record_key, r.error,
                                len(raw))
    if args.raw:
        sys.stdout.buffer.write(raw)
        sys.stdout.buffer.flush()
        return 0
    if args.json:
        print_json({**entry_json(entry), "raw_sha256": hashlib.sha256(raw).hexdigest(),
                    "raw_base64": base64.b64encode(raw).decode("ascii")})
        return 0
    console.print(f"quarantined record {entry.id}: {shown(entry.pipeline)} / {shown(entry.step)}, run "
                  f"{entry.run_id or '-'}, {iso(entry.created_at)}")
    console.print(f"source {shown(entry.source)}, record {shown(entry.record_key)}")
    console.print(f"raw payload: {len(raw):,} bytes, sha256 {hashlib.sha256(raw).hexdigest()} "
                  f"(`signals quarantine-show {entry.id} --raw > FILE` writes it)")
    console.print("error:")
    console.print(shown(entry.error), soft_wrap=True)
    return 0
