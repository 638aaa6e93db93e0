"""What the patent_ip steps hand each other: named artifacts of the run, never in-memory payloads.

The raw ZIP is stored exactly as downloaded; the later steps' outputs (enrichment, calendar,
scores) are JSON artifacts, so a replay run recomputes from the replayed run's raw inputs and any
step can be rerun alone.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pipelines.core.errors import ConfigError
from pipelines.core.model import StepContext
from pipelines.sources.orange_book.calendar import CalendarEntry, GenericApproval

RAW_ZIP = "raw/orange_book.zip"
RAW_PARAGRAPH_IV = "raw/paragraph_iv"
RAW_TICKERS = "raw/company_tickers.json"
EXTRACTION = "extraction/status.json"
GENERICS = "enrichment/generic_competition.json"
PARAGRAPH_IV = "enrichment/paragraph_iv.json"
TICKERS = "enrichment/tickers.json"
USPTO = "enrichment/uspto.json"
CALENDAR = "calendar/entries.json"
SCORES = "scores/products.json"


def put_json(ctx: StepContext, name: str, obj: Any) -> str:
    return ctx.artifacts.put(name, json.dumps(obj, sort_keys=True, default=_default).encode("utf-8"),
                             "application/json")


def get_json(ctx: StepContext, name: str) -> Any:
    return json.loads(ctx.artifacts.get(name))


def _default(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in a JSON artifact")


def as_of(ctx: StepContext) -> date:
    """The date scores and months-to-LOE count from: conf `as_of`, else the interval end (local)."""
    raw = ctx.conf.get("as_of")
    if raw:
        try:
            return date.fromisoformat(str(raw))
        except ValueError:
            raise ConfigError(f"conf as_of must be an ISO date (YYYY-MM-DD), got {raw!r}") from None
    return ctx.data_interval_end.astimezone(ZoneInfo(ctx.settings.TIMEZONE)).date()


def revenue_shares(ctx: StepContext) -> dict[str, float]:
    """Operator-supplied revenue share per trade name: conf `revenue_shares` = {"IMBRUVICA": 0.3}."""
    raw = ctx.conf.get("revenue_shares") or {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise ConfigError("conf revenue_shares must be a JSON object of trade name to fraction") from None
    if not isinstance(raw, Mapping):
        raise ConfigError("conf revenue_shares must be a JSON object of trade name to fraction")
    try:
        return {str(k): float(v) for k, v in raw.items()}
    except (TypeError, ValueError):
        raise ConfigError(f"conf revenue_shares values must be numbers, got {dict(raw)!r}") from None


def skipped(ctx: StepContext) -> bool:
    """Whether extraction found the release already loaded, so the rest of the run has nothing to do."""
    return bool(get_json(ctx, EXTRACTION).get("skipped"))


def _d(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def entry_to_json(e: CalendarEntry) -> dict[str, Any]:
    record = e._asdict()
    record["generics"] = [g._asdict() for g in e.generics]
    return record


def entry_from_json(record: Mapping[str, Any]) -> CalendarEntry:
    values = dict(record)
    for name in ("last_patent_expiry", "last_ds_dp_patent_expiry", "last_exclusivity_expiry", "effective_loe"):
        values[name] = _d(values[name])
    values["generics"] = tuple(GenericApproval(**{**g, "approval_date": _d(g["approval_date"])})
                               for g in values["generics"])
    return CalendarEntry(**values)


def read_calendar(ctx: StepContext) -> list[CalendarEntry]:
    return [entry_from_json(r) for r in get_json(ctx, CALENDAR)]
