"""EdgarClient against local stand-ins for www/data/efts.sec.gov serving the recorded EDGAR payloads."""
from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Iterator

import defusedxml.ElementTree as ET
import pytest

from pipelines.core.errors import ConfigError
from pipelines.core.http import HttpError
from pipelines.core.ratelimit import LocalRateLimiter, RedisRateLimiter
from pipelines.core.settings import SPECS, Settings
from pipelines.sources.edgar.client import EdgarClient
from tests.conftest import shared_fixture
from tests.support.http_server import NOT_FOUND, Answer, LocalHttpServer, Request

UA = "Signals Test Suite ops@signals.example"


@dataclass
class Doc:
    body: bytes
    content_type: str
    etag: str | None = None
    last_modified: str | None = None
    first: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # replies before the body


class Host(LocalHttpServer):
    """One fake SEC host: serves Docs at their paths (gzip when asked), 404 elsewhere, records requests."""

    def __init__(self) -> None:
        self.docs: dict[str, Doc] = {}
        super().__init__(self.answer)

    def answer(self, request: Request) -> Answer:
        doc = self.docs.get(request.path)
        if doc is None:
            return NOT_FOUND
        if doc.first:
            status, headers = doc.first.pop(0)
            return status, b"", None, headers
        validators = {k: v for k, v in (("ETag", doc.etag), ("Last-Modified", doc.last_modified)) if v}
        if doc.etag and request.headers.get("If-None-Match") == doc.etag:
            return 304, b"", None, validators
        headers = {"Content-Type": doc.content_type, **validators}
        body = doc.body
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        return 200, body, None, headers


@dataclass
class Sec:
    www: Host
    data: Host
    efts: Host

    def all_seen(self) -> list[Request]:
        return self.www.requests + self.data.requests + self.efts.requests


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sec() -> Iterator[Sec]:
    hosts = Sec(Host(), Host(), Host())
    yield hosts
    for host in (hosts.www, hosts.data, hosts.efts):
        host.close()


def make_client(sec: Sec, tmp_path: Path, **kw: Any) -> EdgarClient:
    options: dict[str, Any] = {"cache_dir": tmp_path / "cache", "backoff_base": 0.01}
    options.update(kw)
    return EdgarClient(sec.www.url, sec.data.url, sec.efts.url + "/LATEST", UA,
                       LocalRateLimiter(100.0), 5.0, **options)


def fixture_bytes(*parts: str) -> bytes:
    return shared_fixture(*parts).read_bytes()


def assert_declared(seen: list[Request]) -> None:
    assert seen
    for request in seen:
        assert request.headers["User-Agent"] == UA
        assert request.headers["Accept-Encoding"] == "gzip, deflate"


def test_current_filings_atom(sec: Sec, tmp_path: Path) -> None:
    raw = fixture_bytes("edgar_index", "getcurrent_page2_form4_and_4A_entries_only.atom")
    sec.www.docs["/cgi-bin/browse-edgar"] = Doc(raw, "application/atom+xml; charset=ISO-8859-1")
    with make_client(sec, tmp_path) as client:
        body = client.current_filings_atom(start=100)
    assert body == raw  # byte for byte, after gzip was undone
    (seen,) = sec.www.requests
    assert seen.query_pairs == [("action", "getcurrent"), ("type", "4"), ("company", ""), ("dateb", ""),
                          ("owner", "include"), ("start", "100"), ("count", "100"), ("output", "atom")]
    assert_declared(sec.www.requests)


def test_daily_indexes(sec: Sec, tmp_path: Path) -> None:
    master = fixture_bytes("edgar_index", "master.20200103_daily_trimmed.idx")
    form = fixture_bytes("edgar_index", "form.20200318_daily_by_formtype_trimmed.idx")
    sec.www.docs["/Archives/edgar/daily-index/2020/QTR1/master.20200103.idx"] = Doc(master, "text/plain")
    sec.www.docs["/Archives/edgar/daily-index/2020/QTR1/form.20200318.idx"] = Doc(form, "text/plain")
    with make_client(sec, tmp_path) as client:
        assert client.daily_index(date(2020, 1, 3), kind="master") == master
        assert client.daily_index(date(2020, 3, 18)) == form
        with pytest.raises(HttpError) as err:  # Q4, and no index is served for that day
            client.daily_index(date(2020, 10, 4), kind="master")
        with pytest.raises(ValueError):
            client.daily_index(date(2020, 1, 3), kind="company")
    assert err.value.status == 404
    assert [s.path for s in sec.www.requests][-1] == "/Archives/edgar/daily-index/2020/QTR4/master.20201004.idx"
    assert_declared(sec.www.requests)


def test_submissions_on_the_data_host(sec: Sec, tmp_path: Path) -> None:
    raw = fixture_bytes("edgar_index", "submissions_CIK0000789019_msft_2022_trimmed.json")
    sec.data.docs["/submissions/CIK0000789019.json"] = Doc(raw, "application/json")
    with make_client(sec, tmp_path) as client:
        assert client.submissions(789019) == raw
        assert client.submissions("0000789019") == raw
    assert json.loads(raw)["cik"] == "789019"
    assert sec.www.requests == [] and len(sec.data.requests) == 2
    assert_declared(sec.data.requests)


def test_filing_document_and_index_paths(sec: Sec, tmp_path: Path) -> None:
    path = shared_fixture("edgar_form4", "form4_tcr2_P_purchase_3_reporting_owners_X0407.xml")
    issuer_cik = int(ET.parse(path).getroot().findtext("issuer/issuerCik"))
    folder = f"/Archives/edgar/data/{issuer_cik}/000120919123029527"
    sec.www.docs[f"{folder}/form4.xml"] = Doc(path.read_bytes(), "text/xml")
    with make_client(sec, tmp_path) as client:
        assert client.filing_document(issuer_cik, "0001209191-23-029527", "form4.xml") == path.read_bytes()
        # No recorded index.json or -index.htm exists, so only the requested paths are checked.
        with pytest.raises(HttpError):
            client.filing_index(issuer_cik, "0001209191-23-029527")
        with pytest.raises(HttpError):
            client.filing_index(str(issuer_cik), "000120919123029527", fmt="htm")
        with pytest.raises(ValueError):
            client.filing_document(issuer_cik, "0001209191-23-029527", "../../../etc/passwd")
        with pytest.raises(ValueError):
            client.filing_document(issuer_cik, "1209191-23-29527", "form4.xml")
    assert [s.path for s in sec.www.requests] == [
        f"{folder}/form4.xml",
        f"{folder}/index.json",
        f"{folder}/0001209191-23-029527-index.htm",
    ]
    assert_declared(sec.www.requests)


def test_full_text_search_query(sec: Sec, tmp_path: Path) -> None:
    with make_client(sec, tmp_path) as client, pytest.raises(HttpError):
        client.full_text_search('"gene therapy" phase 3', ["4", "8-K"], date(2024, 1, 1), date(2024, 3, 31),
                                offset=100)
    (seen,) = sec.efts.requests
    assert seen.path == "/LATEST/search-index"
    assert seen.query_pairs == [("q", '"gene therapy" phase 3'), ("forms", "4,8-K"), ("dateRange", "custom"),
                          ("startdt", "2024-01-01"), ("enddt", "2024-03-31"), ("from", "100")]
    assert_declared(sec.efts.requests)


def test_company_tickers_cache(sec: Sec, tmp_path: Path) -> None:
    raw = fixture_bytes("edgar_index", "company_tickers_trimmed.json")
    doc = Doc(raw, "application/json", etag='"v1"', last_modified="Mon, 12 Jan 2026 10:00:00 GMT")
    sec.www.docs["/files/company_tickers.json"] = doc
    clock = Clock(1_768_000_000.0)
    day = 24 * 3600
    with make_client(sec, tmp_path, clock=clock) as client:
        assert client.company_tickers() == raw
        assert len(sec.www.requests) == 1
        assert "If-None-Match" not in sec.www.requests[0].headers

        clock.now += day - 1  # still fresh: served from disk
        assert client.company_tickers() == raw
        assert len(sec.www.requests) == 1

    clock.now += 2  # 24 h and a second: revalidated, unchanged (304)
    with make_client(sec, tmp_path, clock=clock) as fresh_process:  # the cache lives on disk
        assert fresh_process.company_tickers() == raw
        assert len(sec.www.requests) == 2
        assert sec.www.requests[1].headers["If-None-Match"] == '"v1"'
        assert sec.www.requests[1].headers["If-Modified-Since"] == "Mon, 12 Jan 2026 10:00:00 GMT"

        clock.now += day - 1  # the 304 restarted the 24 h
        fresh_process.company_tickers()
        assert len(sec.www.requests) == 2

        doc.etag = '"v2"'  # SEC published a new version
        clock.now += 2
        assert fresh_process.company_tickers() == raw
        clock.now += day + 1
        fresh_process.company_tickers()
    assert len(sec.www.requests) == 4
    assert sec.www.requests[3].headers["If-None-Match"] == '"v2"'
    assert (tmp_path / "cache" / "company_tickers.json").read_bytes() == raw
    assert_declared(sec.www.requests)


def test_retry_after_is_honoured(sec: Sec, tmp_path: Path) -> None:
    raw = fixture_bytes("edgar_index", "master.20200103_daily_trimmed.idx")
    sec.www.docs["/Archives/edgar/daily-index/2020/QTR1/master.20200103.idx"] = Doc(
        raw, "text/plain", first=[(429, {"Retry-After": "1"})])
    with make_client(sec, tmp_path) as client:
        assert client.daily_index(date(2020, 1, 3), kind="master") == raw
    first, second = sec.www.requests
    assert second.at - first.at >= 1.0


def test_every_host_uses_the_one_sec_limiter_key(sec: Sec, tmp_path: Path) -> None:
    keys: list[str] = []

    class Recording(LocalRateLimiter):
        def acquire(self, key: str) -> float:
            keys.append(key)
            return super().acquire(key)

    with EdgarClient(sec.www.url, sec.data.url, sec.efts.url, UA, Recording(100.0), 5.0,
                     cache_dir=tmp_path) as client:
        for call in (lambda: client.submissions(1), lambda: client.daily_index(date(2020, 1, 2)),
                     lambda: client.full_text_search("x")):
            with pytest.raises(HttpError):
                call()
    assert keys == ["sec", "sec", "sec"]


def base_settings(**overrides: Any) -> Settings:
    return Settings({s.name: s.default for s in SPECS}).replace(**overrides)


@pytest.mark.parametrize("agent", ["", "   ", "Acme Research", "python-requests/2.32", "Acme ops@localhost"])
def test_user_agent_without_contact_address_is_refused(sec: Sec, tmp_path: Path, agent: str) -> None:
    with pytest.raises(ConfigError, match="SEC_USER_AGENT"):
        EdgarClient(sec.www.url, sec.data.url, sec.efts.url, agent, None, 5.0, cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="SEC_USER_AGENT"):
        EdgarClient.from_settings(base_settings(SEC_USER_AGENT=agent), LocalRateLimiter(10.0))
    assert sec.all_seen() == []


def test_from_settings(sec: Sec, tmp_path: Path) -> None:
    raw = fixture_bytes("edgar_index", "submissions_CIK0000789019_msft_2022_trimmed.json")
    sec.data.docs["/submissions/CIK0000789019.json"] = Doc(raw, "application/json")
    settings = base_settings(SEC_USER_AGENT=UA, SEC_WWW_BASE_URL=sec.www.url, SEC_DATA_BASE_URL=sec.data.url,
                             SEC_EFTS_BASE_URL=sec.efts.url + "/LATEST", HTTP_TIMEOUT_SECONDS=4.0,
                             SEC_MAX_RPS=7.0, CELERY_BROKER_URL="redis://127.0.0.1:6379/15")
    with EdgarClient.from_settings(settings, LocalRateLimiter(50.0), cache_dir=tmp_path) as client:
        assert client.submissions(789019) == raw
        assert client.www.timeout == 4.0
    assert_declared(sec.data.requests)
    # Without a limiter the client builds the shared Redis one at SEC_MAX_RPS (no request made here).
    default = EdgarClient.from_settings(settings, cache_dir=tmp_path)
    assert isinstance(default.www.limiter, RedisRateLimiter)
    assert default.www.limiter.rate_per_second == 7.0
    assert default.data.limiter is default.www.limiter is default.efts.limiter
    default.close()
