"""Planning: a stored digest becomes deliveries in the outbox, batch by batch.

Every recipient's message is laid out once per distinct selection (100,000 subscribers of a
handful of category combinations cost a handful of layouts), and written with the items it
carries to `delivered_items` in the same transaction. So planning is idempotent: planning the
same digest again finds every item delivered and adds nothing.

Recipients are read and planned in batches (`BATCH` chats, the configured channels first, then
the subscribers in the order of their chat ids), each batch its own transaction that also records
how far the plan got: the dispatcher starts sending the first batch (`released` is called after
each) while the rest is written, memory stays that of one batch at any audience, and a plan
stopped half-way (a crash, a restart) resumes after its last batch. No chat is planned twice:
a batch is written whole or not at all, and a chat planned already has its items delivered.

A digest planned again after it changed (an item added or removed, a summary corrected) is a
revision: each chat's message is laid out again into the parts it already has
(`revise_layout`); a part whose text changed is edited in place if it was sent (or is being
sent), or simply given the new text if it was not; items that no longer fit go out as a
follow-up message. A chat never gets a second copy of the message, nor an item twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from bot.categorising.table import CategoryTable
from bot.dispatching.routing import ALL, Recipient, recipients, route
from bot.formatting.messages import Part, Revision, layout_digest, plain_text, revise_layout
from bot.model import Item
from bot.settings import Settings
from bot.storing.archive import Archive
from bot.storing.outbox import PENDING, NewPart, Outbox, PlannedPart, PlanWriter, text_hash
from bot.storing.subscribers import ACTIVE, Subscribers

log = logging.getLogger(__name__)
_ATTEMPTS = 3
BATCH = 5000  # recipients per transaction of a plan
FIRST_BATCH = 500  # the first page of subscribers is smaller: its messages go out sooner
CHANNELS = ""  # the progress once the configured channels are planned (sorts before any chat)


@dataclass(frozen=True, slots=True)
class PlanResult:
    digest_id: str
    chats: int  # chats that get a message
    deliveries: int  # messages (parts) added to the outbox
    items: int  # (chat, item) pairs added
    skipped: int  # recipients that select nothing new in this digest
    edits: int = 0  # edits of messages already sent, queued
    rewritten: int = 0  # parts not sent yet that were given their new text
    batches: int = 0  # transactions written (a resumed plan counts those of this run)

    def __str__(self) -> str:
        text = (
            f"{self.deliveries} message(s) to {self.chats} chat(s), "
            f"{self.items} item deliveries, {self.skipped} chat(s) with nothing new"
        )
        if self.edits or self.rewritten:
            text += f", {self.edits} edit(s) of sent messages, {self.rewritten} part(s) rewritten"
        return text


def feed_url_for(recipient: Recipient, settings: Settings, table: CategoryTable) -> str:
    """The feed a message's footer points to: the category's feed for a one-category
    recipient, the main feed otherwise."""
    site = settings.site_url
    if not recipient.everything and len(recipient.categories) == 1:
        (name,) = recipient.categories
        return f"{site}c/{table.get(name).slug}/rss.xml"
    return f"{site}rss.xml"


def plan_digest(
    engine: Engine,
    digest_id: str,
    *,
    archive: Archive,
    subscribers: Subscribers,
    table: CategoryTable,
    settings: Settings,
    released: Callable[[], None] | None = None,
    batch: int = BATCH,
    clock: Callable[[], float] = time.time,
) -> PlanResult:
    """Write every delivery of a digest (or nothing, when every recipient has it already),
    `batch` recipients per transaction; `released()` after each batch is written; `clock`
    dates the plan (retention counts from it)."""
    outbox = Outbox(engine)
    header = outbox.digest_header(digest_id)
    if header is None:
        raise LookupError(f"no digest {digest_id!r} in the archive")
    title, date = header
    items = [entry.item for entry in archive.digest_entries(digest_id)]
    progress = outbox.start_plan(digest_id, now=clock())
    writing = _Plan(outbox, digest_id, title, date, items, table, settings, clock)
    for targets, cursor in recipient_batches(
        progress.cursor, outbox, subscribers, table, settings, batch, min(FIRST_BATCH, batch)
    ):
        writing.write(targets, cursor)
        if released is not None:
            released()
    outbox.finish_plan(progress, now=clock())
    return writing.result()


def recipient_batches(
    cursor: str | None,
    outbox: Outbox,
    subscribers: Subscribers,
    table: CategoryTable,
    settings: Settings,
    batch: int,
    first: int | None = None,
) -> Iterator[tuple[list[Recipient], str]]:
    """The recipients of a plan in batches, each with the progress to record once it is
    written: the configured channels (with their own subscriptions, if any), then the other
    subscribers, page by page in the order of chat ids (`batch` each, the first `first`), from
    after `cursor` (None: from the start)."""
    moves = outbox.moves()
    channels = [(str(c.chat), list(c.categories)) for c in settings.telegram.channels]
    configured = {moves.get(chat, chat) for chat, _ in channels}
    if cursor is None:
        inactive = []
        for chat_id in configured:
            known = subscribers.chat(chat_id)
            if known is not None and known.state != ACTIVE:
                inactive.append(chat_id)
        own = subscribers.active_subscriptions_of(configured)
        yield recipients(channels, own, table, moves=moves, inactive=inactive), CHANNELS
        cursor = CHANNELS
    size = batch if first is None else first
    while True:
        page = subscribers.active_subscriptions_page(cursor, size)
        size = batch
        if not page:
            return
        cursor = next(reversed(page))
        for chat_id in configured & page.keys():
            del page[chat_id]  # planned with the channels
        yield recipients((), page, table), cursor


class _Plan:
    """The batches of one plan: layouts shared between them, and the totals."""

    def __init__(
        self,
        outbox: Outbox,
        digest_id: str,
        title: str,
        date: datetime,
        items: list[Item],
        table: CategoryTable,
        settings: Settings,
        clock: Callable[[], float],
    ) -> None:
        self.outbox = outbox
        self.clock = clock
        self.digest_id = digest_id
        self.title = title
        self.date = date
        self.items = items
        self.table = table
        self.settings = settings
        self.layouts: dict[tuple[tuple[str, ...], str], list[NewPart]] = {}
        self.reviser = _Reviser(title, date, items, table, settings)
        self.totals = {"chats": 0, "deliveries": 0, "items": 0, "skipped": 0, "edits": 0}
        self.batches = 0

    def write(self, targets: list[Recipient], cursor: str) -> None:
        """One batch, in its own transaction, tried again after a conflict."""
        for attempt in range(1, _ATTEMPTS + 1):
            rewritten = self.reviser.rewritten
            try:
                self._write(targets, cursor)
                self.batches += 1
                return
            except (IntegrityError, OperationalError) as error:
                # another instance planned the same chats at the same moment: read again
                self.reviser.rewritten = rewritten
                if attempt == _ATTEMPTS:
                    raise
                log.info("planning %s again after a conflict: %s", self.digest_id, error.orig)

    def _write(self, targets: list[Recipient], cursor: str) -> None:
        by_chat = {r.chat_id: r for r in targets}
        with self.outbox.planning(
            self.digest_id, chats=list(by_chat), cursor=cursor, now=self.clock()
        ) as writer:
            delivered = writer.delivered([item.id for item in self.items])
            routed = route(self.items, targets, self.table, delivered)
            planned = writer.planned()
            self.reviser.writer = writer
            skipped = len(targets) - len(routed)
            for chat_id, messages in planned.items():
                recipient = by_chat.get(chat_id)
                if recipient is None:  # no longer a recipient (unsubscribed, blocked): left alone
                    continue
                fresh = routed.pop(chat_id, ())
                feed_url = feed_url_for(recipient, self.settings, self.table)
                self.reviser.revise(chat_id, messages, fresh, feed_url)
            for chat_id, chosen in routed.items():
                writer.add(chat_id, self.parts_for(by_chat[chat_id], chosen))
        self.totals["chats"] += writer.chats
        self.totals["deliveries"] += writer.deliveries
        self.totals["items"] += writer.items
        self.totals["skipped"] += skipped
        self.totals["edits"] += writer.edits

    def parts_for(self, recipient: Recipient, chosen: tuple[Item, ...]) -> list[NewPart]:
        """The message of a recipient that gets `chosen`: laid out once per distinct layout."""
        feed_url = feed_url_for(recipient, self.settings, self.table)
        key = (tuple(item.id for item in chosen), feed_url)
        parts = self.layouts.get(key)
        if parts is None:
            parts = self.layouts[key] = _new_parts(
                layout_digest(
                    self.title,
                    self.date,
                    chosen,
                    zone=self.settings.zone,
                    feed_url=feed_url,
                    table=self.table,
                )
            )
        return parts

    def result(self) -> PlanResult:
        return PlanResult(
            digest_id=self.digest_id,
            rewritten=self.reviser.rewritten,
            batches=self.batches,
            **self.totals,
        )


def _new_parts(parts: list[Part]) -> list[NewPart]:
    return [NewPart(part.html, part.item_ids, part.disable_preview) for part in parts]


class _Reviser:
    """Revises the messages of one digest already planned to chats (see the module docstring).
    Chats whose messages held the same items share one layout."""

    writer: PlanWriter  # the batch being written

    def __init__(
        self,
        title: str,
        date: datetime,
        items: list[Item],
        table: CategoryTable,
        settings: Settings,
    ) -> None:
        self.title = title
        self.date = date
        self.current = {item.id: item for item in items}
        self.position = {item.id: index for index, item in enumerate(items)}
        self.table = table
        self.settings = settings
        self.rewritten = 0
        self._layouts: dict[tuple[object, ...], Revision] = {}
        self._follow_ups: dict[tuple[object, ...], list[NewPart]] = {}

    def revise(
        self,
        chat_id: str,
        messages: list[list[PlannedPart]],
        fresh: tuple[Item, ...],
        feed_url: str,
    ) -> None:
        """Bring a chat's messages of this digest up to date; `fresh`: items it has not had."""
        overflow: list[Item] = []
        added: list[str] = []
        had = {item_id for message in messages for p in message for item_id in p.item_ids}
        for index, message in enumerate(messages):
            extra = fresh if index == len(messages) - 1 else ()
            revision = self._layout(message, extra, feed_url)
            overflow.extend(revision.overflow)
            for planned, part in zip(message, revision.parts, strict=True):
                added.extend(i for i in part.item_ids if i not in had)
                self._update(planned, part)
        self.writer.received(chat_id, dict.fromkeys(added))
        if overflow:
            overflow.sort(key=lambda item: self.position.get(item.id, len(self.position)))
            self.writer.add(
                chat_id,
                self._follow_up(overflow, feed_url),
                received=had | set(added),
            )

    def _layout(
        self, message: list[PlannedPart], extra: tuple[Item, ...], feed_url: str
    ) -> Revision:
        slots = tuple(
            tuple(i for i in planned.item_ids if i in self.current) for planned in message
        )
        key = (slots, tuple(item.id for item in extra), feed_url)
        revision = self._layouts.get(key)
        if revision is None:
            revision = self._layouts[key] = revise_layout(
                self.title,
                self.date,
                [[self.current[i] for i in slot] for slot in slots],
                extra,
                zone=self.settings.zone,
                feed_url=feed_url,
                table=self.table,
            )
        return revision

    def _follow_up(self, overflow: list[Item], feed_url: str) -> list[NewPart]:
        key = (tuple(item.id for item in overflow), feed_url)
        parts = self._follow_ups.get(key)
        if parts is None:
            parts = self._follow_ups[key] = _new_parts(
                layout_digest(
                    self.title,
                    self.date,
                    overflow,
                    zone=self.settings.zone,
                    feed_url=feed_url,
                    table=self.table,
                )
            )
        return parts

    def _update(self, planned: PlannedPart, part: Part) -> None:
        if _shows(planned, part):
            return
        new = NewPart(part.html, part.item_ids, part.disable_preview)
        if planned.latest_state == PENDING and self.writer.replace(planned.latest_id, new):
            self.rewritten += 1
            return
        self.writer.edit(planned, new)


def _shows(planned: PlannedPart, part: Part) -> bool:
    """Whether a planned part already says what `part` says."""
    if planned.disable_preview != part.disable_preview:
        return False
    if planned.text_hash is not None:
        return planned.text_hash == text_hash(part.html)
    return planned.text in (part.html, plain_text(part.html))  # resent as plain text


__all__ = ["ALL", "BATCH", "PlanResult", "feed_url_for", "plan_digest", "recipient_batches"]
