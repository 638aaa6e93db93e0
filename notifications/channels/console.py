"""Alerts as one log line on logger "signals.alerts": for local runs and demos."""
from __future__ import annotations

import logging

from pipelines.core.settings import Settings

from ..message import AlertMessage
from ..render_chat import render_console
from .base import Channel, DeliveryResult

log = logging.getLogger("signals.alerts")


class ConsoleChannel(Channel):
    name = "console"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def enabled(self) -> bool:
        return bool(self.settings.CONSOLE_ALERTS_ENABLED)

    def missing(self) -> list[str]:
        return []

    def send(self, message: AlertMessage) -> DeliveryResult:
        """Log the alert; never fails."""
        level = logging.WARNING if message.kind == "failure" else logging.INFO
        log.log(level, "%s", render_console(message))
        return DeliveryResult(self.name, True, "logged", None)
