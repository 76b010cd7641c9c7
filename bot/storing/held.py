"""Items held for a chat's next bundle (#13: a schedule, or quiet hours that hold).

Planning holds a chat's items instead of planning its message (`hold`, inside the plan's
transaction); the releaser turns everything a chat has held into ONE delivery and deletes the
held rows in the same transaction, a batch of chats per transaction (`release_many`). So a
bundle is written once or not at all: a crash before the commit leaves the batch's rows held
(released at the next check, at start-up), a crash after it leaves its deliveries in the outbox
and nothing held. The rows are locked while they are released (`FOR UPDATE` on PostgreSQL), so
two instances never write the same bundle. Each release writes a `plans` row for its bundle id,
so that retention prunes its history like a digest's (`retention`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from sqlalchemy import Connection, Engine, and_, delete, func, select

from bot.model import Entry
from bot.storing.archive import entry_of
from bot.storing.database import upsert
from bot.storing.notify import notify_planned
from bot.storing.outbox import BUNDLE_PREFIX, NewPart, PlanWriter
from bot.storing.tables import (
    delivered_items,
    deliveries,
    digest_items,
    digests,
    held_items,
    items,
    plans,
)

_IN_CHUNK = 500
_ROWS = 5000  # held rows written per statement

# A bundle's messages: (forum topic, parts) each, the topic None for the chat itself (or a
# forum's General); a forum with topics gets one message per topic, like a digest.
Message = tuple[int | None, Sequence[NewPart]]
# lays out a bundle: its entries and the page slugs of their digests (digest id -> slug)
Bundle = Callable[[list[Entry], Mapping[str, str]], Sequence[Message]]


class HeldItems:
    """Reads and releases held items; `hold_many` runs inside a plan's transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @staticmethod
    def hold_many(
        connection: Connection, held: dict[str, tuple[str, ...]], digest_id: str, now: float
    ) -> None:
        """Hold items for chats (chat -> item ids), inside the caller's (the plan's) transaction;
        an item held already keeps its first time."""
        batch: list[dict[str, object]] = []
        for chat_id, item_ids in held.items():
            batch.extend(
                {"chat_id": chat_id, "item_id": i, "digest_id": digest_id, "held_ts": now}
                for i in dict.fromkeys(item_ids)
            )
            if len(batch) >= _ROWS:
                _insert(connection, batch)
                batch = []
        if batch:
            _insert(connection, batch)

    def holding(self) -> dict[str, float]:
        """chat -> when its oldest held item was held, for every chat holding any."""
        query = select(held_items.c.chat_id, func.min(held_items.c.held_ts)).group_by(
            held_items.c.chat_id
        )
        with self.engine.connect() as connection:
            return {chat_id: float(oldest) for chat_id, oldest in connection.execute(query)}

    def held(self, chat_id: str) -> list[str]:
        """The item ids a chat holds, oldest first (in their digest's order)."""
        with self.engine.connect() as connection:
            return _held_rows(connection, [chat_id]).get(chat_id, [])

    def release(self, chat_id: str, bundle: Bundle, now: float) -> int:
        """One chat's bundle (`release_many` of it alone); the parts written."""
        return self.release_many([(chat_id, bundle)], now).get(chat_id, 0)

    def release_many(self, chats: Sequence[tuple[str, Bundle]], now: float) -> dict[str, int]:
        """Everything each chat holds as one message, or one per forum topic (its `bundle`
        lays them out from the entries, in the order they were held; it may leave some out, a
        keyword filter's work), written with the items they carry as delivered, and the held
        rows deleted: ONE transaction for all these chats (a batch of a release). Items a chat
        has already (delivered meanwhile) are not sent again. chat -> the parts written, for
        the chats that held something."""
        digest_id = bundle_id(now)
        with self.engine.begin() as connection:
            # the bundle's plan row first, before any row is locked: retention prunes the
            # bundle by it once it is old, and a revision of the bundle locks it (`renew_plan`)
            _bundle_plan(connection, digest_id, now)
            held = _held_rows(connection, [chat_id for chat_id, _ in chats], lock=True)
            if not held:
                _drop_empty_plan(connection, digest_id)
                return {}
            had = _delivered(connection, held)
            wanted = {i for chat_id, ids in held.items() for i in ids if i not in had[chat_id]}
            stored = {entry.item.id: entry for entry in entries_of(connection, sorted(wanted))}
            slugs = page_slugs(connection, {entry.digest_id for entry in stored.values()})
            writer = PlanWriter(connection, digest_id, list(held), now)
            written: dict[str, int] = {}
            for chat_id, bundle in chats:
                item_ids = held.get(chat_id)
                if item_ids is None or chat_id in written:
                    continue
                entries = [stored[i] for i in item_ids if i not in had[chat_id] and i in stored]
                messages = [(t, p) for t, p in bundle(entries, slugs) if p] if entries else []
                for thread_id, parts in messages:
                    writer.add(chat_id, parts, thread_id=thread_id)
                written[chat_id] = sum(len(parts) for _, parts in messages)
            writer.flush()
            if any(written.values()):
                notify_planned(connection)  # the sending instance may be another one
            else:
                _drop_empty_plan(connection, digest_id)
            _delete_held(connection, held)
        return written

    @staticmethod
    def move_in(connection: Connection, old: str, new: str) -> None:
        """A group that became a supergroup keeps what it holds (inside the caller's move); an
        item both ids hold stays once."""
        rows = connection.execute(
            select(held_items.c.item_id, held_items.c.digest_id, held_items.c.held_ts).where(
                held_items.c.chat_id == old
            )
        ).all()
        if rows:
            _insert(
                connection,
                [
                    {"chat_id": new, "item_id": i, "digest_id": d, "held_ts": ts}
                    for i, d, ts in rows
                ],
            )
            connection.execute(delete(held_items).where(held_items.c.chat_id == old))

    def forget(self, chat_id: str) -> int:
        """A chat that left (blocked the bot, unsubscribed from everything) holds nothing."""
        with self.engine.begin() as connection:
            return connection.execute(
                delete(held_items).where(held_items.c.chat_id == chat_id)
            ).rowcount


def page_slugs(connection: Connection, digest_ids: Iterable[str]) -> dict[str, str]:
    """digest id -> the slug of its page, for those that have one (a planned digest has)."""
    wanted = list(digest_ids)
    found: dict[str, str] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        query = select(digests.c.id, digests.c.slug).where(
            digests.c.id.in_(chunk), digests.c.slug.is_not(None)
        )
        found.update((row.id, row.slug) for row in connection.execute(query))
    return found


def bundle_id(now: float) -> str:
    """The digest id of the bundles released at `now` (their time, to the millisecond)."""
    return f"{BUNDLE_PREFIX}{int(now * 1000)}"


def bundle_time(digest_id: str) -> float:
    """When the bundle of this digest id was released."""
    return int(digest_id.removeprefix(BUNDLE_PREFIX)) / 1000


def _bundle_plan(connection: Connection, digest_id: str, now: float) -> None:
    """The plan row of the bundles released at `now` (done at once: nothing resumes it)."""
    values = {"content_hash": "", "done": True, "started_ts": now, "planned_ts": now}
    connection.execute(
        upsert(connection, plans)
        .values(digest_id=digest_id, **values)
        .on_conflict_do_update(index_elements=[plans.c.digest_id], set_={"planned_ts": now})
    )


def _drop_empty_plan(connection: Connection, digest_id: str) -> None:
    """No plan row for a bundle id that carries nothing (an earlier batch's deliveries keep it)."""
    carried = select(deliveries.c.id).where(deliveries.c.digest_id == digest_id)
    connection.execute(delete(plans).where(plans.c.digest_id == digest_id, ~carried.exists()))


def _held_rows(
    connection: Connection, chat_ids: Sequence[str], *, lock: bool = False
) -> dict[str, list[str]]:
    """chat -> the item ids it holds, oldest first and each digest's items in its order, for
    those of `chat_ids` holding any; locked (on PostgreSQL) for a release, so that a second
    releaser waits and then finds them gone."""
    h, place = held_items.c, digest_items.c
    found: dict[str, list[str]] = {}
    chat_ids = sorted(chat_ids)  # locked in one order by every releaser: never a deadlock
    for start in range(0, len(chat_ids), _IN_CHUNK):
        query = (
            select(h.chat_id, h.item_id)
            .outerjoin(
                digest_items, and_(place.digest_id == h.digest_id, place.item_id == h.item_id)
            )
            .where(h.chat_id.in_(chat_ids[start : start + _IN_CHUNK]))
            .order_by(h.chat_id, h.held_ts, h.digest_id, place.position, h.item_id)
        )
        if lock:
            query = query.with_for_update(of=held_items)
        for chat_id, item_id in connection.execute(query):
            found.setdefault(chat_id, []).append(item_id)
    return found


def _delete_held(connection: Connection, held: Mapping[str, Sequence[str]]) -> None:
    """Delete exactly these held rows (chat -> items; an item held meanwhile stays): one
    statement per set of items and chunk of chats holding just those (most chats of a release
    hold the same items)."""
    by_items: dict[tuple[str, ...], list[str]] = {}
    for chat_id, item_ids in held.items():
        by_items.setdefault(tuple(sorted(item_ids)), []).append(chat_id)
    h = held_items.c
    for item_ids, chat_ids in by_items.items():
        for i in range(0, len(item_ids), _IN_CHUNK):
            for c in range(0, len(chat_ids), _IN_CHUNK):
                connection.execute(
                    delete(held_items).where(
                        h.item_id.in_(item_ids[i : i + _IN_CHUNK]),
                        h.chat_id.in_(chat_ids[c : c + _IN_CHUNK]),
                    )
                )


def _insert(connection: Connection, rows: list[dict[str, object]]) -> None:
    statement = upsert(connection, held_items).on_conflict_do_nothing(
        index_elements=[held_items.c.chat_id, held_items.c.item_id]
    )
    connection.execute(statement, rows)  # executemany: one compiled statement


def _delivered(connection: Connection, held: Mapping[str, Sequence[str]]) -> dict[str, set[str]]:
    """chat -> which of the items it holds it has already (every chat of `held` a key)."""
    found: dict[str, set[str]] = {chat_id: set() for chat_id in held}
    wanted = sorted({i for item_ids in held.values() for i in item_ids})
    chat_ids = list(held)
    c = delivered_items.c
    for i in range(0, len(wanted), _IN_CHUNK):
        for start in range(0, len(chat_ids), _IN_CHUNK):
            query = select(c.chat_id, c.item_id).where(
                c.item_id.in_(wanted[i : i + _IN_CHUNK]),
                c.chat_id.in_(chat_ids[start : start + _IN_CHUNK]),
            )
            for chat_id, item_id in connection.execute(query):
                if chat_id in found:
                    found[chat_id].add(item_id)
    return found


def entries_of(connection: Connection, item_ids: Sequence[str]) -> list[Entry]:
    """The stored items in the order of `item_ids` (an item gone from the archive is left out)."""
    by_id = {}
    for start in range(0, len(item_ids), _IN_CHUNK):
        chunk = item_ids[start : start + _IN_CHUNK]
        query = (
            select(items, digests.c.title.label("digest_title"))
            .join(digests, digests.c.id == items.c.digest_id)
            .where(items.c.id.in_(chunk))
        )
        for row in connection.execute(query):
            by_id[row.id] = entry_of(row)
    return [by_id[i] for i in item_ids if i in by_id]
