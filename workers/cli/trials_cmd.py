"""`signals trials [SPONSOR|TICKER|NCT]`: the tracked trials' next readouts (primary completion, else
study completion), soonest first: a catalyst calendar from the latest ClinicalTrials.gov snapshots,
each with its lead sponsor's ticker as the score step maps it (override table, then the SEC tickers
the newest clinical_trials run archived)."""
from __future__ import annotations

import argparse
from datetime import date, timedelta
from typing import Any

from pipelines.core.db import session_factory
from pipelines.sources.sponsors import SponsorMatch
from pipelines.trials.catalysts import Milestone, catalysts, latest_sponsor_mapper, sponsor_tickers

from .common import add_output_flags, context, listing, parse_day, print_records, print_table, shown


def add_commands(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("trials", help="tracked trials' next readouts, soonest first (a catalyst calendar)")
    t.add_argument("sponsor", nargs="?", help="part of the lead sponsor's name, its ticker, or an NCT id")
    t.add_argument("--days", type=int, metavar="N", help="only readouts that can fall within N days of --from")
    t.add_argument("--from", dest="start", metavar="DATE", help="YYYY-MM-DD the window starts (default: today)")
    t.add_argument("--all", action="store_true", help="past readouts and studies with no date posted too")
    t.add_argument("--phase", help="e.g. PHASE3")
    t.add_argument("--status", help="e.g. RECRUITING, ACTIVE_NOT_RECRUITING")
    t.add_argument("--limit", type=int, default=100)
    add_output_flags(t)
    t.set_defaults(func=_trials)


def milestone_json(m: Milestone, ticker: SponsorMatch | None = None) -> dict[str, Any]:
    s = m.study
    return {"nct_id": s.nct_id, "title": s.brief_title, "sponsor": s.lead_sponsor_name,
            "sponsor_class": s.lead_sponsor_class, "ticker": ticker.ticker if ticker else None,
            "ticker_match": ticker.method if ticker else None,
            "ticker_confidence": ticker.confidence if ticker else None, "phases": s.phases,
            "status": s.overall_status, "enrollment": s.enrollment_count, "milestone": m.kind, "date": m.posted,
            "date_type": m.type, "has_results": s.has_results, "results_first_posted": s.results_first_posted,
            "last_update_posted": s.last_update_posted,
            "url": f"https://clinicaltrials.gov/study/{s.nct_id}"}


def _trials(args: argparse.Namespace) -> int:
    settings, _ = context()
    start = parse_day(args.start, "--from") or date.today()
    # By default what is still ahead: readouts that can fall on or after --from (within --days of it).
    window = (None, None) if args.all else (start, start + timedelta(days=args.days) if args.days is not None else None)
    with session_factory(settings.DATABASE_URL)() as session:
        mapper = latest_sponsor_mapper(session, settings)
        found = catalysts(session, args.sponsor, phase=args.phase, status=args.status, start=window[0],
                          end=window[1], mapper=mapper)[:args.limit]
        tickers = sponsor_tickers(found, mapper)
        rows = [milestone_json(m, tickers[m.study.nct_id]) for m in found]
    if args.json or args.csv:
        print_records(args, rows)
        return 0
    within = "" if args.all else f" with a readout from {start}" + (f" to {window[1]}" if window[1] else " on")
    table = listing(f"{len(rows)} tracked trial(s){within}, soonest readout first")
    for name in ("readout", "NCT", "ticker", "phase", "status", "enrolled"):
        table.add_column(name, no_wrap=True, justify="right" if name == "enrolled" else "left")
    table.add_column("sponsor / title", overflow="fold", min_width=24)
    for r in rows:
        when = f"{r['date']} {(r['date_type'] or '').lower()}".strip() if r["date"] else "-"
        kind = "" if r["milestone"] == "primary completion" else f"\n[dim]{r['milestone']}[/dim]"
        results = "\n[dim]results posted[/dim]" if r["has_results"] else ""
        fuzzy = "\n[dim]fuzzy[/dim]" if r["ticker_match"] == "fuzzy" else ""  # a name match to check
        ticker = shown(r["ticker"]) + fuzzy if r["ticker"] else "-"
        table.add_row(when + kind, r["nct_id"], ticker, shown(", ".join(r["phases"] or [])), shown(r["status"] or "-"),
                      "" if r["enrollment"] is None else f"{r['enrollment']:,}",
                      f"{shown(r['sponsor'] or '-')}\n[dim]{shown(r['title'] or '')}[/dim]{results}")
    print_table(table)
    return 0
