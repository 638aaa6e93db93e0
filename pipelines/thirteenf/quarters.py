"""Calendar quarters of 13F report periods (a period is the last day of its quarter)."""
from __future__ import annotations

import calendar
from datetime import date, timedelta


def quarter_before(period: date) -> date:
    """The last day of the calendar quarter before the one holding `period`."""
    return date(period.year, 3 * ((period.month - 1) // 3) + 1, 1) - timedelta(days=1)


def quarter_after(period: date) -> date:
    """The last day of the calendar quarter after the one holding `period`."""
    year, month = period.year, 3 * ((period.month - 1) // 3) + 6
    if month > 12:
        year, month = year + 1, month - 12
    return date(year, month, calendar.monthrange(year, month)[1])
