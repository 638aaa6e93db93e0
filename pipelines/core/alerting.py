"""The generic alert step of a pipeline: the handoff from scoring to delivery.

Scoring already queued each alert in the outbox, in its own transaction. This step reports what
the run queued; the worker then asks the `alerts` queue to deliver (workers.tasks), and the
periodic sweeper re-sends anything left pending, so delivery never depends on this step alone.
"""
from __future__ import annotations

from sqlalchemy import func, select

from .model import StepContext, StepResult
from .signal_models import AlertOutbox


def alert_step(ctx: StepContext) -> StepResult:
    pending = ctx.session.scalar(select(func.count()).select_from(AlertOutbox).where(
        AlertOutbox.run_id == ctx.run_id, AlertOutbox.state == "pending")) or 0
    return StepResult(counts={"alerts_pending": int(pending)})
