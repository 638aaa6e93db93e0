"""CtgovClient against a local HTTP server that serves the recorded pages by pageToken."""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date

import pytest

from pipelines.core.errors import DataError, TransientError
from pipelines.core.http import HttpClient, HttpError
from pipelines.core.ratelimit import LocalRateLimiter
from pipelines.sources.ctgov.client import (
    CtgovClient,
    PageProgress,
    UnreadablePageError,
    build_http,
)
from pipelines.sources.ctgov.normalize import parse_studies_page
from tests.conftest import shared_fixture
from tests.support.http_server import Answer, LocalHttpServer, Request

UA = "Signals Test Suite ops@signals.example"
PAGE1_TOKEN = "ZVt07cGHkvI2wRk2CJf6_LLq14bEL8swd7KrgP4dnDeTsPkw"  # page 1's nextPageToken
PAGE2_TOKEN = "ZVt07cGHkvI2wRk2CJf6_LLq14bEL8swd7KrgP4bmjeauvk_IQ"  # page 2's nextPageToken


def fixture_bytes(name: str) -> bytes:
    return shared_fixture("clinicaltrials", name).read_bytes()


class StudiesServer(LocalHttpServer):
    """Serves /api/v2/studies by pageToken (missing token -> first page) and records every query."""

    def __init__(self, pages: dict[str | None, tuple[int, bytes]]) -> None:
        self.pages = pages
        super().__init__(self.answer)
        self.base_url = f"{self.url}/api/v2"

    def answer(self, request: Request) -> Answer:
        if request.path.startswith("/api/v2/studies/"):
            status, body = 200, fixture_bytes("study_NCT06382129_phase3_fields.json")
        else:
            token = request.query.get("pageToken", [None])[0]
            status, body = self.pages.get(token, (400, b'{"error": "bad pageToken"}'))
        return status, body, "application/json"

    @property
    def queries(self) -> list[dict[str, list[str]]]:
        return [r.query for r in self.requests]


def recorded_pages() -> dict[str | None, tuple[int, bytes]]:
    return {
        None: (200, fixture_bytes("studies_page1_phelan_pagesize5.json")),
        PAGE1_TOKEN: (200, fixture_bytes("studies_page2_phelan_pagetoken.json")),
        PAGE2_TOKEN: (200, fixture_bytes("studies_lastpage_nsclc_egfr_no_token.json")),
    }


@pytest.fixture
def server() -> Iterator[StudiesServer]:
    with StudiesServer(recorded_pages()) as s:
        yield s


def client_for(server: StudiesServer, **http_options: object) -> CtgovClient:
    options = {"user_agent": UA, "limiter": LocalRateLimiter(1000.0), **http_options}
    return CtgovClient(server.base_url, http=HttpClient(server.base_url, **options))  # type: ignore[arg-type]


def test_iter_pages_follows_the_cursor_with_the_same_query(server):
    progress: list[PageProgress] = []
    pages = list(client_for(server).iter_pages(date(2026, 11, 24), progress=progress.append))

    assert pages == [body for _, body in recorded_pages().values()]
    assert server.paths() == ["/api/v2/studies"] * 3
    expected = {
        "filter.advanced": ["AREA[Phase]PHASE3 AND AREA[LastUpdatePostDate]RANGE[2026-11-24,MAX]"],
        "pageSize": ["1000"],
        "countTotal": ["true"],
    }
    assert server.queries[0] == expected
    assert server.queries[1] == {**expected, "pageToken": [PAGE1_TOKEN]}
    assert server.queries[2] == {**expected, "pageToken": [PAGE2_TOKEN]}
    # the total from page 1 is kept although later pages leave it out
    assert progress == [PageProgress(1, 5, 21), PageProgress(2, 10, 21), PageProgress(3, 12, 21)]
    ids = [s.nct_id for body in pages for s in parse_studies_page(body).snapshots]
    assert len(ids) == 12 and "NCT07281079" in ids and ids[-1] == "NCT06604689"


def test_full_backfill_walks_every_phase3_page(server):
    seen: list[PageProgress] = []
    pages = list(client_for(server).full_backfill(seen.append))
    assert len(pages) == 3
    assert [q["filter.advanced"] for q in server.queries] == [["AREA[Phase]PHASE3"]] * 3
    assert seen[-1] == PageProgress(3, 12, 21)


def test_a_repeated_cursor_stops_with_a_data_error():
    looping = {None: recorded_pages()[None], PAGE1_TOKEN: recorded_pages()[None]}  # page 1 again
    with StudiesServer(looping) as srv:
        with pytest.raises(DataError, match="repeated nextPageToken"):
            list(client_for(srv).full_backfill())
        assert len(srv.queries) == 2


def test_truncated_page_is_a_data_error_carrying_the_raw_page():
    body = fixture_bytes("studies_page1_phelan_pagesize5.json")
    with StudiesServer({None: (200, body[:300])}) as srv, pytest.raises(DataError, match="not valid JSON") as info:
        list(client_for(srv).iter_pages(date(2026, 1, 1)))
    assert isinstance(info.value, UnreadablePageError)
    assert (info.value.raw, info.value.page, info.value.record_key) == (body[:300], 1, "page 1")


def test_fields_projection_is_sent_on_every_page(server):
    list(client_for(server).iter_pages(date(2026, 11, 24), fields=("NCTId", "OverallStatus")))
    assert [q["fields"] for q in server.queries] == [["NCTId,OverallStatus"]] * 3


def test_upstream_errors_map_to_error_classes():
    with StudiesServer({None: (503, b"busy")}) as srv, pytest.raises(TransientError):
        list(client_for(srv, max_attempts=1).iter_pages(date(2026, 1, 1)))
    with StudiesServer({None: (400, b'{"error": "bad filter"}')}) as srv:
        with pytest.raises(HttpError) as info:
            list(client_for(srv).iter_pages(date(2026, 1, 1)))
        assert info.value.status == 400


def test_default_http_client_allows_one_request_per_second(server):
    client = CtgovClient(server.base_url, http=build_http(server.base_url, user_agent=UA))
    started = time.monotonic()
    first = client.fetch_study("NCT06382129")
    client.fetch_study("NCT06382129")
    assert time.monotonic() - started >= 0.95
    assert json.loads(first)["protocolSection"]["identificationModule"]["nctId"] == "NCT06382129"
    assert server.paths() == ["/api/v2/studies/NCT06382129"] * 2
    with pytest.raises(ValueError):
        client.fetch_study("12345")
