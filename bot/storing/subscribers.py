"""Chats and their subscriptions: who receives which categories, and whether we may still write."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, delete, func, insert, select, update

from bot.storing.chat_settings import ChatSettingsStore
from bot.storing.database import upsert
from bot.storing.held import HeldItems
from bot.storing.outbox import Outbox
from bot.storing.tables import chats, subscriptions
from bot.storing.topics import Topics

_IN_CHUNK = 500  # bound parameters in one IN (...)

ALL = "*"
ACTIVE, BLOCKED, GONE = "active", "blocked", "gone"


@dataclass(frozen=True, slots=True)
class Chat:
    """A private chat, group or channel that talked to the bot."""

    id: str
    type: str
    title: str | None
    language: str | None
    state: str


class Subscribers:
    """Chats and subscriptions in the database. Categories are stored by name; `ALL` is "*"."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def upsert_chat(
        self, chat_id: str | int, type_: str, title: str | None = None, language: str | None = None
    ) -> Chat:
        """Remember a chat (a chat that writes again is active again)."""
        now = time.time()
        key = str(chat_id)
        values = {"type": type_, "title": title, "language": language, "state": ACTIVE}
        with self.engine.begin() as connection:
            connection.execute(
                upsert(connection, chats)
                .values(id=key, created_ts=now, updated_ts=now, **values)
                .on_conflict_do_update(
                    index_elements=[chats.c.id], set_={**values, "updated_ts": now}
                )
            )
        return Chat(key, type_, title, language, ACTIVE)

    def add_audience(
        self, audience: Iterable[tuple[str, str, Sequence[str]]], chunk: int = 5000
    ) -> int:
        """Write new active chats with their categories in bulk: `(chat id, type, categories)`
        each, one transaction, `chunk` rows a statement (an import of a large audience, as the
        benchmarks build theirs). Returns the number of chats written."""
        now = time.time()
        chat_rows: list[dict[str, object]] = []
        sub_rows: list[dict[str, object]] = []
        for chat_id, type_, categories in audience:
            chat_rows.append(
                {
                    "id": chat_id,
                    "type": type_,
                    "state": ACTIVE,
                    "created_ts": now,
                    "updated_ts": now,
                }
            )
            sub_rows.extend(
                {"chat_id": chat_id, "category": c, "created_ts": now} for c in categories
            )
        with self.engine.begin() as connection:
            for start in range(0, len(chat_rows), chunk):
                connection.execute(insert(chats), chat_rows[start : start + chunk])
            for start in range(0, len(sub_rows), chunk):
                connection.execute(insert(subscriptions), sub_rows[start : start + chunk])
        return len(chat_rows)

    def chat(self, chat_id: str | int) -> Chat | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(chats).where(chats.c.id == str(chat_id))).first()
        return Chat(row.id, row.type, row.title, row.language, row.state) if row else None

    def chats_of(self, chat_ids: Sequence[str]) -> dict[str, Chat]:
        """These chats' records (a chat never seen is left out), 500 ids per query."""
        found: dict[str, Chat] = {}
        with self.engine.connect() as connection:
            for start in range(0, len(chat_ids), _IN_CHUNK):
                query = select(chats).where(chats.c.id.in_(chat_ids[start : start + _IN_CHUNK]))
                for row in connection.execute(query):
                    found[row.id] = Chat(row.id, row.type, row.title, row.language, row.state)
        return found

    def set_state(self, chat_id: str | int, state: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(chats)
                .where(chats.c.id == str(chat_id))
                .values(state=state, updated_ts=time.time())
            )

    def move_chat(self, old_id: str | int, new_id: str | int) -> None:
        """Follow a group that became a supergroup: its subscriptions, settings and topic bindings
        move to the new id, and so do its unfinished deliveries and its history, and the move is
        remembered (a configured group is followed to the new id; the bot may see the migration
        before any send fails)."""
        old, new = str(old_id), str(new_id)
        if old == new:
            return
        with self.engine.begin() as connection:
            Outbox.move_chat_in(connection, old, new)
            ChatSettingsStore.move_in(connection, old, new)
            HeldItems.move_in(connection, old, new)
            row = connection.execute(select(chats).where(chats.c.id == old)).first()
            if row:
                connection.execute(
                    upsert(connection, chats)
                    .values(
                        id=new,
                        type="supergroup",
                        title=row.title,
                        language=row.language,
                        state=ACTIVE,
                        created_ts=row.created_ts,
                        updated_ts=time.time(),
                    )
                    .on_conflict_do_nothing(index_elements=[chats.c.id])
                )
            moving = connection.execute(
                select(subscriptions).where(subscriptions.c.chat_id == old)
            ).all()
            if moving:
                connection.execute(
                    upsert(connection, subscriptions)
                    .values(
                        [
                            {"chat_id": new, "category": sub.category, "created_ts": sub.created_ts}
                            for sub in moving
                        ]
                    )
                    .on_conflict_do_nothing(
                        index_elements=[subscriptions.c.chat_id, subscriptions.c.category]
                    )
                )
            connection.execute(delete(subscriptions).where(subscriptions.c.chat_id == old))
            Topics.move_in(connection, old, new)  # forum topic bindings follow the group
            connection.execute(
                update(chats).where(chats.c.id == old).values(state=GONE, updated_ts=time.time())
            )

    def subscribe(self, chat_id: str | int, categories: Iterable[str]) -> list[str]:
        """Add subscriptions; returns the ones that are new (to this call: of several at once,
        one adds each)."""
        key, names = str(chat_id), list(dict.fromkeys(categories))
        if not names:
            return []
        now = time.time()
        with self.engine.begin() as connection:
            added = set(
                connection.execute(
                    upsert(connection, subscriptions)
                    # a microsecond apart: subscriptions are listed in the order they were named
                    .values(
                        [
                            {"chat_id": key, "category": n, "created_ts": now + i * 1e-6}
                            for i, n in enumerate(names)
                        ]
                    )
                    .on_conflict_do_nothing(
                        index_elements=[subscriptions.c.chat_id, subscriptions.c.category]
                    )
                    .returning(subscriptions.c.category)
                ).scalars()
            )
        return [n for n in names if n in added]

    def unsubscribe(self, chat_id: str | int, categories: Iterable[str] | None = None) -> list[str]:
        """Remove the given subscriptions (all of them with None); returns those removed."""
        key = str(chat_id)
        with self.engine.begin() as connection:
            query = select(subscriptions.c.category).where(subscriptions.c.chat_id == key)
            have = list(connection.execute(query).scalars())
            gone = have if categories is None else [c for c in have if c in set(categories)]
            if gone:
                connection.execute(
                    delete(subscriptions).where(
                        subscriptions.c.chat_id == key, subscriptions.c.category.in_(gone)
                    )
                )
        return gone

    def subscriptions_of(self, chat_id: str | int) -> list[str]:
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    select(subscriptions.c.category)
                    .where(subscriptions.c.chat_id == str(chat_id))
                    .order_by(subscriptions.c.created_ts, subscriptions.c.category)
                ).scalars()
            )

    def subscriptions_of_many(self, chat_ids: Sequence[str]) -> dict[str, list[str]]:
        """`subscriptions_of` for many chats (those with none left out), 500 ids per query."""
        s = subscriptions.c
        found: dict[str, list[str]] = {}
        with self.engine.connect() as connection:
            for start in range(0, len(chat_ids), _IN_CHUNK):
                query = (
                    select(s.chat_id, s.category)
                    .where(s.chat_id.in_(chat_ids[start : start + _IN_CHUNK]))
                    .order_by(s.chat_id, s.created_ts, s.category)
                )
                for chat_id, category in connection.execute(query):
                    found.setdefault(chat_id, []).append(category)
        return found

    def active_subscriptions(self) -> dict[str, set[str]]:
        """Every active chat's categories (`ALL` included as "*"), for planning deliveries."""
        query = (
            select(subscriptions.c.chat_id, subscriptions.c.category)
            .join(chats, chats.c.id == subscriptions.c.chat_id)
            .where(chats.c.state == ACTIVE)
        )
        result: dict[str, set[str]] = {}
        with self.engine.connect() as connection:
            for chat_id, category in connection.execute(query):
                result.setdefault(chat_id, set()).add(category)
        return result

    def active_subscriptions_page(self, after: str, limit: int) -> dict[str, set[str]]:
        """The categories of the first `limit` active subscribed chats whose id sorts after
        `after`, in the database's order of chat ids: planning reads its recipients page by
        page (a million subscribers never in memory at once), and resumes after a page."""
        has_subscription = (
            select(subscriptions.c.chat_id).where(subscriptions.c.chat_id == chats.c.id).exists()
        )
        page = (
            select(chats.c.id)
            .where(chats.c.state == ACTIVE, chats.c.id > after, has_subscription)
            .order_by(chats.c.id)
            .limit(limit)
        )
        result: dict[str, set[str]] = {}
        with self.engine.connect() as connection:
            ids = list(connection.execute(page).scalars())
            if not ids:
                return result
            query = (
                select(subscriptions.c.chat_id, subscriptions.c.category)
                .join(chats, chats.c.id == subscriptions.c.chat_id)
                .where(
                    chats.c.state == ACTIVE,
                    subscriptions.c.chat_id > after,
                    subscriptions.c.chat_id <= ids[-1],
                )
            )
            found: dict[str, set[str]] = {}
            for chat_id, category in connection.execute(query):
                found.setdefault(chat_id, set()).add(category)
        return {chat_id: found[chat_id] for chat_id in ids if chat_id in found}

    def active_subscriptions_of(self, chat_ids: Iterable[str]) -> dict[str, set[str]]:
        """The categories of these chats, those active and subscribed."""
        wanted = list(dict.fromkeys(str(c) for c in chat_ids))
        result: dict[str, set[str]] = {}
        if not wanted:
            return result
        query = (
            select(subscriptions.c.chat_id, subscriptions.c.category)
            .join(chats, chats.c.id == subscriptions.c.chat_id)
            .where(chats.c.state == ACTIVE, subscriptions.c.chat_id.in_(wanted))
        )
        with self.engine.connect() as connection:
            for chat_id, category in connection.execute(query):
                result.setdefault(chat_id, set()).add(category)
        return result

    def counts_by_category(self) -> dict[str, int]:
        query = (
            select(subscriptions.c.category, func.count())
            .join(chats, chats.c.id == subscriptions.c.chat_id)
            .where(chats.c.state == ACTIVE)
            .group_by(subscriptions.c.category)
        )
        with self.engine.connect() as connection:
            return {category: count for category, count in connection.execute(query)}

    def active_chat_count(self) -> int:
        query = select(func.count()).select_from(chats).where(chats.c.state == ACTIVE)
        with self.engine.connect() as connection:
            return connection.execute(query).scalar_one()
