"""`signals holders TICKER|CUSIP`: every manager's position in a security, quarter over quarter, from
the 13F report versions stored, as known on a date (amendments point in time)."""
from __future__ import annotations

import argparse
from collections import Counter
from datetime import date
from typing import Any


from pipelines.core.db import session_factory
from pipelines.thirteenf.holders import Holder, holders
from pipelines.thirteenf.models import ThirteenFPositionChange

from .common import (add_output_flags, console, context, listing, parse_day, print_records, print_table,
                     shown)


def add_commands(sub: argparse._SubParsersAction) -> None:
    h = sub.add_parser("holders", help="13F managers' positions in a security, quarter over quarter")
    h.add_argument("security", help="ticker (e.g. MSFT) or 9-character CUSIP (e.g. 594918104)")
    h.add_argument("--period", help="quarter end, YYYY-MM-DD (default: the latest quarter that shows it)")
    h.add_argument("--as-of", help="YYYY-MM-DD: the reports as known on that day (default: today)")
    h.add_argument("--options", action="store_true", help="put and call rows too (default: shares and principal)")
    add_output_flags(h)
    h.set_defaults(func=_holders)


def position_json(c: ThirteenFPositionChange) -> dict[str, Any]:
    """One position of a report version against the quarter before (`holders` and `portfolio`)."""
    return {"cusip": c.cusip, "ticker": c.ticker, "name_of_issuer": c.name_of_issuer,
            "title_of_class": c.title_of_class, "put_call": c.put_call or None, "sh_prn_type": c.sh_prn_type,
            "status": c.status, "shares_prev": c.shares_prev, "shares_cur": c.shares_cur,
            "value_prev_usd": c.value_prev_usd, "value_cur_usd": c.value_cur_usd, "weight_cur": c.weight_cur,
            "rank_cur": c.rank_cur}


def position_kind(c: ThirteenFPositionChange) -> str:
    """What a row holds besides shares: " PUT", " CALL", " PRN" (nothing for shares)."""
    return f" {c.put_call}" if c.put_call else ("" if c.sh_prn_type == "SH" else f" {c.sh_prn_type}")


def share_change(c: ThirteenFPositionChange) -> str:
    """Shares now against before, as a percentage; blank for a new or closed position."""
    return f"{(c.shares_cur - c.shares_prev) / c.shares_prev:+.0%}" if c.shares_prev and c.shares_cur else ""


def holder_json(h: Holder) -> dict[str, Any]:
    return {"cik": h.cik, "manager": h.manager, "as_of": h.as_of.isoformat(), "link": h.link,
            **position_json(h.change)}


def _holders(args: argparse.Namespace) -> int:
    settings, _ = context()
    as_of = parse_day(args.as_of, "--as-of") or date.today()
    with session_factory(settings.DATABASE_URL)() as session:
        period, found = holders(session, args.security, period=parse_day(args.period, "--period"), as_of=as_of,
                                options=args.options)
    if args.json or args.csv:
        head = {"security": args.security, "period": period.isoformat() if period else None, "as_of": as_of.isoformat()}
        records = [holder_json(h) for h in found]
        print_records(args, records, doc={**head, "holders": records}, context=head)
        return 0
    if period is None:
        console.print(f"no 13F report diffed by {as_of} shows {shown(args.security)} (a ticker only matches CUSIPs "
                      "whose issuer name mapped to one; try the CUSIP)")
        return 0
    first = found[0].change if found else None
    name = f"{shown(first.name_of_issuer)} ({first.cusip}{', ' + shown(first.ticker) if first.ticker else ''})" \
        if first else shown(args.security)
    table = listing(f"{name}: 13F positions for the quarter ended {period}, as known on {as_of}")
    table.add_column("manager", overflow="fold", min_width=16)
    for column in ("CIK", "filed", "status", "shares before", "shares now", "change", "value now $", "weight",
                   "rank"):
        table.add_column(column, no_wrap=True, justify="left" if column in ("filed", "status") else "right")
    for h in found:
        c = h.change
        table.add_row(shown(h.manager) + position_kind(c), str(h.cik), str(h.as_of), c.status, f"{c.shares_prev:,}",
                      f"{c.shares_cur:,}", share_change(c), f"{c.value_cur_usd:,}",
                      f"{c.weight_cur:.2%}" if c.shares_cur else "", str(c.rank_cur or ""))
    print_table(table)
    counts = Counter(h.change.status for h in found)
    net = sum(h.change.shares_cur - h.change.shares_prev for h in found if not h.change.put_call)
    console.print(f"{len(found)} position(s): " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
                  + f"; net {net:+,} shares")
    return 0
