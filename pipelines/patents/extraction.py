"""Extraction: download the Orange Book data-files ZIP, store it as received, hash it, read it.

An unchanged release (the same sha256 as the last one loaded) is recorded and the rest of the run
does nothing. Bad rows are quarantined with their raw text; a truncated or invalid ZIP fails the run
with a DataError that says so.
"""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from pipelines.core.errors import ConfigError
from pipelines.core.http import HttpClient, HttpError
from pipelines.core.model import StepContext, StepResult
from pipelines.sources.orange_book.parse import SOURCE, read_release_zip, release_hash

from . import state
from .models import ObRelease

DEFAULT_USER_AGENT = "investment-signals (Orange Book weekly poll)"


def http_client(ctx: StepContext, base_url: str, source: str) -> HttpClient:
    """An HttpClient for an FDA URL; the declared SEC User-Agent is reused when set (it names a contact)."""
    return HttpClient(base_url, user_agent=ctx.settings.SEC_USER_AGENT or DEFAULT_USER_AGENT,
                      timeout=float(ctx.settings.HTTP_TIMEOUT_SECONDS), source=source)


def download(ctx: StepContext, setting: str, source: str) -> bytes:
    """GET the URL held by `setting`; a 4xx names the setting (TransientError passes through)."""
    url = getattr(ctx.settings, setting)
    if not url:
        raise ConfigError(f"setting {setting} is empty")
    with http_client(ctx, url, source) as client:
        try:
            return client.get(url).content
        except HttpError as exc:
            raise ConfigError(f"setting {setting}: {exc} (has the download moved?)") from exc


def extraction(ctx: StepContext) -> StepResult:
    """Store the release ZIP, quarantine bad rows and decide whether this release needs any work."""
    # A replay run never gets here: the engine skips the leading I/O steps and the later steps read
    # the replayed run's artifacts.
    raw = download(ctx, "ORANGE_BOOK_URL", SOURCE)
    ctx.artifacts.put(state.RAW_ZIP, raw, "application/zip")  # content-addressed: a repeat costs nothing
    fetched_at = datetime.now(UTC)
    sha = release_hash(raw)
    last = ctx.session.scalar(select(ObRelease.sha256).order_by(ObRelease.id.desc()).limit(1))
    status = {"sha256": sha, "size": len(raw), "fetched_at": fetched_at, "as_of": state.as_of(ctx),
              "source_url": ctx.settings.ORANGE_BOOK_URL}
    if last == sha and not ctx.conf.get("force"):
        # The same bytes were read, quarantined and loaded when this release first came.
        state.put_json(ctx, state.EXTRACTION, {**status, "skipped": True,
                                               "reason": "same sha256 as the last loaded release"})
        return StepResult(counts={"bytes": len(raw), "skipped_unchanged": 1}, note=f"release {sha[:12]} unchanged")
    release = read_release_zip(raw, observed_at=fetched_at)  # DataError when truncated or not a ZIP
    for err in release.errors:
        ctx.quarantine(SOURCE, f"{err.file}:{err.line_no}:{err.record_key}", str(err), err.raw)
    state.put_json(ctx, state.EXTRACTION, {
        **status, "skipped": False, "reason": "", "products": len(release.products),
        "patents": len(release.patents), "exclusivities": len(release.exclusivities),
        "row_errors": len(release.errors),
    })
    return StepResult(counts={
        "bytes": len(raw), "products": len(release.products), "patents": len(release.patents),
        "exclusivities": len(release.exclusivities), "row_errors_quarantined": len(release.errors),
        "skipped_unchanged": 0,
    }, note=f"release {sha[:12]}")
