"""Message edits: a delivery may edit a message sent earlier instead of sending a new one.

`edit_of` names the delivery whose Telegram message an edit changes; `revision` numbers the
edits of one part (0 is the message itself), so the unique key becomes (chat, digest, part,
revision): two instances revising one digest at once still collide, and one of them plans again.

Revision ID: 0004_message_edits
Revises: 0003_schema_review
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_message_edits"
down_revision = "0003_schema_review"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", recreate="always") as batch:
        batch.add_column(sa.Column("edit_of", sa.Integer))
        batch.add_column(
            sa.Column("revision", sa.Integer, nullable=False, server_default=sa.text("0"))
        )
        batch.drop_constraint("uq_deliveries_chat_digest_part", type_="unique")
        batch.create_unique_constraint(
            "uq_deliveries_chat_digest_part_revision",
            ["chat_id", "digest_id", "part", "revision"],
        )


def downgrade() -> None:
    op.execute("DELETE FROM deliveries WHERE revision > 0")
    with op.batch_alter_table("deliveries", recreate="always") as batch:
        batch.drop_constraint("uq_deliveries_chat_digest_part_revision", type_="unique")
        batch.create_unique_constraint(
            "uq_deliveries_chat_digest_part", ["chat_id", "digest_id", "part"]
        )
        batch.drop_column("revision")
        batch.drop_column("edit_of")
