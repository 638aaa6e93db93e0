"""`signals portfolio MANAGER`: one 13F manager's positions for a quarter against the quarter before,
from the report versions stored, as known on a date (amendments point in time)."""
from __future__ import annotations

import argparse
from collections import Counter
from datetime import date
from typing import Any

from pipelines.core.db import session_factory
from pipelines.thirteenf.models import ThirteenFPositionChange, ThirteenFReport
from pipelines.thirteenf.portfolio import Portfolio, find_managers, latest_books, portfolio

from .common import add_output_flags, console, context, listing, parse_day, print_records, print_table, shown
from .holders_cmd import position_json, position_kind, share_change

MOVES = ("new", "increased", "decreased", "closed")


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("portfolio", help="a 13F manager's positions, quarter over quarter")
    p.add_argument("manager", nargs="?",
                   help="the manager's CIK, or part of its name (e.g. berkshire); none: list every manager's latest")
    p.add_argument("--period", help="quarter end, YYYY-MM-DD (default: the manager's latest quarter)")
    p.add_argument("--as-of", help="YYYY-MM-DD: the reports as known on that day (default: today)")
    p.add_argument("--moves", action="store_true", help="only new, increased, decreased and closed positions")
    p.add_argument("--limit", type=int, help="at most this many positions (default: all)")
    add_output_flags(p)
    p.set_defaults(func=_portfolio)


def portfolio_json(p: Portfolio, positions: list[ThirteenFPositionChange], as_of: date) -> dict[str, Any]:
    r = p.report
    return {"cik": r.cik, "manager": r.manager_name, "period": r.period.isoformat(), "as_of": as_of.isoformat(),
            "version_as_of": r.as_of.isoformat(), "accession": r.accession, "sources": r.sources, "link": r.link,
            "diff_state": r.diff_state, "prev_period": r.prev_period.isoformat() if r.prev_period else None,
            "rows": r.rows, "value_usd": r.value_usd, "value_prev_usd": p.value_prev_usd,
            "top5_weight": p.top_weight(5), "positions": [position_json(c) for c in positions]}


def book_json(r: ThirteenFReport) -> dict[str, Any]:
    return {"cik": r.cik, "manager": r.manager_name, "period": r.period.isoformat(),
            "version_as_of": r.as_of.isoformat(), "accession": r.accession, "diff_state": r.diff_state,
            "rows": r.rows, "value_usd": r.value_usd, "qualified": r.qualified, "link": r.link}


def _books(args: argparse.Namespace, as_of: date) -> int:
    settings, _ = context()
    with session_factory(settings.DATABASE_URL)() as session:
        books = [book_json(r) for r in latest_books(session, as_of)]
    if args.json or args.csv:
        head = {"as_of": as_of.isoformat()}
        print_records(args, books, doc={**head, "managers": books}, context=head)
        return 0
    table = listing(f"{len(books)} 13F manager(s) with a report, each by its latest version known on {as_of}")
    table.add_column("manager", overflow="fold", min_width=16)
    for column in ("CIK", "quarter", "filed", "rows", "value $", "diffed"):
        table.add_column(column, no_wrap=True, justify="right" if column in ("rows", "value $") else "left")
    for b in books:
        table.add_row(shown(b["manager"]), str(b["cik"]), b["period"], b["version_as_of"], f"{b['rows']:,}",
                      f"{b['value_usd']:,}", "yes" if b["diff_state"] == "diffed" else "no earlier quarter")
    print_table(table)
    return 0


def _manager(session: Any, who: str) -> int:
    found = find_managers(session, who)
    if not found:
        raise ValueError(f"no 13F manager with a stored report matches {who!r} (a CIK, or part of a name)")
    if len(found) > 1:
        names = "; ".join(f"{cik} {name}" for cik, name in found[:20]) + ("; ..." if len(found) > 20 else "")
        raise ValueError(f"{len(found)} managers match {who!r}; name one by CIK: {names}")
    return found[0][0]


def _portfolio(args: argparse.Namespace) -> int:
    as_of = parse_day(args.as_of, "--as-of") or date.today()
    if args.manager is None:
        return _books(args, as_of)
    settings, _ = context()
    with session_factory(settings.DATABASE_URL)() as session:
        cik = _manager(session, args.manager)
        p = portfolio(session, cik, period=parse_day(args.period, "--period"), as_of=as_of)
        if p is None:
            raise ValueError(f"CIK {cik} has no 13F report version" + (f" for {args.period}" if args.period else "")
                             + f" recorded by {as_of}")
        shown_rows = [c for c in p.positions if not args.moves or c.status in MOVES][:args.limit]
        doc = portfolio_json(p, shown_rows, as_of)
    if args.json or args.csv:  # CSV: a row per position, each with the manager, quarters and version it is of
        book = {k: doc[k] for k in ("cik", "manager", "period", "prev_period", "as_of", "version_as_of", "accession")}
        print_records(args, doc["positions"], doc=doc, context=book)
        return 0
    title = (f"{shown(doc['manager'])} (CIK {doc['cik']}): 13F positions for the quarter ended {doc['period']} "
             f"against {doc['prev_period'] or 'no earlier quarter'}, as known on {as_of} (the version of "
             f"{doc['version_as_of']})")
    if doc["diff_state"] != "diffed":
        console.print(title + f": {doc['rows']:,} row(s), ${doc['value_usd']:,}; not diffed, as no earlier quarter "
                      "was known then, so no positions are kept for it")
        return 0
    table = listing(title)
    table.add_column("rank", no_wrap=True, justify="right")
    table.add_column("issuer", overflow="fold", min_width=16)
    for column in ("ticker / CUSIP", "status", "shares before", "shares now", "change", "value now $", "weight"):
        table.add_column(column, no_wrap=True, justify="left" if column in ("ticker / CUSIP", "status") else "right")
    for c in shown_rows:
        issuer = shown(c.name_of_issuer) + f" [dim]{shown(c.title_of_class)}[/dim]" + position_kind(c)
        table.add_row(str(c.rank_cur or ""), issuer, shown(c.ticker) if c.ticker else f"{c.cusip} [dim]unmapped[/dim]",
                      c.status, f"{c.shares_prev:,}", f"{c.shares_cur:,}", share_change(c), f"{c.value_cur_usd:,}",
                      f"{c.weight_cur:.2%}" if c.shares_cur else "")
    print_table(table)
    counts = Counter(c.status for c in p.positions)
    moves = ", ".join(f"{counts[s]} {s}" for s in (*MOVES, "unchanged"))
    more = f"; {len(shown_rows)} of {len(p.positions)} shown" if len(shown_rows) < len(p.positions) else ""
    console.print(f"{sum(c.rank_cur is not None for c in p.positions):,} position(s) held, ${doc['value_usd']:,} "
                  f"(before: ${doc['value_prev_usd']:,}); {moves}; top five {doc['top5_weight']:.1%} of the book{more}")
    return 0
