"""FDA Orange Book: one snapshot per distinct release (products, patents, exclusivities, calendar) and
the release-to-release change events (see pipelines/patents/models.py for the design).

Revision ID: 0004_orange_book
Revises: 0002
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

from pipelines.core.ledger import BigId, UTCDateTime

revision = "0004_orange_book"
down_revision = "0002"
branch_labels = None
depends_on = None


def _id() -> sa.Column:
    return sa.Column("id", BigId, primary_key=True, autoincrement=True)


def _release() -> sa.Column:
    return sa.Column("release_id", BigId, sa.ForeignKey("ob_releases.id", ondelete="CASCADE"), nullable=False)


def _key() -> list[sa.Column]:
    return [sa.Column("appl_type", sa.String(1), nullable=False), sa.Column("appl_no", sa.String(6), nullable=False),
            sa.Column("product_no", sa.String(3), nullable=False)]


def upgrade() -> None:
    op.create_table(
        "ob_releases",
        _id(),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
        sa.Column("run_id", BigId, sa.ForeignKey("pipeline_runs.id", ondelete="SET NULL"), nullable=True),
        sa.Column("source_url", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("previous_release_id", BigId, sa.ForeignKey("ob_releases.id", ondelete="SET NULL"), nullable=True),
        sa.Column("product_count", sa.Integer(), nullable=False),
        sa.Column("patent_count", sa.Integer(), nullable=False),
        sa.Column("exclusivity_count", sa.Integer(), nullable=False),
        sa.Column("row_error_count", sa.Integer(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("loaded_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("sha256", name="uq_ob_releases_sha256"),
    )
    op.create_table(
        "ob_products",
        _id(), _release(), sa.Column("row_no", sa.Integer(), nullable=False), *_key(),
        sa.Column("ingredient", sa.Text(), nullable=False),
        sa.Column("df_route", sa.Text(), nullable=False),
        sa.Column("trade_name", sa.Text(), nullable=False),
        sa.Column("applicant", sa.Text(), nullable=False),
        sa.Column("applicant_full_name", sa.Text(), nullable=False),
        sa.Column("strength", sa.Text(), nullable=False),
        sa.Column("te_code", sa.String(16), nullable=False),
        sa.Column("approval_date", sa.Date(), nullable=True),
        sa.Column("approved_pre_1982", sa.Boolean(), nullable=False),
        sa.Column("rld", sa.Boolean(), nullable=False),
        sa.Column("rs", sa.Boolean(), nullable=False),
        sa.Column("type", sa.String(8), nullable=False),
        sa.UniqueConstraint("release_id", "row_no", name="uq_ob_products_row"),
    )
    op.create_index("ix_ob_products_key", "ob_products", ["release_id", "appl_no", "product_no"])
    op.create_table(
        "ob_patents",
        _id(), _release(), sa.Column("row_no", sa.Integer(), nullable=False), *_key(),
        sa.Column("patent_no", sa.String(32), nullable=False),
        sa.Column("expire_date", sa.Date(), nullable=False),
        sa.Column("drug_substance", sa.Boolean(), nullable=False),
        sa.Column("drug_product", sa.Boolean(), nullable=False),
        sa.Column("use_code", sa.String(32), nullable=False),
        sa.Column("delisted", sa.Boolean(), nullable=False),
        sa.Column("submission_date", sa.Date(), nullable=True),
        sa.Column("ped", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("release_id", "row_no", name="uq_ob_patents_row"),
    )
    op.create_index("ix_ob_patents_key", "ob_patents", ["release_id", "appl_no", "product_no"])
    op.create_table(
        "ob_exclusivities",
        _id(), _release(), sa.Column("row_no", sa.Integer(), nullable=False), *_key(),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("exclusivity_date", sa.Date(), nullable=False),
        sa.UniqueConstraint("release_id", "row_no", name="uq_ob_exclusivities_row"),
    )
    op.create_index("ix_ob_exclusivities_key", "ob_exclusivities", ["release_id", "appl_no", "product_no"])
    op.create_table(
        "ob_calendar_entries",
        _id(), _release(),
        sa.Column("appl_no", sa.String(6), nullable=False),
        sa.Column("product_no", sa.String(3), nullable=False),
        sa.Column("trade_name", sa.Text(), nullable=False),
        sa.Column("ingredient", sa.Text(), nullable=False),
        sa.Column("df_route", sa.Text(), nullable=False),
        sa.Column("strength", sa.Text(), nullable=False),
        sa.Column("applicant", sa.Text(), nullable=False),
        sa.Column("applicant_full_name", sa.Text(), nullable=False),
        sa.Column("ticker", sa.String(16), nullable=True),
        sa.Column("type", sa.String(8), nullable=False),
        sa.Column("last_patent_expiry", sa.Date(), nullable=True),
        sa.Column("last_patent_no", sa.String(40), nullable=False),
        sa.Column("last_ds_dp_patent_expiry", sa.Date(), nullable=True),
        sa.Column("last_exclusivity_expiry", sa.Date(), nullable=True),
        sa.Column("last_exclusivity_code", sa.String(32), nullable=False),
        sa.Column("effective_loe", sa.Date(), nullable=True),
        sa.Column("loe_source", sa.Text(), nullable=False),
        sa.Column("months_to_loe", sa.Float(), nullable=True),
        sa.Column("ped_applied", sa.Boolean(), nullable=False),
        sa.Column("patent_count", sa.Integer(), nullable=False),
        sa.Column("generic_count", sa.Integer(), nullable=False),
        sa.Column("generics", sa.JSON(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("score_components", sa.JSON(), nullable=False),
        sa.UniqueConstraint("release_id", "appl_no", "product_no", name="uq_ob_calendar_product"),
    )
    op.create_index("ix_ob_calendar_loe", "ob_calendar_entries", ["release_id", "effective_loe"])
    op.create_table(
        "ob_release_events",
        _id(), _release(),
        sa.Column("previous_release_id", BigId, sa.ForeignKey("ob_releases.id", ondelete="SET NULL"), nullable=True),
        sa.Column("event_key", sa.String(255), nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("appl_no", sa.String(6), nullable=False),
        sa.Column("product_no", sa.String(3), nullable=False),
        sa.Column("ticker", sa.String(16), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.Column("event_time", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("release_id", "event_key", name="uq_ob_release_events_key"),
    )
    op.create_index("ix_ob_release_events_product", "ob_release_events", ["appl_no", "product_no"])


def downgrade() -> None:
    for table in ("ob_release_events", "ob_calendar_entries", "ob_exclusivities", "ob_patents", "ob_products",
                  "ob_releases"):
        op.drop_table(table)
