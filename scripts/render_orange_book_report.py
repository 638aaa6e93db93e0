"""Write the Orange Book patent-cliff calendar as CSV, iCalendar and HTML from an unpacked release folder.

Usage: render_orange_book_report.py DIR --as-of 2026-06-01 --out var/ [--tickers company_tickers.json]
"""
from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from pipelines.core.errors import DataError
from pipelines.scoring.patent import score_calendar
from pipelines.sources.orange_book.applicants import (
    load_applicant_overrides,
    parse_company_tickers,
    rollup_applicants,
)
from pipelines.sources.orange_book.calendar import calendar_from_dir
from pipelines.sources.orange_book.reports import (
    calendar_to_csv,
    calendar_to_html,
    calendar_to_ical,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path, help="folder holding products.txt, patent.txt, exclusivity.txt")
    parser.add_argument("--as-of", type=date.fromisoformat, default=date.today(), help="YYYY-MM-DD")
    parser.add_argument("--out", type=Path, default=Path("var"))
    parser.add_argument("--tickers", type=Path, help="SEC company_tickers.json, for the applicant roll-up")
    args = parser.parse_args(argv)
    try:
        entries, errors = calendar_from_dir(args.dir)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for err in errors:
        print(f"skipped row: {err} | {err.raw}", file=sys.stderr)
    scores = {(s.appl_no, s.product_no): s.score for s in score_calendar(entries, args.as_of)}
    args.out.mkdir(parents=True, exist_ok=True)
    outputs = {
        "orange_book_calendar.csv": calendar_to_csv(entries, args.as_of, scores).encode("utf-8"),
        "orange_book_loe.ics": calendar_to_ical(entries, generated_at=datetime.now(UTC)),
        "orange_book_report.html": calendar_to_html(entries, args.as_of, scores=scores).encode("utf-8"),
    }
    for name, data in outputs.items():
        (args.out / name).write_bytes(data)
        print(args.out / name)
    tickers = parse_company_tickers(args.tickers.read_bytes()) if args.tickers else None
    for r in rollup_applicants(entries, args.as_of, overrides=load_applicant_overrides(), tickers=tickers):
        if r.next_loe:
            print(f"{r.key:<12} next LOE {r.next_loe} {r.next_loe_brand} ({r.months_to_next_loe} months)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
