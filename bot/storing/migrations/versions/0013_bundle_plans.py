"""Bundles get a `plans` row, so retention prunes their history like a digest's.

A bundle's deliveries (digest id `bundle-<ms>`) had no plan, so `retention_days` never reached
them. Each bundle released before this gets one, done, dated by its newest delivery as 0010 did
for digests; from now on `HeldItems.release_many` writes it, and a bundle's revision renews it.

Revision ID: 0013_bundle_plans
Revises: 0012_last_part
"""

from alembic import op

revision = "0013_bundle_plans"
down_revision = "0012_last_part"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "INSERT INTO plans (digest_id, content_hash, cursor, done, started_ts, planned_ts) "
        "SELECT d.digest_id, '', NULL, TRUE, "
        "MIN(d.created_ts), MAX(COALESCE(d.sent_ts, d.created_ts)) "
        "FROM deliveries d "
        "WHERE d.digest_id LIKE 'bundle-%' "
        "AND NOT EXISTS (SELECT 1 FROM plans p WHERE p.digest_id = d.digest_id) "
        "GROUP BY d.digest_id"
    )


def downgrade() -> None:
    # the code before 0013 does not lock a bundle's plan when it revises it: no bundle is pruned
    op.execute("DELETE FROM plans WHERE digest_id LIKE 'bundle-%'")
