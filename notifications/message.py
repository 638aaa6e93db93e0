"""What an alert says, independent of the channel that carries it.

Every alert carries its reasons (score components) and its verification links; the renderers
always show both. `to_dict`/`from_dict` give the JSON form the outbox stores.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pipelines.core.errors import DataError

KINDS = ("signal", "failure", "digest")
TIERS = ("critical", "high", "realtime", "info")
_SOURCE = "alert"


@dataclass(frozen=True)
class ScoreComponent:
    """One line of a score breakdown: the points it added and why (weight or rule)."""

    name: str
    value: float
    explanation: str = ""


@dataclass(frozen=True)
class Link:
    """A verification link (EDGAR filing, NCT record, FDA file)."""

    label: str
    url: str


@dataclass(frozen=True, kw_only=True)
class AlertMessage:
    """One alert. `alert_id` is the idempotency key: a re-send of the same alert keeps it."""

    alert_id: str
    kind: str
    tier: str
    pipeline: str
    title: str
    detected_at: datetime
    summary: str = ""
    signal_type: str = ""
    ticker: str = ""
    company: str = ""
    score: float | None = None
    components: tuple[ScoreComponent, ...] = ()
    links: tuple[Link, ...] = ()
    event_time: datetime | None = None
    # Failure alerts only: where the run broke.
    run_id: int | None = None
    step: str = ""
    error: str = ""

    def __post_init__(self) -> None:
        def bad(what: str) -> DataError:
            return DataError(f"alert {self.alert_id!r}: {what}", source=_SOURCE, record_key=self.alert_id)

        if not self.alert_id or any(ord(c) < 32 or ord(c) == 127 for c in self.alert_id):
            # The id goes into mail headers: a control character would let it inject one.
            raise bad("alert_id must be non-empty and free of control characters")
        if self.kind not in KINDS:
            raise bad(f"kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.tier not in TIERS:
            raise bad(f"tier must be one of {', '.join(TIERS)}, not {self.tier!r}")
        for name in ("detected_at", "event_time"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, datetime) or value.utcoffset() is None):
                raise bad(f"{name} must be a timezone-aware datetime, got {value!r}")
        if self.score is not None and not 0.0 <= self.score <= 10.0:
            raise bad(f"score must be between 0 and 10, got {self.score}")
        object.__setattr__(self, "components", tuple(self.components))
        object.__setattr__(self, "links", tuple(self.links))

    @property
    def subject_name(self) -> str:
        """Ticker and company as one label ("ACME · Acme & Co."), or the pipeline when neither is set."""
        parts = [p for p in (self.ticker, self.company) if p]
        return " · ".join(parts) if parts else self.pipeline

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (datetimes as ISO 8601) that `from_dict` reads back."""
        return {
            "alert_id": self.alert_id, "kind": self.kind, "tier": self.tier,
            "pipeline": self.pipeline, "signal_type": self.signal_type, "title": self.title,
            "summary": self.summary, "ticker": self.ticker, "company": self.company,
            "score": self.score,
            "components": [{"name": c.name, "value": c.value, "explanation": c.explanation}
                           for c in self.components],
            "links": [{"label": lk.label, "url": lk.url} for lk in self.links],
            "event_time": self.event_time.isoformat() if self.event_time else None,
            "detected_at": self.detected_at.isoformat(),
            "run_id": self.run_id, "step": self.step, "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertMessage:
        """Read the dict `to_dict` wrote; raises DataError naming the field that is wrong."""
        key = str(data.get("alert_id", "")) if isinstance(data, Mapping) else ""
        try:
            if not isinstance(data, Mapping):
                raise TypeError(f"expected an object, got {type(data).__name__}")
            score = data.get("score")
            return cls(
                alert_id=str(data["alert_id"]), kind=str(data["kind"]), tier=str(data["tier"]),
                pipeline=str(data["pipeline"]), title=str(data["title"]),
                detected_at=_parse_time(data["detected_at"], "detected_at"),
                summary=str(data.get("summary") or ""), signal_type=str(data.get("signal_type") or ""),
                ticker=str(data.get("ticker") or ""), company=str(data.get("company") or ""),
                score=None if score is None else float(score),
                components=tuple(ScoreComponent(str(c["name"]), float(c["value"]), str(c.get("explanation") or ""))
                                 for c in data.get("components") or ()),
                links=tuple(Link(str(lk["label"]), str(lk["url"])) for lk in data.get("links") or ()),
                event_time=_parse_time(data["event_time"], "event_time") if data.get("event_time") else None,
                run_id=None if data.get("run_id") is None else int(data["run_id"]),
                step=str(data.get("step") or ""), error=str(data.get("error") or ""),
            )
        except KeyError as exc:
            raise DataError(f"alert {key!r}: missing field {exc.args[0]!r}", source=_SOURCE, record_key=key) from None
        except (TypeError, ValueError) as exc:
            raise DataError(f"alert {key!r}: {exc}", source=_SOURCE, record_key=key) from None


def _parse_time(value: Any, name: str) -> datetime:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))  # Python 3.11 reads a trailing "Z" too
    except ValueError:
        raise ValueError(f"{name} is not an ISO 8601 time: {value!r}") from None


@dataclass(frozen=True)
class DigestEntry:
    """One signal in the daily digest; the same facts an alert shows."""

    alert: AlertMessage

    @property
    def pipeline(self) -> str:
        return self.alert.pipeline

    @property
    def sort_key(self) -> tuple[float, str, str]:
        # Highest score first; unscored entries last; ties in a stable, readable order.
        score = self.alert.score
        return (-score if score is not None else 1.0, self.alert.ticker, self.alert.alert_id)


@dataclass(frozen=True)
class Digest:
    """The day's signals. `notice` is shown as a banner (e.g. marking an example digest)."""

    day: date
    entries: tuple[DigestEntry, ...]
    generated_at: datetime
    notice: str = ""
    title: str = "Investment signals daily digest"
    groups: tuple[tuple[str, tuple[DigestEntry, ...]], ...] = field(init=False)

    def __post_init__(self) -> None:
        by_pipeline: dict[str, list[DigestEntry]] = {}
        for entry in self.entries:
            by_pipeline.setdefault(entry.pipeline, []).append(entry)
        groups = tuple((name, tuple(sorted(items, key=lambda e: e.sort_key)))
                       for name, items in sorted(by_pipeline.items()))
        object.__setattr__(self, "entries", tuple(self.entries))
        object.__setattr__(self, "groups", groups)


def build_digest(day: date, alerts: Iterable[AlertMessage], generated_at: datetime, notice: str = "") -> Digest:
    """A digest of the signal alerts among `alerts` (failure and digest messages are left out)."""
    entries = tuple(DigestEntry(a) for a in alerts if a.kind == "signal")
    return Digest(day=day, entries=entries, generated_at=generated_at, notice=notice)
