"""Releasing held items (#13): each chat whose bundle is due gets ONE message of everything it
holds (a forum with topics: one per topic, as a digest would), laid out with its current
settings (the keyword filter applied again) and addressed like the chat's digests: the footer
links the feed of what the chat (or the topic) receives, the items go to the topics they belong
to by the forum's current bindings (a broken one's to General).

Called by a periodic job of the service and once at start-up (a bundle due while the service was
down goes out then), with the time passed in. Whether a bundle is due is
`timing.release_due`; writing it and deleting what it holds is one transaction
(`HeldItems.release_many`, a batch of chats at a time), so a bundle is written once, whatever
crashes or restarts in between.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from bot.categorising.table import CategoryTable
from bot.commands import texts
from bot.dispatching.holding import Holding
from bot.dispatching.revising import new_parts, update_part
from bot.dispatching.routing import (
    ALL,
    Forum,
    Recipient,
    canonical,
    feed_url_for,
    forum_of,
    forum_target,
    recipients,
    route_forum,
)
from bot.dispatching.timing import release_due, zone_of
from bot.feeds.common import digest_page
from bot.formatting.messages import Revision, Style, layout_digest, revise_layout
from bot.model import Entry, Item
from bot.settings import Settings
from bot.storing.chat_settings import (
    COMPACT,
    DEFAULT,
    ChatSettings,
    ChatSettingsStore,
    reading_language,
)
from bot.storing.held import Bundle, HeldItems, Message, bundle_time, entries_of, page_slugs
from bot.storing.outbox import NewPart, Outbox, PlannedPart, PlanWriter
from bot.storing.subscribers import ACTIVE, Subscribers
from bot.storing.topics import Topics

log = logging.getLogger(__name__)


BATCH = 500  # chats released per transaction


def release_bundles(
    engine: Engine,
    settings: Settings,
    table: CategoryTable,
    now: float,
    *,
    released: Callable[[], None] = lambda: None,
    batch: int = BATCH,
) -> dict[str, int]:
    """Write the bundle of every chat whose bundle is due at `now`; chat -> parts written (0:
    what it held was filtered out or delivered meanwhile). Chats that left hold nothing more.
    `batch` chats are released per transaction, and `released` (the service: the dispatcher's
    wake) runs after each that wrote something, so the first bundles go out while the rest
    are written."""
    held = HeldItems(engine)
    holding = held.holding()
    chosen = ChatSettingsStore(engine).many(holding) if holding else {}
    due = [
        chat_id
        for chat_id, since in holding.items()
        if release_due(chosen.get(chat_id, DEFAULT), since, now, settings.zone)
    ]
    if not due:
        return {}
    subscribers = Subscribers(engine)
    moves, layouts = Outbox(engine).moves(), Topics(engine).layouts()
    channels = [(str(c.chat), list(c.categories)) for c in settings.telegram.channels]
    written: dict[str, int] = {}
    for start in range(0, len(due), batch):
        chunk = due[start : start + batch]
        known, subscribed = subscribers.chats_of(chunk), subscribers.subscriptions_of_many(chunk)
        shared: dict[tuple[object, ...], list[NewPart]] = {}  # a batch's bundles mostly alike
        bundles: list[tuple[str, Bundle]] = []
        for chat_id in chunk:
            chat_settings = chosen.get(chat_id, DEFAULT)
            chat = known.get(chat_id)
            left = chat is not None and chat.state != ACTIVE  # blocked or gone
            own = subscribed.get(chat_id, [])
            target = _recipient(chat_id, channels, own, table, moves)
            layout = layouts.get(chat_id)
            forum = forum_of(chat_id, layout) if layout is not None else None
            bindings = layout.bindings if layout is not None else ()
            broken = canonical((n for b in bindings if b.broken for n in b.categories), table)
            if left or (target is None and not (forum and (forum.topics or broken))):
                held.forget(chat_id)  # nothing to send it, or it unsubscribed from everything
                continue
            language = reading_language(chat_settings.language, chat.language if chat else None)
            lang = texts.language(language)
            bundle = _Bundle(
                chat_id, settings, table, chat_settings, lang, now, target, forum, broken, shared
            )
            bundles.append((chat_id, bundle))
        if not bundles:
            continue
        done = held.release_many(bundles, now)  # one transaction: the entries read in it
        written.update(done)
        log.info("bundles of %d chat(s) written (%d part(s))", len(done), sum(done.values()))
        if any(done.values()):
            released()
    return written


def _recipient(
    chat_id: str,
    channels: list[tuple[str, list[str]]],
    own: Sequence[str],
    table: CategoryTable,
    moves: dict[str, str],
) -> Recipient | None:
    """What the chat receives as planning sees it (its subscriptions, and its categories as a
    configured channel); None when it receives nothing."""
    mine = [(chat, names) for chat, names in channels if moves.get(chat, chat) == chat_id]
    subscribed = {chat_id: own} if own else {}
    return next(
        (r for r in recipients(mine, subscribed, table, moves=moves) if r.chat_id == chat_id),
        None,
    )


class _Bundle:
    """Lays out one chat's held entries: one message, or one per forum topic."""

    def __init__(
        self,
        chat_id: str,
        settings: Settings,
        table: CategoryTable,
        chat_settings: ChatSettings,
        lang: texts.Lang,
        now: float,
        target: Recipient | None,
        forum: Forum | None,
        broken: frozenset[str] = frozenset(),
        layouts: dict[tuple[object, ...], list[NewPart]] | None = None,
    ) -> None:
        self.chat_id = chat_id
        self.settings = settings
        self.table = table
        self.chat_settings = chat_settings
        self.lang = lang
        self.now = now
        self.target = target
        self.forum = forum
        self.broken = broken  # categories of the forum's broken topics
        # the messages laid out so far in this release, shared by the chats' bundles
        self.layouts: dict[tuple[object, ...], list[NewPart]] = {} if layouts is None else layouts

    def __call__(self, entries: list[Entry], slugs: Mapping[str, str]) -> list[Message]:
        zone = zone_of(self.chat_settings, self.settings.zone)
        holding = Holding(self.now, zone)
        admitted = holding.admitted(self.chat_settings, [entry.item for entry in entries])
        if not admitted:
            return []
        shown = {item.id for item in admitted}
        title = bundle_title([e for e in entries if e.item.id in shown], self.lang)
        pages = item_pages(entries, slugs, self.settings)
        if self.forum is None:
            to = self.target or Recipient(self.chat_id, frozenset({ALL}))
            return [(None, self._layout(title, admitted, to, zone, pages))]
        messages: list[Message] = []
        for thread_id, chosen in self._by_topic(admitted):
            to = forum_target(self.forum, thread_id, self.target)
            messages.append((thread_id, self._layout(title, chosen, to, zone, pages)))
        return messages

    def _by_topic(self, admitted: Sequence[Item]) -> list[tuple[int | None, tuple[Item, ...]]]:
        """The forum's items by topic, as routing places them now; an item held for a topic
        that broke meanwhile goes to General all the same, as a message queued to it would
        (`TopicClosed`), even where routing alone would no longer place it."""
        assert self.forum is not None
        routed = route_forum(admitted, self.target, self.forum, self.table)
        placed = {item.id for _, chosen in routed for item in chosen}
        orphans = {
            item.id
            for item in admitted
            if item.id not in placed and not self.broken.isdisjoint(self._names(item))
        }
        if not orphans:
            return routed
        general = {item.id for thread, chosen in routed if thread is None for item in chosen}
        merged = tuple(item for item in admitted if item.id in general or item.id in orphans)
        return [*((t, chosen) for t, chosen in routed if t is not None), (None, merged)]

    def _names(self, item: Item) -> frozenset[str]:
        return canonical(item.categories, self.table)

    def _layout(
        self,
        title: str,
        chosen: Sequence[Item],
        to: Recipient,
        zone: ZoneInfo,
        pages: Mapping[str, str],
    ) -> list[NewPart]:
        """One message of `chosen`, its footer linking the feed a digest's message to `to`
        links (a category's feed for one category, else the main feed), a link-less item its
        digest's page (`pages`); laid out once per distinct message in a release."""
        feed_url = feed_url_for(to, self.settings, self.table)
        compact = self.chat_settings.format == COMPACT
        ids = tuple(item.id for item in chosen)
        key = (title, ids, tuple(pages.get(i) for i in ids), feed_url, zone, self.lang, compact)
        laid_out = self.layouts.get(key)
        if laid_out is not None:
            return laid_out
        parts = layout_digest(
            title,
            datetime.fromtimestamp(self.now, zone),
            chosen,
            zone=zone,
            feed_url=feed_url,
            table=self.table,
            page_url=pages,
            style=Style(self.lang, compact),
        )
        laid_out = self.layouts[key] = new_parts(parts)
        return laid_out


def item_pages(
    entries: Sequence[Entry], slugs: Mapping[str, str], settings: Settings
) -> dict[str, str]:
    """item id -> its digest's page, which it links to when it has no link of its own (as in
    its digest's message); items of a digest without a page are left out."""
    if not settings.site_url:
        return {}
    return {
        entry.item.id: digest_page(settings.site_url, slugs[entry.digest_id])
        for entry in entries
        if entry.digest_id in slugs
    }


def bundle_title(entries: Sequence[Entry], lang: str) -> str:
    """A bundle's title: its digest's, or one naming how many digests it gathers."""
    titles = list(dict.fromkeys(entry.digest_title for entry in entries))
    if len(titles) == 1:
        return titles[0]
    return texts.bundle_title("en" if lang == "en" else "zh", len(titles))


class BundleReviser:
    """Brings chats' bundles up to date during one plan (`revise`). Chats whose bundles hold
    the same items (most chats of one release) share one read of the archive and one layout."""

    def __init__(self, settings: Settings, table: CategoryTable) -> None:
        self.settings = settings
        self.table = table
        self._stored: dict[tuple[str, ...], tuple[dict[str, Entry], dict[str, str]]] = {}
        self._layouts: dict[tuple[object, ...], Revision] = {}

    def revise(
        self,
        writer: PlanWriter,
        chat_id: str,
        messages: list[list[PlannedPart]],
        address: Callable[[int | None], Recipient],
        style: Style,
        zone: ZoneInfo,
    ) -> int:
        """Bring a chat's bundle (`writer`'s digest id; `messages`: its planned parts) up to
        date with its items as stored now, as a digest's revision does to its messages (a
        digest corrected after its items were bundled): each message laid out again into its
        parts with its title, time and topic's feed (`address`), a part that changed edited in
        place or, not sent yet, given its new text; what no longer fits goes as a follow-up.
        Returns the parts rewritten (edits: `writer.edits`)."""
        ids = tuple(dict.fromkeys(i for message in messages for p in message for i in p.item_ids))
        entries, pages = self._read(writer, ids)
        if not entries:
            return 0  # nothing of it is left in the archive: left as it was sent
        title = bundle_title([entries[i] for i in ids if i in entries], style.lang)
        date = datetime.fromtimestamp(bundle_time(writer.digest_id), zone)
        rewritten = 0
        for message in messages:
            feed_url = feed_url_for(address(message[0].thread_id), self.settings, self.table)
            slots = tuple(tuple(i for i in part.item_ids if i in entries) for part in message)
            key = (slots, title, writer.digest_id, zone, feed_url, style)
            revision = self._layouts.get(key)
            if revision is None:
                revision = self._layouts[key] = revise_layout(
                    title,
                    date,
                    [[entries[i].item for i in slot] for slot in slots],
                    zone=zone,
                    feed_url=feed_url,
                    table=self.table,
                    page_url=pages,
                    style=style,
                )
            for planned, part in zip(message, revision.parts, strict=True):
                rewritten += update_part(writer, planned, part)
            if revision.overflow:
                follow_up = layout_digest(
                    title,
                    date,
                    revision.overflow,
                    zone=zone,
                    feed_url=feed_url,
                    table=self.table,
                    page_url=pages,
                    style=style,
                )
                thread_id = message[-1].thread_id
                writer.add(chat_id, new_parts(follow_up), received=set(ids), thread_id=thread_id)
        return rewritten

    def _read(
        self, writer: PlanWriter, ids: tuple[str, ...]
    ) -> tuple[dict[str, Entry], dict[str, str]]:
        """The bundle's items as stored now (by id) and their pages, read once per plan."""
        found = self._stored.get(ids)
        if found is None:
            stored = entries_of(writer.connection, ids)
            slugs = page_slugs(writer.connection, {entry.digest_id for entry in stored})
            found = self._stored[ids] = (
                {entry.item.id: entry for entry in stored},
                item_pages(stored, slugs, self.settings),
            )
        return found
