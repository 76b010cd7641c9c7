"""Each chat's own settings: language, pause, quiet hours, schedule, time zone, filters, format.

Revision ID: 0007_chat_settings
Revises: 0006_search
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_chat_settings"
down_revision = "0006_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_settings",
        sa.Column("chat_id", sa.String(64), primary_key=True),
        sa.Column("language", sa.String(8)),
        sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("paused_since_ts", sa.Float),
        sa.Column("paused_until_ts", sa.Float),
        sa.Column("quiet_start", sa.String(5)),
        sa.Column("quiet_end", sa.String(5)),
        sa.Column("quiet_silent", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("silent", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("schedule", sa.Text, nullable=False, server_default="[]"),
        sa.Column("timezone", sa.String(64)),
        sa.Column("include_words", sa.Text, nullable=False, server_default="[]"),
        sa.Column("exclude_words", sa.Text, nullable=False, server_default="[]"),
        sa.Column("format", sa.String(16), nullable=False, server_default="full"),
        sa.Column("preview", sa.Boolean),
        sa.Column("updated_ts", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("chat_settings")
