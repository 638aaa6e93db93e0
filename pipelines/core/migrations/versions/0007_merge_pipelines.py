"""Merge the pipeline branches (each pipeline's tables were added as a branch of 0002).

Revision ID: 0007_merge_pipelines
Revises: 0003_ctgov, 0004_orange_book, 0005_form4, 0006_13f_hiring
Create Date: 2026-11-25
"""

revision = "0007_merge_pipelines"
down_revision = ("0003_ctgov", "0004_orange_book", "0005_form4", "0006_13f_hiring")
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: this revision only joins the branches into one head."""


def downgrade() -> None:
    """Nothing to undo."""
