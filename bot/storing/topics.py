"""Forum topics bound to categories: which topic of a forum group receives which categories.

A binding is (chat, thread) -> category names, "bound" until Telegram says the topic is closed or
deleted ("broken": its categories go to General again until an admin binds it anew). A category
is bound to at most one topic of a chat: binding it to another topic moves it. The General topic
has a row (thread 0, state "off") only while an admin has switched it off.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, delete, select, update

from bot.storing.database import upsert
from bot.storing.tables import chats, topics

BOUND, BROKEN, OFF = "bound", "broken", "off"
GENERAL = 0  # the thread key of the General topic's row

__all__ = ["BOUND", "BROKEN", "GENERAL", "OFF", "Binding", "ForumLayout", "Topics"]


@dataclass(frozen=True, slots=True)
class Binding:
    """One topic of a forum and the categories it receives."""

    thread_id: int
    title: str | None
    categories: tuple[str, ...]
    state: str
    error: str | None = None

    @property
    def broken(self) -> bool:
        return self.state == BROKEN


@dataclass(frozen=True, slots=True)
class ForumLayout:
    """A forum group's topics, as planning needs them."""

    bindings: tuple[Binding, ...]
    general: bool = True  # the unbound categories go to General

    @property
    def working(self) -> tuple[Binding, ...]:
        return tuple(b for b in self.bindings if b.state == BOUND)


class Topics:
    """Topic bindings in the database; every method is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def bind(
        self, chat_id: str | int, thread_id: int, categories: Sequence[str], title: str | None
    ) -> list[tuple[int, str]]:
        """The topic receives exactly `categories` from now on (the chat must be known); returns
        (thread, category) pairs taken away from other topics of the chat."""
        if thread_id <= 0:
            raise ValueError("the General topic is switched on or off, not bound")
        key, names, now = str(chat_id), list(dict.fromkeys(categories)), time.time()
        taken: list[tuple[int, str]] = []
        with self.engine.begin() as connection:
            for other in _bindings(connection, key):
                if other.thread_id == thread_id:
                    title = title or other.title
                if other.thread_id in (thread_id, GENERAL):
                    continue
                kept = [n for n in other.categories if n not in names]
                if len(kept) != len(other.categories):
                    taken.extend((other.thread_id, n) for n in other.categories if n in names)
                    _write(connection, key, other.thread_id, kept, other.title, other.state, now)
            _write(connection, key, thread_id, names, title, BOUND, now)
            connection.execute(
                delete(topics).where(
                    topics.c.chat_id == key,
                    topics.c.thread_id != GENERAL,
                    topics.c.categories == "[]",
                )
            )
        return taken

    def unbind(self, chat_id: str | int, thread_id: int) -> Binding | None:
        """The topic receives nothing any more; returns what it had (None: it had no binding)."""
        key = str(chat_id)
        with self.engine.begin() as connection:
            had = next((b for b in _bindings(connection, key) if b.thread_id == thread_id), None)
            if had is not None and thread_id != GENERAL:
                connection.execute(
                    delete(topics).where(topics.c.chat_id == key, topics.c.thread_id == thread_id)
                )
        return had if thread_id != GENERAL else None

    def set_general(self, chat_id: str | int, on: bool) -> None:
        """Whether the categories bound to no topic go to General."""
        key = str(chat_id)
        with self.engine.begin() as connection:
            if on:
                connection.execute(
                    delete(topics).where(topics.c.chat_id == key, topics.c.thread_id == GENERAL)
                )
            else:
                _write(connection, key, GENERAL, [], None, OFF, time.time())

    def layout(self, chat_id: str | int) -> ForumLayout:
        with self.engine.connect() as connection:
            return _layout(_bindings(connection, str(chat_id)))

    def layouts(self) -> dict[str, ForumLayout]:
        """Every chat with a binding or General switched off (for planning)."""
        found: dict[str, list[Binding]] = {}
        with self.engine.connect() as connection:
            for row in connection.execute(select(topics).order_by(topics.c.thread_id)):
                found.setdefault(row.chat_id, []).append(_binding(row))
        return {chat_id: _layout(rows) for chat_id, rows in found.items()}

    def mark_broken(self, chat_id: str | int, thread_id: int, error: str) -> None:
        with self.engine.begin() as connection:
            self.mark_broken_in(connection, str(chat_id), thread_id, error)

    @staticmethod
    def mark_broken_in(connection: Connection, chat_id: str, thread_id: int, error: str) -> None:
        """`mark_broken` inside a caller's transaction (the outbox recording the answer)."""
        connection.execute(
            update(topics)
            .where(
                topics.c.chat_id == chat_id,
                topics.c.thread_id == thread_id,
                topics.c.state == BOUND,
            )
            .values(state=BROKEN, error=error[:500], updated_ts=time.time())
        )

    @staticmethod
    def move_in(connection: Connection, old: str, new: str) -> None:
        """A group became a supergroup: its bindings follow it (inside the caller's move)."""
        known = connection.execute(select(chats.c.id).where(chats.c.id == new)).first()
        if old == new or known is None:
            return
        rows = list(connection.execute(select(topics).where(topics.c.chat_id == old)))
        for row in rows:
            connection.execute(
                upsert(connection, topics)
                .values(
                    chat_id=new,
                    thread_id=row.thread_id,
                    title=row.title,
                    categories=row.categories,
                    state=row.state,
                    error=row.error,
                    updated_ts=row.updated_ts,
                )
                .on_conflict_do_nothing(index_elements=[topics.c.chat_id, topics.c.thread_id])
            )
        connection.execute(delete(topics).where(topics.c.chat_id == old))


def _bindings(connection: Connection, chat_id: str) -> list[Binding]:
    query = select(topics).where(topics.c.chat_id == chat_id).order_by(topics.c.thread_id)
    return [_binding(row) for row in connection.execute(query)]


def _binding(row: object) -> Binding:
    return Binding(
        thread_id=int(row.thread_id),  # type: ignore[attr-defined]
        title=row.title,  # type: ignore[attr-defined]
        categories=tuple(json.loads(row.categories)),  # type: ignore[attr-defined]
        state=row.state,  # type: ignore[attr-defined]
        error=row.error,  # type: ignore[attr-defined]
    )


def _layout(rows: Iterable[Binding]) -> ForumLayout:
    listed = list(rows)
    general = not any(b.thread_id == GENERAL and b.state == OFF for b in listed)
    return ForumLayout(tuple(b for b in listed if b.thread_id != GENERAL), general)


def _write(
    connection: Connection,
    chat_id: str,
    thread_id: int,
    names: Sequence[str],
    title: str | None,
    state: str,
    now: float,
) -> None:
    values = {
        "categories": json.dumps(list(names), ensure_ascii=False),
        "title": title,
        "state": state,
        "error": None,
        "updated_ts": now,
    }
    connection.execute(
        upsert(connection, topics)
        .values(chat_id=chat_id, thread_id=thread_id, **values)
        .on_conflict_do_update(index_elements=[topics.c.chat_id, topics.c.thread_id], set_=values)
    )
