"""Which days SEC EDGAR and the NYSE are open, cached per year.

Two different calendars matter for our sources and they disagree on purpose:

* EDGAR accepts filings on federal business days: Monday-Friday except US federal holidays, using
  the observed date when a holiday falls on a weekend (`holidays.country_holidays("US")`).
* The NYSE follows its own rules (`exchange_calendars` "XNYS"): it trades on Columbus Day and
  Veterans Day, closes on Good Friday, does not observe a Saturday New Year's Day, and closes
  early (13:00) on some days before or after holidays.

`exchange_calendars` is pandas-based and slow to import and construct, so it is imported lazily
and built for a few years around the first query of each span; the sessions it yields are kept per
year as plain `datetime`s, so later look-ups are dictionary reads.
"""
from __future__ import annotations

import threading
import warnings
from datetime import date, datetime, time, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

NYSE_TZ = ZoneInfo("America/New_York")
# Regular NYSE hours; sessions from exchange_calendars are only ever shorter (early closes).
NYSE_REGULAR_OPEN = time(9, 30)
NYSE_REGULAR_CLOSE = time(16, 0)

# How many years either side of a missing year are derived in one build: one build covers a
# process that runs for years, and a stray far-off query builds only a small span.
_SPAN_YEARS = 2

Session = tuple[datetime, datetime]  # aware UTC (open, close)


@lru_cache(maxsize=64)
def _federal_holidays(year: int) -> frozenset[date]:
    # observed=True (the default) moves e.g. a Saturday July 4 to Friday July 3, which is when
    # federal offices, and so EDGAR, are closed.
    return frozenset(holidays.country_holidays("US", years=year, observed=True))


def sec_business_day(d: date) -> bool:
    """True when EDGAR is open: Monday-Friday and not a US federal holiday (observed dates)."""
    return d.weekday() < 5 and d not in _federal_holidays(d.year)


def next_sec_business_day(d: date) -> date:
    """`d` itself when it is an SEC business day, else the first one after it."""
    day = d
    while not sec_business_day(day):
        day = date.fromordinal(day.toordinal() + 1)
    return day


class _NyseSessions:
    """Per-year cache of XNYS sessions, filled from exchange_calendars on demand (thread-safe)."""

    def __init__(self) -> None:
        self._years: dict[int, dict[date, Session]] = {}
        self._lock = threading.Lock()

    def year(self, year: int) -> dict[date, Session]:
        sessions = self._years.get(year)
        if sessions is None:
            with self._lock:
                if year not in self._years:
                    self._build(year)
                sessions = self._years[year]
        return sessions

    def _build(self, year: int) -> None:
        import exchange_calendars  # pandas-heavy: only imported when a market calendar is used

        first = year - _SPAN_YEARS
        last = year + _SPAN_YEARS
        with warnings.catch_warnings():
            # exchange_calendars 4.x reads Series.values, which pandas 3 deprecates; the warning is
            # about their code, not ours, and would otherwise be repeated in every test report.
            warnings.filterwarnings("ignore", category=DeprecationWarning, message="Series.values")
            calendar = exchange_calendars.get_calendar(
                "XNYS", start=f"{first}-01-01", end=f"{last}-12-31"
            )
        schedule = calendar.schedule
        derived: dict[int, dict[date, Session]] = {y: {} for y in range(first, last + 1)}
        for label, open_, close in zip(schedule.index, schedule["open"], schedule["close"], strict=True):
            day = label.date()
            derived[day.year][day] = (
                open_.to_pydatetime().astimezone(timezone.utc),
                close.to_pydatetime().astimezone(timezone.utc),
            )
        for y, sessions in derived.items():
            self._years.setdefault(y, sessions)


_NYSE = _NyseSessions()


def nyse_session_utc(d: date) -> Session | None:
    """The NYSE session on `d` as aware UTC (open, close), or None when the exchange is closed."""
    return _NYSE.year(d.year).get(d)


def nyse_session(d: date) -> tuple[time, time] | None:
    """NYSE (open, close) on `d` in New York local time, e.g. (09:30, 13:00) on an early close."""
    session = nyse_session_utc(d)
    if session is None:
        return None
    open_, close = session
    return open_.astimezone(NYSE_TZ).time(), close.astimezone(NYSE_TZ).time()
