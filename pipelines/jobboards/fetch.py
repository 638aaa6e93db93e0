"""Fetch step of the hiring pipeline: each company's whole board, stored as received.

A board that answers 4xx is quarantined (the list names a board that does not exist); one that stays
unreachable after the client's own retries is skipped for this run and its postings are left as they
were, since an outage must never read as "every role removed". Only when no board at all answered
does the step raise TransientError, for the engine to retry later.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import requests

from pipelines.core.errors import TransientError
from pipelines.core.http import HttpClient, HttpError
from pipelines.core.model import StepContext, StepResult
from pipelines.core.ratelimit import LocalRateLimiter
from pipelines.sources.jobs.boards import BOARDS

from .companies import board_url, companies_from_settings

MANIFEST = "manifest.json"
USER_AGENT = "investment-signals hiring monitor"
BOARD_RPS = 1.0  # per board host: the board APIs publish no limit, and hammering them gets blocked


def fetch(ctx: StepContext) -> StepResult:
    settings = ctx.settings
    companies = companies_from_settings(settings)
    session = requests.Session()
    limiter = LocalRateLimiter(BOARD_RPS)
    clients = {b: HttpClient(getattr(settings, f"{b.upper()}_BASE_URL"), user_agent=USER_AGENT,
                             timeout=float(settings.HTTP_TIMEOUT_SECONDS), limiter=limiter, limiter_key=f"jobs.{b}",
                             source=f"jobs.{b}", session=session) for b in BOARDS}
    entries: list[dict[str, Any]] = []
    counts = dict(companies=len(companies), fetched=0, not_found=0, unavailable=0)
    try:
        for c in companies:
            entry: dict[str, Any] = {"ticker": c.ticker, "board": c.board, "token": c.token, "name": c.name,
                                     "artifact": None, "fetched_at": None, "error": None}
            url = board_url(settings, c)
            try:
                response = clients[c.board].get(url)
            except HttpError as exc:
                entry["error"] = f"{c.board} board {c.token!r} ({c.label}): {exc}"
                ctx.quarantine(f"jobs.{c.board}", c.token, entry["error"], b"")
                counts["not_found"] += 1
            except TransientError as exc:
                entry["error"] = f"{c.board} board {c.token!r} unavailable this run: {exc}"
                counts["unavailable"] += 1
            else:
                entry["artifact"] = f"boards/{c.board}/{c.token}.json"
                entry["fetched_at"] = datetime.now(timezone.utc).isoformat()
                ctx.artifacts.put(entry["artifact"], response.content, "application/json")
                counts["fetched"] += 1
            entries.append(entry)
    finally:
        session.close()
    if companies and counts["unavailable"] == len(companies):
        raise TransientError(f"none of the {len(companies)} job boards answered")
    ctx.artifacts.put(MANIFEST, json.dumps({"companies": entries}, indent=1).encode("utf-8"), "application/json")
    return StepResult(counts=counts)
