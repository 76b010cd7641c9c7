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

Each chat's settings (read with its batch, so that nothing read before the first batch grows
with the audience) decide what it is planned and how: its keyword filter narrows what routing
selects, and its message is laid out in its `Style`, the language it reads (`/lang`, else its
Telegram language) and its `/format`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from bot.categorising.table import CategoryTable
from bot.dispatching.bundles import BundleReviser
from bot.dispatching.holding import Holding
from bot.dispatching.revising import new_parts, update_part
from bot.dispatching.routing import (
    ALL,
    Forum,
    Recipient,
    feed_url_for,
    forum_of,
    forum_target,
    recipients,
    route,
    route_forum,
    with_filters,
)
from bot.dispatching.timing import Disposition, zone_of
from bot.feeds.common import digest_page
from bot.formatting.messages import (
    Part,
    Revision,
    Style,
    layout_digest,
    revise_layout,
)
from bot.model import Item
from bot.settings import Settings
from bot.storing.archive import Archive
from bot.storing.chat_settings import (
    COMPACT,
    DEFAULT,
    ChatSettings,
    ChatSettingsStore,
    reading_language,
)
from bot.storing.held import HeldItems
from bot.storing.outbox import NewPart, Outbox, PlannedPart, PlanWriter
from bot.storing.subscribers import ACTIVE, Subscribers
from bot.storing.topics import Topics

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
    held: int = 0  # chats whose items wait for their bundle (schedule, quiet hours)
    paused: int = 0  # paused chats that got nothing
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


def page_url_for(archive: Archive, digest_id: str, settings: Settings) -> str:
    """The digest's page, which link-less items link to ("" without a site address)."""
    slug = archive.page_slug(digest_id, settings.zone)
    return digest_page(settings.site_url, slug) if slug and settings.site_url else ""


class Styles:
    """Each chat's `Style`, from its settings and whether its Telegram language is English;
    one shared object per distinct style."""

    def __init__(self, store: ChatSettingsStore) -> None:
        self.store = store
        self.chosen: dict[str, ChatSettings] = {}  # of the batch's chats that have a row
        self.english: set[str] = set()
        self._settings: dict[ChatSettings, ChatSettings] = {}  # shared by all batches
        self._shared: dict[tuple[str, bool], Style] = {}

    def read(self, chat_ids: Sequence[str]) -> None:
        """The settings and Telegram languages of the chats of one batch, in place of the
        previous batch's (the objects stay shared between batches)."""
        self.chosen = _shared(self.store.many(chat_ids), self._settings)
        self.english = self.store.english_among(chat_ids)

    def of(self, chat_id: str) -> Style:
        settings = self.chosen.get(chat_id)
        telegram = "en" if chat_id in self.english else None
        lang = reading_language(settings.language if settings else None, telegram)
        key = (lang, settings is not None and settings.format == COMPACT)
        style = self._shared.get(key)
        if style is None:
            style = self._shared[key] = Style(*key)
        return style


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
    now: float | None = None,
) -> PlanResult:
    """Write every delivery of a digest (or nothing, when every recipient has it already),
    `batch` recipients per transaction; `released()` after each batch is written; `clock`
    dates the plan (retention counts from it) and is the time chats' pause, schedule, quiet
    hours apply at; `now` fixes it."""
    if now is not None:
        clock = lambda: now  # noqa: E731 - a fixed clock
    outbox = Outbox(engine)
    header = outbox.digest_header(digest_id)
    if header is None:
        raise LookupError(f"no digest {digest_id!r} in the archive")
    title, date = header
    items = [entry.item for entry in archive.digest_entries(digest_id)]
    page_url = page_url_for(archive, digest_id, settings)
    forums = _forums(subscribers, Topics(engine))
    progress = outbox.start_plan(digest_id, now=clock())
    styles = Styles(ChatSettingsStore(engine))
    writing = _Plan(
        outbox, digest_id, title, date, items, table, settings, clock, page_url, forums, styles
    )
    writing.revising = progress.again
    for targets, cursor in recipient_batches(
        progress.cursor, outbox, subscribers, table, settings, batch, min(FIRST_BATCH, batch)
    ):
        # forums whose chat has no subscription of its own go with the first batch
        lone = _lone_forums(forums, subscribers) if cursor == CHANNELS else ()
        writing.write(targets, cursor, lone)
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
    """The batches of one plan: layouts shared between them, the forums' layouts read once,
    each batch's chats' settings read with it, and the totals."""

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
        page_url: str,
        forums: dict[str, Forum],
        styles: Styles,
    ) -> None:
        self.outbox = outbox
        self.clock = clock
        self.digest_id = digest_id
        self.title = title
        self.date = date
        self.items = items
        self.table = table
        self.settings = settings
        self.page_url = page_url
        self.forums = forums
        self.styles = styles  # the chats' settings and styles, read batch by batch
        self.holding = Holding(clock(), settings.zone)
        self.reviser = _Reviser(title, date, items, table, settings, page_url)
        self.totals = {
            "chats": 0,
            "deliveries": 0,
            "items": 0,
            "skipped": 0,
            "edits": 0,
            "held": 0,
            "paused": 0,
        }
        self.batches = 0
        self.revising = False  # planned before: bundles that carried its items are revised too
        self.bundles = BundleReviser(settings, table)

    def write(self, targets: list[Recipient], cursor: str, forums: Sequence[str] = ()) -> None:
        """One batch, in its own transaction, tried again after a conflict; `forums`: forum
        chats planned in this batch although no subscription of theirs is in it."""
        chat_ids = list(dict.fromkeys([*(r.chat_id for r in targets), *forums]))
        for attempt in range(1, _ATTEMPTS + 1):
            rewritten = self.reviser.rewritten
            self.styles.read(chat_ids)
            try:
                self._write(with_filters(targets, self.styles.chosen), cursor, forums)
                self.batches += 1
                return
            except (IntegrityError, OperationalError) as error:
                # another instance planned the same chats at the same moment: read again
                self.reviser.rewritten = rewritten
                if attempt == _ATTEMPTS:
                    raise
                log.info("planning %s again after a conflict: %s", self.digest_id, error.orig)

    def _write(self, targets: list[Recipient], cursor: str, extra_forums: Sequence[str]) -> None:
        by_chat = {r.chat_id: r for r in targets}
        forums = {
            chat_id: forum
            for chat_id, forum in self.forums.items()
            if chat_id in by_chat or chat_id in extra_forums
        }
        chats = list(dict.fromkeys([*by_chat, *forums]))
        with self.outbox.planning(
            self.digest_id, chats=chats, cursor=cursor, now=self.clock()
        ) as writer:
            delivered = writer.delivered([item.id for item in self.items])
            plain = [r for r in targets if r.chat_id not in forums]
            routed = route(self.items, plain, self.table, delivered)
            topic_messages = {
                chat_id: route_forum(
                    self.items, by_chat.get(chat_id), forum, self.table, delivered.get(chat_id, ())
                )
                for chat_id, forum in forums.items()
            }
            planned = writer.planned()
            self.reviser.writer = writer
            skipped = len(targets) - len(routed) - sum(1 for m in topic_messages.values() if m)
            for chat_id, messages in planned.items():
                recipient = by_chat.get(chat_id)
                if chat_id in forums:  # each topic's messages revised in place, with its footer
                    for thread_id, group in _by_thread(messages).items():
                        target = forum_target(forums[chat_id], thread_id, recipient)
                        feed_url = feed_url_for(target, self.settings, self.table)
                        self.reviser.revise(chat_id, group, (), feed_url, self.styles.of(chat_id))
                    continue  # its new items go to their topics as new messages, below
                if recipient is None:  # no longer a recipient (unsubscribed, blocked): left alone
                    continue
                fresh = routed.pop(chat_id, ())
                feed_url = feed_url_for(recipient, self.settings, self.table)
                self.reviser.revise(chat_id, messages, fresh, feed_url, self.styles.of(chat_id))
            if self.revising:
                self._revise_bundles(writer, by_chat, forums)
            held: dict[str, tuple[str, ...]] = {}
            for chat_id, routed_items in routed.items():
                chosen = self._decide(writer, held, chat_id, routed_items)
                if chosen:
                    writer.add(chat_id, self.parts_for(by_chat[chat_id], chosen))
            for chat_id, messages_of_forum in topic_messages.items():
                # a forum's pause, schedule and quiet hours apply to all its topics at once
                union = tuple(item for _, chosen in messages_of_forum for item in chosen)
                keep = {item.id for item in self._decide(writer, held, chat_id, union)}
                for thread_id, in_topic in messages_of_forum:
                    shown = tuple(item for item in in_topic if item.id in keep)
                    if shown:
                        target = forum_target(forums[chat_id], thread_id, by_chat.get(chat_id))
                        parts = self.parts_for(target, shown)
                        writer.add(chat_id, parts, thread_id=thread_id)
            HeldItems.hold_many(writer.connection, held, self.digest_id, self.holding.now)
        self.totals["chats"] += writer.chats
        self.totals["deliveries"] += writer.deliveries
        self.totals["items"] += writer.items
        self.totals["skipped"] += skipped
        self.totals["edits"] += writer.edits
        self.totals["held"] += len(held)

    def _revise_bundles(
        self, writer: PlanWriter, by_chat: dict[str, Recipient], forums: dict[str, Forum]
    ) -> None:
        """A revision reaches the bundles that carried this digest's items to the batch's
        chats (`writer.bundled`, found by `delivered`), as it reaches the digest's messages:
        one writer per bundle (chats released together share its digest id and its texts)."""
        chats_of: dict[str, list[str]] = {}
        for chat_id, bundle_ids in writer.bundled.items():
            if chat_id in by_chat or chat_id in forums:  # else no longer a recipient: left alone
                for bundle_id in bundle_ids:
                    chats_of.setdefault(bundle_id, []).append(chat_id)
        for bundle_id, chat_ids in sorted(chats_of.items()):
            bundle = PlanWriter(writer.connection, bundle_id, chat_ids, self.clock())
            bundle.renew_plan()  # before its deliveries are read: retention waits, or is over
            for chat_id, messages in bundle.planned().items():
                recipient, forum = by_chat.get(chat_id), forums.get(chat_id)
                address = _addressing(chat_id, recipient, forum)
                zone = zone_of(self.styles.chosen.get(chat_id) or DEFAULT, self.settings.zone)
                style = self.styles.of(chat_id)
                self.reviser.rewritten += self.bundles.revise(
                    bundle, chat_id, messages, address, style, zone
                )
            bundle.flush()
            self.totals["edits"] += bundle.edits
            self.totals["deliveries"] += bundle.deliveries

    def _decide(
        self,
        writer: PlanWriter,
        held: dict[str, tuple[str, ...]],
        chat_id: str,
        routed: tuple[Item, ...],
    ) -> tuple[Item, ...]:
        """What a chat gets now, by its pause, schedule and quiet hours; what it holds for
        later goes into `held`, and what it misses while paused is marked as had."""
        if not routed:
            return ()
        verdict, chosen = self.holding.decide(self.styles.chosen.get(chat_id), routed)
        if verdict is Disposition.HOLD and chosen:
            held[chat_id] = tuple(item.id for item in chosen)
        if verdict is Disposition.SKIP:  # had while paused: never sent later one by one
            writer.received(chat_id, [item.id for item in routed])
            self.totals["paused"] += 1
        return tuple(chosen) if verdict is Disposition.DELIVER else ()

    def parts_for(self, recipient: Recipient, chosen: tuple[Item, ...]) -> list[NewPart]:
        """The message of a recipient that gets `chosen`: laid out once per distinct layout."""
        feed_url = feed_url_for(recipient, self.settings, self.table)
        return self.reviser.new_message(chosen, feed_url, self.styles.of(recipient.chat_id))

    def result(self) -> PlanResult:
        return PlanResult(
            digest_id=self.digest_id,
            rewritten=self.reviser.rewritten,
            batches=self.batches,
            **self.totals,
        )


def _lone_forums(forums: dict[str, Forum], subscribers: Subscribers) -> list[str]:
    """Forums with topics bound but no subscription of the group's own: no batch of
    subscribers holds them."""
    return [chat_id for chat_id in forums if not subscribers.subscriptions_of(chat_id)]


def _forums(subscribers: Subscribers, topics: Topics) -> dict[str, Forum]:
    """The active forum groups with topics bound (or General switched off)."""
    out: dict[str, Forum] = {}
    for chat_id, layout in topics.layouts().items():
        known = subscribers.chat(chat_id)
        if known is None or known.state != ACTIVE:
            continue
        out[chat_id] = forum_of(chat_id, layout)
    return out


def _addressing(
    chat_id: str, recipient: Recipient | None, forum: Forum | None
) -> Callable[[int | None], Recipient]:
    """Who a chat's message in a thread is addressed to (its footer's feed follows)."""
    if forum is not None:
        return lambda thread_id: forum_target(forum, thread_id, recipient)
    chosen = recipient or Recipient(chat_id, frozenset({ALL}))
    return lambda _thread_id: chosen


def _by_thread(messages: list[list[PlannedPart]]) -> dict[int | None, list[list[PlannedPart]]]:
    out: dict[int | None, list[list[PlannedPart]]] = {}
    for message in messages:
        out.setdefault(message[0].thread_id, []).append(message)
    return out


def _shared(
    choices: dict[str, ChatSettings], one: dict[ChatSettings, ChatSettings]
) -> dict[str, ChatSettings]:
    """Chats with equal settings share one object of `one` (100,000 chats choose a few dozen
    ways)."""
    return {chat_id: one.setdefault(s, s) for chat_id, s in choices.items()}


class _Reviser:
    """Lays out one digest's messages: revises those already planned to chats (see the module
    docstring) and lays out new ones. Chats whose messages hold the same items share one
    layout."""

    writer: PlanWriter  # the batch being written

    def __init__(
        self,
        title: str,
        date: datetime,
        items: list[Item],
        table: CategoryTable,
        settings: Settings,
        page_url: str = "",
    ) -> None:
        self.page_url = page_url
        self.title = title
        self.date = date
        self.current = {item.id: item for item in items}
        self.position = {item.id: index for index, item in enumerate(items)}
        self.table = table
        self.settings = settings
        self.rewritten = 0
        self._layouts: dict[tuple[object, ...], Revision] = {}
        self._messages: dict[tuple[tuple[str, ...], str, Style], list[NewPart]] = {}

    def revise(
        self,
        chat_id: str,
        messages: list[list[PlannedPart]],
        fresh: tuple[Item, ...],
        feed_url: str,
        style: Style,
    ) -> None:
        """Bring a chat's messages of this digest up to date; `fresh`: items it has not had."""
        overflow: list[Item] = []
        added: list[str] = []
        had = {item_id for message in messages for p in message for item_id in p.item_ids}
        for index, message in enumerate(messages):
            extra = fresh if index == len(messages) - 1 else ()
            revision = self._layout(message, extra, feed_url, style)
            overflow.extend(revision.overflow)
            for planned, part in zip(message, revision.parts, strict=True):
                added.extend(i for i in part.item_ids if i not in had)
                self._update(planned, part)
        self.writer.received(chat_id, dict.fromkeys(added))
        if overflow:
            overflow.sort(key=lambda item: self.position.get(item.id, len(self.position)))
            self.writer.add(
                chat_id,
                self.new_message(overflow, feed_url, style),
                received=had | set(added),
                thread_id=messages[-1][-1].thread_id,  # a forum: the topic of its last message
            )

    def _layout(
        self, message: list[PlannedPart], extra: tuple[Item, ...], feed_url: str, style: Style
    ) -> Revision:
        slots = tuple(
            tuple(i for i in planned.item_ids if i in self.current) for planned in message
        )
        key = (slots, tuple(item.id for item in extra), feed_url, style)
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
                page_url=self.page_url,
                style=style,
            )
        return revision

    def new_message(self, items: Sequence[Item], feed_url: str, style: Style) -> list[NewPart]:
        """A new message holding `items` (a chat's first, or a revision's follow-up), laid out
        once for every chat that gets the same items, feed and style."""
        key = (tuple(item.id for item in items), feed_url, style)
        parts = self._messages.get(key)
        if parts is None:
            parts = self._messages[key] = new_parts(
                layout_digest(
                    self.title,
                    self.date,
                    items,
                    zone=self.settings.zone,
                    feed_url=feed_url,
                    table=self.table,
                    page_url=self.page_url,
                    style=style,
                )
            )
        return parts

    def _update(self, planned: PlannedPart, part: Part) -> None:
        self.rewritten += update_part(self.writer, planned, part)


__all__ = ["BATCH", "PlanResult", "feed_url_for", "plan_digest", "recipient_batches"]
