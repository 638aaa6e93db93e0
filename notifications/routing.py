"""Which alert goes to which channels: the rules analysts already have, configurable in settings.

| alert                | channels (default)  | trigger                                   |
| high-confidence      | email, slack        | score >= ALERT_HIGH_THRESHOLD (7.0)       |
| critical             | email, slack, sms   | score >= ALERT_CRITICAL_THRESHOLD (9.0)   |
| watchlist ticker     | email, slack        | score >= ALERT_WATCHLIST_THRESHOLD (5.0)  |
| real-time (insider)  | slack               | a signal its pipeline marks real-time     |
| pipeline failure     | email, slack        | a run that ends failed                    |
| daily digest         | email               | the day's signals, once a day             |
"""
from __future__ import annotations

from dataclasses import dataclass

from pipelines.core.settings import Settings

TIER_RANK = {"info": 0, "realtime": 1, "high": 2, "critical": 3}


@dataclass(frozen=True)
class Route:
    tier: str
    channels: tuple[str, ...]


_ENABLED = {"email": "EMAIL_ENABLED", "slack": "SLACK_ENABLED", "sms": "SMS_ENABLED",
            "console": "CONSOLE_ALERTS_ENABLED"}


def _channels(settings: Settings, name: str) -> tuple[str, ...]:
    """The rule's channels that are switched on (a switched-off channel queues nothing)."""
    chosen = [c for c in getattr(settings, name) if getattr(settings, _ENABLED.get(c, ""), False)]
    if settings.CONSOLE_ALERTS_ENABLED and "console" not in chosen:
        chosen.append("console")  # local use: every alert also shows in the worker log
    return tuple(chosen)


def tier_for(score: float, ticker: str | None, realtime: bool, settings: Settings) -> str:
    if score >= settings.ALERT_CRITICAL_THRESHOLD:
        return "critical"
    if score >= settings.ALERT_HIGH_THRESHOLD:
        return "high"
    if ticker and ticker.upper() in {t.upper() for t in settings.ALERT_WATCHLIST} \
            and score >= settings.ALERT_WATCHLIST_THRESHOLD:
        return "high"
    return "realtime" if realtime else "info"


def route_signal(score: float, ticker: str | None, realtime: bool, settings: Settings) -> Route | None:
    """The tier and channels of a scored signal, or None when it stays below every rule."""
    tier = tier_for(score, ticker, realtime, settings)
    if tier == "info":
        return None
    name = {"critical": "ALERT_CRITICAL_CHANNELS", "high": "ALERT_HIGH_CHANNELS",
            "realtime": "ALERT_REALTIME_CHANNELS"}[tier]
    channels = _channels(settings, name)
    if realtime:  # real-time insider activity reaches its channels whatever the tier
        channels = tuple(dict.fromkeys((*channels, *_channels(settings, "ALERT_REALTIME_CHANNELS"))))
    return Route(tier, channels)


def failure_channels(settings: Settings) -> tuple[str, ...]:
    return _channels(settings, "ALERT_FAILURE_CHANNELS")


def digest_channels(settings: Settings) -> tuple[str, ...]:
    return tuple(c for c in settings.ALERT_DIGEST_CHANNELS if getattr(settings, _ENABLED.get(c, ""), False))
