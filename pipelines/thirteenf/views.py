"""A manager's quarter as of one day, and the quarter before it: the point-in-time views both diffs
(in SQL and in Python) start from, so both quarantine a quarter whose amendments cannot be applied
in the same way."""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date
from typing import TypeVar

from pipelines.core.errors import DataError
from pipelines.core.model import StepContext

from .load import SOURCE

R = TypeVar("R")  # a filing as the caller holds it
V = TypeVar("V")  # a view of the quarter made of them


def views_as_of(ctx: StepContext, as_of: Callable[[Sequence[R], date], V | None], own: Sequence[R],
                prev: Sequence[R], cik: int, period: date, day: date,
                counts: Counter[str]) -> tuple[V, V | None] | None:
    """(this quarter's view, the previous quarter's or None) as of `day`; None when this quarter's
    amendments cannot be applied, which is quarantined and counted."""
    try:
        cur = as_of(own, day)
    except DataError as exc:
        ctx.quarantine(SOURCE, f"{cik}:{period}:{day}", f"13F report of CIK {cik} for {period} as of {day}: "
                       f"amendments cannot be applied: {exc}", b"")
        counts["versions_quarantined"] += 1
        return None
    try:
        before = as_of(prev, day) if prev else None
    except DataError:
        before = None  # the previous quarter's own amendment problem was quarantined with it
    if cur is None:  # not reachable: `day` is the filing date of one of `own`
        return None
    return cur, before
