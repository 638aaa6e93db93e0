"""The generic alert step of a pipeline: the handoff from scoring to delivery.

Scoring already queued each alert in the outbox, in its own transaction. This step reports what
the run queued and makes sure the daily digest rows covering the run's signals exist (sent at
23:30 local time, see notifications.digest_job); the worker then asks the `alerts` queue to deliver
(workers.tasks), and the periodic sweeper re-sends anything left pending, so delivery never
depends on this step alone.
"""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from notifications.digest_job import ensure_digests

from .model import StepContext, StepResult
from .signal_models import AlertOutbox, Signal


def alert_step(ctx: StepContext) -> StepResult:
    """Count the run's pending alerts and queue (once) the daily digests covering its signals."""
    pending = ctx.session.scalar(select(func.count()).select_from(AlertOutbox).where(
        AlertOutbox.run_id == ctx.run_id, AlertOutbox.state == "pending")) or 0
    first, last = ctx.session.execute(select(func.min(Signal.detected_at), func.max(Signal.detected_at))
                                      .where(Signal.run_id == ctx.run_id)).one()
    moments = [m for m in (first, last) if m is not None] + [datetime.now(UTC)]
    digests = ensure_digests(ctx.session, ctx.settings, moments)
    return StepResult(counts={"alerts_pending": int(pending), "digests_queued": digests})
