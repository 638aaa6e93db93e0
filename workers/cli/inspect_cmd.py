"""`signals inspect SOURCE FILE [--json]`: parse one recorded payload and print what we read from it.

Each source's printer lives in `workers/cli/inspect_<source>.py` with `run(args) -> int`; it is
imported only when used, so one source's dependencies never slow the others.
"""
from __future__ import annotations

import argparse
import importlib


def add_commands(sub: argparse._SubParsersAction) -> None:
    ins = sub.add_parser("inspect", help="parse a recorded payload and print it")
    isub = ins.add_subparsers(dest="source", required=True, metavar="SOURCE")

    def source(name: str, module: str, help_text: str) -> argparse.ArgumentParser:
        p = isub.add_parser(name, help=help_text)
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.set_defaults(func=lambda args: importlib.import_module(f"workers.cli.{module}").run(args))
        return p

    source("form4", "inspect_form4", "one SEC Form 4 ownership XML document").add_argument("file")
    p = source("13f", "inspect_13f", "a 13F information table, with its cover page when given")
    p.add_argument("infotable")
    p.add_argument("--cover", metavar="PRIMARY_DOC", help="the filing's primary_doc.xml")
    p.add_argument("--filed", metavar="DATE", help="filing date (value units changed on 2023-01-03)")
    source("ctgov", "inspect_ctgov", "a ClinicalTrials.gov study or list page").add_argument("file")
    p = source("ctgov-diff", "inspect_ctgov", "change events between two versions of one study")
    p.add_argument("old")
    p.add_argument("new")
    p.set_defaults(func=lambda args: importlib.import_module("workers.cli.inspect_ctgov").run_diff(args))
    p = source("orange-book", "inspect_orange_book", "the patent-cliff calendar of an Orange Book folder")
    p.add_argument("dir", help="folder holding products.txt, patent.txt and exclusivity.txt")
    p = source("jobs", "inspect_jobs", "a job board payload (greenhouse, lever or ashby)")
    p.add_argument("board", choices=("greenhouse", "lever", "ashby"))
    p.add_argument("file")
