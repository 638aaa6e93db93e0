"""The days a posted ClinicalTrials.gov date covers (pipelines.trials.catalysts.span)."""
from __future__ import annotations

from datetime import date

import pytest

from pipelines.trials.catalysts import span


@pytest.mark.parametrize(("posted", "days"), [
    ("2026-12-15", (date(2026, 12, 15), date(2026, 12, 15))),
    ("2026-12", (date(2026, 12, 1), date(2026, 12, 31))),
    ("2028-02", (date(2028, 2, 1), date(2028, 2, 29))),  # a leap year's February
    ("2027", (date(2027, 1, 1), date(2027, 12, 31))),
    (None, None),
    ("", None),
])
def test_span(posted: str | None, days: tuple[date, date] | None) -> None:
    assert span(posted) == days
