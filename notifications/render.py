"""Formatting shared by every renderer: times in ET and UTC, scores, points, safe URLs.

The renderers themselves live in `render_email` (alert emails), `render_chat` (Slack, SMS,
console) and `digest` (the daily digest email).
"""
from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from .message import AlertMessage, ScoreComponent

# Analysts read market times in New York time; UTC is shown beside it so logs can be matched.
EASTERN = ZoneInfo("America/New_York")

TIER_LABELS = {"critical": "CRITICAL", "high": "HIGH", "realtime": "REALTIME", "info": "INFO"}
# Background colours of the tier badge (white text on each passes WCAG AA contrast).
TIER_COLOURS = {"critical": "#b91c1c", "high": "#c2410c", "realtime": "#1d4ed8", "info": "#4b5563"}
FAILURE_COLOUR = "#7f1d1d"

_SPACE = re.compile(r"\s+")


def one_line(text: str) -> str:
    """Collapse every run of whitespace (newlines included) into one space."""
    return _SPACE.sub(" ", text).strip()


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + "…"


def format_score(score: float | None) -> str:
    """'9.2/10', or 'unscored'."""
    return "unscored" if score is None else f"{score:.1f}/10"


def format_points(value: float) -> str:
    """Signed points of one component: '+3.0', '-0.5', '0.0'."""
    return f"{value:+.1f}" if round(value, 1) != 0 else "0.0"


def format_et(moment: datetime) -> str:
    """'2025-03-04 16:05 EST'."""
    return moment.astimezone(EASTERN).strftime("%Y-%m-%d %H:%M %Z")


def format_utc(moment: datetime) -> str:
    """'2025-03-04 21:05 UTC'."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def format_time_pair(moment: datetime | None) -> str:
    """'2025-03-04 16:05 EST (2025-03-04 21:05 UTC)', or 'not recorded'."""
    if moment is None:
        return "not recorded"
    return f"{format_et(moment)} ({format_utc(moment)})"


def safe_url(url: str) -> str | None:
    """The URL when it is an absolute http(s) URL, else None (never link javascript: or data:)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        return None
    return url


def components_total(components: tuple[ScoreComponent, ...]) -> float:
    return sum(c.value for c in components)


def tier_label(message: AlertMessage) -> str:
    return "FAILURE" if message.kind == "failure" else TIER_LABELS[message.tier]


def kind_line(message: AlertMessage) -> str:
    """'form4 / insider_cluster_buy', or just the pipeline."""
    return " / ".join(p for p in (message.pipeline, message.signal_type) if p)


def failure_headline(message: AlertMessage) -> str:
    """'form4 run 123 failed at fetch: <last line of the error>'."""
    run = f" run {message.run_id}" if message.run_id is not None else ""
    step = f" at {message.step}" if message.step else ""
    return f"{message.pipeline}{run} failed{step}: {error_line(message)}"


def error_line(message: AlertMessage) -> str:
    """The last non-blank line of the error (a traceback's last line names the exception), or the title."""
    lines = [line for line in message.error.splitlines() if line.strip()]
    return one_line(lines[-1]) if lines else one_line(message.title)
