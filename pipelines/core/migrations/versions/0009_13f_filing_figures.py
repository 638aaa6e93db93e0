"""13F filings keep their table's totals and manager-screen figures, summed while the table is parsed.

A report version's rows, value and screen (share positions by CUSIP, their value, the ten largest's
value) were summed in SQL from its rows: a second pass over a quarter's holdings, 6 s of the diff at
3 million rows. Parsing has every row in hand already, so the loader sums them per filing; a version
made of one filing (nearly all of them) takes its figures from that filing, and only a view that
combines filings (a NEW HOLDINGS amendment) or a filing loaded before this revision (NULLs) is summed
in SQL as before.

Revision ID: 0009_13f_filing_figures
Revises: 0008_13f_changes_keys
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "0009_13f_filing_figures"
down_revision = "0008_13f_changes_keys"
branch_labels = None
depends_on = None

TABLE = "thirteenf_filings"
COLUMNS = (("table_value_usd", sa.BigInteger()), ("share_positions", sa.Integer()),
           ("share_value_usd", sa.BigInteger()), ("share_top10_usd", sa.BigInteger()))


def upgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        for name, type_ in COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
