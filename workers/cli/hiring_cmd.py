"""`signals hiring [TICKER]`: each tracked job board as of its latest poll: roles open, net new
openings over 30 and 90 days against the period before, and the open roles by department."""
from __future__ import annotations

import argparse
from typing import Any
from zoneinfo import ZoneInfo


from pipelines.core.db import session_factory
from pipelines.core.errors import ConfigError
from pipelines.jobboards.companies import companies_from_settings
from pipelines.jobboards.overview import BoardOverview, board_overviews
from pipelines.sources.jobs.tracking import Velocity

from .common import add_output_flags, context, iso, listing, print_records, print_table, shown

_GROUP_LABELS = {"research_clinical": "R&D/clinical", "regulatory": "regulatory", "commercial": "commercial",
                 "other": "other"}


def add_commands(sub: argparse._SubParsersAction) -> None:
    h = sub.add_parser("hiring", help="job boards as of their latest poll: open roles, velocity, department mix")
    h.add_argument("ticker", nargs="?")
    add_output_flags(h)
    h.set_defaults(func=_hiring)


def _velocity_json(v: Velocity) -> dict[str, Any]:
    return {"opened": v.opened, "removed": v.removed, "reposted": v.reposted, "net": v.net, "prior_net": v.prior_net,
            "open_at_start": v.open_at_start, "rate": v.rate}


def overview_json(o: BoardOverview, company: str) -> dict[str, Any]:
    return {"board": o.board, "token": o.token, "ticker": o.ticker, "company": company, "polled_at": iso(o.polled_at),
            "open_now": o.open_now, "velocity": {str(d): _velocity_json(v) for d, v in o.velocity.items()},
            "open_by_department": dict(o.open_by_group)}


def _net(v: Velocity) -> str:
    rate = f", {v.rate:+.0%}" if v.rate is not None else ""
    return f"{v.net:+d} ({v.opened} new, {v.reposted} back, {v.removed} gone{rate}); before {v.prior_net:+d}"


def _hiring(args: argparse.Namespace) -> int:
    settings, _ = context()
    try:
        names = {(c.board, c.token): c.name for c in companies_from_settings(settings)}
    except ConfigError:
        names = {}  # the companies file names boards; without it, boards go by token
    with session_factory(settings.DATABASE_URL)() as session:
        found = board_overviews(session, args.ticker)
    if args.json or args.csv:
        print_records(args, [overview_json(o, names.get((o.board, o.token), o.token)) for o in found])
        return 0
    zone = ZoneInfo(settings.TIMEZONE)
    table = listing(f"{len(found)} job board(s) as of their latest poll (times {settings.TIMEZONE})")
    table.add_column("company", overflow="fold", min_width=12)
    for name in ("board", "polled", "open"):
        table.add_column(name, no_wrap=True, justify="right" if name == "open" else "left")
    table.add_column("last 30 days", overflow="fold", min_width=20)
    table.add_column("last 90 days", overflow="fold", min_width=20)
    table.add_column("open roles by department", overflow="fold", min_width=16)
    for o in found:
        company = shown(names.get((o.board, o.token), o.token)) + (f" ({shown(o.ticker)})" if o.ticker else "")
        mix = ", ".join(f"{_GROUP_LABELS[g]} {n}" for g, n in o.open_by_group.items() if n) or "-"
        table.add_row(company, f"{o.board}:{shown(o.token)}", f"{o.polled_at.astimezone(zone):%Y-%m-%d %H:%M}",
                      str(o.open_now), _net(o.velocity[30]), _net(o.velocity[90]), mix)
    print_table(table)
    return 0
