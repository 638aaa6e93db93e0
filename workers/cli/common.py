"""Helpers shared by the CLI modules: settings, registry, dates and output."""
from __future__ import annotations

import json
import sys
from datetime import date, datetime, time, timezone
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console

from pipelines.core.registry import Registry, registry_for
from pipelines.core.settings import Settings, get_settings

console = Console()


def context() -> tuple[Settings, Registry]:
    settings = get_settings()
    return settings, registry_for(settings)


def parse_when(text: str, tz: str, end_of_day: bool = False) -> datetime:
    """ISO date or datetime; a bare date or a naive time is read in the schedule zone."""
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime.combine(d, time(23, 59, 59) if end_of_day else time(0), ZoneInfo(tz))
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO date or datetime: {text!r}") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=ZoneInfo(tz))


def parse_conf(pairs: list[str] | None) -> dict[str, Any]:
    conf: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--conf takes key=value, not {pair!r}")
        try:
            conf[key] = json.loads(value)  # numbers, booleans and lists keep their type
        except json.JSONDecodeError:
            conf[key] = value
    return conf


def iso(dt: datetime | None) -> str | None:
    return dt.astimezone(timezone.utc).isoformat() if dt else None


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
