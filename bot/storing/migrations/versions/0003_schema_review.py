"""The schema reviewed: foreign keys, the index the tables declared, and feed ids kept per item.

Feed ids (Atom <id>, RSS <guid>, JSON Feed id) used to be derived on every build from the host of
`site_url`, so moving the site to its real address gave every entry a new id and readers showed
them all again. Each item now keeps its id in `items.feed_id`. The items already stored keep the
ids their readers have: the ones built from the `site_url` configured when this migration runs
(the `site_url` that `open_database` is given, else the one the settings name). Migrate with the
settings you have been publishing with, then change the address.

Rows that belong to no row (left by earlier versions that removed a digest or by hand) are
repaired or dropped first, so the new constraints hold.

Revision ID: 0003_schema_review
Revises: 0002
"""

import logging
from datetime import datetime
from urllib.parse import urlsplit

import sqlalchemy as sa
from alembic import context, op

revision = "0003_schema_review"
down_revision = "0002"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

# name, table, column, referred table, referred column, on delete; parents before children
FOREIGN_KEYS = (
    ("fk_items_digest", "items", "digest_id", "digests", "id", None),
    ("fk_item_categories_item", "item_categories", "item_id", "items", "id", "CASCADE"),
    ("fk_digest_items_digest", "digest_items", "digest_id", "digests", "id", "CASCADE"),
    ("fk_digest_items_item", "digest_items", "item_id", "items", "id", None),
    ("fk_subscriptions_chat", "subscriptions", "chat_id", "chats", "id", "CASCADE"),
    ("fk_deliveries_text", "deliveries", "text_hash", "delivery_texts", "hash", None),
)


def upgrade() -> None:
    _repair_orphans()
    op.create_index("ix_item_categories_item", "item_categories", ["item_id"])
    op.add_column("items", sa.Column("feed_id", sa.Text))
    _record_feed_ids(_site_url())
    with op.batch_alter_table("items") as batch:
        batch.alter_column("feed_id", existing_type=sa.Text, nullable=False)
        batch.create_foreign_key("fk_items_digest", "digests", ["digest_id"], ["id"])
    for name, table, column, parent, key, ondelete in FOREIGN_KEYS[1:]:
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(name, parent, [column], [key], ondelete=ondelete)


def downgrade() -> None:
    for name, table, *_ in reversed(FOREIGN_KEYS[1:]):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(name, type_="foreignkey")
    with op.batch_alter_table("items") as batch:
        batch.drop_constraint("fk_items_digest", type_="foreignkey")
        batch.drop_column("feed_id")
    op.drop_index("ix_item_categories_item", "item_categories")


def _site_url() -> str:
    given = context.config.attributes.get("site_url")
    if given:
        return str(given)
    from bot.settings import load_settings  # the settings of the operator migrating now

    return load_settings().site_url


def _record_feed_ids(site_url: str) -> None:
    """The ids earlier versions built: `tag:<host>,<year first published>:item/<id>`."""
    host = (urlsplit(site_url).hostname or "localhost").lower()
    items = sa.table("items", sa.column("id"), sa.column("published"), sa.column("feed_id"))
    connection = op.get_bind()
    rows = connection.execute(sa.select(items.c.id, items.c.published)).all()
    ids = [
        {
            "b_id": row.id,
            "b_feed": f"tag:{host},{datetime.fromisoformat(row.published).year}:item/{row.id}",
        }
        for row in rows
    ]
    if ids:
        connection.execute(
            items.update()
            .where(items.c.id == sa.bindparam("b_id"))
            .values(feed_id=sa.bindparam("b_feed")),
            ids,
        )
        log.warning("kept the feed ids of %d items as published for host %s", len(ids), host)


def _repair_orphans() -> None:
    """An item whose first digest is gone belongs to a digest that carries it; an item none
    carries, and places, categories and subscriptions of rows that are gone, are dropped."""
    run = op.execute
    run("DELETE FROM digest_items WHERE digest_id NOT IN (SELECT id FROM digests)")
    lost = (
        "SELECT id FROM items WHERE digest_id NOT IN (SELECT id FROM digests)"
        " AND id NOT IN (SELECT item_id FROM digest_items)"
    )
    run(f"DELETE FROM item_categories WHERE item_id IN ({lost})")
    run(f"DELETE FROM items WHERE id IN ({lost})")
    run(
        "UPDATE items SET digest_id = (SELECT MIN(digest_id) FROM digest_items"
        " WHERE digest_items.item_id = items.id)"
        " WHERE digest_id NOT IN (SELECT id FROM digests)"
    )
    run("DELETE FROM digest_items WHERE item_id NOT IN (SELECT id FROM items)")
    run("DELETE FROM item_categories WHERE item_id NOT IN (SELECT id FROM items)")
    run("DELETE FROM subscriptions WHERE chat_id NOT IN (SELECT id FROM chats)")
    run(
        "UPDATE deliveries SET text_hash = NULL"
        " WHERE text_hash IS NOT NULL AND text_hash NOT IN (SELECT hash FROM delivery_texts)"
    )
