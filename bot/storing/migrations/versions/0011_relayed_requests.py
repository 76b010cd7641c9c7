"""Every instance takes webhooks: a standby's Bot API requests are made by the sender.

- `relayed_requests`: a request of a standby instance (a command's reply), its state
  (`pending`, `sending`, `answered`) and Telegram's answer, so that the elected sender makes it
  within the bot's one budget and the standby reads the answer back.

Revision ID: 0011_relayed_requests
Revises: 0010_retention
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_relayed_requests"
down_revision = "0010_retention"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "relayed_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("method", sa.String(64), nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_ts", sa.Float, nullable=False),
        sa.Column("taken_by", sa.String(64)),
        sa.Column("answer", sa.Text),
        sa.Column("answered_ts", sa.Float),
    )
    op.create_index("ix_relayed_requests_state_id", "relayed_requests", ["state", "id"])


def downgrade() -> None:
    op.drop_index("ix_relayed_requests_state_id", table_name="relayed_requests")
    op.drop_table("relayed_requests")
