"""ClinicalTrials.gov snapshots: latest per study, every version, detected change events.

Revision ID: 0003_ctgov
Revises: 0002
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

from pipelines.core.ledger import BigId, UTCDateTime

revision = "0003_ctgov"
down_revision = "0002"
branch_labels = None
depends_on = None


def _run_fk(name: str) -> sa.Column:
    return sa.Column(name, BigId, sa.ForeignKey("pipeline_runs.id", ondelete="SET NULL"), nullable=True)


def _tracked() -> list[sa.Column]:
    return [
        sa.Column("brief_title", sa.Text(), nullable=True),
        sa.Column("overall_status", sa.String(32), nullable=True),
        sa.Column("why_stopped", sa.Text(), nullable=True),
        sa.Column("primary_completion_date", sa.String(10), nullable=True),
        sa.Column("primary_completion_type", sa.String(16), nullable=True),
        sa.Column("completion_date", sa.String(10), nullable=True),
        sa.Column("completion_type", sa.String(16), nullable=True),
        sa.Column("enrollment_count", sa.Integer(), nullable=True),
        sa.Column("enrollment_type", sa.String(16), nullable=True),
        sa.Column("has_results", sa.Boolean(), nullable=True),
        sa.Column("results_first_posted", sa.String(10), nullable=True),
        sa.Column("lead_sponsor_name", sa.Text(), nullable=True),
        sa.Column("lead_sponsor_class", sa.String(16), nullable=True),
        sa.Column("phases", sa.JSON(), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("interventions", sa.JSON(), nullable=False),
        sa.Column("last_update_posted", sa.String(10), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "ctgov_studies",
        sa.Column("nct_id", sa.String(11), primary_key=True),
        sa.Column("version_no", sa.Integer(), nullable=False),
        _run_fk("version_run_id"),
        _run_fk("last_seen_run_id"),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        *_tracked(),
    )
    op.create_index("ix_ctgov_studies_sponsor", "ctgov_studies", ["lead_sponsor_name"])
    op.create_table(
        "ctgov_study_versions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("nct_id", sa.String(11), nullable=False),
        sa.Column("version_no", sa.Integer(), nullable=False),
        _run_fk("run_id"),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        *_tracked(),
        sa.UniqueConstraint("nct_id", "version_no", name="uq_ctgov_versions_study_version"),
    )
    op.create_index("ix_ctgov_study_versions_run_id", "ctgov_study_versions", ["run_id"])
    op.create_table(
        "ctgov_change_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("nct_id", sa.String(11), nullable=False),
        sa.Column("version_no", sa.Integer(), nullable=False),
        sa.Column("event_key", sa.String(255), nullable=False),
        sa.Column("event_type", sa.String(48), nullable=False),
        sa.Column("field", sa.String(48), nullable=False),
        sa.Column("old_value", sa.JSON(), nullable=True),
        sa.Column("new_value", sa.JSON(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("event_time", sa.String(10), nullable=True),
        _run_fk("run_id"),
        sa.Column("detected_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("nct_id", "version_no", "event_key", name="uq_ctgov_events_version_key"),
    )
    op.create_index("ix_ctgov_events_type", "ctgov_change_events", ["event_type"])
    op.create_index("ix_ctgov_change_events_run_id", "ctgov_change_events", ["run_id"])


def downgrade() -> None:
    for table in ("ctgov_change_events", "ctgov_study_versions", "ctgov_studies"):
        op.drop_table(table)
