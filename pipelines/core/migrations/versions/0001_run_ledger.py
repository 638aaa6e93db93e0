"""Run ledger: pipeline runs, step attempts, artifacts, quarantine.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

from pipelines.core.ledger import BigId, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipeline_runs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("pipeline", sa.String(64), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("scheduled_for", UTCDateTime(), nullable=True),
        sa.Column("data_interval_start", UTCDateTime(), nullable=False),
        sa.Column("data_interval_end", UTCDateTime(), nullable=False),
        sa.Column("conf", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("try_number", sa.Integer(), nullable=False),
        sa.Column("parent_run_id", BigId, sa.ForeignKey("pipeline_runs.id"), nullable=True),
        sa.Column("replay_of", BigId, sa.ForeignKey("pipeline_runs.id"), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("queued_at", UTCDateTime(), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("failed_step", sa.String(64), nullable=True),
        sa.UniqueConstraint("pipeline", "data_interval_start", name="uq_pipeline_runs_interval"),
    )
    op.create_index("ix_pipeline_runs_state", "pipeline_runs", ["state"])
    op.create_index("ix_pipeline_runs_pipeline_end", "pipeline_runs", ["pipeline", "data_interval_end"])
    op.create_table(
        "step_runs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("run_id", BigId, sa.ForeignKey("pipeline_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("task_id", sa.String(64), nullable=True),
        sa.Column("worker", sa.String(255), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.UniqueConstraint("run_id", "step", "attempt", name="uq_step_runs_attempt"),
    )
    op.create_index("ix_step_runs_run_id", "step_runs", ["run_id"])
    op.create_table(
        "artifacts",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(128), nullable=False),
        sa.Column("compressed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "run_artifacts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("run_id", BigId, sa.ForeignKey("pipeline_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("key", sa.String(64), sa.ForeignKey("artifacts.key"), nullable=False),
        sa.UniqueConstraint("run_id", "name", name="uq_run_artifacts_name"),
    )
    op.create_index("ix_run_artifacts_run_id", "run_artifacts", ["run_id"])
    op.create_table(
        "quarantine",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("run_id", BigId, sa.ForeignKey("pipeline_runs.id", ondelete="SET NULL"), nullable=True),
        sa.Column("pipeline", sa.String(64), nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("record_key", sa.String(255), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_quarantine_run_id", "quarantine", ["run_id"])


def downgrade() -> None:
    for table in ("quarantine", "run_artifacts", "artifacts", "step_runs", "pipeline_runs"):
        op.drop_table(table)
