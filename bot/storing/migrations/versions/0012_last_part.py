"""Deliveries know whether they are the last part of their message (it carries the ⚙️ button).

Revision ID: 0012_last_part
Revises: 0011_relayed_requests
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_last_part"
down_revision = "0011_relayed_requests"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # nullable, no default: rows planned before keep NULL (the old rule, `part >= parts`), and
    # adding the column rewrites nothing on either database
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("is_last", sa.Boolean))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("is_last")
