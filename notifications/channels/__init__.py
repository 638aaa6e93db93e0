"""Alert channels and `build_channels(settings)`, which returns the ones that are on and configured."""
from __future__ import annotations

import logging

from pipelines.core.settings import Settings

from .base import Channel, ChannelRejected, ChannelUnavailable, DeliveryResult
from .console import ConsoleChannel
from .email import EmailChannel
from .slack import SlackChannel
from .sms import TwilioSmsChannel

__all__ = ["Channel", "ChannelRejected", "ChannelUnavailable", "ConsoleChannel", "DeliveryResult",
           "EmailChannel", "SlackChannel", "TwilioSmsChannel", "build_channels"]

log = logging.getLogger("signals.alerts")

_SWITCHES = {"email": "EMAIL_ENABLED", "slack": "SLACK_ENABLED", "sms": "SMS_ENABLED",
             "console": "CONSOLE_ALERTS_ENABLED"}


def build_channels(settings: Settings) -> list[Channel]:
    """The enabled, configured channels; each one left out is named in one log line with the reason."""
    candidates: list[Channel] = [EmailChannel(settings), SlackChannel(settings), TwilioSmsChannel(settings),
                                 ConsoleChannel(settings)]
    ready: list[Channel] = []
    for channel in candidates:
        if not channel.enabled:
            log.info("alert channel %s is off (%s is false)", channel.name, _SWITCHES[channel.name])
            continue
        missing = channel.missing()
        if missing:
            # Names only: values may be secrets.
            log.warning("alert channel %s is enabled but skipped: missing or invalid %s",
                        channel.name, ", ".join(missing))
            continue
        ready.append(channel)
    return ready
