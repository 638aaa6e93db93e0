"""Optional USPTO enrichment behind a small interface; the pipeline never depends on it.

The PatentsView search API is paused (moved into USPTO's Open Data Portal on 2026-03-20) and the
Open Data Portal needs an API key, so without USPTO_API_KEY there is no enricher at all. With a key,
`OdpEnricher` looks a few patents up by number in the ODP patent-application search and keeps the
application number, title, filing and grant dates and status. Any failure makes the result
"unavailable" with the reason; it never fails the run. The response shape follows USPTO's ODP
documentation (`patentFileWrapperDataBag[].applicationMetaData`); no recorded response exists yet.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipelines.core.errors import SignalsError
from pipelines.core.http import HttpClient

SEARCH_PATH = "/api/v1/patent/applications/search"
DEFAULT_LIMIT = 25  # patents looked up per run: the ones with the nearest expiry


@dataclass(frozen=True)
class EnrichmentResult:
    """What an enricher found: `status` is "ok", "unavailable" or "off"; records keyed by patent number."""

    status: str
    reason: str = ""
    records: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason, "records": {k: dict(v) for k, v in self.records.items()}}


class PatentEnricher(Protocol):
    """Looks patents up by number (as the Orange Book lists them, without *PED)."""

    name: str

    def enrich(self, patent_numbers: Sequence[str]) -> EnrichmentResult: ...


def _record(hit: Mapping[str, Any]) -> dict[str, Any]:
    meta = hit.get("applicationMetaData") or {}
    return {"application_number": hit.get("applicationNumberText"), "title": meta.get("inventionTitle"),
            "filing_date": meta.get("filingDate"), "grant_date": meta.get("grantDate"),
            "status": meta.get("applicationStatusDescriptionText")}


class OdpEnricher:
    """USPTO Open Data Portal lookups by patent number (needs an ODP API key)."""

    name = "uspto_odp"

    def __init__(self, client: HttpClient, api_key: str, limit: int = DEFAULT_LIMIT) -> None:
        self._client = client
        self._api_key = api_key
        self._limit = limit

    def enrich(self, patent_numbers: Sequence[str]) -> EnrichmentResult:
        records: dict[str, dict[str, Any]] = {}
        for number in list(dict.fromkeys(patent_numbers))[: self._limit]:
            try:
                response = self._client.get(SEARCH_PATH, params={"q": f"applicationMetaData.patentNumber:{number}"},
                                            headers={"X-API-KEY": self._api_key, "Accept": "application/json"})
                bag = response.json().get("patentFileWrapperDataBag") or []
            except (SignalsError, ValueError, AttributeError) as exc:
                # A paused API, a bad key or an unexpected body: keep what was found, say why it stopped.
                return EnrichmentResult("unavailable", f"USPTO ODP lookup of {number} failed: {exc}", records)
            if bag and isinstance(bag[0], Mapping):
                records[number] = _record(bag[0])
        return EnrichmentResult("ok", f"{len(records)} of {min(len(patent_numbers), self._limit)} patents found",
                                records)


def enricher_from_settings(settings: Any) -> PatentEnricher | None:
    """The configured enricher, or None without USPTO_API_KEY (the enricher is then off)."""
    if not settings.USPTO_API_KEY:
        return None
    client = HttpClient(settings.USPTO_BASE_URL, user_agent=settings.SEC_USER_AGENT or "investment-signals",
                        timeout=float(settings.HTTP_TIMEOUT_SECONDS), source="uspto", max_attempts=2)
    return OdpEnricher(client, settings.USPTO_API_KEY)
