"""The one HTTP client every source uses: shared rate limit, retries with backoff, conditional GETs.

Failures map onto the engine's error classes: 429, 5xx, timeouts and connection errors are retried
here a few times and then raised as TransientError (the Celery task retries later with its own,
longer backoff); any other 4xx is an HttpError and is not retried.

`on_event(source, outcome, wait_seconds)` is called once per request sent, with outcome "ok",
"not_modified", "rate_limited" (a 429), "retry" (5xx or network error, another attempt follows) or
"error" (a 4xx, or the last attempt failed); wait_seconds is the time spent before that request
went out: the rate-limiter wait plus any backoff or Retry-After sleep that preceded it.
"""
from __future__ import annotations

import email.utils
import json
import logging
import math
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import requests
from requests.structures import CaseInsensitiveDict

from pipelines.core import metrics
from pipelines.core.errors import SignalsError, TransientError
from pipelines.core.ratelimit import RateLimiter

log = logging.getLogger(__name__)

EventHook = Callable[[str, str, float], None]

_NETWORK_ERRORS = (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError)
_SECRET_PARAM = re.compile(r"key|token|password|passwd|secret|signature|sig|auth|credential", re.IGNORECASE)


class HttpError(SignalsError):
    """A permanent HTTP failure (4xx other than 429): retrying the same request will not help."""

    def __init__(self, message: str, *, status: int, url: str) -> None:
        super().__init__(message)
        self.status = status
        self.url = url


@dataclass(frozen=True)
class HttpResponse:
    """A finished response; `headers` look up case-insensitively, `url` is the final URL as sent."""

    status: int
    content: bytes = field(repr=False)
    headers: Mapping[str, str]
    url: str
    not_modified: bool = False

    @property
    def text(self) -> str:
        """The body decoded with the charset the server declared (UTF-8 when none)."""
        match = re.search(r"charset=([\w.-]+)", self.headers.get("Content-Type", ""), re.IGNORECASE)
        encoding = match.group(1) if match else "utf-8"
        try:
            return self.content.decode(encoding, errors="replace")
        except LookupError:  # an unknown charset name from the server
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.content)


class Uniform(Protocol):
    def random(self) -> float: ...


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None, rng: Uniform) -> float:
    """Seconds to sleep before retry number `attempt` (1 = the first retry).

    Exponential backoff with full jitter (uniform over [0, min(cap, base * 2**(attempt-1)))) so
    that workers that failed together do not retry together. A server's Retry-After wins: waiting
    less than it asked would only earn another 429.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be 1 or more, not {attempt}")
    if retry_after is not None:
        return max(0.0, retry_after)
    ceiling = min(cap, base * (2 ** (attempt - 1)))
    return ceiling * rng.random()


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds from `now` (epoch seconds) that a Retry-After header asks for, or None.

    The header is either delta-seconds or an HTTP date; a date in the past means "now" (0).
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; an obsolete form may lack the zone
        return None
    return max(0.0, when.timestamp() - now)


def redact_url(url: str) -> str:
    """The URL fit for logs and exceptions: no user:password, no query when it carries a secret."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if query and any(_SECRET_PARAM.search(name) for name, _ in parse_qsl(query, keep_blank_values=True)):
        query = "<redacted>"
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


class _RedactQueryFilter(logging.Filter):
    """Rewrites urllib3's debug line, which prints the request path with its query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, str) and "?" in a for a in record.args):
            record.args = tuple(redact_url(a) if isinstance(a, str) and "?" in a else a for a in record.args)
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_RedactQueryFilter())


class HttpClient:
    """GET requests to one upstream with its User-Agent, rate limit and retry policy."""

    def __init__(
        self,
        base_url: str,
        *,
        user_agent: str,
        timeout: float = 30.0,
        limiter: RateLimiter | None = None,
        limiter_key: str = "",
        max_attempts: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        max_retry_after: float = 60.0,
        source: str = "",
        on_event: EventHook | None = None,
        session: requests.Session | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be 1 or more, not {max_attempts}")
        self.base_url = base_url.rstrip("/")
        self.user_agent = user_agent
        self.timeout = timeout
        self.limiter = limiter
        self.limiter_key = limiter_key or source or urlsplit(base_url).netloc
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self.source = source
        # Every client counts its requests, errors and waits per source unless told otherwise.
        self.on_event = on_event if on_event is not None else metrics.upstream_event
        self._owns_session = session is None
        self.session = session if session is not None else requests.Session()
        self._rng = random.Random()

    def close(self) -> None:
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> "HttpClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url_for(self, path_or_absolute_url: str) -> str:
        """An absolute URL is used as given; a path is joined to the base URL."""
        if path_or_absolute_url.startswith(("http://", "https://")):
            return path_or_absolute_url
        return f"{self.base_url}/{path_or_absolute_url.lstrip('/')}"

    def get(
        self,
        path_or_absolute_url: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> HttpResponse:
        """GET with retries; 304 comes back as not_modified=True when etag/last_modified are given."""
        url = self.url_for(path_or_absolute_url)
        request_headers = {"Accept-Encoding": "gzip, deflate", **(headers or {}), "User-Agent": self.user_agent}
        if etag:
            request_headers["If-None-Match"] = etag
        if last_modified:
            request_headers["If-Modified-Since"] = last_modified
        slept = 0.0
        for attempt in range(1, self.max_attempts + 1):
            waited = slept + self._acquire()
            last = attempt == self.max_attempts
            try:
                raw = self.session.get(url, params=params, headers=request_headers, timeout=self.timeout)
            except _NETWORK_ERRORS as exc:
                shown = redact_url(url)
                problem = f"{type(exc).__name__} from GET {shown}"
                self._emit("error" if last else "retry", waited)
                if last:
                    # `from None`: requests' own message repeats the full URL, query string included.
                    raise TransientError(f"{problem} after {attempt} attempt(s)") from None
                slept = self._sleep_before_retry(attempt, None, problem)
                continue
            shown = redact_url(raw.url or url)
            status = raw.status_code
            if status == 304:
                self._emit("not_modified", waited)
                return HttpResponse(304, b"", CaseInsensitiveDict(raw.headers), raw.url, not_modified=True)
            if status < 400:
                self._emit("ok", waited)
                return HttpResponse(status, raw.content, CaseInsensitiveDict(raw.headers), raw.url)
            if status != 429 and status < 500:
                self._emit("error", waited)
                raise HttpError(f"HTTP {status} from GET {shown}", status=status, url=shown)
            retry_after = parse_retry_after(raw.headers.get("Retry-After"), time.time())
            self._emit("rate_limited" if status == 429 else ("error" if last else "retry"), waited)
            problem = f"HTTP {status} from GET {shown}"
            if retry_after is not None and retry_after > self.max_retry_after:
                # Holding a worker for longer than this is worse than handing the wait to Celery.
                raise TransientError(f"{problem} asks to wait {retry_after:.0f}s", retry_after=retry_after)
            if last:
                raise TransientError(f"{problem} after {attempt} attempt(s)", retry_after=retry_after)
            slept = self._sleep_before_retry(attempt, retry_after, problem)
        raise AssertionError("unreachable: the loop returns or raises on its last attempt")

    def _acquire(self) -> float:
        return self.limiter.acquire(self.limiter_key) if self.limiter is not None else 0.0

    def _sleep_before_retry(self, attempt: int, retry_after: float | None, problem: str) -> float:
        delay = backoff_delay(attempt, self.backoff_base, self.backoff_max, retry_after, self._rng)
        log.warning("%s; retry %d of %d in %.2fs", problem, attempt, self.max_attempts - 1, delay)
        time.sleep(delay)
        return delay

    def _emit(self, outcome: str, waited: float) -> None:
        if self.on_event is not None:
            self.on_event(self.source, outcome, waited)
