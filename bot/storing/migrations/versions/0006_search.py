"""Search over the whole archive, and a page address per digest.

- `digests.slug`: the digest's page is `/d/<slug>/`; given once, at the first build that sees the
  digest (`bot.storing.browse.assign_slugs`), and never changed, so links to it keep working.
- SQLite: `items_fts`, an FTS5 table with the trigram tokenizer (finds any substring of three or
  more characters, Chinese included, without a word segmenter) over each item's title and its
  author and summary text, kept in step with `items` by triggers. Its rowid is the item row's
  rowid, so a trigger finds an item's row at once (SQLite keeps rowids; only VACUUM may renumber
  the rowids of a table like `items`, and nothing here runs it).
- PostgreSQL: `pg_trgm` and a trigram GIN index on the same text, which `ILIKE '%…%'` uses. When
  the extension cannot be created (no rights), search still works by ILIKE without the index.

Revision ID: 0006_search
Revises: 0005_corrections
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0006_search"
down_revision = "0005_corrections"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

BODY = "coalesce(author, '') || ' ' || summary_text"
NEW_BODY = "coalesce(new.author, '') || ' ' || new.summary_text"
PG_TEXT = "(title || ' ' || coalesce(author, '') || ' ' || summary_text)"

SQLITE_UP = (
    "CREATE VIRTUAL TABLE items_fts USING fts5(item_id UNINDEXED, title, body,"
    " tokenize = 'trigram')",
    "CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN"
    " INSERT INTO items_fts (rowid, item_id, title, body)"
    f" VALUES (new.rowid, new.id, new.title, {NEW_BODY});"
    " END",
    "CREATE TRIGGER items_fts_update AFTER UPDATE OF title, author, summary_text ON items BEGIN"
    " DELETE FROM items_fts WHERE rowid = old.rowid;"
    " INSERT INTO items_fts (rowid, item_id, title, body)"
    f" VALUES (new.rowid, new.id, new.title, {NEW_BODY});"
    " END",
    "CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN"
    " DELETE FROM items_fts WHERE rowid = old.rowid;"
    " END",
    "INSERT INTO items_fts (rowid, item_id, title, body)"
    f" SELECT rowid, id, title, {BODY} FROM items",
)
SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS items_fts_delete",
    "DROP TRIGGER IF EXISTS items_fts_update",
    "DROP TRIGGER IF EXISTS items_fts_insert",
    "DROP TABLE IF EXISTS items_fts",
)


def upgrade() -> None:
    op.add_column("digests", sa.Column("slug", sa.String(80)))
    op.create_index("ix_digests_slug", "digests", ["slug"], unique=True)
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in SQLITE_UP:
            op.execute(statement)
        return
    try:
        with bind.begin_nested():
            op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError as error:
        log.warning("pg_trgm is not available (%s): search scans without an index", error.orig)
        return
    op.execute(
        f"CREATE INDEX IF NOT EXISTS ix_items_search ON items USING gin ({PG_TEXT} gin_trgm_ops)"
    )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in SQLITE_DOWN:
            op.execute(statement)
    else:
        op.execute("DROP INDEX IF EXISTS ix_items_search")
    op.drop_index("ix_digests_slug", "digests")
    with op.batch_alter_table("digests") as batch:
        batch.drop_column("slug")
