"""`signals insiders [TICKER]`: the Form 4 trades stored, latest filed first, as OpenInsider lists them:
who, their relationship, the trade, its price, size and value, and how much it changed their stake."""
from __future__ import annotations

import argparse
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo


from pipelines.core.db import session_factory
from pipelines.form4.store import ROLES, recent_trades
from pipelines.scoring.insider_trades import InsiderTrade

from .common import add_output_flags, context, iso, listing, parse_when, print_records, print_table, shown

# Form 4 transaction codes (General Instructions, item 8), the ones a screen shows by name.
CODES = {"P": "purchase", "S": "sale", "A": "grant", "M": "option exercise", "X": "option exercise",
         "F": "tax withholding", "G": "gift", "D": "to issuer", "C": "conversion", "J": "other"}


def add_commands(sub: argparse._SubParsersAction) -> None:
    ins = sub.add_parser("insiders", help="Form 4 insider trades, latest filed first (one ticker's or all)")
    ins.add_argument("ticker", nargs="?")
    ins.add_argument("--since", help="trade date on or after (YYYY-MM-DD)")
    ins.add_argument("--code", action="append", default=[], metavar="CODE",
                     help="transaction code, repeatable: P purchase, S sale, A grant, M exercise, F tax, G gift")
    ins.add_argument("--derivative", action="store_true", help="options and other derivative rows too")
    ins.add_argument("--role", action="append", default=[], choices=ROLES, dest="roles",
                     help="the insider's role, repeatable (any of them): officer, director, owner (10%%), "
                          "senior (CEO, CFO or chair, by title)")
    ins.add_argument("--min-value", type=Decimal, metavar="DOLLARS", help="trades worth at least this (shares x price)")
    ins.add_argument("--limit", type=int, default=50)
    add_output_flags(ins)
    ins.set_defaults(func=_insiders)


def stake_change(t: InsiderTrade) -> Decimal | None:
    """The trade's shares over what the insider held before it (after minus this trade); None when
    they held nothing before or the filing does not say."""
    if t.shares is None or t.shares_owned_after is None or t.acquired_disposed not in ("A", "D"):
        return None
    signed = t.shares if t.acquired_disposed == "A" else -t.shares
    before = t.shares_owned_after - signed
    return signed / before if before > 0 else None


def relationship(t: InsiderTrade) -> str:
    roles = [t.officer_title or "officer"] if t.is_officer else []
    roles += ["director"] * t.is_director + ["10% owner"] * t.is_ten_percent_owner
    return ", ".join(roles) or "other"


def trade_json(t: InsiderTrade) -> dict[str, Any]:
    change = stake_change(t)
    return {"accession": t.accession, "filed_at": iso(t.filed_at), "trade_date": t.trade_date.isoformat(),
            "ticker": t.ticker, "issuer_cik": t.issuer_cik, "owners": list(t.owner_names),
            "owner_ciks": list(t.owner_ciks), "relationship": relationship(t), "table": t.table, "row": t.row[1],
            "code": t.code,
            "acquired_disposed": t.acquired_disposed, "shares": _num(t.shares), "price": _num(t.price),
            "value": _num(t.value), "shares_owned_after": _num(t.shares_owned_after),
            "stake_change": None if change is None else float(change), "ownership": t.ownership,
            "plan_10b5_1": t.plan_10b5_1, "amended": t.amended}


def _stake_label(t: InsiderTrade, change: Decimal | None) -> str:
    if change is not None:
        return f"{change:+.1%}"
    held_nothing = t.acquired_disposed == "A" and t.shares is not None and t.shares_owned_after == t.shares
    return "new" if held_nothing else ""


def _num(value: Decimal | None) -> str | None:
    return None if value is None else str(value)  # exact, as filed


def _insiders(args: argparse.Namespace) -> int:
    settings, _ = context()
    since = parse_when(args.since, settings.TIMEZONE).date() if args.since else None
    with session_factory(settings.DATABASE_URL)() as session:
        trades = recent_trades(session, ticker=args.ticker, since=since, codes=args.code, derivative=args.derivative,
                               roles=args.roles, min_value=args.min_value, limit=args.limit)
    if args.json or args.csv:
        print_records(args, [trade_json(t) for t in trades])
        return 0
    zone = ZoneInfo(settings.TIMEZONE)
    title = f"{shown(args.ticker.upper())}: " if args.ticker else ""
    table = listing(f"{title}{len(trades)} insider trade(s), latest filed first (filed in {settings.TIMEZONE})")
    table.add_column("filed", no_wrap=True)
    table.add_column("trade", no_wrap=True)
    if not args.ticker:
        table.add_column("ticker", no_wrap=True)
    table.add_column("insider", overflow="fold", min_width=18)
    for name in ("type", "price", "shares", "owned after", "stake", "value $"):
        table.add_column(name, no_wrap=True, justify="left" if name == "type" else "right")
    for t in trades:
        change = stake_change(t)
        sign = "-" if t.acquired_disposed == "D" else "+"
        kind = f"{t.code} {CODES.get(t.code, '')}".strip() + (" 10b5-1" if t.plan_10b5_1 else "") \
            + (" (4/A)" if t.amended else "") + ("" if t.table == "non_derivative" else " deriv.")
        cells = [f"{t.filed_at.astimezone(zone):%Y-%m-%d %H:%M}", str(t.trade_date),
                 *([shown(t.ticker or "-")] if not args.ticker else []),
                 shown("; ".join(t.owner_names)) + f"\n[dim]{shown(relationship(t))}[/dim]", kind,
                 "" if t.price is None else f"{t.price:,.2f}",
                 "" if t.shares is None else f"{sign}{t.shares:,.0f}",
                 "" if t.shares_owned_after is None else f"{t.shares_owned_after:,.0f}",
                 _stake_label(t, change),
                 "" if t.value is None else f"{sign}{t.value:,.0f}"]
        table.add_row(*cells)
    print_table(table)
    return 0
