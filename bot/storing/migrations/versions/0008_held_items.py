"""Items held for a chat's next bundle (a schedule, or quiet hours), until one delivery takes them.

Revision ID: 0008_held_items
Revises: 0007_chat_settings
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_held_items"
down_revision = "0007_chat_settings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "held_items",
        sa.Column("chat_id", sa.String(64), primary_key=True),
        sa.Column("item_id", sa.String(40), primary_key=True),
        sa.Column("digest_id", sa.String(40), nullable=False),
        sa.Column("held_ts", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("held_items")
