"""Slack alerts through an incoming webhook: Block Kit blocks plus a fallback `text`.

The webhook URL is a secret (anyone holding it can post), so it never appears in a log line or an
exception message; errors name the host only.
"""
from __future__ import annotations

import logging
import os
from urllib.parse import urlsplit

import requests

from pipelines.core.settings import Settings

from ..message import AlertMessage
from ..render_chat import render_slack
from .base import (
    Channel,
    ChannelRejected,
    ChannelUnavailable,
    DeliveryResult,
    Throttle,
    http_failure,
)

log = logging.getLogger("signals.alerts")


def is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def webhook_session(url: str) -> requests.Session:
    """A session with the environment's proxy, CA bundle and netrc settings for `url` resolved now.

    With `trust_env` on, requests walks the whole environment (twice) on every post to find them,
    about 0.1 ms of a 0.4 ms POST to a local webhook (benchmarks/alerts_throughput); the URL and the
    environment do not change while the channel lives (the channel set is built once per process).
    """
    session = requests.Session()
    if not is_http_url(url):
        return session  # reported by missing(); nothing is ever posted
    session.proxies.update(requests.utils.get_environ_proxies(url))
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    session.auth = requests.utils.get_netrc_auth(url)
    session.trust_env = False
    return session


class SlackChannel(Channel):
    name = "slack"

    def __init__(self, settings: Settings, *, session: requests.Session | None = None,
                 timeout: float | None = None) -> None:
        self.settings = settings
        self.session = session or webhook_session(settings.SLACK_WEBHOOK_URL)
        self.timeout = timeout if timeout is not None else float(settings.HTTP_TIMEOUT_SECONDS)
        # Webhooks allow about one message a second; bursts beyond that come back as 429.
        self.throttle = Throttle(float(settings.SLACK_MAX_PER_SECOND))

    @property
    def enabled(self) -> bool:
        return bool(self.settings.SLACK_ENABLED)

    def missing(self) -> list[str]:
        url = self.settings.SLACK_WEBHOOK_URL
        if not url:
            return ["SLACK_WEBHOOK_URL"]
        if not is_http_url(url):
            return ["SLACK_WEBHOOK_URL (not an http(s) URL)"]
        return []

    def send(self, message: AlertMessage) -> DeliveryResult:
        """Post one alert to the webhook."""
        url = self.settings.SLACK_WEBHOOK_URL
        where = f"slack webhook at {urlsplit(url).netloc or 'an unset URL'}"
        self.throttle.wait()
        try:
            response = self.session.post(url, json=render_slack(message), timeout=self.timeout,
                                         allow_redirects=False)
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema):
            raise ChannelRejected(f"{where}: SLACK_WEBHOOK_URL is not a usable URL") from None
        except requests.RequestException as exc:
            # str(exc) would include the webhook path, which is the secret part.
            raise ChannelUnavailable(f"{where}: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise http_failure(where, response.status_code, response.text, response.headers)
        if response.status_code >= 300:
            raise ChannelRejected(f"{where}: unexpected HTTP {response.status_code} (webhooks do not redirect)")
        body = response.text.strip()
        log.debug("%s accepted alert %s: %s", where, message.alert_id, body[:100])
        return DeliveryResult(self.name, True, f"HTTP {response.status_code} {body[:100]}".strip(), None)
