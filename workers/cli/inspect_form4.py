"""`signals inspect form4 FILE [--json]`: one SEC Form 4 / 4/A ownership XML document.

`--json` prints the document as issue 4 specifies (CIKs as integers, numbers as JSON numbers,
absent values null); the plain output is the readable report of `form4_to_text`. A document that
does not parse exits 2 with the parser's message (what is wrong and where).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines.sources.edgar.form4 import form4_to_json, form4_to_text, parse_form4

from .common import print_json, visible


def run(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    doc = parse_form4(raw, source=str(path))
    if args.json:
        print_json(form4_to_json(doc))
    else:
        sys.stdout.write(visible(form4_to_text(doc)))  # names and footnotes are outside data
    return 0
