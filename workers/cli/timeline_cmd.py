"""`signals timeline [TICKER]`: the scored signals of one ticker, or of all, newest event first."""
from __future__ import annotations

import argparse
from typing import Any
from zoneinfo import ZoneInfo


from pipelines.core.db import session_factory
from pipelines.core.signal_models import Signal
from pipelines.core.timeline import timeline

from .common import add_output_flags, context, iso, listing, parse_when, print_records, print_table, shown

# A signal's alert_state, as the alert column says it: an outbox row was queued; the dedup window held
# it back; a context signal kept from alerting; or it scored below every route.
_ALERT = {"queued": "alert", "suppressed": "dedup window", "held": "held", "below_threshold": "below threshold"}


def add_commands(sub: argparse._SubParsersAction) -> None:
    tl = sub.add_parser("timeline", help="scored signals of a ticker (or of all), newest first, with their reasons")
    tl.add_argument("ticker", nargs="?", help="e.g. MRNA; all tickers when left out")
    tl.add_argument("--since", help="ISO date or datetime (schedule zone if naive)")
    tl.add_argument("--until", help="ISO date or datetime, inclusive")
    tl.add_argument("--pipeline", help="one pipeline's signals only")
    tl.add_argument("--type", action="append", default=[], metavar="SIGNAL_TYPE", dest="types",
                    help="one signal type's signals, repeatable: e.g. insider_cluster_buy (OpenInsider's cluster "
                         "buys), insider_buy, institutional_13f, hiring_velocity, ctgov_status_changed")
    tl.add_argument("--min-score", type=float, metavar="SCORE", help="signals scoring at least this (0-10)")
    tl.add_argument("--limit", type=int, default=50)
    tl.add_argument("--why", action="store_true", help="list each signal's score components under it")
    add_output_flags(tl, "full records: components, links, details")
    tl.set_defaults(func=_timeline)


def signal_json(s: Signal) -> dict[str, Any]:
    return {"id": s.id, "run_id": s.run_id, "pipeline": s.pipeline, "signal_type": s.signal_type,
            "event_key": s.event_key, "ticker": s.ticker, "company": s.company, "score": s.score, "tier": s.tier,
            "title": s.title, "summary": s.summary, "components": s.components, "links": s.links,
            "details": s.details, "event_time": iso(s.event_time), "detected_at": iso(s.detected_at),
            "alert_state": s.alert_state, "held": s.held, "hold_reason": s.hold_reason}


def _timeline(args: argparse.Namespace) -> int:
    settings, _ = context()
    since = parse_when(args.since, settings.TIMEZONE) if args.since else None
    until = parse_when(args.until, settings.TIMEZONE, end_of_day=True) if args.until else None
    with session_factory(settings.DATABASE_URL)() as session:
        rows = timeline(session, args.ticker, since=since, until=until, pipeline=args.pipeline,
                        min_score=args.min_score, signal_types=args.types, limit=args.limit)
        if args.json or args.csv:
            print_records(args, [signal_json(s) for s in rows])
            return 0
        zone = ZoneInfo(settings.TIMEZONE)
        title = f"{shown(args.ticker.upper())}: " if args.ticker else ""
        table = listing(f"{title}{len(rows)} signal(s), newest event first (times {settings.TIMEZONE})")
        table.add_column("event", no_wrap=True)
        if not args.ticker:
            table.add_column("ticker", no_wrap=True)
        table.add_column("pipeline", no_wrap=True)
        table.add_column("score", justify="right", no_wrap=True)
        table.add_column("alert", no_wrap=True)
        table.add_column("signal", overflow="fold", min_width=30)
        for s in rows:
            when = (s.event_time or s.detected_at).astimezone(zone)
            text = shown(s.title)
            if args.why:
                text += "".join(f"\n  [dim]{c.get('value', 0):+.2f}[/dim] {shown(c.get('name', ''))}"
                                + (f": {shown(c['explanation'])}" if c.get("explanation") else "")
                                for c in s.components or [])
                if s.held and s.hold_reason:
                    text += f"\n  [dim]held: {shown(s.hold_reason)}[/dim]"
            cells = [f"{when:%Y-%m-%d %H:%M}", *([shown(s.ticker or "-")] if not args.ticker else []),
                     shown(s.pipeline), f"{s.score:.1f} {s.tier}", _ALERT.get(s.alert_state, shown(s.alert_state)),
                     text]
            table.add_row(*cells)
        print_table(table)
    return 0
