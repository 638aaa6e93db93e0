"""Enrichment: generic competition, the Paragraph IV list, applicant tickers and optional USPTO data.

Only the generic competition is always there (it comes from the ANDA rows of the same release).
The others are optional inputs: each records "unavailable" with its reason instead of failing the
run, and the scores say which points could not be given.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pipelines.core.errors import ConfigError, DataError, TransientError
from pipelines.core.http import HttpError
from pipelines.core.model import StepContext, StepResult
from pipelines.core.ratelimit import LocalRateLimiter
from pipelines.sources.edgar.client import EdgarClient
from pipelines.sources.orange_book.applicants import (
    load_applicant_overrides,
    map_applicant,
    parse_company_tickers,
)
from pipelines.sources.orange_book.calendar import generics_for, generics_index
from pipelines.sources.orange_book.parse import Release, read_release_zip

from . import state
from .extraction import download
from .uspto import EnrichmentResult, enricher_from_settings

# Magic numbers of common download formats, to say what the Paragraph IV URL served.
_MAGIC = ((b"%PDF", "PDF"), (b"PK\x03\x04", "ZIP container (e.g. XLSX)"),
          (b"\xd0\xcf\x11\xe0", "legacy Office file (e.g. XLS)"))


def generic_competition(release: Release) -> list[dict[str, Any]]:
    """Per NDA product with at least one matching ANDA: the generics, their approval dates and TE codes."""
    index = generics_index(release.products)
    out = []
    for nda in release.products:
        if nda.appl_type != "N":
            continue
        gens = generics_for(nda, index)
        if not gens:
            continue
        dates = sorted(g.approval_date for g in gens if g.approval_date)
        out.append({
            "appl_no": nda.appl_no, "product_no": nda.product_no, "trade_name": nda.trade_name,
            "ingredient": nda.ingredient, "df_route": nda.df_route, "strength": nda.strength_base,
            "generic_count": sum(1 for g in gens if g.type != "DISCN"), "listed_generics": len(gens),
            "first_generic_approval": dates[0] if dates else None,
            "latest_generic_approval": dates[-1] if dates else None,
            "te_codes": sorted({g.te_code for g in gens if g.te_code}),
            "generics": [{"appl_no": g.appl_no, "product_no": g.product_no, "applicant": g.applicant_full_name,
                          "approval_date": g.approval_date, "te_code": g.te_code, "type": g.type} for g in gens],
        })
    return out


def sniff(raw: bytes) -> str:
    """A name for the payload's format from its first bytes."""
    for magic, name in _MAGIC:
        if raw.startswith(magic):
            return name
    head = raw[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return "HTML page"
    return "unrecognised bytes"


def paragraph_iv(ctx: StepContext) -> dict[str, Any]:
    """FDA's Paragraph IV list, used only when its format is known; otherwise why it is unavailable.

    FDA publishes the list as a PDF table, and no machine-readable edition of it is known, so no
    format is read yet: the raw download is kept (for a reader written later, and for replays) and
    the score's Paragraph IV points are reported as unavailable rather than as zero.
    """
    if not ctx.settings.PARAGRAPH_IV_URL:
        return {"status": "unavailable", "reason": "PARAGRAPH_IV_URL is empty", "format": None}
    try:
        raw = download(ctx, "PARAGRAPH_IV_URL", "fda_paragraph_iv")
    except (TransientError, ConfigError) as exc:
        return {"status": "unavailable", "reason": f"download failed: {exc}", "format": None}
    ctx.artifacts.put(state.RAW_PARAGRAPH_IV, raw)
    kind = sniff(raw)
    return {"status": "unavailable", "format": kind, "bytes": len(raw),
            "reason": f"the list was served as {kind}; no reader exists for that format, so the Paragraph IV "
                      "listing and first-filer points of the score are unavailable"}


def _company_tickers(ctx: StepContext) -> tuple[bytes | None, str]:
    if not ctx.settings.SEC_USER_AGENT:
        return None, "SEC_USER_AGENT is empty: SEC's tickers list is not fetched, the override table alone maps"
    try:
        cache = Path(ctx.settings.var_dir) / "cache"
        with EdgarClient.from_settings(ctx.settings, limiter=LocalRateLimiter(float(ctx.settings.SEC_MAX_RPS)),
                                       cache_dir=cache) as client:
            raw = client.company_tickers()
    except (TransientError, HttpError, ConfigError, DataError, OSError) as exc:
        return None, f"SEC tickers list unavailable ({exc}); the override table alone maps"
    ctx.artifacts.put(state.RAW_TICKERS, raw, "application/json")
    return raw, "fetched"


def applicant_tickers(ctx: StepContext, release: Release) -> dict[str, Any]:
    """Ticker of each NDA applicant: the override table first, then an exact SEC title match."""
    overrides = load_applicant_overrides()
    raw, how = _company_tickers(ctx)
    index = None
    if raw is not None:
        try:
            index = parse_company_tickers(raw)
        except DataError as exc:
            how = f"SEC tickers list unreadable ({exc}); the override table alone maps"
    names = sorted({p.applicant_full_name for p in release.products if p.appl_type == "N"})
    mapped = {}
    for name in names:
        match = map_applicant(name, overrides, index)
        if match is not None:
            mapped[name] = {"ticker": match.ticker, "cik": match.cik, "source": match.source}
    return {"sec_tickers": how, "applicants": mapped, "unmapped": [n for n in names if n not in mapped]}


def _uspto(ctx: StepContext, release: Release) -> EnrichmentResult:
    enricher = enricher_from_settings(ctx.settings)
    if enricher is None:
        return EnrichmentResult("off", "USPTO_API_KEY is empty: the USPTO enricher is off")
    as_of = state.as_of(ctx)
    # The patents that expire next matter most; the enricher looks up as many as its limit allows.
    upcoming = sorted((p for p in release.patents if not p.delisted and p.expire_date >= as_of),
                      key=lambda p: p.expire_date)
    return enricher.enrich([p.patent_no for p in upcoming])


def enrichment(ctx: StepContext) -> StepResult:
    if state.skipped(ctx):
        return StepResult(counts={"skipped": 1})
    release = read_release_zip(ctx.artifacts.get(state.RAW_ZIP))
    generics = generic_competition(release)
    state.put_json(ctx, state.GENERICS, generics)
    piv = paragraph_iv(ctx)
    state.put_json(ctx, state.PARAGRAPH_IV, piv)
    tickers = applicant_tickers(ctx, release)
    state.put_json(ctx, state.TICKERS, tickers)
    uspto = _uspto(ctx, release)
    state.put_json(ctx, state.USPTO, uspto.to_json())
    return StepResult(counts={
        "products_with_generics": len(generics), "paragraph_iv_available": int(piv["status"] == "ok"),
        "applicants_mapped": len(tickers["applicants"]), "applicants_unmapped": len(tickers["unmapped"]),
        "uspto_records": len(uspto.records), "uspto_enabled": int(uspto.status != "off"),
    })
