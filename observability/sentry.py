"""Sentry error reporting, on when SENTRY_DSN is set, with secrets scrubbed before an event leaves.

Events carry exception messages, stack-frame locals, breadcrumbs (log lines, SQL, Redis commands)
and Celery task arguments, any of which can hold a webhook URL, a token or a database password.
`scrub_event` removes, wherever they appear: the value of every secret setting (SECRET_NAMES),
the values of keys that name a secret (password, token, authorization, webhook, dsn, ...), URL
userinfo (user:password@), webhook URLs, bearer/basic credentials and secret query parameters.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Iterable
from urllib.parse import unquote, urlsplit

from pipelines.core.settings import SECRET_NAMES, Settings

FILTERED = "[Filtered]"
_SECRET_KEY = re.compile(r"pass(word|wd)?|pwd|secret|token|api[_-]?key|auth|credential|dsn|webhook|cookie"
                         r"|signature|private[_-]?key", re.IGNORECASE)
_SECRET_NAMES_LOWER = frozenset(n.lower() for n in SECRET_NAMES)
_TEXT_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # Any URL with "hook" in it (Slack, Teams, Discord, generic incoming webhooks): the URL is the key.
    (re.compile(r"https?://[^\s'\"<>]*hook[^\s'\"<>]*", re.IGNORECASE), FILTERED),
    # scheme://user:password@host (database and broker URLs, Sentry DSNs)
    (re.compile(r"(\b[a-z][a-z0-9+.\-]*://)[^/\s'\"@]+@", re.IGNORECASE), r"\1" + FILTERED + "@"),
    (re.compile(r"\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=\-]{6,}", re.IGNORECASE), r"\1\2" + FILTERED),
    (re.compile(r"([?&;][^=&\s'\"]*(?:key|token|pass|secret|signature|sig|auth|credential)[^=&\s'\"]*=)"
                r"[^&\s'\"]+", re.IGNORECASE), r"\1" + FILTERED),
    (re.compile(r"\b(password|passwd|pwd|secret|token|api_key|apikey|auth_token)(\s*[=:]\s*)[^\s,;&'\"]+",
                re.IGNORECASE), r"\1\2" + FILTERED),
)
_MIN_SECRET_LENGTH = 4  # shorter values ("", "0") would blank ordinary text


def secret_values(settings: Settings) -> tuple[str, ...]:
    """The secret settings' values, plus the password inside any secret URL, longest first."""
    found: set[str] = set()
    for name in SECRET_NAMES:
        value = settings.values.get(name)
        if not isinstance(value, str) or len(value) < _MIN_SECRET_LENGTH:
            continue
        found.add(value)
        if "://" in value:
            try:
                password = urlsplit(value).password
            except ValueError:
                password = None
            if password:
                found.update({password, unquote(password)})
    return tuple(sorted((v for v in found if len(v) >= _MIN_SECRET_LENGTH), key=len, reverse=True))


def scrub_text(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, FILTERED)
    for pattern, replacement in _TEXT_RULES:
        text = pattern.sub(replacement, text)
    return text


def _is_secret_key(key: Any) -> bool:
    return isinstance(key, str) and (key.lower() in _SECRET_NAMES_LOWER or bool(_SECRET_KEY.search(key)))


def scrub(value: Any, secrets: tuple[str, ...]) -> Any:
    """A copy of `value` (JSON-like) with every secret removed."""
    if isinstance(value, str):
        return scrub_text(value, secrets)
    if isinstance(value, dict):
        return {k: (FILTERED if _is_secret_key(k) and v not in (None, "") else scrub(v, secrets))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        # Headers arrive as [name, value] pairs in some integrations.
        if len(value) == 2 and _is_secret_key(value[0]) and isinstance(value[1], str):
            return [value[0], FILTERED]
        return [scrub(v, secrets) for v in value]
    return value


def make_scrubber(settings: Settings) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """A Sentry `before_send`/`before_breadcrumb` hook bound to these settings' secret values."""
    secrets = secret_values(settings)

    def scrub_event(event: dict[str, Any], hint: Any = None) -> dict[str, Any]:
        return scrub(event, secrets)

    return scrub_event


def init_sentry(settings: Settings, component: str) -> bool:
    """Start the Sentry SDK when SENTRY_DSN is set; returns whether it did."""
    if not settings.SENTRY_DSN:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.redis import RedisIntegration
    from sentry_sdk.integrations.sqlalchemy import SqlalchemyIntegration

    scrubber = make_scrubber(settings)
    sentry_sdk.init(
        dsn=settings.SENTRY_DSN,
        environment=settings.SENTRY_ENVIRONMENT,
        integrations=[CeleryIntegration(), RedisIntegration(), SqlalchemyIntegration()],
        send_default_pii=False,
        max_request_body_size="never",
        before_send=scrubber,  # type: ignore[arg-type]  # events and breadcrumbs are dicts at run time
        before_breadcrumb=scrubber,
    )
    sentry_sdk.set_tag("component", component)
    return True
