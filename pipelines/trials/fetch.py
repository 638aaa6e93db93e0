"""health_check and fetch: configuration and upstream checks, then raw pages and tickers archived.

Both fetch functions run side by side (a tuple Step) and store exactly what they received. A replay
run never reaches these steps (the engine skips leading I/O steps): detect and score read the
replayed run's artifacts.
"""
from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from zoneinfo import ZoneInfo

import redis
from sqlalchemy import select
from sqlalchemy.exc import OperationalError, ProgrammingError

from pipelines.core.errors import ConfigError, DataError
from pipelines.core.http import HttpClient
from pipelines.core.model import StepContext, StepResult
from pipelines.core.ratelimit import LocalRateLimiter, RateLimiter, RedisRateLimiter
from pipelines.sources.ctgov.client import (
    TRACKED_FIELDS,
    CtgovClient,
    PageProgress,
    UnreadablePageError,
    build_http,
)
from pipelines.sources.edgar.client import EdgarClient, check_user_agent
from .common import (
    TICKERS_ARTIFACT,
    VERSION_ARTIFACT,
    conf_flag,
    page_name,
    sponsor_mapper,
)
from .models import CtgovStudy

log = logging.getLogger("signals.clinical_trials")
_WARNED_LOCAL: set[float] = set()  # say once per process, not once per request client


def limiter_for(ctx: StepContext, rate: float) -> RateLimiter:
    """The broker Redis limiter shared by every worker; a process-local one when no Redis answers.

    `signals run --local` may run without any Redis; then this process is the only client.
    """
    url = ctx.settings.CELERY_BROKER_URL
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        try:
            client.ping()
        finally:
            client.close()
    except (redis.ConnectionError, redis.TimeoutError):
        if rate not in _WARNED_LOCAL:
            _WARNED_LOCAL.add(rate)
            log.warning("no Redis at the broker URL: rate limit %.2f/s for this process only", rate,
                        extra=ctx.log_fields)
        return LocalRateLimiter(rate)
    return RedisRateLimiter(url, rate)


def _ctgov_http(ctx: StepContext) -> HttpClient:
    agent = ctx.settings.SEC_USER_AGENT or "investment-signals"
    return build_http(ctx.settings.CTGOV_BASE_URL, user_agent=agent,
                      limiter=limiter_for(ctx, float(ctx.settings.CTGOV_MAX_RPS)),
                      timeout=float(ctx.settings.HTTP_TIMEOUT_SECONDS))


def health_check(ctx: StepContext) -> StepResult:
    """Settings, the override table, our tables, then one cheap call to the registry."""
    check_user_agent(ctx.settings.SEC_USER_AGENT)
    sponsor_mapper(ctx.settings)  # reads and checks the override table and the threshold
    try:
        ctx.session.execute(select(CtgovStudy.nct_id).limit(1))
    except (OperationalError, ProgrammingError) as exc:
        raise ConfigError(f"the ctgov tables are missing ({type(exc).__name__}); run `signals db upgrade`") from None
    http = _ctgov_http(ctx)
    try:
        body = http.get("version").content
    finally:
        http.close()
    ctx.artifacts.put(VERSION_ARTIFACT, body, "application/json")
    try:
        stamp = json.loads(body).get("dataTimestamp")
    except (ValueError, AttributeError):
        stamp = None
    # The version document is informational: an odd one is worth a warning, not a failed run.
    if stamp is None:
        log.warning("ClinicalTrials.gov /version carries no dataTimestamp", extra=ctx.log_fields)
    else:
        log.info("ClinicalTrials.gov data as of %s", stamp, extra=ctx.log_fields)
    return StepResult(counts={"config_ok": 1, "upstream_checked": 1})


@contextmanager
def page_progress(ctx: StepContext, full: bool) -> Iterator[Callable[[PageProgress], None]]:
    """A progress bar on a terminal (the CLI's --local run), a log line per page in a worker."""
    if full and sys.stderr.isatty():
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        with Progress(TextColumn("Phase 3 backfill"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      transient=False) as bar:
            task = bar.add_task("studies", total=None)
            yield lambda p: bar.update(task, completed=p.studies, total=p.total_count)
        return

    def log_page(p: PageProgress) -> None:
        total = "?" if p.total_count is None else str(p.total_count)
        log.info("ctgov %s page %d: %d/%s studies", "backfill" if full else "fetch", p.pages, p.studies, total,
                 extra=ctx.log_fields)

    yield log_page


def since_date(ctx: StepContext) -> date:
    """The LastUpdatePostDate the fetch starts from: the interval start, as a date in the schedule zone."""
    return ctx.data_interval_start.astimezone(ZoneInfo(ctx.settings.TIMEZONE)).date()


def fetch_ctgov(ctx: StepContext) -> StepResult:
    """Phase 3 studies updated since the interval start (or all, with conf full_backfill=true)."""
    full = conf_flag(ctx.conf.get("full_backfill", False))
    http = _ctgov_http(ctx)
    client = CtgovClient(ctx.settings.CTGOV_BASE_URL, http=http)
    pages, studies, unreadable = 0, 0, 0
    seen: list[PageProgress] = []
    try:
        with page_progress(ctx, full) as report:
            def progress(p: PageProgress) -> None:
                seen.append(p)
                report(p)

            walk = client.full_backfill(progress, fields=TRACKED_FIELDS) if full else \
                client.iter_pages(since_date(ctx), progress=progress, fields=TRACKED_FIELDS)
            for content in walk:
                pages += 1
                ctx.artifacts.put(page_name(pages), content, "application/json")
    except UnreadablePageError as exc:
        # Archived as received so detect quarantines it; the pages before it still count.
        ctx.artifacts.put(page_name(exc.page), exc.raw, "application/json")
        pages, unreadable = exc.page, 1
        log.error("ctgov page %d is unreadable (%s); the %d page(s) before it are processed and the walk "
                  "stops here: studies on later pages wait for a rerun of this interval", exc.page, exc,
                  exc.page - 1, extra=ctx.log_fields)
    finally:
        http.close()
    studies = seen[-1].studies if seen else 0
    return StepResult(counts={"ctgov_pages": pages, "ctgov_studies": studies, "ctgov_pages_unreadable": unreadable,
                              "full_backfill": int(full)})


def fetch_tickers(ctx: StepContext) -> StepResult:
    """SEC company_tickers.json (cached for a day by EdgarClient), archived for this run."""
    with EdgarClient.from_settings(ctx.settings, limiter=limiter_for(ctx, float(ctx.settings.SEC_MAX_RPS)),
                                   cache_dir=ctx.settings.var_dir / "cache" / "sec") as sec:
        body = sec.company_tickers()
    ctx.artifacts.put(TICKERS_ARTIFACT, body, "application/json")
    try:
        entries = len(json.loads(body))
    except ValueError as exc:
        raise DataError(f"company_tickers.json is not valid JSON ({exc})", source="sec",
                        record_key="company_tickers.json") from None
    return StepResult(counts={"tickers_fetched": 1, "ticker_entries": entries})
