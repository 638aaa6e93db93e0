"""FDA Orange Book: parse the monthly data files, build the patent-cliff calendar, diff releases, report."""
from .calendar import CalendarEntry, build_calendar, calendar_from_dir, calendar_to_json
from .diff import ReleaseEvent, diff_releases
from .parse import Release, read_release_dir, read_release_zip, release_hash

__all__ = [
    "CalendarEntry", "Release", "ReleaseEvent", "build_calendar", "calendar_from_dir", "calendar_to_json",
    "diff_releases", "read_release_dir", "read_release_zip", "release_hash",
]
