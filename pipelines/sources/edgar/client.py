"""SEC EDGAR fetches, returning raw bytes (the engine stores raw payloads before parsing them).

SEC fair access: every request declares a User-Agent with a contact e-mail, and all workers together
stay at or under SEC_MAX_RPS (10/s by default) through one shared limiter key, "sec".
"""
from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import quote

import requests

from pipelines.core.errors import ConfigError, DataError
from pipelines.core.http import EventHook, HttpClient
from pipelines.core.ratelimit import RateLimiter, RedisRateLimiter

log = logging.getLogger(__name__)

LIMITER_KEY = "sec"
SOURCE = "sec"
TICKERS_MAX_AGE_SECONDS = 24 * 3600
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_ACCESSION = re.compile(r"^(\d{10})-?(\d{2})-?(\d{6})$")
_INDEX_KINDS = ("form", "master")


def check_user_agent(user_agent: str) -> str:
    """The User-Agent if it names a contact e-mail address (SEC fair-access rule), else ConfigError."""
    value = (user_agent or "").strip()
    if not _EMAIL.search(value):
        raise ConfigError(
            "setting SEC_USER_AGENT must declare who is asking with a contact e-mail address, "
            "e.g. 'Acme Research ops@acme.example'; the SEC blocks undeclared clients"
            + ("" if value else " (it is empty)")
        )
    return value


def accession_parts(accession: str) -> tuple[str, str]:
    """(dashed, undashed) forms of an accession number such as 0001209191-23-029527."""
    match = _ACCESSION.match(accession.strip())
    if not match:
        raise ValueError(f"not an accession number: {accession!r} (expected 0001234567-YY-NNNNNN)")
    dashed = "-".join(match.groups())
    return dashed, "".join(match.groups())


@dataclass(frozen=True)
class _CacheMeta:
    fetched_at: float
    etag: str | None
    last_modified: str | None


class EdgarClient:
    """Fetches from www.sec.gov, data.sec.gov and efts.sec.gov under one shared rate limit."""

    def __init__(
        self,
        www_base_url: str,
        data_base_url: str,
        efts_base_url: str,
        user_agent: str,
        limiter: RateLimiter | None,
        timeout: float = 30.0,
        *,
        cache_dir: str | os.PathLike[str] = "var/cache",
        clock: Callable[[], float] = time.time,
        max_attempts: int = 3,
        backoff_base: float = 0.5,
        on_event: EventHook | None = None,
        session: requests.Session | None = None,
    ) -> None:
        agent = check_user_agent(user_agent)
        self.cache_dir = Path(cache_dir)
        self.clock = clock
        self._session = session if session is not None else requests.Session()
        self._owns_session = session is None

        def client(base_url: str) -> HttpClient:
            return HttpClient(base_url, user_agent=agent, timeout=timeout, limiter=limiter,
                              limiter_key=LIMITER_KEY, max_attempts=max_attempts,
                              backoff_base=backoff_base, source=SOURCE, on_event=on_event,
                              session=self._session)

        self.www = client(www_base_url)
        self.data = client(data_base_url)
        self.efts = client(efts_base_url)

    @classmethod
    def from_settings(cls, settings: Any, limiter: RateLimiter | None = None, **kwargs: Any) -> "EdgarClient":
        """Build from SEC_* settings; without a limiter, one in Redis (the broker) at SEC_MAX_RPS."""
        check_user_agent(settings.SEC_USER_AGENT)
        if limiter is None:
            limiter = RedisRateLimiter(settings.CELERY_BROKER_URL, float(settings.SEC_MAX_RPS))
        return cls(settings.SEC_WWW_BASE_URL, settings.SEC_DATA_BASE_URL, settings.SEC_EFTS_BASE_URL,
                   settings.SEC_USER_AGENT, limiter, float(settings.HTTP_TIMEOUT_SECONDS), **kwargs)

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> "EdgarClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def current_filings_atom(self, form_type: str = "4", start: int = 0, count: int = 100) -> bytes:
        """One page of the getcurrent Atom feed (ISO-8859-1 bytes), newest first."""
        if not 1 <= count <= 100:
            raise ValueError(f"count must be 1..100 (EDGAR's page limit), not {count}")
        if start < 0:
            raise ValueError(f"start must not be negative, not {start}")
        params = {"action": "getcurrent", "type": form_type, "company": "", "dateb": "",
                  "owner": "include", "start": start, "count": count, "output": "atom"}
        return self.www.get("/cgi-bin/browse-edgar", params=params).content

    def daily_index(self, day: date, kind: str = "form") -> bytes:
        """The daily form-type or master index of `day` (HttpError 404 on days without one)."""
        if kind not in _INDEX_KINDS:
            raise ValueError(f"kind must be one of {_INDEX_KINDS}, not {kind!r}")
        quarter = (day.month - 1) // 3 + 1
        path = f"/Archives/edgar/daily-index/{day.year}/QTR{quarter}/{kind}.{day:%Y%m%d}.idx"
        return self.www.get(path).content

    def submissions(self, cik: int | str) -> bytes:
        """The submissions JSON of a company or person (data host, CIK padded to 10 digits)."""
        return self.data.get(f"/submissions/CIK{_cik(cik):010d}.json").content

    def filing_document(self, cik: int | str, accession: str, filename: str) -> bytes:
        """One file of a filing's folder, e.g. the raw Form 4 XML."""
        name = filename.strip().lstrip("/")
        if not name or ".." in name.split("/"):
            raise ValueError(f"not a file name inside a filing folder: {filename!r}")
        _, undashed = accession_parts(accession)
        return self.www.get(f"/Archives/edgar/data/{_cik(cik)}/{undashed}/{quote(name, safe='/')}").content

    def filing_index(self, cik: int | str, accession: str, fmt: str = "json") -> bytes:
        """A filing folder's listing: `index.json` (machine-readable) or the `-index.htm` page."""
        dashed, undashed = accession_parts(accession)
        if fmt == "json":
            name = "index.json"
        elif fmt == "htm":
            name = f"{dashed}-index.htm"
        else:
            raise ValueError(f"fmt must be 'json' or 'htm', not {fmt!r}")
        return self.www.get(f"/Archives/edgar/data/{_cik(cik)}/{undashed}/{name}").content

    def full_text_search(
        self,
        query: str,
        forms: Iterable[str] = (),
        start_date: date | None = None,
        end_date: date | None = None,
        *,
        offset: int = 0,
    ) -> bytes:
        """One page of EDGAR full-text search hits (JSON); `offset` pages through them."""
        params: dict[str, str | int] = {"q": query}
        form_list = ",".join(f.strip() for f in forms if f.strip())
        if form_list:
            params["forms"] = form_list
        if start_date or end_date:
            params["dateRange"] = "custom"
            if start_date:
                params["startdt"] = start_date.isoformat()
            if end_date:
                params["enddt"] = end_date.isoformat()
        if offset:
            params["from"] = offset
        return self.efts.get("/search-index", params=params).content

    def company_tickers(self) -> bytes:
        """SEC's company_tickers.json, from the disk cache when fetched less than 24 h ago.

        An older copy is revalidated with If-None-Match / If-Modified-Since, so an unchanged file
        costs a 304 and no download.
        """
        data_path = self.cache_dir / "company_tickers.json"
        meta_path = self.cache_dir / "company_tickers.meta.json"
        cached = _read_meta(meta_path) if data_path.is_file() else None
        now = self.clock()
        if cached is not None and 0 <= now - cached.fetched_at < TICKERS_MAX_AGE_SECONDS:
            return data_path.read_bytes()
        response = self.www.get(
            "/files/company_tickers.json",
            etag=cached.etag if cached else None,
            last_modified=cached.last_modified if cached else None,
        )
        if response.not_modified and cached is not None:
            meta = _CacheMeta(now, response.headers.get("ETag") or cached.etag,
                              response.headers.get("Last-Modified") or cached.last_modified)
            _write_atomic(meta_path, _meta_bytes(meta))
            return data_path.read_bytes()
        try:
            json.loads(response.content)
        except ValueError:
            # A truncated or HTML body must not replace a good cache.
            raise DataError("company_tickers.json is not valid JSON", source=SOURCE,
                            record_key="company_tickers.json") from None
        meta = _CacheMeta(now, response.headers.get("ETag"), response.headers.get("Last-Modified"))
        _write_atomic(data_path, response.content)
        _write_atomic(meta_path, _meta_bytes(meta))
        return response.content


def _cik(cik: int | str) -> int:
    try:
        value = int(str(cik).strip())
    except ValueError:
        raise ValueError(f"not a CIK: {cik!r}") from None
    if not 0 < value < 10**10:
        raise ValueError(f"not a CIK: {cik!r}")
    return value


def _read_meta(path: Path) -> _CacheMeta | None:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return _CacheMeta(float(raw["fetched_at"]), raw.get("etag"), raw.get("last_modified"))
    except (OSError, ValueError, KeyError, TypeError):
        # A missing or damaged sidecar only costs one full download.
        return None


def _meta_bytes(meta: _CacheMeta) -> bytes:
    return json.dumps({"fetched_at": meta.fetched_at, "etag": meta.etag,
                       "last_modified": meta.last_modified}).encode("utf-8")


def _write_atomic(path: Path, content: bytes) -> None:
    # Several workers may refresh at once; a reader must never see half a file.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
