"""The first schema: files, digests, items, chats, subscriptions and the outbox.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("path", sa.Text, primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mtime_ns", sa.BigInteger, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("digest_id", sa.String(40)),
        sa.Column("error", sa.Text),
        sa.Column("seen_ts", sa.Float, nullable=False),
    )
    op.create_table(
        "digests",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("date", sa.String(40), nullable=False),
        sa.Column("date_ts", sa.Float, nullable=False),
        sa.Column("categories", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("ingested_ts", sa.Float, nullable=False),
        sa.Column("planned_hash", sa.String(64)),
    )
    op.create_index("ix_digests_date_ts", "digests", ["date_ts"])
    op.create_table(
        "items",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("digest_id", sa.String(40), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("url", sa.Text),
        sa.Column("author", sa.Text),
        sa.Column("summary_md", sa.Text, nullable=False),
        sa.Column("summary_html", sa.Text, nullable=False),
        sa.Column("summary_text", sa.Text, nullable=False),
        sa.Column("categories", sa.Text, nullable=False),
        sa.Column("category_rule", sa.String(40), nullable=False),
        sa.Column("published", sa.String(40), nullable=False),
        sa.Column("published_ts", sa.Float, nullable=False),
        sa.Column("updated", sa.String(40), nullable=False),
        sa.Column("updated_ts", sa.Float, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_items_published_ts", "items", ["published_ts"])
    op.create_table(
        "item_categories",
        sa.Column("category", sa.Text, primary_key=True),
        sa.Column("item_id", sa.String(40), primary_key=True),
        sa.Column("published_ts", sa.Float, nullable=False),
    )
    op.create_index("ix_item_categories_recent", "item_categories", ["category", "published_ts"])
    op.create_table(
        "digest_items",
        sa.Column("digest_id", sa.String(40), primary_key=True),
        sa.Column("item_id", sa.String(40), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_index("ix_digest_items_item", "digest_items", ["item_id"])
    op.create_table(
        "chats",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("title", sa.Text),
        sa.Column("language", sa.String(16)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_ts", sa.Float, nullable=False),
        sa.Column("updated_ts", sa.Float, nullable=False),
    )
    op.create_table(
        "subscriptions",
        sa.Column("chat_id", sa.String(64), primary_key=True),
        sa.Column("category", sa.Text, primary_key=True),
        sa.Column("created_ts", sa.Float, nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("chat_id", sa.String(64), nullable=False),
        sa.Column("digest_id", sa.String(40), nullable=False),
        sa.Column("part", sa.Integer, nullable=False),
        sa.Column("parts", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("item_ids", sa.Text, nullable=False),
        sa.Column("disable_preview", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("not_before_ts", sa.Float, nullable=False),
        sa.Column("created_ts", sa.Float, nullable=False),
        sa.Column("sent_ts", sa.Float),
        sa.Column("message_id", sa.BigInteger),
        sa.Column("error", sa.Text),
        sa.Column("claimed_by", sa.String(64)),
        sa.UniqueConstraint("chat_id", "digest_id", "part", name="uq_deliveries_chat_digest_part"),
    )
    op.create_index("ix_deliveries_state_due", "deliveries", ["state", "not_before_ts"])
    op.create_index("ix_deliveries_chat_state", "deliveries", ["chat_id", "state", "id"])
    op.create_table(
        "delivered_items",
        sa.Column("chat_id", sa.String(64), primary_key=True),
        sa.Column("item_id", sa.String(40), primary_key=True),
        sa.Column("digest_id", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "delivered_items",
        "deliveries",
        "subscriptions",
        "chats",
        "digest_items",
        "item_categories",
        "items",
        "digests",
        "files",
    ):
        op.drop_table(table)
