"""`signals inspect 13f INFOTABLE [--cover PRIMARY_DOC] [--filed DATE] [--json]`.

Values are printed in dollars. Filings made before 2023-01-03 reported thousands, and the digits
cannot say which, so the filing date decides: --filed, else the cover's signature date, else today.
With --cover the table is checked against the cover's entry count and value total. Unreadable rows and
a mismatch are reported on stderr and make the exit status 1; the rows that were read still print.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path


from pipelines.core.errors import DataError
from pipelines.sources.edgar.thirteenf import (CoverPage, Holding, check_against_cover, parse_cover, parse_infotable,
                                               thirteenf_to_json, value_multiplier)

from .common import console, listing, make_console, print_json, print_table, shown

errors = make_console(stderr=True)


def _filed(args: argparse.Namespace, cover: CoverPage | None) -> tuple[date, str]:
    if args.filed:
        try:
            return date.fromisoformat(args.filed), "--filed"
        except ValueError:
            raise SystemExit(f"--filed {args.filed!r} is not a YYYY-MM-DD date") from None
    if cover is not None and cover.signature_date is not None:
        return cover.signature_date, "the cover's signature date"
    return date.today(), "today (no --filed and no cover signature date)"


def run(args: argparse.Namespace) -> int:
    """Print the information table (and cover) as read; 1 when rows failed or the cover disagrees."""
    cover = None
    if args.cover:
        try:
            cover = parse_cover(Path(args.cover).read_bytes(), source=args.cover)
        except DataError as exc:
            errors.print(f"[red]cover page {shown(args.cover)}: {shown(exc)}[/red]")
            return 1
    filed, why = _filed(args, cover)
    holdings, bad = parse_infotable(Path(args.infotable).read_bytes(), filed=filed, source=args.infotable)
    problems = [f"{b.error.record_key or 'table'}: {b.error}" for b in bad]
    if cover is not None and not bad:
        mismatch = check_against_cover(holdings, cover)
        if mismatch is not None:
            problems.append(str(mismatch))
    if args.json:
        print_json(thirteenf_to_json(cover, holdings, filed=filed))
    else:
        _print(cover, holdings, filed, why)
    for problem in problems:
        errors.print(f"[red]{shown(problem)}[/red]")
    return 1 if problems else 0


def _print(cover: CoverPage | None, holdings: Sequence[Holding], filed: date, why: str) -> None:
    unit = "dollars" if value_multiplier(filed) == 1 else "thousands of dollars, converted to dollars"
    console.print(f"filed {filed} ({why}): values reported in {unit}")
    if cover is not None:
        total = "-" if cover.value_total is None else f"${cover.value_total * value_multiplier(filed):,}"
        amended = f"; amendment {cover.amendment_number} ({cover.amendment_type})" if cover.is_amendment else ""
        console.print(f"cover: {shown(cover.filer_name)} (CIK {cover.filer_cik}), {shown(cover.submission_type)}, "
                      f"period {cover.period}, {shown(cover.report_type)}; {cover.entry_total} entries, total "
                      f"{total}{shown(amended)}")
    # Only the issuer's name wraps; figures and codes never do (a dollar value cut to "59,096,6…" reads as
    # another number): print_table prints the table wider rather than cut them.
    table = listing(f"{len(holdings)} information-table rows")
    for name, justify, floor in (("row", "right", 0), ("issuer", "left", 12), ("class", "left", 0),
                                 ("cusip", "left", 0), ("value $", "right", 0), ("amount", "right", 0),
                                 ("type", "left", 0), ("p/c", "left", 0), ("discr.", "left", 0),
                                 ("other mgrs", "left", 0), ("voting sole/shared/none", "right", 0)):
        table.add_column(name, justify=justify, overflow="fold", no_wrap=not floor,  # type: ignore[arg-type]
                         min_width=floor or None)
    for h in holdings:
        table.add_row(str(h.row), shown(h.name_of_issuer), shown(h.title_of_class), h.cusip, f"{h.value_usd:,}",
                      f"{h.shares_or_principal:,}", h.sh_prn_type, h.put_call or "", h.investment_discretion,
                      ",".join(str(m) for m in h.other_managers),
                      f"{h.voting_sole:,}/{h.voting_shared:,}/{h.voting_none:,}")
    print_table(table)
    console.print(f"total ${sum(h.value_usd for h in holdings):,}")
    sys.stdout.flush()
