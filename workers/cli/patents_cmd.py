"""`signals patents [TICKER|NAME]`: the latest Orange Book release's patent cliffs, soonest loss of
exclusivity first, with the score the patent_ip pipeline gave each product."""
from __future__ import annotations

import argparse
import calendar
from datetime import date
from typing import Any

from pipelines.core.db import session_factory
from pipelines.patents.cliffs import cliffs, latest_release
from pipelines.patents.models import ObCalendarEntry

from .common import (add_output_flags, console, context, listing, parse_day, print_records, print_table,
                     shown)


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("patents", help="Orange Book patent cliffs of the latest release, soonest LOE first")
    p.add_argument("who", nargs="?", help="a ticker, or part of a trade name, ingredient or applicant")
    p.add_argument("--months", type=int, default=36, help="loss of exclusivity within this many months (36)")
    p.add_argument("--from", dest="start", metavar="DATE", help="YYYY-MM-DD the window starts (default: today)")
    p.add_argument("--all", action="store_true", help="every product, past LOE and none known too")
    add_output_flags(p)
    p.set_defaults(func=_patents)


def _add_months(day: date, months: int) -> date:
    """The same day `months` later, or that month's last day when it is shorter."""
    years, month0 = divmod(day.month - 1 + months, 12)
    year, month = day.year + years, month0 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def entry_json(e: ObCalendarEntry) -> dict[str, Any]:
    def iso(d: date | None) -> str | None:
        return d.isoformat() if d else None

    return {"appl_no": e.appl_no, "product_no": e.product_no, "trade_name": e.trade_name, "ingredient": e.ingredient,
            "strength": e.strength, "applicant": e.applicant, "ticker": e.ticker, "effective_loe": iso(e.effective_loe),
            "loe_source": e.loe_source, "last_patent_expiry": iso(e.last_patent_expiry),
            "last_patent_no": e.last_patent_no, "last_exclusivity_expiry": iso(e.last_exclusivity_expiry),
            "last_exclusivity_code": e.last_exclusivity_code, "ped_applied": e.ped_applied,
            "generic_count": e.generic_count, "score": e.score, "score_components": e.score_components}


def _patents(args: argparse.Namespace) -> int:
    settings, _ = context()
    start = parse_day(args.start, "--from") or date.today()
    end = _add_months(start, args.months)
    with session_factory(settings.DATABASE_URL)() as session:
        release = latest_release(session)
        if release is None:
            console.print("no Orange Book release loaded yet (the patent_ip pipeline runs Mondays 08:00 ET)")
            return 0
        found = cliffs(session, release.id, args.who, start=None if args.all else start, end=None if args.all else end)
        rows = [entry_json(e) for e in found]
        as_of = release.as_of
    if args.json or args.csv:
        head = {"release_as_of": as_of.isoformat()}
        print_records(args, rows, doc={**head, "products": rows}, context=head)
        return 0
    window = "" if args.all else f", loss of exclusivity from {start} to {end}"
    table = listing(f"Orange Book release of {as_of}: {len(rows)} NDA product(s){window}, soonest first")
    for name in ("LOE", "by", "NDA"):
        table.add_column(name, no_wrap=True)
    table.add_column("product / applicant", overflow="fold", min_width=24)
    for name in ("generics", "score"):
        table.add_column(name, no_wrap=True, justify="right")
    for r in rows:
        who = shown(r["applicant"]) + (f" ({shown(r['ticker'])})" if r["ticker"] else "")
        table.add_row(r["effective_loe"] or "-", shown(r["loe_source"] or ""), f"{r['appl_no']}/{r['product_no']}",
                      f"{shown(r['trade_name'])} [dim]{shown(r['ingredient'])} {shown(r['strength'])}[/dim]\n{who}",
                      str(r["generic_count"]), f"{r['score']:.1f}")
    print_table(table)
    return 0
