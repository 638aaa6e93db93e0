"""Schedule calendars across DST changes, SEC/NYSE holidays, early closes and 13F deadlines.

Expected instants are worked out by hand: New York is UTC-5 (EST) before the second Sunday of March
and after the first Sunday of November, UTC-4 (EDT) in between. Holidays and NYSE early closes are
the published 2026/2027 ones.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest
import time_machine
from celery.schedules import crontab_parser

from beat_schedule.calendars import (
    DailyAt,
    IntradayWindows,
    QuarterlyDeadline,
    WeeklyAt,
    nyse_session,
    sec_business_day,
)

UTC = timezone.utc


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=UTC)


def every(first: datetime, minutes: int, count: int) -> list[datetime]:
    return [first + timedelta(minutes=minutes * i) for i in range(count)]


# Midnight New York time expressed in UTC, so a [start, end) range covers exactly one local day.
def ny_day(y: int, m: int, d: int, edt: bool) -> tuple[datetime, datetime]:
    start = utc(y, m, d, 4 if edt else 5)
    return start, start + timedelta(days=1)


FORM4 = IntradayWindows()
# (a) shrunk to a single 05:00 fire, so what remains in market hours is (b) alone.
FORM4_MARKET_ONLY = IntradayWindows(window_start=time(5, 0), window_end=time(5, 0))
FORM4_WINDOW_ONLY = IntradayWindows(market_cadence_minutes=None)
DAILY_1800 = DailyAt(time(18, 0))
PATENTS = WeeklyAt(0, time(8, 0))
THIRTEEN_F = QuarterlyDeadline()


# --- DST -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        # 2026-03-08 spring forward: 18:00 EST = 23:00 UTC before, 18:00 EDT = 22:00 UTC from then.
        (utc(2026, 3, 6), utc(2026, 3, 11), [utc(2026, 3, 6, 23), utc(2026, 3, 7, 23),
                                             utc(2026, 3, 8, 22), utc(2026, 3, 9, 22),
                                             utc(2026, 3, 10, 22)]),
        # 2026-11-01 fall back.
        (utc(2026, 10, 30), utc(2026, 11, 4), [utc(2026, 10, 30, 22), utc(2026, 10, 31, 22),
                                               utc(2026, 11, 1, 23), utc(2026, 11, 2, 23),
                                               utc(2026, 11, 3, 23)]),
        # 2027-03-14 spring forward.
        (utc(2027, 3, 12), utc(2027, 3, 17), [utc(2027, 3, 12, 23), utc(2027, 3, 13, 23),
                                              utc(2027, 3, 14, 22), utc(2027, 3, 15, 22),
                                              utc(2027, 3, 16, 22)]),
        # 2027-11-07 fall back.
        (utc(2027, 11, 5), utc(2027, 11, 10), [utc(2027, 11, 5, 22), utc(2027, 11, 6, 22),
                                               utc(2027, 11, 7, 23), utc(2027, 11, 8, 23),
                                               utc(2027, 11, 9, 23)]),
    ],
)
def test_daily_1800_follows_dst(start: datetime, end: datetime, expected: list[datetime]) -> None:
    assert DAILY_1800.fire_times(start, end) == expected


@pytest.mark.parametrize("fall_back", [date(2026, 11, 1), date(2027, 11, 7)])
def test_repeated_hour_fires_once_at_first_occurrence(fall_back: date) -> None:
    cal = DailyAt(time(1, 30))
    day = datetime(fall_back.year, fall_back.month, fall_back.day, tzinfo=UTC)
    one_day = timedelta(days=1)
    fires = cal.fire_times(day - one_day, day + 2 * one_day)
    # Day before: 01:30 EDT = 05:30; fall-back day: the first 01:30 is still EDT = 05:30 (and not
    # 06:30 as well); day after: 01:30 EST = 06:30.
    assert fires == [
        day - one_day + timedelta(hours=5, minutes=30),
        day + timedelta(hours=5, minutes=30),
        day + one_day + timedelta(hours=6, minutes=30),
    ]
    assert cal.next_fire(fires[1]) == fires[2]


@pytest.mark.parametrize("year, spring_forward", [(2026, 8), (2027, 14)])
def test_nonexistent_local_time_is_skipped(year: int, spring_forward: int) -> None:
    cal = DailyAt(time(2, 30))
    fires = cal.fire_times(utc(year, 3, spring_forward - 1), utc(year, 3, spring_forward + 2))
    # 02:30 EST = 07:30 the day before, nothing on the day (02:00-03:00 never happens), 02:30 EDT
    # = 06:30 the day after.
    assert fires == [utc(year, 3, spring_forward - 1, 7, 30), utc(year, 3, spring_forward + 1, 6, 30)]
    assert cal.next_fire(utc(year, 3, spring_forward - 1, 7, 30)) == utc(year, 3, spring_forward + 1, 6, 30)
    assert cal.previous_fire(utc(year, 3, spring_forward + 1, 6, 30)) == utc(year, 3, spring_forward - 1, 7, 30)


def test_due_check_with_frozen_clock_on_spring_forward_evening() -> None:
    with time_machine.travel(datetime(2026, 3, 8, 22, 5, tzinfo=UTC), tick=False):
        now = datetime.now(UTC)
        assert DAILY_1800.previous_fire(now) == utc(2026, 3, 8, 22)
        assert DAILY_1800.next_fire(now) == utc(2026, 3, 9, 22)


# --- Form 4 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "edt"),
    [(date(2026, 3, 10), True), (date(2026, 1, 13), False)],
)
def test_form4_normal_trading_day(day: date, edt: bool) -> None:
    start, end = ny_day(day.year, day.month, day.day, edt)
    fires = FORM4.fire_times(start, end)
    # 06:00..22:30 every 10 min = 99 intervals + 1; the 30-min market fires land on the same minutes.
    assert len(fires) == 100
    offset = 4 if edt else 5
    assert fires[0] == utc(day.year, day.month, day.day, 6 + offset)
    assert fires[-1] == utc(day.year, day.month, day.day + 1, 22 + offset - 24, 30)
    assert fires == every(fires[0], 10, 100)
    market = FORM4_MARKET_ONLY.fire_times(start, end)
    assert market == [utc(day.year, day.month, day.day, 5 + offset)] + every(
        utc(day.year, day.month, day.day, 9 + offset, 30), 30, 14
    )


def test_form4_good_friday_sec_open_nyse_closed() -> None:
    assert sec_business_day(date(2026, 4, 3))
    assert nyse_session(date(2026, 4, 3)) is None
    start, end = ny_day(2026, 4, 3, edt=True)
    assert FORM4.fire_times(start, end) == every(utc(2026, 4, 3, 10), 10, 100)
    assert FORM4_MARKET_ONLY.fire_times(start, end) == [utc(2026, 4, 3, 9)]


@pytest.mark.parametrize(
    ("day", "edt"),
    [
        (date(2026, 6, 19), True),  # Juneteenth: federal holiday and NYSE closed
        (date(2026, 7, 3), True),  # Independence Day observed (July 4 is a Saturday)
        (date(2026, 11, 26), False),  # Thanksgiving
        (date(2026, 12, 25), False),  # Christmas
        (date(2027, 1, 1), False),  # New Year's Day
        (date(2026, 11, 7), False),  # Saturday
        (date(2026, 11, 8), False),  # Sunday
    ],
)
def test_form4_no_fires_when_both_closed(day: date, edt: bool) -> None:
    assert not sec_business_day(day)
    assert nyse_session(day) is None
    assert FORM4.fire_times(*ny_day(day.year, day.month, day.day, edt)) == []


def test_form4_day_after_thanksgiving_early_close() -> None:
    assert nyse_session(date(2026, 11, 27)) == (time(9, 30), time(13, 0))
    start, end = ny_day(2026, 11, 27, edt=False)
    fires = FORM4.fire_times(start, end)
    assert fires == every(utc(2026, 11, 27, 11), 10, 100)  # 06:00 EST .. 22:30 EST
    assert fires[-1] == utc(2026, 11, 28, 3, 30)
    # Market fires 09:30 .. 13:00 EST = 14:30 .. 18:00 UTC, eight of them, then stop.
    market = FORM4_MARKET_ONLY.fire_times(start, end)
    assert market == [utc(2026, 11, 27, 10)] + every(utc(2026, 11, 27, 14, 30), 30, 8)
    big_cadence = IntradayWindows(cadence_minutes=24 * 60, window_start=time(0, 0), window_end=time(0, 0))
    assert big_cadence.fire_times(start, end)[-1] == utc(2026, 11, 27, 18)


def test_christmas_eve_early_close_session() -> None:
    assert nyse_session(date(2026, 12, 24)) == (time(9, 30), time(13, 0))
    assert sec_business_day(date(2026, 12, 24))


@pytest.mark.parametrize(
    ("day", "first"),
    [
        (date(2026, 10, 12), utc(2026, 10, 12, 13, 30)),  # Columbus Day, EDT
        (date(2026, 11, 11), utc(2026, 11, 11, 14, 30)),  # Veterans Day, EST
    ],
)
def test_form4_federal_holiday_with_nyse_open_gets_market_hours_only(day: date, first: datetime) -> None:
    assert not sec_business_day(day)
    assert nyse_session(day) == (time(9, 30), time(16, 0))
    fires = FORM4.fire_times(first - timedelta(hours=9), first + timedelta(hours=15))
    assert fires == every(first, 30, 14)  # 09:30, 10:00, ..., 16:00


def test_form4_year_end_skips_new_year_and_weekend() -> None:
    fires = FORM4.fire_times(utc(2026, 12, 31, 5), utc(2027, 1, 5, 5))
    assert fires == every(utc(2026, 12, 31, 11), 10, 100) + every(utc(2027, 1, 4, 11), 10, 100)
    assert FORM4.next_fire(utc(2027, 1, 1, 3, 30)) == utc(2027, 1, 4, 11)
    assert FORM4.previous_fire(utc(2027, 1, 4, 11)) == utc(2027, 1, 1, 3, 30)


# --- Patent/IP weekly -------------------------------------------------------------------------


def test_weekly_monday_0800_across_dst() -> None:
    assert PATENTS.fire_times(utc(2026, 2, 28), utc(2026, 3, 20)) == [
        utc(2026, 3, 2, 13), utc(2026, 3, 9, 12), utc(2026, 3, 16, 12),
    ]
    assert PATENTS.fire_times(utc(2026, 10, 24), utc(2026, 11, 14)) == [
        utc(2026, 10, 26, 12), utc(2026, 11, 2, 13), utc(2026, 11, 9, 13),
    ]


def test_weekly_next_fire_from_exact_fire_is_next_week() -> None:
    assert PATENTS.next_fire(utc(2026, 3, 2, 13)) == utc(2026, 3, 9, 12)
    assert PATENTS.previous_fire(utc(2026, 3, 9, 12)) == utc(2026, 3, 2, 13)
    assert PATENTS.previous_fire(utc(2026, 3, 9, 12, 1)) == utc(2026, 3, 9, 12)


# --- 13F ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quarter_end", "deadline"),
    [
        (date(2025, 12, 31), date(2026, 2, 17)),  # Feb 14 Sat -> Mon 16 Presidents' Day -> Tue 17
        (date(2026, 3, 31), date(2026, 5, 15)),  # Friday
        (date(2026, 6, 30), date(2026, 8, 14)),  # Friday
        (date(2026, 9, 30), date(2026, 11, 16)),  # Nov 14 Saturday -> Monday
        (date(2026, 12, 31), date(2027, 2, 16)),  # Feb 14 Sun -> Mon 15 Presidents' Day -> Tue 16
        (date(2027, 3, 31), date(2027, 5, 17)),  # May 15 Saturday -> Monday
    ],
)
def test_13f_deadline(quarter_end: date, deadline: date) -> None:
    assert THIRTEEN_F.deadline(quarter_end) == deadline


def test_13f_deadline_rejects_non_quarter_end() -> None:
    with pytest.raises(ValueError, match="quarter end"):
        THIRTEEN_F.deadline(date(2026, 9, 29))


def test_13f_polls_daily_from_day_35_to_deadline() -> None:
    # Q3 2026: Sep 30 + 35 = Nov 4 through Nov 16; 22:30 EST = 03:30 UTC the next day.
    assert THIRTEEN_F.fire_times(utc(2026, 10, 1), utc(2026, 12, 31)) == [
        utc(2026, 11, d + 1, 3, 30) for d in range(4, 17)
    ]
    # Q1 2026: Mar 31 + 35 = May 5 through May 15; 22:30 EDT = 02:30 UTC the next day.
    assert THIRTEEN_F.fire_times(utc(2026, 4, 1), utc(2026, 7, 1)) == [
        utc(2026, 5, d + 1, 2, 30) for d in range(5, 16)
    ]
    # Q4 2026: Dec 31 + 35 = Feb 4 through the doubly-moved deadline Feb 16.
    assert THIRTEEN_F.fire_times(utc(2027, 1, 1), utc(2027, 4, 1)) == [
        utc(2027, 2, d + 1, 3, 30) for d in range(4, 17)
    ]
    assert THIRTEEN_F.next_fire(utc(2026, 11, 17, 3, 30)) == utc(2027, 2, 5, 3, 30)


# --- utc_cron and consistency -----------------------------------------------------------------

ALL_CALENDARS = [
    DAILY_1800,
    DailyAt(time(9, 0), days="weekdays"),
    DailyAt(time(1, 30)),
    DailyAt(time(2, 30)),
    PATENTS,
    FORM4,
    FORM4_MARKET_ONLY,
    IntradayWindows(cadence_minutes=7, window_start=time(5, 3), window_end=time(23, 59)),
    IntradayWindows(tz="Asia/Tokyo"),  # NYSE sessions straddle two Tokyo dates
    THIRTEEN_F,
    QuarterlyDeadline(time_local=time(0, 15), tz="Asia/Kolkata"),  # half-hour offset
]


def test_utc_cron_daily_1800_example() -> None:
    assert DAILY_1800.utc_cron() == {"minute": "0", "hour": "22,23"}


@pytest.mark.parametrize("cal", ALL_CALENDARS, ids=lambda c: c.describe())
def test_utc_cron_covers_every_fire_of_a_year(cal) -> None:
    cron = cal.utc_cron()
    minutes = crontab_parser(60).parse(cron["minute"])
    hours = crontab_parser(24).parse(cron["hour"])
    fires = cal.fire_times(utc(2026, 1, 1), utc(2027, 1, 1))
    assert fires
    missed = [f for f in fires if f.minute not in minutes or f.hour not in hours]
    assert missed == []
    assert all(f.tzinfo is UTC and f.second == 0 and f.microsecond == 0 for f in fires)


@pytest.mark.parametrize("cal", ALL_CALENDARS, ids=lambda c: c.describe())
def test_previous_and_next_agree_with_fire_times(cal) -> None:
    # Thanksgiving week plus the November DST change, the 13F Q3 window and a year end.
    fires = cal.fire_times(utc(2026, 10, 28), utc(2026, 11, 30))
    if cal is THIRTEEN_F:
        assert len(fires) == 13
    assert fires == sorted(set(fires))
    step = max(1, len(fires) // 150)  # every pair for sparse calendars, a spread sample otherwise
    for i in range(0, len(fires) - 1, step):
        a, b = fires[i], fires[i + 1]
        assert cal.next_fire(a) == b
        assert cal.previous_fire(b) == a
        assert cal.next_fire(a - timedelta(seconds=1)) == a
        assert cal.previous_fire(a + timedelta(seconds=1)) == a


def test_fire_times_half_open_interval() -> None:
    assert DAILY_1800.fire_times(utc(2026, 3, 9, 22), utc(2026, 3, 10, 22)) == [utc(2026, 3, 9, 22)]
    assert DAILY_1800.fire_times(utc(2026, 3, 10), utc(2026, 3, 9)) == []


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["previous_fire", "next_fire"])
def test_naive_datetimes_rejected(method: str) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        getattr(DAILY_1800, method)(datetime(2026, 3, 8, 18))


def test_naive_range_rejected() -> None:
    with pytest.raises(ValueError, match="end must be"):
        DAILY_1800.fire_times(utc(2026, 3, 8), datetime(2026, 3, 9))


@pytest.mark.parametrize(
    "build",
    [
        lambda: DailyAt(time(18, 0, 30)),
        lambda: DailyAt(time(18, 0), days="weekends"),  # type: ignore[arg-type]
        lambda: DailyAt(time(18, 0), tz="Mars/Olympus_Mons"),
        lambda: WeeklyAt(7, time(8, 0)),
        lambda: IntradayWindows(cadence_minutes=0),
        lambda: IntradayWindows(window_start=time(22, 0), window_end=time(6, 0)),
        lambda: QuarterlyDeadline(poll_from_day=50),
    ],
)
def test_bad_configuration_rejected(build) -> None:
    with pytest.raises(ValueError):
        build()


def test_describe_names_time_and_zone() -> None:
    assert DAILY_1800.describe() == "daily at 18:00 America/New_York"
    assert PATENTS.describe() == "Mondays at 08:00 America/New_York"
