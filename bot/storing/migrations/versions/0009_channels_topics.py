"""Channels connected by their admins, forum topics bound to categories, deliveries into topics.

Revision ID: 0009_channels_topics
Revises: 0008_held_items
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_channels_topics"
down_revision = "0008_held_items"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("thread_id", sa.BigInteger))
    op.create_table(
        "topics",
        sa.Column(
            "chat_id",
            sa.String(64),
            sa.ForeignKey("chats.id", name="fk_topics_chat", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("thread_id", sa.BigInteger, primary_key=True),
        sa.Column("title", sa.Text),
        sa.Column("categories", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("updated_ts", sa.Float, nullable=False),
    )
    op.create_table(
        "channel_managers",
        sa.Column(
            "chat_id",
            sa.String(64),
            sa.ForeignKey("chats.id", name="fk_channel_managers_chat", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("user_id", sa.String(64), primary_key=True),
        sa.Column("connected", sa.Boolean, nullable=False),
        sa.Column("added_ts", sa.Float, nullable=False),
    )
    op.create_index("ix_channel_managers_user", "channel_managers", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_channel_managers_user", table_name="channel_managers")
    op.drop_table("channel_managers")
    op.drop_table("topics")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("thread_id")
