"""Retention: the outbox's history older than the window is deleted, a little at a time.

A digest's deliveries, and the delivered-item rows they brought (found by each delivery's chat
and items: the table's key, so it needs no index of its own), go once the last batch of its
plan (`plans.planned_ts`, which a revision renews) is older than the window, its plan is
finished (or its digest is gone), and none of its deliveries is pending or being sent: an edit
always finds the message it edits, and nothing waiting is lost. A shared text goes once no
delivery names it. Each step deletes at most `batch` deliveries in its own short transaction,
re-checking that the digest is still expired, so deliveries settling their sends wait for one
small delete at most, and a digest planned again meanwhile is left alone from the next step on.

A bundle of held items (digest id `bundle-<ms>`) has a plan row too (written by its release,
done at once), so it goes the same way; a revision of it renews and locks that row first
(`PlanWriter.renew_plan`), as a digest's batch does its own.

Once its rows are gone, a story a chat received before the window may be offered to it again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, Engine, delete, func, select
from sqlalchemy.exc import OperationalError

from bot.storing.outbox import BUNDLE_PREFIX, SENT, UNFINISHED
from bot.storing.tables import (
    chat_moves,
    delivered_items,
    deliveries,
    delivery_texts,
    digests,
    plans,
)

BATCH = 1000  # deliveries per transaction (with the delivered-item rows they brought)
_IN_CHUNK = 500  # bound parameters in one IN (...)


@dataclass(slots=True)
class Pruned:
    deliveries: int = 0
    items: int = 0  # delivered-item rows
    texts: int = 0
    digests: int = 0  # digests whose history is gone entirely
    bundles: int = 0  # bundles of held items (`bundle-<ms>`) whose history is gone entirely

    def __bool__(self) -> bool:
        return bool(self.deliveries or self.items or self.texts or self.digests or self.bundles)


@dataclass(frozen=True, slots=True)
class Storage:
    """Rows of the outbox and, where the database tells, the bytes they take."""

    deliveries: int
    delivered_items: int
    texts: int
    bytes: int | None  # tables and indexes of the outbox (None: unknown)


class Retention:
    def __init__(
        self,
        engine: Engine,
        *,
        batch: int = BATCH,
        pause: Callable[[], None] = lambda: None,
    ) -> None:
        self.engine = engine
        self.batch = batch
        self.pause = pause  # between two steps: others' transactions go first

    def expired(self, cutoff: float) -> list[str]:
        """Digests whose history is older than `cutoff` and may go, oldest first."""
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    select(plans.c.digest_id)
                    .where(_expired(cutoff))
                    .order_by(plans.c.planned_ts, plans.c.digest_id)
                ).scalars()
            )

    def prune(self, cutoff: float, *, steps: int | None = None) -> Pruned:
        """Delete the history older than `cutoff` (at most `steps` transactions, when given)."""
        pruned = Pruned()
        taken = 0
        for digest_id in self.expired(cutoff):
            while steps is None or taken < steps:
                if taken:
                    self.pause()
                taken += 1
                if not self._step(digest_id, cutoff, pruned):
                    break
        while steps is None or taken < steps:
            if taken:
                self.pause()
            taken += 1
            with self.engine.begin() as connection:
                gone = _unused_texts(connection, self.batch)
            pruned.texts += gone
            if gone < self.batch:
                break
        return pruned

    def _step(self, digest_id: str, cutoff: float, pruned: Pruned) -> bool:
        """One transaction: at most `batch` deliveries and the delivered-item rows they
        brought; False when the digest is done (or no longer expired)."""
        with self.engine.begin() as connection:
            # The plan's row, locked (PostgreSQL): a revision renews it before it reads what
            # was planned (`Outbox.start_plan`, and each batch of it), so it waits for this
            # step to commit, or it committed first and the plan is no longer old here (the
            # condition is checked again on the row as locked). Either way a revision never
            # reads deliveries or delivered items that this step deletes under it.
            # A key lookup, not the search for waiting deliveries `expired` made: a digest
            # gets new ones only by planning, which renews `planned_ts`.
            still = connection.execute(
                select(plans.c.digest_id)
                .where(plans.c.digest_id == digest_id, _old(cutoff))
                .with_for_update(of=plans)
            ).first()
            if still is None:
                return False
            d = deliveries
            some = (
                select(d.c.id)
                .where(d.c.digest_id == digest_id, d.c.state.not_in(UNFINISHED))
                .order_by(d.c.id)
                .limit(self.batch)
            )
            # the state checked again by the DELETE itself: never a delivery waiting to be sent
            rows = connection.execute(
                delete(d)
                .where(d.c.id.in_(some.scalar_subquery()), d.c.state.not_in(UNFINISHED))
                .returning(d.c.id, d.c.chat_id, d.c.item_ids, d.c.state)
            ).all()
            if not rows:
                connection.execute(delete(plans).where(plans.c.digest_id == digest_id))
                if digest_id.startswith(BUNDLE_PREFIX):
                    pruned.bundles += 1
                else:
                    pruned.digests += 1
                return False
            moves = dict(connection.execute(select(chat_moves.c.old_id, chat_moves.c.new_id)).all())
            received: set[tuple[str, str]] = set()  # what sent messages brought
            offered: set[tuple[str, str]] = set()  # what the others were to bring
            for row in rows:
                chats = {row.chat_id, moves.get(row.chat_id, row.chat_id)}  # history follows
                pairs = {(chat, item) for chat in chats for item in json.loads(row.item_ids)}
                (received if row.state == SENT else offered).update(pairs)
            pruned.items += _delete_received(connection, received, None)
            # an item of a message given up on may have come by a later digest: not that row
            pruned.items += _delete_received(connection, offered - received, digest_id)
            pruned.deliveries += len(rows)
            return True

    def storage(self) -> Storage:
        """How much the outbox holds: rows, and bytes on SQLite (dbstat) and PostgreSQL."""
        with self.engine.connect() as connection:
            counts = [
                connection.execute(select(func.count()).select_from(table)).scalar_one()
                for table in (deliveries, delivered_items, delivery_texts)
            ]
            size = _outbox_bytes(connection)
        return Storage(counts[0], counts[1], counts[2], size)


def _old(cutoff: float) -> ColumnElement[bool]:
    """A plan last written before the cutoff and finished (or its digest gone)."""
    digest_here = select(digests.c.id).where(digests.c.id == plans.c.digest_id)
    return (plans.c.planned_ts < cutoff) & (plans.c.done | ~digest_here.exists())


def _expired(cutoff: float) -> ColumnElement[bool]:
    """A plan whose history may go: old (`_old`), and nothing of it waiting to be sent."""
    d = deliveries
    waiting = select(d.c.id).where(d.c.digest_id == plans.c.digest_id, d.c.state.in_(UNFINISHED))
    return _old(cutoff) & ~waiting.exists()


def _delete_received(
    connection: Connection, pairs: set[tuple[str, str]], digest_id: str | None
) -> int:
    """Delete the delivered-item rows of these (chat, item) pairs (those of `digest_id` only,
    when given): one statement per item and chunk of chats, each a set of lookups of the
    primary key (a digest has a few items; SQLite scans the whole table for a row-value IN).
    """
    by_item: dict[str, list[str]] = {}
    for chat_id, item_id in sorted(pairs):
        by_item.setdefault(item_id, []).append(chat_id)
    i = delivered_items.c
    gone = 0
    for item_id, chat_ids in by_item.items():
        for start in range(0, len(chat_ids), _IN_CHUNK):
            chunk = chat_ids[start : start + _IN_CHUNK]
            query = delete(delivered_items).where(i.item_id == item_id, i.chat_id.in_(chunk))
            if digest_id is not None:
                query = query.where(i.digest_id == digest_id)
            gone += connection.execute(query).rowcount
    return gone


def _unused_texts(connection: Connection, limit: int) -> int:
    """Delete up to `limit` shared texts no delivery names (found by `ix_deliveries_text_hash`).
    On PostgreSQL a text a plan is naming right now is skipped (its foreign-key check holds a
    lock on it), and the DELETE checks again, with what committed since, that none does."""
    used = select(deliveries.c.id).where(deliveries.c.text_hash == delivery_texts.c.hash)
    unused = (
        select(delivery_texts.c.hash)
        .where(~used.exists())
        .limit(limit)
        .with_for_update(skip_locked=True, of=delivery_texts)
    )
    hashes = list(connection.execute(unused).scalars())
    if not hashes:
        return 0
    return connection.execute(
        delete(delivery_texts).where(delivery_texts.c.hash.in_(hashes), ~used.exists())
    ).rowcount


_OUTBOX = ("deliveries", "delivered_items", "delivery_texts", "plans")


def _outbox_bytes(connection: Connection) -> int | None:
    """Bytes of the outbox's tables and their indexes, as the database counts them."""
    names = list(_OUTBOX)
    if connection.dialect.name == "postgresql":
        total = 0
        for name in names:
            total += connection.exec_driver_sql(
                "SELECT pg_total_relation_size(%(name)s::regclass)", {"name": name}
            ).scalar_one()
        return int(total)
    try:
        rows = connection.exec_driver_sql(
            "SELECT s.name, SUM(s.pgsize) FROM dbstat s GROUP BY s.name"
        ).all()
        owners: dict[str, str] = dict(
            connection.exec_driver_sql("SELECT name, tbl_name FROM sqlite_master").all()
        )
    except OperationalError:  # dbstat is an optional module of SQLite
        return None
    return int(sum(size for name, size in rows if owners.get(name, name) in names))
