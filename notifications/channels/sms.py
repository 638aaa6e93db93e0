"""SMS alerts through Twilio's Messages API: one form-encoded POST per recipient in SMS_TO.

Twilio has no idempotency key for sending, so a retry of a partly delivered alert would text
the recipients already reached again. This channel remembers, per instance, which (alert,
recipient) pairs went through and skips them on a retry through the same instance.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from pipelines.core.settings import Settings

from ..message import AlertMessage
from ..render_chat import render_sms
from .base import (
    Channel,
    ChannelRejected,
    ChannelUnavailable,
    DeliveryResult,
    http_failure,
    mask_number,
)

log = logging.getLogger("signals.alerts")

_MEMORY = 2048  # (alert, recipient) pairs remembered as delivered


class TwilioSmsChannel(Channel):
    name = "sms"

    def __init__(self, settings: Settings, *, session: requests.Session | None = None,
                 timeout: float | None = None) -> None:
        self.settings = settings
        self.session = session or requests.Session()
        self.timeout = timeout if timeout is not None else float(settings.HTTP_TIMEOUT_SECONDS)
        self._delivered: OrderedDict[tuple[str, str], str] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return bool(self.settings.SMS_ENABLED)

    def missing(self) -> list[str]:
        s = self.settings
        problems = [name for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM", "SMS_TO")
                    if not getattr(s, name)]
        parts = urlsplit(s.TWILIO_BASE_URL)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append("TWILIO_BASE_URL (not an http(s) URL)")
        return problems

    @property
    def endpoint(self) -> str:
        s = self.settings
        return (f"{s.TWILIO_BASE_URL.rstrip('/')}/2010-04-01/Accounts/"
                f"{quote(s.TWILIO_ACCOUNT_SID, safe='')}/Messages.json")

    def send(self, message: AlertMessage) -> DeliveryResult:
        """Text one alert to every number in SMS_TO; provider_id is the Twilio message sid(s)."""
        body = render_sms(message)
        sids: list[str] = []
        rejected: list[str] = []
        transient: list[ChannelUnavailable] = []
        for number in self.settings.SMS_TO:
            key = (message.alert_id, number)
            if key in self._delivered:
                sids.append(self._delivered[key])
                continue
            try:
                sid = self._post(number, body)
            except ChannelUnavailable as exc:
                transient.append(exc)
                continue
            except ChannelRejected as exc:
                rejected.append(str(exc))
                continue
            self._remember(key, sid)
            sids.append(sid)
        total = len(self.settings.SMS_TO)
        if transient:
            # Retry the whole alert; recipients already reached are skipped on the retry.
            waits = [e.retry_after for e in transient if e.retry_after is not None]
            raise ChannelUnavailable(f"sms: {len(transient)} of {total} recipient(s) not reached: "
                                     + "; ".join(str(e) for e in transient),
                                     retry_after=max(waits) if waits else None)
        if rejected and not sids:
            raise ChannelRejected("sms: " + "; ".join(rejected))
        provider_id = ",".join(sids) or None
        if rejected:
            detail = f"sent to {len(sids)} of {total} recipient(s); " + "; ".join(rejected)
            log.warning("sms: %s", detail)
            return DeliveryResult(self.name, False, detail, provider_id)
        return DeliveryResult(self.name, True, f"sent to {total} recipient(s)", provider_id)

    def _post(self, number: str, body: str) -> str:
        s = self.settings
        where = f"twilio at {urlsplit(s.TWILIO_BASE_URL).netloc} to {mask_number(number)}"
        try:
            response = self.session.post(
                self.endpoint, data={"To": number, "From": s.TWILIO_FROM, "Body": body},
                auth=(s.TWILIO_ACCOUNT_SID, s.TWILIO_AUTH_TOKEN), timeout=self.timeout, allow_redirects=False)
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema):
            raise ChannelRejected(f"{where}: TWILIO_BASE_URL is not a usable URL") from None
        except requests.RequestException as exc:
            raise ChannelUnavailable(f"{where}: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise http_failure(where, response.status_code, _twilio_error(response), response.headers)
        if not 200 <= response.status_code < 300:
            raise ChannelRejected(f"{where}: unexpected HTTP {response.status_code}")
        try:
            sid = response.json()["sid"]
        except (ValueError, KeyError, TypeError):
            # Accepted but unreadable: a retry would text the number again, so count it as sent.
            log.warning("%s: HTTP %s without a message sid in the answer", where, response.status_code)
            return ""
        return str(sid)

    def _remember(self, key: tuple[str, str], sid: str) -> None:
        self._delivered[key] = sid
        while len(self._delivered) > _MEMORY:
            self._delivered.popitem(last=False)


def _twilio_error(response: requests.Response) -> str:
    """'21211 The 'To' number … is not valid' from Twilio's JSON error, else the body."""
    try:
        data: Any = response.json()
    except ValueError:
        return response.text
    if isinstance(data, dict) and ("code" in data or "message" in data):
        return f"{data.get('code', '')} {data.get('message', '')}".strip()
    return response.text
