"""13F position changes: cheaper to write, as a quarter's diff writes millions of them.

Measured on 3 million change rows: written with the old primary key and the cusip index they took
17 s, with a bytewise primary key alone 8 s, with no index 4 s (the cusip index takes random inserts
all over an index larger than the buffer cache; the key compared in the database's linguistic
collation); the foreign key's per-row check cost about 3.6 us a row more. So:
- the foreign key goes, as it went for thirteenf_holdings: change rows are written only by the diff,
  in the transaction that creates their report, and whoever deletes a report deletes its changes
  (detect._reopen_unpaired);
- the cusip index goes: every reader selects by report_id first, which the primary key leads with;
- the key's text columns compare bytewise (COLLATE "C" on PostgreSQL; SQLite's default already
  does): CUSIPs, put/call, SH/PRN and class titles are codes, not words to sort for people.

Revision ID: 0008_13f_changes_keys
Revises: 0007_merge_pipelines
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "0008_13f_changes_keys"
down_revision = "0007_merge_pipelines"
branch_labels = None
depends_on = None

TABLE = "thirteenf_position_changes"
# SQLite keeps the foreign key unnamed; batch mode names it by this convention to drop it.
_SQLITE_FK = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
_KEYS = (("cusip", 9), ("put_call", 4), ("title_of_class", 255), ("sh_prn_type", 3))


def upgrade() -> None:
    op.drop_index("ix_thirteenf_position_changes_cusip", table_name=TABLE)
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("thirteenf_position_changes_report_id_fkey", TABLE, type_="foreignkey")
        for name, length in _KEYS:
            op.alter_column(TABLE, name, type_=sa.String(length, collation="C"), existing_nullable=False)
        return
    with op.batch_alter_table(TABLE, naming_convention=_SQLITE_FK, recreate="always") as batch:
        batch.drop_constraint("fk_thirteenf_position_changes_report_id_thirteenf_reports", type_="foreignkey")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, length in _KEYS:
            op.alter_column(TABLE, name, type_=sa.String(length), existing_nullable=False)
        op.create_foreign_key("thirteenf_position_changes_report_id_fkey", TABLE, "thirteenf_reports",
                              ["report_id"], ["id"], ondelete="CASCADE")
    else:
        with op.batch_alter_table(TABLE, recreate="always") as batch:
            batch.create_foreign_key("fk_thirteenf_position_changes_report_id_thirteenf_reports", "thirteenf_reports",
                                     ["report_id"], ["id"], ondelete="CASCADE")
    op.create_index("ix_thirteenf_position_changes_cusip", TABLE, ["cusip"])
