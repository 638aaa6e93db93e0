"""`signals inspect orange-book DIR [--json]`: the patent-cliff calendar of an unpacked Orange Book release.

DIR holds products.txt, patent.txt and exclusivity.txt. `--json` prints a JSON list, one object per
NDA product with appl_no, product_no, trade_name, ingredient, applicant, last_patent_expiry,
last_ds_dp_patent_expiry, last_exclusivity_expiry, effective_loe (ISO dates or null), ped_applied
and generic_count. Rows that cannot be read are listed on stderr; the rest are still shown.
"""
from __future__ import annotations

import argparse

from rich import box
from rich.table import Table

from pipelines.core.errors import DataError
from pipelines.sources.orange_book.calendar import calendar_from_dir, calendar_records

from .common import console, make_console, print_json, shown, visible

# (JSON key, header); the NDA column shows appl_no/product_no and the trade name carries the
# ingredient underneath, so the table fits a 100-column terminal.
_DATES = (("last_patent_expiry", "patent"), ("last_ds_dp_patent_expiry", "DS/DP"),
          ("last_exclusivity_expiry", "excl."), ("effective_loe", "LOE"))


def _cell(value: object) -> str:
    if value is None:
        return "[dim]-[/dim]"
    if isinstance(value, bool):
        return "yes" if value else ""
    return str(value)


def run(args: argparse.Namespace) -> int:
    """Print the calendar of the folder `args.dir`; 2 when the folder lacks a file or one is unreadable."""
    errors_out = make_console(stderr=True)
    try:
        entries, errors = calendar_from_dir(args.dir)
    except DataError as exc:
        errors_out.print(visible(f"error: {exc}"), markup=False, highlight=False, soft_wrap=True)
        return 2
    for err in errors:
        errors_out.print(visible(f"skipped row: {err} | {err.raw}"), markup=False, highlight=False, soft_wrap=True)
    records = calendar_records(entries)
    if args.json:
        print_json(records)
        return 0
    table = Table(title=f"Orange Book patent-cliff calendar: {shown(args.dir)} ({len(records)} NDA products)",
                  title_justify="left", box=box.SIMPLE_HEAD, caption_justify="left", collapse_padding=True,
                  pad_edge=False,
                  caption="patent, DS/DP, excl.: last expiry of the listed patents, of the drug-substance or "
                          "drug-product ones, of the exclusivities; LOE: effective loss of exclusivity (the later "
                          "of patent and excl.); generics: marketed ANDA products")
    table.add_column("NDA", no_wrap=True)
    table.add_column("trade name / ingredient", overflow="fold", ratio=3)
    table.add_column("applicant", overflow="fold", ratio=2)
    for _, label in _DATES:
        table.add_column(label, no_wrap=True)
    table.add_column("PED", no_wrap=True)
    table.add_column("gen.", justify="right", no_wrap=True)
    for r in records:
        table.add_row(f"{r['appl_no']}/{r['product_no']}",
                      f"{shown(r['trade_name'])}\n[dim]{shown(r['ingredient'])}[/dim]",
                      shown(r["applicant"]), *(_cell(r[key]) for key, _ in _DATES), _cell(r["ped_applied"]),
                      str(r["generic_count"]))
    console.print(table)
    if errors:
        console.print(f"[yellow]{len(errors)} row(s) could not be read (listed on stderr)[/yellow]")
    return 0

