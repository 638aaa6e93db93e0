"""ClinicalTrials.gov API v2 fetcher: cursor paging over Phase 3 studies, raw page bytes out.

Rate: the API publishes no limit and sends no rate-limit headers, but robots.txt asks for
`Crawl-delay: 1`, so callers pass a limiter of at most 1 request/second shared by every worker
(`RedisRateLimiter(url, settings.CTGOV_MAX_RPS)`); `build_http` defaults to a 1/s in-process one.
429 and 5xx are retried by `HttpClient` and end as TransientError; any other 4xx is an HttpError
(our query is wrong, so retrying will not help).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from pipelines.core.errors import DataError
from pipelines.core.http import HttpClient
from pipelines.core.ratelimit import LocalRateLimiter, RateLimiter

from .normalize import SOURCE, load_json

DEFAULT_BASE_URL = "https://clinicaltrials.gov/api/v2"
DEFAULT_MAX_RPS = 1.0
MAX_PAGE_SIZE = 1000  # the API coerces anything larger down to 1000
PHASE3_FILTER = "AREA[Phase]PHASE3"
# The tracked fields only (`fields=`): a full record is ~50 KB, these ~1 KB, so a 1,000-study page
# stays small enough to archive and parse. Piece names from the API v2 data model.
TRACKED_FIELDS = (
    "NCTId", "BriefTitle", "OverallStatus", "WhyStopped", "PrimaryCompletionDate", "PrimaryCompletionDateType",
    "CompletionDate", "CompletionDateType", "EnrollmentCount", "EnrollmentType", "HasResults",
    "ResultsFirstPostDate", "LeadSponsorName", "LeadSponsorClass", "Phase", "Condition", "InterventionName",
    "LastUpdatePostDate",
)
_NCT_RE = re.compile(r"^NCT\d{8}$")


class UnreadablePageError(DataError):
    """A page that is not a studies page (truncated or malformed); `raw` keeps it as received.

    Paging cannot go past it: the cursor to the next page is inside the unreadable body.
    """

    def __init__(self, message: str, *, raw: bytes, page: int) -> None:
        super().__init__(message, source=SOURCE, record_key=f"page {page}")
        self.raw = raw
        self.page = page


@dataclass(frozen=True)
class PageProgress:
    """Reported after each page: pages and studies so far, and the total the first page announced."""

    pages: int
    studies: int
    total_count: int | None


ProgressCallback = Callable[[PageProgress], None]


def since_filter(since: date) -> str:
    """`filter.advanced` for Phase 3 studies whose last update was posted on or after `since`."""
    return f"{PHASE3_FILTER} AND AREA[LastUpdatePostDate]RANGE[{since.isoformat()},MAX]"


def build_http(base_url: str = DEFAULT_BASE_URL, *, user_agent: str, limiter: RateLimiter | None = None,
               timeout: float = 60.0, max_attempts: int = 3) -> HttpClient:
    """An HttpClient for ClinicalTrials.gov; without a limiter, one of 1 request/s for this process."""
    return HttpClient(base_url, user_agent=user_agent, timeout=timeout,
                      limiter=limiter if limiter is not None else LocalRateLimiter(DEFAULT_MAX_RPS),
                      limiter_key=SOURCE, max_attempts=max_attempts, source=SOURCE)


class CtgovClient:
    """Fetches raw study pages; parsing is `normalize.parse_studies_page`'s job (after archiving)."""

    def __init__(self, base_url: str = DEFAULT_BASE_URL, *, http: HttpClient,
                 page_size: int = MAX_PAGE_SIZE) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be within 1..{MAX_PAGE_SIZE}, got {page_size}")
        self.base_url = base_url.rstrip("/")
        self.http = http
        self.page_size = page_size

    def iter_pages(self, since: date, *, progress: ProgressCallback | None = None,
                   fields: Sequence[str] | None = None) -> Iterator[bytes]:
        """Raw JSON pages of Phase 3 studies updated on or after `since`, first to last.

        `fields`: project each study onto these pieces (e.g. TRACKED_FIELDS); None: full records.
        """
        return self._walk({"filter.advanced": since_filter(since), **_fields(fields)}, progress)

    def full_backfill(self, progress: ProgressCallback | None = None, *,
                      fields: Sequence[str] | None = None) -> Iterator[bytes]:
        """Raw JSON pages of every Phase 3 study, one request per `page_size` studies."""
        return self._walk({"filter.advanced": PHASE3_FILTER, **_fields(fields)}, progress)

    def fetch_study(self, nct_id: str) -> bytes:
        """The raw JSON of one full study record (`GET /studies/{nct_id}`)."""
        if not _NCT_RE.match(nct_id):
            raise ValueError(f"not an NCT id: {nct_id!r}")
        return self.http.get(f"{self.base_url}/studies/{nct_id}").content

    def _walk(self, query: dict[str, Any], progress: ProgressCallback | None) -> Iterator[bytes]:
        # Every page repeats the same query: the cursor is only valid with the parameters it came from.
        base = {**query, "pageSize": self.page_size, "countTotal": "true"}
        token: str | None = None
        seen: set[str] = set()
        pages = studies = 0
        total: int | None = None
        while True:
            params = base if token is None else {**base, "pageToken": token}
            content = self.http.get(f"{self.base_url}/studies", params=params).content
            try:
                page = load_json(content, what=f"studies page {pages + 1}")
            except DataError as exc:
                raise UnreadablePageError(str(exc), raw=content, page=pages + 1) from exc
            if not isinstance(page, dict) or not isinstance(page.get("studies"), list):
                raise UnreadablePageError(f"studies page {pages + 1} has no 'studies' list", raw=content,
                                          page=pages + 1)
            pages += 1
            studies += len(page["studies"])
            if total is None and isinstance(page.get("totalCount"), int):
                total = page["totalCount"]  # first page only; later pages omit it
            if progress is not None:
                progress(PageProgress(pages, studies, total))
            yield content
            token = page.get("nextPageToken")
            if token is None:
                return
            if not isinstance(token, str) or not token or token in seen:
                raise DataError(f"studies page {pages} has a bad or repeated nextPageToken {token!r}",
                                source=SOURCE, record_key=f"page {pages}")
            seen.add(token)


def _fields(fields: Sequence[str] | None) -> dict[str, str]:
    return {"fields": ",".join(fields)} if fields else {}
