"""What a command's --csv output must read back as, from its --json records (workers.cli.common.print_csv)."""
from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

from workers.cli.common import csv_cell


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def expected_rows(records: Sequence[Mapping[str, Any]],
                  context: Mapping[str, Any] | None = None) -> list[dict[str, str]]:
    """Each record (after the context fields) with every value as its CSV cell, and "" for a key it lacks."""
    rows = [{**(context or {}), **r} for r in records]
    keys = list(dict.fromkeys(k for r in rows for k in r))
    return [{k: csv_cell(r.get(k)) for k in keys} for r in rows]
