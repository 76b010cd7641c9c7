"""Channels connected by their own admins (`/connect`): who manages which channel.

A channel is a chat like any other (its categories are subscriptions, its state says whether the
bot may still post); this store keeps the admins who manage it from their private chats. The one
who connected it is told when the bot loses the channel.
"""

from __future__ import annotations

import time

from sqlalchemy import Engine, delete, select, update

from bot.storing.database import upsert
from bot.storing.outbox import Outbox
from bot.storing.subscribers import ACTIVE, Chat, Subscribers
from bot.storing.tables import channel_managers, chats, subscriptions

__all__ = ["Channels"]


class Channels:
    """Connected channels and their managers; every method is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def connect(self, chat_id: str | int, title: str | None, user_id: int) -> bool:
        """The channel is active and `user_id` manages it; a channel connected for the first
        time (or again after it was lost or disconnected) takes every category and `user_id`
        becomes the one who connected it. Returns whether it was newly connected."""
        key, user, now = str(chat_id), str(user_id), time.time()
        with self.engine.begin() as connection:
            row = connection.execute(select(chats.c.state).where(chats.c.id == key)).first()
            managed = connection.execute(
                select(channel_managers.c.user_id).where(channel_managers.c.chat_id == key)
            ).first()
            fresh = row is None or row.state != ACTIVE or managed is None
            values = {"type": "channel", "title": title, "state": ACTIVE, "updated_ts": now}
            connection.execute(
                upsert(connection, chats)
                .values(id=key, created_ts=now, **values)
                .on_conflict_do_update(index_elements=[chats.c.id], set_=values)
            )
            if fresh:
                connection.execute(
                    update(channel_managers)
                    .where(channel_managers.c.chat_id == key)
                    .values(connected=False)
                )
                has = connection.execute(
                    select(subscriptions.c.category).where(subscriptions.c.chat_id == key)
                ).first()
                if has is None:
                    connection.execute(
                        upsert(connection, subscriptions)
                        .values(chat_id=key, category="*", created_ts=now)
                        .on_conflict_do_nothing(
                            index_elements=[subscriptions.c.chat_id, subscriptions.c.category]
                        )
                    )
            connection.execute(
                upsert(connection, channel_managers)
                .values(chat_id=key, user_id=user, connected=fresh, added_ts=now)
                .on_conflict_do_update(
                    index_elements=[channel_managers.c.chat_id, channel_managers.c.user_id],
                    set_={"connected": channel_managers.c.connected | fresh},
                )
            )
        return fresh

    def managed_by(self, user_id: int) -> list[Chat]:
        """The channels `user_id` manages, in the order they were added."""
        query = (
            select(chats)
            .join(channel_managers, channel_managers.c.chat_id == chats.c.id)
            .where(channel_managers.c.user_id == str(user_id))
            .order_by(channel_managers.c.added_ts, chats.c.id)
        )
        with self.engine.connect() as connection:
            return [
                Chat(r.id, r.type, r.title, r.language, r.state) for r in connection.execute(query)
            ]

    def manages(self, chat_id: str | int, user_id: int) -> bool:
        query = select(channel_managers.c.user_id).where(
            channel_managers.c.chat_id == str(chat_id),
            channel_managers.c.user_id == str(user_id),
        )
        with self.engine.connect() as connection:
            return connection.execute(query).first() is not None

    def connector(self, chat_id: str | int) -> int | None:
        """Who connected the channel (told when the bot loses it)."""
        query = select(channel_managers.c.user_id).where(
            channel_managers.c.chat_id == str(chat_id), channel_managers.c.connected.is_(True)
        )
        with self.engine.connect() as connection:
            found = connection.execute(query).scalar()
        return int(found) if found is not None and found.lstrip("-").isdigit() else None

    def disconnect(self, chat_id: str | int) -> int:
        """No more deliveries to the channel: its categories, managers and pending deliveries
        go. Returns how many pending deliveries were cancelled."""
        key = str(chat_id)
        with self.engine.begin() as connection:
            connection.execute(delete(subscriptions).where(subscriptions.c.chat_id == key))
            connection.execute(delete(channel_managers).where(channel_managers.c.chat_id == key))
        return Outbox(self.engine).cancel_chat(key, "channel disconnected")

    def lost(self, chat_id: str | int, state: str) -> int:
        """The bot was removed or may no longer post: the channel is marked, its pending
        deliveries cancelled (its categories and managers stay, for a /connect later)."""
        Subscribers(self.engine).set_state(chat_id, state)
        return Outbox(self.engine).cancel_chat(str(chat_id), f"chat {state}")
