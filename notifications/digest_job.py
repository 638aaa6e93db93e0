"""The daily digest as an outbox row: queued once per local day, rendered when it is sent.

The digest of day D goes out at 23:30 local time (settings.TIMEZONE) on D. It covers the signals
scored from 23:30 on D-1 up to 23:30 on D, so a signal scored in the last half hour of a day is
in the next day's digest rather than in none. At the end of every pipeline run the alert step
ensures that the digest rows covering its signals exist (`ensure_digests`); the row waits in the
outbox until its send time and is then delivered like any other alert, so a re-sent digest is
one row with one idempotency key (`email|digest|YYYY-MM-DD`), never a second email per run.

Every scored signal of the window is listed (queued, suppressed by dedup and below the alert
threshold alike), except held ones (amended or inconsistent input that is never alerted). The
same event scored by several runs appears once, with its highest score.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipelines.core.errors import DataError
from pipelines.core.settings import Settings
from pipelines.core.signal_models import AlertOutbox, Signal

from .message import AlertMessage, Digest, Link, ScoreComponent, build_digest
from .routing import digest_channels
from pipelines.core.db import upsert_insert

log = logging.getLogger("signals.alerts")

DIGEST_SEND_AT = time(23, 30)  # local wall time; the window ends here (see the module docstring)


def _zone(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.TIMEZONE)


def digest_send_time(day: date, settings: Settings) -> datetime:
    """When the digest of `day` goes out: 23:30 local on that day, in UTC."""
    return datetime.combine(day, DIGEST_SEND_AT, tzinfo=_zone(settings)).astimezone(UTC)


def digest_window(day: date, settings: Settings) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the signals in the digest of `day` (23 or 25 hours on DST days)."""
    return digest_send_time(day - timedelta(days=1), settings), digest_send_time(day, settings)


def digest_day_for(moment: datetime, settings: Settings) -> date:
    """The digest a signal scored at `moment` belongs to."""
    local = moment.astimezone(_zone(settings))
    return local.date() if local.time() < DIGEST_SEND_AT else local.date() + timedelta(days=1)


def digest_key(channel: str, day: date) -> str:
    return f"{channel}|digest|{day.isoformat()}"


def queue_digest(session: Session, settings: Settings, day: date) -> int:
    """Create the digest row(s) of `day` once (one per digest channel); returns how many were new."""
    now = datetime.now(UTC)
    message = AlertMessage(alert_id=f"digest-{day.isoformat()}", kind="digest", tier="info", pipeline="digest",
                           title=f"Daily digest {day.isoformat()}", detected_at=now)
    payload = {**message.to_dict(), "digest_day": day.isoformat()}
    # created_at is the alert's own time (a signal alert's is when it was scored): for the digest,
    # when it is due. Outbox age checks (oldest_pending_age, the exporter) then see a digest waiting
    # for 23:30 as not late.
    send_at = digest_send_time(day, settings)
    insert = upsert_insert(session)
    created = 0
    for channel in digest_channels(settings):
        stmt = insert(AlertOutbox).values(
            idempotency_key=digest_key(channel, day), kind="digest", tier="info", channel=channel,
            signal_id=None, run_id=None, pipeline="digest", payload=payload, state="pending", attempts=0,
            next_attempt_at=send_at, created_at=send_at, possible_duplicate=False,
        ).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(AlertOutbox.id)
        created += session.execute(stmt).scalar_one_or_none() is not None
    return created


def ensure_digests(session: Session, settings: Settings, moments: Iterable[datetime]) -> int:
    """Queue the digests whose windows contain any of `moments` (a run's signal times and now)."""
    return sum(queue_digest(session, settings, day) for day in sorted({digest_day_for(m, settings)
                                                                        for m in moments}))


def signal_alert(row: Signal) -> AlertMessage:
    """A stored signal as the AlertMessage the digest renders."""
    return AlertMessage(
        alert_id=f"{(row.ticker or '-').upper()}|{row.signal_type}|{row.event_key}", kind="signal",
        tier=row.tier, pipeline=row.pipeline, title=row.title, summary=row.summary,
        signal_type=row.signal_type, ticker=row.ticker or "", company=row.company or "", score=row.score,
        components=tuple(ScoreComponent(str(c["name"]), float(c["value"]), str(c.get("explanation") or ""))
                         for c in row.components or ()),
        links=tuple(Link(str(lk["label"]), str(lk["url"])) for lk in row.links or ()),
        event_time=row.event_time, detected_at=row.detected_at, run_id=row.run_id)


def pick_entries(alerts: Iterable[AlertMessage], limit: int) -> tuple[list[AlertMessage], int]:
    """One entry per event (its highest score, then latest), capped at `limit`; returns (kept, left out)."""
    best: dict[str, AlertMessage] = {}
    for alert in alerts:
        held = best.get(alert.alert_id)
        if held is None or (alert.score or 0.0, alert.detected_at) > (held.score or 0.0, held.detected_at):
            best[alert.alert_id] = alert
    ranked = sorted(best.values(), key=lambda a: (-(a.score or 0.0), a.pipeline, a.alert_id))
    limit = max(0, limit)
    return ranked[:limit], max(0, len(ranked) - limit)


def load_digest(session: Session, settings: Settings, day: date, generated_at: datetime | None = None) -> Digest:
    """The digest of `day`, built from the `signals` table as it is now."""
    start, end = digest_window(day, settings)
    rows = session.scalars(select(Signal).where(Signal.detected_at >= start, Signal.detected_at < end,
                                                Signal.held.is_(False)).order_by(Signal.id))
    alerts = []
    for row in rows:
        try:
            alerts.append(signal_alert(row))
        except DataError as exc:  # one unrenderable signal must not cost the whole digest
            log.warning("daily digest %s leaves out signal %s: %s", day.isoformat(), row.id, exc)
    kept, left_out = pick_entries(alerts, int(settings.ALERT_DIGEST_MAX_ENTRIES))
    notice = (f"{left_out} lower-scored signal(s) of this day are not shown "
              f"(ALERT_DIGEST_MAX_ENTRIES={settings.ALERT_DIGEST_MAX_ENTRIES})") if left_out else ""
    return build_digest(day, kept, generated_at or datetime.now(UTC), notice=notice)


def digest_day_of(payload: dict[str, Any]) -> date:
    """The day a digest outbox row is for (its payload carries it)."""
    try:
        return date.fromisoformat(str(payload["digest_day"]))
    except (KeyError, ValueError) as exc:
        key = str(payload.get("alert_id", "")) if isinstance(payload, dict) else ""
        raise DataError(f"digest outbox payload has no valid digest_day: {exc}", source="alert",
                        record_key=key) from None
