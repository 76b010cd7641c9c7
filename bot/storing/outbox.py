"""The outbox: every message to send, durable, claimed by dispatchers one per chat at a time.

A delivery is one part of one digest's message to one chat. Its life:

    pending --claim--> sending --sent--> sent
       ^                  |------------> failed      (definitively: refused, too many attempts)
       '------retry-------'  (429, 5xx, timeout: `not_before_ts` says when)
    pending/sending --chat blocked or gone--> cancelled

Order per chat: only a chat's oldest unfinished delivery (its *head*) may be claimed, and only
when it is due; so a chat never has two messages in flight and a retried head holds back the rest
of its chat, not other chats. After a crash `sending` rows go back to `pending`: the message that
was in flight may be sent again (at most one per chat); nothing marked `sent` is.

Claiming uses `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL, so several instances share one
outbox; SQLite ignores the clause (one process per database file), and the conditional
`UPDATE … WHERE state = 'pending' RETURNING` makes a double claim impossible on both.

An edit is a delivery too: when a digest changes after it was planned, each part whose text
changed gets a row with `edit_of` (the delivery whose Telegram message it edits) and the next
`revision` of that part; it waits its turn in its chat and is paced like a send. A part not yet
sent has its text replaced instead. An edit whose message is gone is sent as a new message.

Texts are stored once per distinct message in `delivery_texts` (100,000 subscribers of the same
categories share one row); a delivery resent as plain text carries its own text.

A plan is written in batches of recipients, each its own transaction (`planning` with `chats`,
the batch's chats, and `cursor`, the last of them): the dispatcher claims the first batch's
deliveries while later ones are still being written, and `plans` records how far the plan got,
so that a plan stopped half-way resumes after its last batch (`start_plan`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)

from bot.storing.database import upsert
from bot.storing.notify import notify_planned
from bot.storing.tables import (
    chat_moves,
    delivered_items,
    deliveries,
    delivery_texts,
    digests,
    plans,
)
from bot.storing.topics import Topics

PENDING, SENDING, SENT, FAILED, CANCELLED = "pending", "sending", "sent", "failed", "cancelled"
UNFINISHED = (PENDING, SENDING)
STATES = (PENDING, SENDING, SENT, FAILED, CANCELLED)
_BATCH = 2000
_IN_CHUNK = 500  # bound parameters in one IN (...)
BUNDLE_PREFIX = "bundle-"  # the digest id of a bundle's deliveries: never a digest's own id
_ERROR_MAX = 500


# What a dispatcher hands back after trying a delivery --------------------------------------


@dataclass(frozen=True, slots=True)
class Sent:
    id: int
    chat_id: str
    message_id: int | None
    sent_ts: float
    # the chat's next delivery is not due before this (per-chat pacing, shared by instances)
    next_not_before: float = 0.0
    anew: bool = False  # an edit whose message was gone, sent as a new message instead


@dataclass(frozen=True, slots=True)
class Retry:
    id: int
    not_before_ts: float
    error: str
    counts: bool = True  # a 429 is not a failed attempt


@dataclass(frozen=True, slots=True)
class Failed:
    id: int
    error: str


@dataclass(frozen=True, slots=True)
class ChatClosed:
    """The chat blocked the bot or no longer exists: this delivery fails, the rest is
    cancelled."""

    id: int
    chat_id: str
    state: str  # "blocked" or "gone"
    error: str


@dataclass(frozen=True, slots=True)
class ChatMoved:
    """The group became a supergroup: its unfinished deliveries follow it, this one at once."""

    id: int
    old_id: str
    new_id: str


@dataclass(frozen=True, slots=True)
class AsPlain:
    """Telegram refused the HTML: send this text without parse mode instead."""

    id: int
    text: str
    error: str


@dataclass(frozen=True, slots=True)
class SendAnew:
    """An edit whose message cannot be edited (deleted, never sent): send its text as a new
    message instead, so the chat still gets the corrected part."""

    id: int
    error: str


@dataclass(frozen=True, slots=True)
class TopicClosed:
    """The forum topic is closed or deleted: this delivery and the topic's other unfinished
    ones go to the chat's General topic instead (at once), and its binding is marked broken."""

    id: int
    chat_id: str
    thread_id: int
    error: str


Result = Sent | Retry | Failed | ChatClosed | ChatMoved | AsPlain | SendAnew | TopicClosed


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery claimed for sending."""

    id: int
    chat_id: str
    digest_id: str
    part: int
    parts: int
    text: str
    plain: bool
    disable_preview: bool
    attempts: int
    edit_of: int | None = None  # an edit of the message that delivery sent
    target_message_id: int | None = None  # that message's id (None: it was never sent)
    thread_id: int | None = None  # the forum topic it goes to (None: the chat, or General)
    is_last: bool | None = None  # the last part of its message (None: planned before 0012)

    @property
    def is_edit(self) -> bool:
        return self.edit_of is not None

    @property
    def ends_message(self) -> bool:
        """Whether it is the last part of its message (the one that carries the settings
        button). Parts are numbered on across a chat's messages of one digest (a follow-up, a
        forum's topics), so only rows planned before 0012 fall back to `part >= parts`."""
        return self.part >= self.parts if self.is_last is None else self.is_last


@dataclass(frozen=True, slots=True)
class Exchange:
    claimed: list[Claimed]
    next_due: float | None  # earliest not_before_ts of a pending delivery in the future
    unfinished: int | None  # pending + sending deliveries (when asked for)


@dataclass(frozen=True, slots=True)
class NewPart:
    """One part of a message to plan."""

    text: str
    item_ids: tuple[str, ...]
    disable_preview: bool


@dataclass(frozen=True, slots=True)
class Progress:
    """How far the current version of a digest's plan got: `cursor` is the last chat planned
    (None: nothing yet, not even the configured channels)."""

    digest_id: str
    content_hash: str
    cursor: str | None
    again: bool = False  # the digest was planned before (a revision, a retry, a resumed plan)


@dataclass(frozen=True, slots=True)
class PlannedPart:
    """One part of a message already planned to a chat, as it stands now: the delivery that
    sends it (`base_id`), and its latest live version (the base itself or its newest edit)."""

    chat_id: str
    part: int
    parts: int
    base_id: int
    latest_id: int
    latest_state: str
    text: str  # "" when the text is shared (then `text_hash` names it)
    text_hash: str | None
    disable_preview: bool
    item_ids: tuple[str, ...]
    revision: int  # the highest revision of this part so far (edits that failed included)
    thread_id: int | None = None  # the forum topic of its message
    is_last: bool | None = None  # the last part of its message (None: planned before 0012)


class PlanWriter:
    """Writes one digest's deliveries inside the planning transaction (see `Outbox.planning`)."""

    def __init__(
        self,
        connection: Connection,
        digest_id: str,
        chats: Sequence[str] | None = None,
        now: float | None = None,
    ) -> None:
        self.connection = connection
        self.digest_id = digest_id
        # the chats of this batch (None: the whole digest): what is read is theirs only
        self.scope = None if chats is None else list(dict.fromkeys(chats))
        self.deliveries = 0
        self.items = 0
        self.chats = 0
        self.edits = 0
        self._known_texts: set[str] = set()
        self._rows: list[dict] = []
        self._item_rows: list[dict] = []
        self._last_part: dict[str, int] | None = None
        # chat -> the bundles (their digest ids) that brought it items `delivered` asked about
        self.bundled: dict[str, set[str]] = {}
        self._now = time.time() if now is None else now

    def renew_plan(self) -> None:
        """The plan's row renewed (the retention window counts from now) and, on PostgreSQL,
        locked until the transaction ends; called before anything of the plan is read (a
        bundle's revision: `planner`), so a retention step of it is over, or waits for this
        transaction and then finds it no longer old (`retention._step`)."""
        self.connection.execute(
            update(plans).where(plans.c.digest_id == self.digest_id).values(planned_ts=self._now)
        )

    def _chat_chunks(self) -> Iterator[list[str] | None]:
        """The batch's chats in chunks of bound parameters (one None: every chat)."""
        if self.scope is None:
            yield None
            return
        for start in range(0, len(self.scope), _IN_CHUNK):
            yield self.scope[start : start + _IN_CHUNK]

    def delivered(self, item_ids: Sequence[str]) -> dict[str, set[str]]:
        """chat -> which of these items it already has (sent, or planned in an earlier plan);
        the bundles among what brought them are kept in `bundled`."""
        found: dict[str, set[str]] = {}
        c = delivered_items.c
        for start in range(0, len(item_ids), _IN_CHUNK):
            chunk = list(item_ids[start : start + _IN_CHUNK])
            for chats in self._chat_chunks():
                query = select(c.chat_id, c.item_id, c.digest_id).where(c.item_id.in_(chunk))
                if chats is not None:
                    query = query.where(c.chat_id.in_(chats))
                for chat_id, item_id, digest_id in self.connection.execute(query):
                    found.setdefault(chat_id, set()).add(item_id)
                    if digest_id and digest_id.startswith(BUNDLE_PREFIX):
                        self.bundled.setdefault(chat_id, set()).add(digest_id)
        return found

    def _next_part(self, chat_id: str) -> int:
        if self._last_part is None:
            self._last_part = {}
            for chats in self._chat_chunks():
                query = (
                    select(deliveries.c.chat_id, func.max(deliveries.c.part))
                    .where(deliveries.c.digest_id == self.digest_id)
                    .group_by(deliveries.c.chat_id)
                )
                if chats is not None:
                    query = query.where(deliveries.c.chat_id.in_(chats))
                self._last_part.update(self.connection.execute(query).all())
        return self._last_part.get(chat_id, 0) + 1

    def _text_hash(self, text: str) -> str:
        digest = text_hash(text)
        if digest not in self._known_texts:
            self.connection.execute(
                upsert(self.connection, delivery_texts)
                .values(hash=digest, text=text)
                .on_conflict_do_nothing(index_elements=[delivery_texts.c.hash])
            )
            self._known_texts.add(digest)
        return digest

    def planned(self) -> dict[str, list[list[PlannedPart]]]:
        """chat -> the messages of this digest planned to it (each its live parts, in order)."""
        d = deliveries
        by_part: dict[str, dict[int, list[Row]]] = {}
        for chats in self._chat_chunks():
            query = (
                select(
                    d.c.id,
                    d.c.chat_id,
                    d.c.part,
                    d.c.parts,
                    d.c.revision,
                    d.c.edit_of,
                    d.c.state,
                    d.c.text,
                    d.c.text_hash,
                    d.c.disable_preview,
                    d.c.item_ids,
                    d.c.thread_id,
                    d.c.is_last,
                )
                .where(d.c.digest_id == self.digest_id)
                .order_by(d.c.chat_id, d.c.part, d.c.revision)
            )
            if chats is not None:
                query = query.where(d.c.chat_id.in_(chats))
            for row in self.connection.execute(query):
                by_part.setdefault(row.chat_id, {}).setdefault(row.part, []).append(row)
        out: dict[str, list[list[PlannedPart]]] = {}
        for chat_id, parts in by_part.items():
            messages = _messages_of(chat_id, parts)
            if messages:
                out[chat_id] = messages
        return out

    def replace(self, delivery_id: int, part: NewPart) -> bool:
        """A new text for a delivery not claimed yet; False when it was claimed meanwhile."""
        return bool(
            self.connection.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id, deliveries.c.state == PENDING)
                .values(
                    text="",
                    text_hash=self._text_hash(part.text),
                    plain=False,
                    item_ids=json.dumps(list(part.item_ids)),
                    disable_preview=part.disable_preview,
                )
            ).rowcount
        )

    def edit(self, planned: PlannedPart, part: NewPart) -> None:
        """An edit of a part already sent (or being sent), queued behind it in its chat."""
        self._rows.append(
            {
                **self._row(planned.chat_id, planned.part, planned.parts, part),
                "edit_of": planned.base_id,
                "revision": planned.revision + 1,
                "thread_id": planned.thread_id,
                "is_last": planned.is_last,  # the edited message keeps its button where it is
            }
        )
        self.edits += 1

    def received(self, chat_id: str, item_ids: Iterable[str]) -> None:
        """Items a chat gets by an edit (they count as delivered, like those of a message)."""
        self._item_rows.extend(
            {"chat_id": chat_id, "item_id": item_id, "digest_id": self.digest_id}
            for item_id in dict.fromkeys(item_ids)
        )

    def _row(
        self,
        chat_id: str,
        number: int,
        parts: int,
        part: NewPart,
        thread_id: int | None = None,
        is_last: bool | None = None,
    ) -> dict:
        return {
            "chat_id": chat_id,
            "digest_id": self.digest_id,
            "part": number,
            "parts": parts,
            "text": "",
            "text_hash": self._text_hash(part.text),
            "item_ids": json.dumps(list(part.item_ids)),
            "disable_preview": part.disable_preview,
            "state": PENDING,
            "attempts": 0,
            "not_before_ts": 0.0,
            "created_ts": self._now,
            "plain": False,
            "edit_of": None,
            "revision": 0,
            "thread_id": thread_id,
            "is_last": is_last,
        }

    def add(
        self,
        chat_id: str,
        parts: Sequence[NewPart],
        *,
        received: Collection[str] = (),
        thread_id: int | None = None,
    ) -> None:
        """One message (its parts, in order) for a chat (into forum topic `thread_id`);
        `received`: items it has already."""
        if not parts:
            return
        first = self._next_part(chat_id)
        assert self._last_part is not None
        self._last_part[chat_id] = first + len(parts) - 1
        seen: set[str] = set(received)
        for offset, part in enumerate(parts):
            last = offset == len(parts) - 1
            self._rows.append(self._row(chat_id, first + offset, len(parts), part, thread_id, last))
            for item_id in part.item_ids:
                if item_id not in seen:
                    seen.add(item_id)
                    self._item_rows.append(
                        {"chat_id": chat_id, "item_id": item_id, "digest_id": self.digest_id}
                    )
        self.chats += 1
        if len(self._rows) >= _BATCH or len(self._item_rows) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        if self._rows:
            self.connection.execute(insert(deliveries), self._rows)
            self.deliveries += sum(1 for row in self._rows if row["edit_of"] is None)
            self._rows = []
        if self._item_rows:
            self.connection.execute(insert(delivered_items), self._item_rows)
            self.items += len(self._item_rows)
            self._item_rows = []


class Outbox:
    """Delivery queries; every method is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"

    # Planning ----------------------------------------------------------------------------------

    @contextmanager
    def planning(
        self,
        digest_id: str,
        *,
        chats: Sequence[str] | None = None,
        cursor: str | None = None,
        now: float | None = None,
    ) -> Iterator[PlanWriter]:
        """One transaction for a digest's plan, or for one batch of it (`chats`; `cursor`: the
        progress recorded with it, see `start_plan`): either every delivery is written, or none.
        """
        now = time.time() if now is None else now
        with self.engine.begin() as connection:
            values: dict[str, object] = {"planned_ts": now}
            if cursor is not None:
                values["cursor"] = cursor
            # the plan's row first, before anything is read: a retention step of this digest
            # (which locks it too) is over, or waits for this batch (`retention._step`)
            connection.execute(update(plans).where(plans.c.digest_id == digest_id).values(**values))
            writer = PlanWriter(connection, digest_id, chats, now)
            yield writer
            writer.flush()
            notify_planned(connection)  # delivered at commit: other instances wake then

    def start_plan(self, digest_id: str, now: float | None = None) -> Progress:
        """Where planning the digest's current version starts: after the last batch written,
        when a plan of this version stopped half-way; at the beginning otherwise (a new digest,
        a changed one, or one planned to the end already: planning again is harmless)."""
        now = time.time() if now is None else now
        with self.engine.begin() as connection:
            content_hash = connection.execute(
                select(digests.c.content_hash).where(digests.c.id == digest_id)
            ).scalar()
            if content_hash is None:
                raise LookupError(f"no digest {digest_id!r} in the archive")
            row = connection.execute(select(plans).where(plans.c.digest_id == digest_id)).first()
            if row is not None and row.content_hash == content_hash and not row.done:
                return Progress(digest_id, content_hash, row.cursor, again=True)
            fresh = {
                "content_hash": content_hash,
                "cursor": None,
                "done": False,
                "started_ts": now,
                "planned_ts": now,
            }
            connection.execute(
                upsert(connection, plans)
                .values(digest_id=digest_id, **fresh)
                .on_conflict_do_update(index_elements=[plans.c.digest_id], set_=fresh)
            )
            return Progress(digest_id, content_hash, None, again=row is not None)

    def finish_plan(self, progress: Progress, now: float | None = None) -> None:
        """Every recipient of this version is planned (a changed version starts again)."""
        with self.engine.begin() as connection:
            connection.execute(
                update(plans)
                .where(
                    plans.c.digest_id == progress.digest_id,
                    plans.c.content_hash == progress.content_hash,
                )
                .values(done=True, planned_ts=time.time() if now is None else now)
            )

    def adopt(self, old_id: str, new_id: str) -> int:
        """A file's digest replaced by its edited version under a new id (its title or date
        changed): the messages planned for the old one become the new one's, so planning the
        new one revises them in place instead of sending a second copy. Chats that have
        messages of the new one already keep theirs. The deliveries moved."""
        d = deliveries
        with self.engine.begin() as connection:
            has_new = select(d.c.chat_id).where(d.c.digest_id == new_id).scalar_subquery()
            moved = connection.execute(
                update(d)
                .where(d.c.digest_id == old_id, d.c.chat_id.not_in(has_new))
                .values(digest_id=new_id)
            ).rowcount
            connection.execute(
                update(delivered_items)
                .where(delivered_items.c.digest_id == old_id)
                .values(digest_id=new_id)
            )
        return moved

    def digest_header(self, digest_id: str) -> tuple[str, datetime] | None:
        """(title, date) of a stored digest."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(digests.c.title, digests.c.date).where(digests.c.id == digest_id)
            ).first()
        return (row.title, datetime.fromisoformat(row.date)) if row else None

    def moves(self) -> dict[str, str]:
        """Chats that moved (old id -> newest id)."""
        with self.engine.connect() as connection:
            query = select(chat_moves.c.old_id, chat_moves.c.new_id)
            return dict(connection.execute(query).all())

    # Dispatching -------------------------------------------------------------------------------

    def reset_inflight(self, older_than: float | None = None) -> int:
        """`sending` deliveries back to `pending` (all, or those claimed before `older_than`):
        a dispatcher that died while sending them will not report back."""
        query = update(deliveries).where(deliveries.c.state == SENDING)
        if older_than is not None:
            query = query.where(
                (deliveries.c.claimed_ts < older_than) | deliveries.c.claimed_ts.is_(None)
            )
        with self.engine.begin() as connection:
            return connection.execute(
                query.values(state=PENDING, claimed_by=None, claimed_ts=None)
            ).rowcount

    def exchange(
        self,
        results: Sequence[Result],
        limit: int,
        now: float,
        instance: str,
        *,
        want_next_due: bool = False,
        want_unfinished: bool = False,
    ) -> Exchange:
        """Record `results` and claim up to `limit` due chat heads, in one transaction."""
        with self.engine.begin() as connection:
            self._settle(connection, results, now)
            claimed = self._claim(connection, limit, now, instance) if limit > 0 else []
            next_due = None
            if want_next_due:
                next_due = connection.execute(
                    select(func.min(deliveries.c.not_before_ts)).where(
                        deliveries.c.state == PENDING, deliveries.c.not_before_ts > now
                    )
                ).scalar()
            unfinished = None
            if want_unfinished:
                unfinished = connection.execute(
                    select(func.count()).where(deliveries.c.state.in_(UNFINISHED))
                ).scalar_one()
        return Exchange(claimed, next_due, unfinished)

    def settle(self, results: Sequence[Result], now: float | None = None) -> None:
        with self.engine.begin() as connection:
            self._settle(connection, results, time.time() if now is None else now)

    def claim(self, limit: int, now: float | None = None, instance: str = "") -> list[Claimed]:
        return self.exchange((), limit, time.time() if now is None else now, instance).claimed

    def _claim(
        self, connection: Connection, limit: int, now: float, instance: str
    ) -> list[Claimed]:
        d = deliveries
        earlier = deliveries.alias("earlier")
        blocked = (
            select(earlier.c.id)
            .where(
                earlier.c.chat_id == d.c.chat_id,
                earlier.c.state.in_(UNFINISHED),
                earlier.c.id < d.c.id,
            )
            .exists()
        )
        query = (
            select(d.c.id)
            .where(d.c.state == PENDING, d.c.not_before_ts <= now, ~blocked)
            .order_by(d.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=d)  # PostgreSQL; SQLite omits it
        )
        ids = list(connection.execute(query).scalars())
        if not ids:
            return []
        taken = list(
            connection.execute(
                update(d)
                .where(d.c.id.in_(ids), d.c.state == PENDING)
                .values(state=SENDING, claimed_by=instance[:64], claimed_ts=now)
                .returning(d.c.id)
            ).scalars()
        )
        if not taken:
            return []
        target = deliveries.alias("target")
        rows = connection.execute(
            select(
                d.c.id,
                d.c.chat_id,
                d.c.digest_id,
                d.c.part,
                d.c.parts,
                func.coalesce(delivery_texts.c.text, d.c.text).label("text"),
                d.c.plain,
                d.c.disable_preview,
                d.c.attempts,
                d.c.edit_of,
                target.c.message_id.label("target_message_id"),
                d.c.thread_id,
                d.c.is_last,
            )
            .select_from(
                d.outerjoin(delivery_texts, delivery_texts.c.hash == d.c.text_hash).outerjoin(
                    target, (target.c.id == d.c.edit_of) & (target.c.state == SENT)
                )
            )
            .where(d.c.id.in_(taken))
            .order_by(d.c.id)
        ).all()
        return [
            Claimed(
                id=row.id,
                chat_id=row.chat_id,
                digest_id=row.digest_id,
                part=row.part,
                parts=row.parts,
                text=row.text,
                plain=bool(row.plain),
                disable_preview=bool(row.disable_preview),
                attempts=row.attempts,
                edit_of=row.edit_of,
                target_message_id=row.target_message_id,
                thread_id=row.thread_id,
                is_last=row.is_last,
            )
            for row in rows
        ]

    @staticmethod
    def _offer_again(connection: Connection, delivery_id: int) -> None:
        """A message given up on did not reach its chat: its items no longer count as received,
        so a later digest that carries them again offers them to that chat."""
        row = connection.execute(
            select(deliveries.c.chat_id, deliveries.c.item_ids, deliveries.c.edit_of).where(
                deliveries.c.id == delivery_id
            )
        ).first()
        if row is None:
            return
        item_ids = json.loads(row.item_ids)
        if row.edit_of is not None:  # the message stands as it was: only what the edit added
            shown = connection.execute(
                select(deliveries.c.item_ids).where(deliveries.c.id == row.edit_of)
            ).scalar()
            item_ids = [i for i in item_ids if i not in set(json.loads(shown or "[]"))]
        if item_ids:
            connection.execute(
                delete(delivered_items).where(
                    delivered_items.c.chat_id == row.chat_id,
                    delivered_items.c.item_id.in_(item_ids),
                )
            )

    def _settle(self, connection: Connection, results: Iterable[Result], now: float) -> None:
        sent: list[dict] = []
        paced: list[dict] = []
        for result in results:
            if isinstance(result, Sent):
                sent.append({"b_id": result.id, "b_ts": result.sent_ts, "b_mid": result.message_id})
                if result.anew:  # from now on the message of its part
                    _set(connection, result.id, edit_of=None)
                if result.next_not_before > now:
                    paced.append({"b_chat": result.chat_id, "b_nb": result.next_not_before})
            elif isinstance(result, Retry):
                _set(
                    connection,
                    result.id,
                    state=PENDING,
                    not_before_ts=result.not_before_ts,
                    attempts=deliveries.c.attempts + (1 if result.counts else 0),
                    error=result.error[:_ERROR_MAX],
                    claimed_by=None,
                    claimed_ts=None,
                )
            elif isinstance(result, Failed | ChatClosed):
                _set(
                    connection,
                    result.id,
                    state=FAILED,
                    attempts=deliveries.c.attempts + 1,
                    error=result.error[:_ERROR_MAX],
                    claimed_by=None,
                )
                if isinstance(result, ChatClosed):  # and nothing more goes to that chat
                    self._cancel_chat(connection, result.chat_id, f"chat {result.state}")
                else:
                    self._offer_again(connection, result.id)
            elif isinstance(result, ChatMoved):
                _set(
                    connection,
                    result.id,
                    state=PENDING,
                    not_before_ts=0.0,
                    claimed_by=None,
                    claimed_ts=None,
                )
                self.move_chat_in(connection, result.old_id, result.new_id)
            elif isinstance(result, TopicClosed):
                connection.execute(
                    update(deliveries)
                    .where(
                        deliveries.c.chat_id == result.chat_id,
                        deliveries.c.thread_id == result.thread_id,
                        deliveries.c.state.in_(UNFINISHED),
                    )
                    .values(
                        thread_id=None,
                        state=PENDING,
                        not_before_ts=0.0,
                        error=result.error[:_ERROR_MAX],
                        claimed_by=None,
                        claimed_ts=None,
                    )
                )
                Topics.mark_broken_in(connection, result.chat_id, result.thread_id, result.error)
            elif isinstance(result, SendAnew):
                _set(
                    connection,
                    result.id,
                    state=PENDING,
                    edit_of=None,
                    not_before_ts=0.0,
                    error=result.error[:_ERROR_MAX],
                    claimed_by=None,
                    claimed_ts=None,
                )
            elif isinstance(result, AsPlain):
                _set(
                    connection,
                    result.id,
                    state=PENDING,
                    text=result.text,
                    text_hash=None,
                    plain=True,
                    not_before_ts=0.0,
                    error=result.error[:_ERROR_MAX],
                    claimed_by=None,
                    claimed_ts=None,
                )
        if sent:
            connection.execute(
                update(deliveries)
                .where(deliveries.c.id == bindparam("b_id"))
                .values(
                    state=SENT,
                    sent_ts=bindparam("b_ts"),
                    message_id=bindparam("b_mid"),
                    attempts=deliveries.c.attempts + 1,
                    error=None,
                    claimed_by=None,
                ),
                sent,
            )
        if paced:
            connection.execute(
                update(deliveries)
                .where(
                    deliveries.c.chat_id == bindparam("b_chat"),
                    deliveries.c.state == PENDING,
                    deliveries.c.not_before_ts < bindparam("b_nb"),
                )
                .values(not_before_ts=bindparam("b_nb")),
                paced,
            )

    # Chats -------------------------------------------------------------------------------------

    def cancel_chat(self, chat_id: str, reason: str) -> int:
        """Cancel every pending delivery of a chat (blocked, gone, unsubscribed everything)."""
        with self.engine.begin() as connection:
            return self._cancel_chat(connection, str(chat_id), reason)

    def move_chat(self, old_id: str, new_id: str) -> int:
        """A group became a supergroup: its unfinished deliveries and its history follow it."""
        with self.engine.begin() as connection:
            return self.move_chat_in(connection, str(old_id), str(new_id))

    @staticmethod
    def _cancel_chat(connection: Connection, chat_id: str, reason: str) -> int:
        return connection.execute(
            update(deliveries)
            .where(deliveries.c.chat_id == chat_id, deliveries.c.state == PENDING)
            .values(state=CANCELLED, error=reason[:_ERROR_MAX], claimed_by=None)
        ).rowcount

    @staticmethod
    def move_chat_in(connection: Connection, old: str, new: str) -> int:
        """`move_chat` inside a caller's transaction (the subscribers' move of the same chat)."""
        if old == new:
            return 0
        moved = 0
        d = deliveries
        rows = connection.execute(
            select(d.c.id, d.c.digest_id, d.c.part, d.c.revision)
            .where(d.c.chat_id == old, d.c.state.in_(UNFINISHED))
            .order_by(d.c.id)
        ).all()
        taken = {
            (r.digest_id, r.part, r.revision)
            for r in connection.execute(
                select(d.c.digest_id, d.c.part, d.c.revision).where(d.c.chat_id == new)
            )
        }
        for row in rows:
            if (row.digest_id, row.part, row.revision) in taken:  # the new chat has it already
                _set(connection, row.id, state=CANCELLED, error=f"chat moved to {new}")
                continue
            # an edit cannot follow: message ids belong to the old chat (the same id in the new
            # one is another message), so the new chat gets the part as a new message
            _set(connection, row.id, chat_id=new, edit_of=None)
            moved += 1
        history = connection.execute(
            select(delivered_items).where(delivered_items.c.chat_id == old)
        ).all()
        if history:
            connection.execute(
                upsert(connection, delivered_items).on_conflict_do_nothing(
                    index_elements=[delivered_items.c.chat_id, delivered_items.c.item_id]
                ),
                [{"chat_id": new, "item_id": r.item_id, "digest_id": r.digest_id} for r in history],
            )
        connection.execute(delete(delivered_items).where(delivered_items.c.chat_id == old))
        # remember the move, and keep earlier moves pointing at the newest id
        connection.execute(update(chat_moves).where(chat_moves.c.new_id == old).values(new_id=new))
        moved_ts = time.time()
        connection.execute(
            upsert(connection, chat_moves)
            .values(old_id=old, new_id=new, moved_ts=moved_ts)
            .on_conflict_do_update(
                index_elements=[chat_moves.c.old_id], set_={"new_id": new, "moved_ts": moved_ts}
            )
        )
        return moved

    # Figures -----------------------------------------------------------------------------------

    def counts(self, digest_id: str | None = None) -> dict[str, int]:
        """Deliveries per state (every state present, 0 when none)."""
        query = select(deliveries.c.state, func.count()).group_by(deliveries.c.state)
        if digest_id is not None:
            query = query.where(deliveries.c.digest_id == digest_id)
        with self.engine.connect() as connection:
            found: dict[str, int] = {state: n for state, n in connection.execute(query)}
        return {state: int(found.get(state, 0)) for state in STATES}

    def pending_count(self) -> int:
        with self.engine.connect() as connection:
            return connection.execute(
                select(func.count()).where(deliveries.c.state.in_(UNFINISHED))
            ).scalar_one()

    def rows(self, digest_id: str | None = None) -> list[dict]:
        """Every delivery (text resolved), oldest first: for tests and diagnostics."""
        d = deliveries
        query = (
            select(d, func.coalesce(delivery_texts.c.text, d.c.text).label("body"))
            .select_from(d.outerjoin(delivery_texts, delivery_texts.c.hash == d.c.text_hash))
            .order_by(d.c.id)
        )
        if digest_id is not None:
            query = query.where(d.c.digest_id == digest_id)
        with self.engine.connect() as connection:
            out = []
            for row in connection.execute(query).mappings():
                record = dict(row)
                record["text"] = record.pop("body")
                record["item_ids"] = json.loads(record["item_ids"])
                out.append(record)
        return out


def text_hash(text: str) -> str:
    """The key of a message text in `delivery_texts`."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _set(connection: Connection, delivery_id: int, **values: object) -> None:
    """Record what became of one delivery."""
    connection.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(**values))


_LIVE = (PENDING, SENDING, SENT)


def _messages_of(chat_id: str, parts: dict[int, list[Row]]) -> list[list[PlannedPart]]:
    """A chat's rows of one digest (part -> its rows by revision) as messages of live parts.
    A message is `parts` consecutive part numbers, as it was planned; a part whose message was
    given up on (failed, cancelled) is left out: its items were offered again."""
    messages: list[list[PlannedPart]] = []
    numbers = sorted(parts)
    index = 0
    while index < len(numbers):
        rows = parts[numbers[index]]
        bases = [row for row in rows if row.edit_of is None]
        size = max(1, (bases or rows)[-1].parts)
        message: list[PlannedPart] = []
        for number in numbers[index : index + size]:
            planned = _planned_part(chat_id, number, parts[number])
            if planned is not None:
                message.append(planned)
        if message:
            messages.append(message)
        index += size
    return messages


def _planned_part(chat_id: str, number: int, rows: list[Row]) -> PlannedPart | None:
    live_bases = [row for row in rows if row.edit_of is None and row.state in _LIVE]
    if not live_bases:
        return None
    base = live_bases[-1]
    latest = [row for row in rows if row.state in _LIVE and row.revision >= base.revision][-1]
    return PlannedPart(
        chat_id=chat_id,
        part=number,
        parts=base.parts,
        base_id=base.id,
        latest_id=latest.id,
        latest_state=latest.state,
        text=latest.text,
        text_hash=latest.text_hash,
        disable_preview=bool(latest.disable_preview),
        item_ids=tuple(json.loads(latest.item_ids)),
        revision=rows[-1].revision,
        thread_id=base.thread_id,
        is_last=base.is_last,
    )
