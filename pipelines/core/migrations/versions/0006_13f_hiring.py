"""13F filings, holdings, report versions and position changes; job postings, their events and polls.

Revision ID: 0006_13f_hiring
Revises: 0002
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op

from pipelines.core.ledger import BigId, UTCDateTime

revision = "0006_13f_hiring"
down_revision = "0002"
branch_labels = None
depends_on = None


def _run_id() -> sa.Column:
    return sa.Column("run_id", BigId, sa.ForeignKey("pipeline_runs.id", ondelete="SET NULL"), nullable=True)


def upgrade() -> None:
    op.create_table(
        "thirteenf_filings",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("accession", sa.String(20), nullable=False),
        sa.Column("cik", sa.BigInteger(), nullable=False),
        sa.Column("manager_name", sa.String(255), nullable=False),
        sa.Column("form_type", sa.String(16), nullable=False),
        sa.Column("filed", sa.Date(), nullable=False),
        sa.Column("period", sa.Date(), nullable=True),
        sa.Column("report_type", sa.String(64), nullable=True),
        sa.Column("amendment_type", sa.String(16), nullable=True),
        sa.Column("amendment_number", sa.Integer(), nullable=True),
        sa.Column("entry_total", sa.Integer(), nullable=True),
        sa.Column("value_total_reported", sa.BigInteger(), nullable=True),
        sa.Column("value_total_usd", sa.BigInteger(), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("infotable", sa.String(255), nullable=True),
        sa.Column("discovered_via", sa.String(64), nullable=False),
        _run_id(),
        sa.Column("loaded_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("accession", name="uq_thirteenf_filings_accession"),
    )
    op.create_index("ix_thirteenf_filings_cik_period", "thirteenf_filings", ["cik", "period"])
    op.create_table(
        "thirteenf_holdings",
        # No foreign key: see pipelines/thirteenf/models.py (rows only come with their filing).
        sa.Column("filing_id", BigId, nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("cusip", sa.String(9), nullable=False),
        sa.Column("name_of_issuer", sa.String(255), nullable=False),
        sa.Column("title_of_class", sa.String(255), nullable=False),
        sa.Column("value_usd", sa.BigInteger(), nullable=False),
        sa.Column("shares_or_principal", sa.BigInteger(), nullable=False),
        sa.Column("sh_prn_type", sa.String(3), nullable=False),
        sa.Column("put_call", sa.String(4), nullable=True),
        sa.Column("investment_discretion", sa.String(4), nullable=False),
        sa.Column("other_managers", sa.String(255), nullable=False),
        sa.Column("voting_sole", sa.BigInteger(), nullable=False),
        sa.Column("voting_shared", sa.BigInteger(), nullable=False),
        sa.Column("voting_none", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("filing_id", "row", name="pk_thirteenf_holdings"),
    )
    op.create_table(
        "thirteenf_reports",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("cik", sa.BigInteger(), nullable=False),
        sa.Column("manager_name", sa.String(255), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("accession", sa.String(20), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("value_usd", sa.BigInteger(), nullable=False),
        sa.Column("qualified", sa.Boolean(), nullable=False),
        sa.Column("prev_period", sa.Date(), nullable=True),
        sa.Column("diff_state", sa.String(16), nullable=False),
        sa.Column("link", sa.String(512), nullable=False),
        _run_id(),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("cik", "period", "as_of", name="uq_thirteenf_reports_version"),
    )
    op.create_table(
        "thirteenf_position_changes",
        sa.Column("report_id", BigId, sa.ForeignKey("thirteenf_reports.id", ondelete="CASCADE"), nullable=False),
        sa.Column("cusip", sa.String(9), nullable=False),
        sa.Column("put_call", sa.String(4), nullable=False),
        sa.Column("title_of_class", sa.String(255), nullable=False),
        sa.Column("sh_prn_type", sa.String(3), nullable=False),
        sa.Column("name_of_issuer", sa.String(255), nullable=False),
        sa.Column("ticker", sa.String(16), nullable=True),
        sa.Column("mapped", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("shares_prev", sa.BigInteger(), nullable=False),
        sa.Column("shares_cur", sa.BigInteger(), nullable=False),
        sa.Column("value_prev_usd", sa.BigInteger(), nullable=False),
        sa.Column("value_cur_usd", sa.BigInteger(), nullable=False),
        sa.Column("weight_cur", sa.Float(), nullable=False),
        sa.Column("rank_cur", sa.Integer(), nullable=True),
        sa.Column("rows_cur", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("report_id", "cusip", "put_call", "title_of_class", "sh_prn_type",
                                name="pk_thirteenf_position_changes"),
    )
    op.create_index("ix_thirteenf_position_changes_cusip", "thirteenf_position_changes", ["cusip"])

    op.create_table(
        "job_postings",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("board", sa.String(16), nullable=False),
        sa.Column("company_token", sa.String(128), nullable=False),
        sa.Column("posting_id", sa.String(128), nullable=False),
        sa.Column("ticker", sa.String(16), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("department", sa.Text(), nullable=True),
        sa.Column("dept_group", sa.String(24), nullable=False),
        sa.Column("location", sa.Text(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("published_at", UTCDateTime(), nullable=True),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("removed_at", UTCDateTime(), nullable=True),
        sa.Column("reposts", sa.Integer(), nullable=False),
        sa.UniqueConstraint("board", "company_token", "posting_id", name="uq_job_postings_posting"),
    )
    op.create_table(
        "job_posting_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("board", sa.String(16), nullable=False),
        sa.Column("company_token", sa.String(128), nullable=False),
        sa.Column("posting_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("dept_group", sa.String(24), nullable=False),
        _run_id(),
        sa.UniqueConstraint("board", "company_token", "posting_id", "kind", "at", name="uq_job_posting_events"),
    )
    op.create_index("ix_job_posting_events_company_at", "job_posting_events", ["board", "company_token", "at"])
    op.create_table(
        "job_board_polls",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("board", sa.String(16), nullable=False),
        sa.Column("company_token", sa.String(128), nullable=False),
        sa.Column("ticker", sa.String(16), nullable=True),
        sa.Column("polled_at", UTCDateTime(), nullable=False),
        sa.Column("baseline", sa.Boolean(), nullable=False),
        sa.Column("open_count", sa.Integer(), nullable=False),
        sa.Column("opened", sa.Integer(), nullable=False),
        sa.Column("removed", sa.Integer(), nullable=False),
        sa.Column("reposted", sa.Integer(), nullable=False),
        _run_id(),
        sa.UniqueConstraint("board", "company_token", "polled_at", name="uq_job_board_polls"),
    )


def downgrade() -> None:
    for table in ("job_board_polls", "job_posting_events", "job_postings", "thirteenf_position_changes",
                  "thirteenf_reports", "thirteenf_holdings", "thirteenf_filings"):
        op.drop_table(table)
