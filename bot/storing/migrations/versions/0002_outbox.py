"""The outbox at scale: shared message texts, claim times, plain-text resends, chat moves.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delivery_texts",
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.add_column("deliveries", sa.Column("text_hash", sa.String(64)))
    op.add_column("deliveries", sa.Column("claimed_ts", sa.Float))
    op.add_column(
        "deliveries",
        sa.Column("plain", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_deliveries_state_id", "deliveries", ["state", "id"])
    op.create_index("ix_deliveries_digest", "deliveries", ["digest_id", "chat_id"])
    op.create_index("ix_delivered_items_item", "delivered_items", ["item_id"])
    op.create_table(
        "chat_moves",
        sa.Column("old_id", sa.String(64), primary_key=True),
        sa.Column("new_id", sa.String(64), nullable=False),
        sa.Column("moved_ts", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("chat_moves")
    op.drop_index("ix_delivered_items_item", "delivered_items")
    op.drop_index("ix_deliveries_digest", "deliveries")
    op.drop_index("ix_deliveries_state_id", "deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("plain")
        batch.drop_column("claimed_ts")
        batch.drop_column("text_hash")
    op.drop_table("delivery_texts")
