"""When each pipeline falls due, decided in code with `zoneinfo` instead of Celery crontab.

Why not a Celery crontab in `America/New_York`: `celery.schedules.crontab` has open DST bugs (it
skips the repeated hour at fall-back, #10107; runs an hour late after spring-forward, #9653; runs a
12:00 task at 11:00 *and* 12:00, #1604; beat stops sending at DST end, #6438), Celery has a single
`timezone` and RedBeat no per-entry zone (#192), and no cron expression can say "NYSE trading days,
closing at 13:00 on half days" or "the 13F deadline, moved past weekends and federal holidays".

So beat only fires a plain UTC crontab that is a superset of the real fire times (`utc_cron()`: the
union of every local fire time under every UTC offset the zone uses), and the dispatcher asks the
calendar which fire time, if any, is due (`previous_fire(now)` compared with the last run). Calendars
are frozen dataclasses implementing `pipelines.core.model.Calendar`; every fire time is an aware UTC
datetime on a whole minute.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Iterable, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .trading_days import (
    NYSE_REGULAR_CLOSE,
    NYSE_REGULAR_OPEN,
    NYSE_TZ,
    next_sec_business_day,
    nyse_session,
    nyse_session_utc,
    sec_business_day,
)

__all__ = [
    "DailyAt",
    "WeeklyAt",
    "IntradayWindows",
    "QuarterlyDeadline",
    "sec_business_day",
    "nyse_session",
]

DEFAULT_TZ = "America/New_York"
# previous_fire/next_fire look this far; every calendar here fires at least once a quarter.
SEARCH_HORIZON_DAYS = 400
_ONE_DAY = timedelta(days=1)
_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value.isoformat()}")


def _zone(key: str) -> ZoneInfo:
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {key!r}") from exc


def _require_whole_minute(value: time, name: str) -> None:
    if value.tzinfo is not None:
        raise ValueError(f"{name} must be a naive local wall time (the zone is `tz`), got {value}")
    if value.second or value.microsecond:
        raise ValueError(f"{name} must be on a whole minute, got {value.isoformat()}")


def _local_to_utc(day: date, wall: time, zone: ZoneInfo) -> datetime | None:
    """The UTC instant of wall time `wall` on local `day`, or None when that wall time does not exist."""
    # WHY: at spring-forward (02:00 -> 03:00) a wall time in the gap never happens, so we skip it
    # rather than shift it to 03:xx, which would collide with fires really scheduled then. At
    # fall-back (01:00-02:00 twice) we fire once, at the first occurrence (fold=0, still daylight
    # time): firing twice would run a daily pipeline twice and the first pass is the timelier one.
    local = datetime.combine(day, wall, tzinfo=zone)
    instant = local.astimezone(timezone.utc)
    if instant.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        return None
    return instant


def _minute_of_day(value: time) -> int:
    return value.hour * 60 + value.minute


@lru_cache(maxsize=32)
def _zone_offsets_minutes(key: str) -> frozenset[int]:
    """UTC offsets (minutes) `key` uses from 2000 to 2100, sampled weekly to catch every season."""
    zone = _zone(key)
    offsets: set[int] = set()
    probe = datetime(2000, 1, 1, tzinfo=timezone.utc)
    stop = datetime(2100, 1, 1, tzinfo=timezone.utc)
    while probe < stop:
        offset = probe.astimezone(zone).utcoffset()
        if offset is not None:
            offsets.add(int(offset.total_seconds()) // 60)
        probe += timedelta(days=7)
    return frozenset(offsets)


def _cron_field(values: Iterable[int], size: int) -> str:
    """A crontab field for `values` in range(size): "*" when complete, else ranges and lists."""
    ordered = sorted(set(values))
    if len(ordered) == size:
        return "*"
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        if j - i >= 2:
            parts.append(f"{ordered[i]}-{ordered[j]}")
        else:
            parts.extend(str(v) for v in ordered[i : j + 1])
        i = j + 1
    return ",".join(parts)


class _DayByDayCalendar(ABC):
    """Shared machinery: a subclass says which instants fire on one local date, this does the rest."""

    tz: str

    @abstractmethod
    def _fires_on(self, day: date) -> list[datetime]:
        """Ascending aware UTC fire times whose local date (in `tz`) is `day`."""

    @abstractmethod
    def _wall_times(self) -> Iterable[tuple[str, Iterable[int]]]:
        """(zone key, local minutes of day) pairs covering every possible fire, for utc_cron()."""

    @abstractmethod
    def describe(self) -> str:
        """A one-line human description."""

    def fire_times(self, start: datetime, end: datetime) -> list[datetime]:
        """Aware UTC fire times in [start, end), ascending."""
        _require_aware(start, "start")
        _require_aware(end, "end")
        if end <= start:
            return []
        zone = _zone(self.tz)
        day = start.astimezone(zone).date()
        last = end.astimezone(zone).date()
        fires: list[datetime] = []
        while day <= last:
            fires.extend(t for t in self._fires_on(day) if start <= t < end)
            day += _ONE_DAY
        return fires

    def previous_fire(self, before: datetime) -> datetime | None:
        """The last fire time strictly before `before`, or None if none in SEARCH_HORIZON_DAYS."""
        _require_aware(before, "before")
        day = before.astimezone(_zone(self.tz)).date()
        for _ in range(SEARCH_HORIZON_DAYS + 1):
            earlier = [t for t in self._fires_on(day) if t < before]
            if earlier:
                return earlier[-1]
            day -= _ONE_DAY
        return None

    def next_fire(self, after: datetime) -> datetime:
        """The first fire time strictly after `after`."""
        _require_aware(after, "after")
        day = after.astimezone(_zone(self.tz)).date()
        for _ in range(SEARCH_HORIZON_DAYS + 1):
            for fire in self._fires_on(day):
                if fire > after:
                    return fire
            day += _ONE_DAY
        raise ValueError(f"{self!r} does not fire within {SEARCH_HORIZON_DAYS} days after {after}")

    def utc_cron(self) -> dict[str, str]:
        """UTC crontab minute/hour sets firing at every fire time in every offset of the zone(s)."""
        minutes: set[int] = set()
        hours: set[int] = set()
        for key, wall_minutes in self._wall_times():
            offsets = _zone_offsets_minutes(key)
            for local in wall_minutes:
                for offset in offsets:
                    utc = (local - offset) % 1440
                    minutes.add(utc % 60)
                    hours.add(utc // 60)
        return {"minute": _cron_field(minutes, 60), "hour": _cron_field(hours, 24)}


@dataclass(frozen=True)
class DailyAt(_DayByDayCalendar):
    """Every day (or every Monday-Friday) at one local wall time."""

    time_local: time
    days: Literal["all", "weekdays"] = "all"
    tz: str = DEFAULT_TZ

    def __post_init__(self) -> None:
        _zone(self.tz)
        _require_whole_minute(self.time_local, "time_local")
        if self.days not in ("all", "weekdays"):
            raise ValueError(f"days must be 'all' or 'weekdays', got {self.days!r}")

    def _fires_on(self, day: date) -> list[datetime]:
        if self.days == "weekdays" and day.weekday() >= 5:
            return []
        fire = _local_to_utc(day, self.time_local, _zone(self.tz))
        return [] if fire is None else [fire]

    def _wall_times(self) -> Iterable[tuple[str, Iterable[int]]]:
        return [(self.tz, [_minute_of_day(self.time_local)])]

    def describe(self) -> str:
        which = "daily" if self.days == "all" else "Monday-Friday"
        return f"{which} at {self.time_local:%H:%M} {self.tz}"


@dataclass(frozen=True)
class WeeklyAt(_DayByDayCalendar):
    """Once a week on `weekday` (0=Monday) at one local wall time."""

    weekday: int
    time_local: time
    tz: str = DEFAULT_TZ

    def __post_init__(self) -> None:
        _zone(self.tz)
        _require_whole_minute(self.time_local, "time_local")
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), got {self.weekday}")

    def _fires_on(self, day: date) -> list[datetime]:
        if day.weekday() != self.weekday:
            return []
        fire = _local_to_utc(day, self.time_local, _zone(self.tz))
        return [] if fire is None else [fire]

    def _wall_times(self) -> Iterable[tuple[str, Iterable[int]]]:
        return [(self.tz, [_minute_of_day(self.time_local)])]

    def describe(self) -> str:
        return f"{_WEEKDAY_NAMES[self.weekday]}s at {self.time_local:%H:%M} {self.tz}"


@dataclass(frozen=True)
class IntradayWindows(_DayByDayCalendar):
    """Form 4 polling: a daytime window on SEC business days plus market hours on NYSE sessions.

    (a) every `cadence_minutes` from `window_start` to `window_end` (inclusive, local to `tz`) on
    SEC business days; (b) every `market_cadence_minutes` from the NYSE open up to and including
    its close (13:00 on early-close days) on NYSE sessions; None disables (b).
    """

    cadence_minutes: int = 10
    window_start: time = time(6, 0)
    window_end: time = time(22, 30)
    market_cadence_minutes: int | None = 30
    tz: str = DEFAULT_TZ

    def __post_init__(self) -> None:
        _zone(self.tz)
        _require_whole_minute(self.window_start, "window_start")
        _require_whole_minute(self.window_end, "window_end")
        if self.cadence_minutes <= 0:
            raise ValueError(f"cadence_minutes must be positive, got {self.cadence_minutes}")
        if self.window_end < self.window_start:
            raise ValueError(f"window_end {self.window_end} is before window_start {self.window_start}")
        if self.market_cadence_minutes is not None and self.market_cadence_minutes <= 0:
            raise ValueError(f"market_cadence_minutes must be positive or None, got {self.market_cadence_minutes}")

    def _window_minutes(self) -> range:
        return range(
            _minute_of_day(self.window_start), _minute_of_day(self.window_end) + 1, self.cadence_minutes
        )

    def _window_fires(self, day: date) -> list[datetime]:
        if not sec_business_day(day):
            return []
        zone = _zone(self.tz)
        fires = (_local_to_utc(day, time(m // 60, m % 60), zone) for m in self._window_minutes())
        return [f for f in fires if f is not None]

    def _market_fires(self, day: date) -> list[datetime]:
        if self.market_cadence_minutes is None:
            return []
        zone = _zone(self.tz)
        step = timedelta(minutes=self.market_cadence_minutes)
        fires: list[datetime] = []
        # WHY: sessions are New York dates; with another `tz` a session can straddle two local dates.
        for session_day in (day - _ONE_DAY, day, day + _ONE_DAY):
            session = nyse_session_utc(session_day)
            if session is None:
                continue
            fire, close = session
            while fire <= close:
                if fire.astimezone(zone).date() == day:
                    fires.append(fire)
                fire += step
        return fires

    def _fires_on(self, day: date) -> list[datetime]:
        return sorted(set(self._window_fires(day)) | set(self._market_fires(day)))

    def _wall_times(self) -> Iterable[tuple[str, Iterable[int]]]:
        pairs: list[tuple[str, Iterable[int]]] = [(self.tz, self._window_minutes())]
        if self.market_cadence_minutes is not None:
            # Early closes only shorten the regular session, so regular hours bound every fire.
            market = range(
                _minute_of_day(NYSE_REGULAR_OPEN),
                _minute_of_day(NYSE_REGULAR_CLOSE) + 1,
                self.market_cadence_minutes,
            )
            pairs.append((NYSE_TZ.key, market))
        return pairs

    def describe(self) -> str:
        text = (
            f"every {self.cadence_minutes} min {self.window_start:%H:%M}-{self.window_end:%H:%M} "
            f"{self.tz} on SEC business days"
        )
        if self.market_cadence_minutes is not None:
            text += f", plus every {self.market_cadence_minutes} min from NYSE open to close on NYSE sessions"
        return text


def _quarter_end(year: int, quarter: int) -> date:
    """Last day of quarter 0..3 of `year`."""
    month = 3 * (quarter + 1)
    return date(year, month, 31 if month in (3, 12) else 30)


@dataclass(frozen=True)
class QuarterlyDeadline(_DayByDayCalendar):
    """13F polling: daily at `time_local` from quarter end + `poll_from_day` through the deadline.

    The deadline is quarter end + `days_after_quarter_end` days, moved to the next SEC business day
    when it falls on a weekend or a federal holiday (observed).
    """

    days_after_quarter_end: int = 45
    poll_from_day: int = 35
    time_local: time = time(22, 30)
    tz: str = DEFAULT_TZ

    def __post_init__(self) -> None:
        _zone(self.tz)
        _require_whole_minute(self.time_local, "time_local")
        if not 0 <= self.poll_from_day <= self.days_after_quarter_end:
            raise ValueError(
                f"need 0 <= poll_from_day ({self.poll_from_day}) <= "
                f"days_after_quarter_end ({self.days_after_quarter_end})"
            )

    def deadline(self, quarter_end: date) -> date:
        """The filing deadline for the quarter ending `quarter_end` (a Mar 31/Jun 30/Sep 30/Dec 31)."""
        if quarter_end != _quarter_end(quarter_end.year, (quarter_end.month - 1) // 3):
            raise ValueError(f"{quarter_end} is not a calendar quarter end")
        return next_sec_business_day(quarter_end + timedelta(days=self.days_after_quarter_end))

    def _quarter_ends_until(self, day: date) -> list[date]:
        """Quarter ends whose polling window could contain `day`, newest first."""
        # A window ends at most a few holiday/weekend days after days_after_quarter_end; one extra
        # quarter covers that.
        count = self.days_after_quarter_end // 90 + 2
        year, quarter = day.year, (day.month - 1) // 3
        ends: list[date] = []
        for _ in range(count):
            ends.append(_quarter_end(year, quarter))
            year, quarter = (year, quarter - 1) if quarter else (year - 1, 3)
        return ends

    def _fires_on(self, day: date) -> list[datetime]:
        for quarter_end in self._quarter_ends_until(day):
            first_poll = quarter_end + timedelta(days=self.poll_from_day)
            if first_poll <= day <= self.deadline(quarter_end):
                fire = _local_to_utc(day, self.time_local, _zone(self.tz))
                return [] if fire is None else [fire]
        return []

    def _wall_times(self) -> Iterable[tuple[str, Iterable[int]]]:
        return [(self.tz, [_minute_of_day(self.time_local)])]

    def describe(self) -> str:
        return (
            f"daily at {self.time_local:%H:%M} {self.tz} from quarter end + {self.poll_from_day} days "
            f"through the deadline (quarter end + {self.days_after_quarter_end} days, "
            "moved to the next SEC business day)"
        )
