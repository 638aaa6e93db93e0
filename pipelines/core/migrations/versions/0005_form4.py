"""insider_form4: filings seen, their transactions, insiders' purchase months.

Revision ID: 0005_form4
Revises: 0002
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

from pipelines.core.ledger import BigId, UTCDateTime

revision = "0005_form4"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "form4_filings",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("accession", sa.String(20), nullable=False),
        sa.Column("form_type", sa.String(8), nullable=False),
        sa.Column("issuer_cik", sa.BigInteger(), nullable=True),
        sa.Column("listed_issuer_cik", sa.BigInteger(), nullable=True),
        sa.Column("listed_ciks", sa.JSON(), nullable=False),
        sa.Column("folder_cik", sa.BigInteger(), nullable=False),
        sa.Column("company", sa.String(255), nullable=False),
        sa.Column("filed", sa.Date(), nullable=False),
        sa.Column("accepted_at", UTCDateTime(), nullable=True),
        sa.Column("discovered_by", sa.String(8), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("run_id", BigId, sa.ForeignKey("pipeline_runs.id", ondelete="SET NULL"), nullable=True),
        sa.Column("document", sa.String(255), nullable=True),
        sa.Column("artifact_key", sa.String(64), nullable=True),
        sa.Column("document_type", sa.String(8), nullable=True),
        sa.Column("period_of_report", sa.Date(), nullable=True),
        sa.Column("issuer_name", sa.String(255), nullable=True),
        sa.Column("ticker", sa.String(16), nullable=True),
        sa.Column("owner_ciks", sa.JSON(), nullable=True),
        sa.Column("amends", sa.String(20), nullable=True),
        sa.Column("superseded_by", sa.String(20), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("accession", name="uq_form4_filings_accession"),
    )
    op.create_index("ix_form4_filings_state", "form4_filings", ["state"])
    op.create_index("ix_form4_filings_issuer", "form4_filings", ["issuer_cik"])
    op.create_table(
        "form4_transactions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("accession", sa.String(20), nullable=False),
        sa.Column("table_name", sa.String(16), nullable=False),
        sa.Column("row_index", sa.Integer(), nullable=False),
        sa.Column("issuer_cik", sa.BigInteger(), nullable=False),
        sa.Column("ticker", sa.String(16), nullable=True),
        sa.Column("owner_ciks", sa.JSON(), nullable=False),
        sa.Column("owner_names", sa.JSON(), nullable=False),
        sa.Column("is_director", sa.Boolean(), nullable=False),
        sa.Column("is_officer", sa.Boolean(), nullable=False),
        sa.Column("is_ten_percent_owner", sa.Boolean(), nullable=False),
        sa.Column("officer_title", sa.String(255), nullable=True),
        sa.Column("code", sa.String(4), nullable=False),
        sa.Column("trade_date", sa.Date(), nullable=False),
        sa.Column("filed_at", UTCDateTime(), nullable=False),
        sa.Column("shares", sa.String(40), nullable=True),
        sa.Column("price", sa.String(40), nullable=True),
        sa.Column("acquired_disposed", sa.String(1), nullable=True),
        sa.Column("shares_owned_after", sa.String(40), nullable=True),
        sa.Column("ownership", sa.String(1), nullable=True),
        sa.Column("nature_of_ownership", sa.Text(), nullable=True),
        sa.Column("plan_10b5_1", sa.Boolean(), nullable=False),
        sa.Column("amended", sa.Boolean(), nullable=False),
        sa.Column("issues", sa.JSON(), nullable=False),
        sa.Column("other_holdings", sa.String(40), nullable=False),
        sa.Column("superseded_by", sa.String(20), nullable=True),
    )
    op.create_index("uq_form4_transactions_row", "form4_transactions", ["accession", "table_name", "row_index"],
                    unique=True)
    op.create_index("ix_form4_transactions_issuer_date", "form4_transactions", ["issuer_cik", "trade_date"])
    op.create_table(
        "insider_purchase_months",
        sa.Column("owner_cik", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("year", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("month", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("first_accession", sa.String(20), nullable=False),
    )


def downgrade() -> None:
    for table in ("insider_purchase_months", "form4_transactions", "form4_filings"):
        op.drop_table(table)
