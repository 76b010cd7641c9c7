"""The schema as SQLAlchemy Core tables; migrations under `migrations/` create and upgrade it.

Portable SQL only (SQLite and PostgreSQL). Times are Unix seconds (`*_ts`, floats) for ordering and
arithmetic, and ISO 8601 text with the digest's own offset where the offset is part of the data.
Chats are keyed by text (`"123"`, `"-100123"` or `"@channel"`) because configured channels may be
known only by their @name.

Foreign keys tie the rows that belong to other rows: an item to the digest that first carried it,
its categories and digest places to it, a subscription to its chat, a delivery to its shared text.
Deliveries and delivered items name chats and digests without one: a configured channel may have
no chat row, and the delivery history outlives a digest that is removed.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

metadata = MetaData()

files = Table(
    "files",
    metadata,
    Column("path", Text, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("digest_id", String(40)),
    Column("error", Text),
    Column("seen_ts", Float, nullable=False),
)

digests = Table(
    "digests",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("title", Text, nullable=False),
    Column("date", String(40), nullable=False),
    Column("date_ts", Float, nullable=False),
    Column("categories", Text, nullable=False),  # JSON list of names
    Column("source", Text, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("ingested_ts", Float, nullable=False),
    # The content hash last planned for delivery; differs from content_hash until it is planned.
    Column("planned_hash", String(64)),
    # 0006: the digest's page is /d/<slug>/ (given at the first build that sees it, then kept)
    Column("slug", String(80)),
)
Index("ix_digests_date_ts", digests.c.date_ts)
Index("ix_digests_slug", digests.c.slug, unique=True)

items = Table(
    "items",
    metadata,
    Column("id", String(40), primary_key=True),
    # the digest that first carried it (the one that carries it on, once that one is removed)
    Column(
        "digest_id", String(40), ForeignKey("digests.id", name="fk_items_digest"), nullable=False
    ),
    Column("position", Integer, nullable=False),
    Column("title", Text, nullable=False),
    Column("url", Text),
    Column("author", Text),
    Column("summary_md", Text, nullable=False),
    Column("summary_html", Text, nullable=False),
    Column("summary_text", Text, nullable=False),
    Column("categories", Text, nullable=False),  # JSON list of names
    Column("category_rule", String(40), nullable=False, default=""),
    Column("published", String(40), nullable=False),
    Column("published_ts", Float, nullable=False),
    Column("updated", String(40), nullable=False),
    Column("updated_ts", Float, nullable=False),
    Column("content_hash", String(64), nullable=False),
    # 0003: the id feeds give the item (Atom <id>, RSS <guid>, JSON Feed id), fixed when it is
    # first stored: readers key entries by it, so it never follows the site's address.
    Column("feed_id", Text, nullable=False),
)
Index("ix_items_published_ts", items.c.published_ts)

item_categories = Table(
    "item_categories",
    metadata,
    Column("category", Text, primary_key=True),
    Column(
        "item_id",
        String(40),
        ForeignKey("items.id", name="fk_item_categories_item", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("published_ts", Float, nullable=False),
)
Index("ix_item_categories_recent", item_categories.c.category, item_categories.c.published_ts)
Index("ix_item_categories_item", item_categories.c.item_id)

digest_items = Table(
    "digest_items",
    metadata,
    Column(
        "digest_id",
        String(40),
        ForeignKey("digests.id", name="fk_digest_items_digest", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "item_id",
        String(40),
        ForeignKey("items.id", name="fk_digest_items_item"),
        primary_key=True,
    ),
    Column("position", Integer, nullable=False),
)
# Which digests carry an item: asked for every item of every digest stored.
Index("ix_digest_items_item", digest_items.c.item_id)

chats = Table(
    "chats",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("type", String(16), nullable=False),  # private / group / supergroup / channel
    Column("title", Text),
    Column("language", String(16)),
    Column("state", String(16), nullable=False, default="active"),  # active / blocked / gone
    Column("created_ts", Float, nullable=False),
    Column("updated_ts", Float, nullable=False),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column(
        "chat_id",
        String(64),
        ForeignKey("chats.id", name="fk_subscriptions_chat", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("category", Text, primary_key=True),  # a category name, or "*" for all
    Column("created_ts", Float, nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("chat_id", String(64), nullable=False),
    Column("digest_id", String(40), nullable=False),
    Column("part", Integer, nullable=False),
    Column("parts", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("item_ids", Text, nullable=False),  # JSON list
    Column("disable_preview", Boolean, nullable=False, default=True),
    Column("state", String(16), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("not_before_ts", Float, nullable=False, default=0.0),
    Column("created_ts", Float, nullable=False),
    Column("sent_ts", Float),
    Column("message_id", BigInteger),
    Column("error", Text),
    Column("claimed_by", String(64)),
    # 0002: the text may live in delivery_texts (one row per distinct message, shared by every
    # recipient of it; `text` is then ""); `plain` marks a resend without parse mode.
    Column("text_hash", String(64), ForeignKey("delivery_texts.hash", name="fk_deliveries_text")),
    Column("claimed_ts", Float),
    Column("plain", Boolean, nullable=False, default=False, server_default=false()),
    # 0004: an edit of the message that delivery `edit_of` sent; `revision` counts the edits of
    # one part (0: the message itself).
    Column("edit_of", Integer),
    Column("revision", Integer, nullable=False, default=0, server_default=text("0")),
    # 0009: the forum topic the message goes to (None: the chat itself, a forum's General)
    Column("thread_id", BigInteger),
    # 0012: the last part of its message, which carries the settings button (NULL: planned
    # before 0012, when `part >= parts` told it; wrong for a follow-up or a forum's later topic)
    Column("is_last", Boolean),
    UniqueConstraint(
        "chat_id", "digest_id", "part", "revision", name="uq_deliveries_chat_digest_part_revision"
    ),
)
Index("ix_deliveries_state_due", deliveries.c.state, deliveries.c.not_before_ts)
Index("ix_deliveries_chat_state", deliveries.c.chat_id, deliveries.c.state, deliveries.c.id)
Index("ix_deliveries_state_id", deliveries.c.state, deliveries.c.id)
Index("ix_deliveries_digest", deliveries.c.digest_id, deliveries.c.chat_id)
# 0010: a shared text is pruned once no delivery names it; this index finds whether one does
# (and spares SQLite's foreign-key check a scan of every delivery).
Index("ix_deliveries_text_hash", deliveries.c.text_hash)

# 0002: message texts shared by the deliveries that carry them (keyed by their SHA-256).
delivery_texts = Table(
    "delivery_texts",
    metadata,
    Column("hash", String(64), primary_key=True),
    Column("text", Text, nullable=False),
)

# 0002: groups that became supergroups (Telegram's migrate_to_chat_id), to follow them.
chat_moves = Table(
    "chat_moves",
    metadata,
    Column("old_id", String(64), primary_key=True),
    Column("new_id", String(64), nullable=False),
    Column("moved_ts", Float, nullable=False),
)

# 0010: on SQLite a WITHOUT ROWID table, so the rows are the primary key's b-tree (stored once,
# not once in the table and again in its key's index): the largest table of a broadcast.
delivered_items = Table(
    "delivered_items",
    metadata,
    Column("chat_id", String(64), primary_key=True),
    Column("item_id", String(40), primary_key=True),
    Column("digest_id", String(40), nullable=False),
    sqlite_with_rowid=False,
)
# 0010: no index but the key: planning looks rows up by chat and item, and retention deletes a
# delivery's rows by its chat and the items it carried.

# 0010: one digest's planning, written batch by batch: `cursor` is the last chat planned in the
# current version (`content_hash`; NULL: the configured channels are not planned yet), so a
# plan that stopped resumes after it; `done` once every recipient is planned; `planned_ts`, the
# last batch written, is what the retention window counts from.
plans = Table(
    "plans",
    metadata,
    Column("digest_id", String(40), primary_key=True),
    Column("content_hash", String(64), nullable=False),
    Column("cursor", String(64)),
    Column("done", Boolean, nullable=False, default=False),
    Column("started_ts", Float, nullable=False),
    Column("planned_ts", Float, nullable=False),
)
Index("ix_plans_planned_ts", plans.c.planned_ts)


# 0009: a forum topic (`message_thread_id`) bound by a group admin to categories (JSON list of
# names); state "bound", or "broken" once Telegram said it is closed or deleted. The row with
# thread 0 is the General topic, present (state "off") only when it is switched off.
topics = Table(
    "topics",
    metadata,
    Column(
        "chat_id",
        String(64),
        ForeignKey("chats.id", name="fk_topics_chat", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("thread_id", BigInteger, primary_key=True),
    Column("title", Text),
    Column("categories", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("error", Text),
    Column("updated_ts", Float, nullable=False),
)

# 0009: who manages a channel connected by /connect (its admins who connected or claimed it;
# `connected`: the one who connected it, told when the bot loses the channel).
channel_managers = Table(
    "channel_managers",
    metadata,
    Column(
        "chat_id",
        String(64),
        ForeignKey("chats.id", name="fk_channel_managers_chat", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("user_id", String(64), primary_key=True),
    Column("connected", Boolean, nullable=False),
    Column("added_ts", Float, nullable=False),
)
Index("ix_channel_managers_user", channel_managers.c.user_id)

# An administrator's re-categorisation of one item (/recategorise): it outlives re-ingests of
# the item's digest, and `digestbot categories export` turns it into training data.
corrections = Table(
    "corrections",
    metadata,
    Column("item_id", String(40), primary_key=True),
    Column("categories", Text, nullable=False),  # JSON list of names
    Column("title", Text, nullable=False),  # the item as corrected: training data if it goes
    Column("summary_text", Text, nullable=False),
    Column("by_user", String(64), nullable=False),
    Column("created_ts", Float, nullable=False),
)

# Each chat's own settings (`bot.storing.chat_settings`); no row means the defaults. No foreign
# key: a channel known only from the settings file has no chat row and may still have settings.
chat_settings = Table(
    "chat_settings",
    metadata,
    Column("chat_id", String(64), primary_key=True),
    Column("language", String(8)),
    Column("paused", Boolean, nullable=False, default=False, server_default=false()),
    Column("paused_since_ts", Float),
    Column("paused_until_ts", Float),
    Column("quiet_start", String(5)),
    Column("quiet_end", String(5)),
    Column("quiet_silent", Boolean, nullable=False, default=False, server_default=false()),
    Column("silent", Boolean, nullable=False, default=False, server_default=false()),
    Column("schedule", Text, nullable=False, default="[]", server_default="[]"),  # JSON "HH:MM"s
    Column("timezone", String(64)),
    Column("include_words", Text, nullable=False, default="[]", server_default="[]"),
    Column("exclude_words", Text, nullable=False, default="[]", server_default="[]"),
    Column("format", String(16), nullable=False, default="full", server_default="full"),
    Column("preview", Boolean),
    Column("updated_ts", Float, nullable=False),
)

# 0008: items a chat selected that wait for its next bundle (`bot.storing.held`): a scheduled
# chat's, or one in quiet hours. Released into one delivery, in the transaction that deletes them.
held_items = Table(
    "held_items",
    metadata,
    Column("chat_id", String(64), primary_key=True),
    Column("item_id", String(40), primary_key=True),
    Column("digest_id", String(40), nullable=False),
    Column("held_ts", Float, nullable=False),
)

# 0011: a Bot API request of a standby instance (PostgreSQL), made for it by the elected sender
# within the bot's one budget (`bot.storing.relay`): a reply to a command that came to the
# standby by webhook. `params`: the request's JSON parameters; `answer`: Telegram's result or
# error, as JSON, read (and the row deleted) by the standby that asked.
relayed_requests = Table(
    "relayed_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("method", String(64), nullable=False),
    Column("params", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_ts", Float, nullable=False),
    Column("taken_by", String(64)),
    Column("answer", Text),
    Column("answered_ts", Float),
)
Index("ix_relayed_requests_state_id", relayed_requests.c.state, relayed_requests.c.id)
