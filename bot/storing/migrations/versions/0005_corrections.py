"""Corrections: an administrator's categories for one item, kept across re-ingests.

Revision ID: 0005_corrections
Revises: 0004_message_edits
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_corrections"
down_revision = "0004_message_edits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "corrections",
        sa.Column("item_id", sa.String(40), primary_key=True),
        sa.Column("categories", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("summary_text", sa.Text, nullable=False),
        sa.Column("by_user", sa.String(64), nullable=False),
        sa.Column("created_ts", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("corrections")
