"""Bounded storage and planning in batches.

- `plans`: one row per digest planned, with the progress of its plan (`cursor`, the last chat
  planned; `done`) so that a plan stopped half-way resumes after the last batch written, and
  `planned_ts`, from which the retention window counts. Existing plans are filled in as done,
  dated by their newest delivery.
- `delivered_items` becomes a WITHOUT ROWID table on SQLite (its rows stored once, in its key's
  b-tree) and loses its index by item: planning in batches looks rows up by chat and item (the
  primary key), and retention deletes them by the chat and items of the delivery that brought
  them. (Rows without a delivery, from before 0002, are left as they are: they do not grow.)
- `ix_deliveries_text_hash`: whether a shared text is still used, found without a scan.

Revision ID: 0010_retention
Revises: 0009_channels_topics
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_retention"
down_revision = "0009_channels_topics"
branch_labels = None
depends_on = None


def _delivered_items(name: str, *, rowid: bool) -> None:
    op.create_table(
        name,
        sa.Column("chat_id", sa.String(64), primary_key=True),
        sa.Column("item_id", sa.String(40), primary_key=True),
        sa.Column("digest_id", sa.String(40), nullable=False),
        sqlite_with_rowid=rowid,
    )


def _rebuild_delivered_items(*, rowid: bool) -> None:
    """SQLite cannot change a table's storage in place: copy it into a new one."""
    _delivered_items("delivered_items_new", rowid=rowid)
    op.execute(
        "INSERT INTO delivered_items_new (chat_id, item_id, digest_id) "
        "SELECT chat_id, item_id, digest_id FROM delivered_items"
    )
    op.drop_table("delivered_items")
    op.rename_table("delivered_items_new", "delivered_items")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.drop_index("ix_delivered_items_item", "delivered_items")
    if sqlite:
        _rebuild_delivered_items(rowid=False)
    op.create_index("ix_deliveries_text_hash", "deliveries", ["text_hash"])
    op.create_table(
        "plans",
        sa.Column("digest_id", sa.String(40), primary_key=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("cursor", sa.String(64)),
        sa.Column("done", sa.Boolean, nullable=False),
        sa.Column("started_ts", sa.Float, nullable=False),
        sa.Column("planned_ts", sa.Float, nullable=False),
    )
    op.create_index("ix_plans_planned_ts", "plans", ["planned_ts"])
    op.execute(
        "INSERT INTO plans (digest_id, content_hash, cursor, done, started_ts, planned_ts) "
        "SELECT d.digest_id, COALESCE(g.content_hash, ''), NULL, TRUE, "
        "MIN(d.created_ts), MAX(COALESCE(d.sent_ts, d.created_ts)) "
        "FROM deliveries d LEFT JOIN digests g ON g.id = d.digest_id "
        "GROUP BY d.digest_id, g.content_hash"
    )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.drop_index("ix_plans_planned_ts", "plans")
    op.drop_table("plans")
    op.drop_index("ix_deliveries_text_hash", "deliveries")
    if sqlite:
        _rebuild_delivered_items(rowid=True)
    op.create_index("ix_delivered_items_item", "delivered_items", ["item_id"])
