"""Who gets which items of a digest: pure functions, no I/O.

Recipients are the configured channels (each with its category filter, empty = everything) and
the subscribers (their categories, `*` = everything). A recipient selects an item when the item
has one of its categories. An item a chat already received (in an earlier digest, or in an
earlier plan of this one) is not selected again; a recipient left with nothing gets no message.

A chat's keyword filter (`/filter`, its settings' include and exclude words) then narrows what
its categories select: with include words an item must hold one of them, an item holding an
exclude word is never selected (`bot.dispatching.filtering`). So a filtered item is never planned
to the chat, and `/subscribe all` with `/filter +OpenAI` is a keyword subscription.

A forum group with topics bound to categories (`Forum`) gets one message per topic instead, each
with only that topic's items (`route_forum`).

Category names are compared in their canonical form (`CategoryTable.get(name).name`), so a channel
configured with a slug or an English label matches items tagged with the Chinese name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from bot.categorising.table import CategoryTable
from bot.dispatching.filtering import normal, passes, searchable
from bot.model import Item
from bot.settings import Settings
from bot.storing.chat_settings import ChatSettings
from bot.storing.topics import ForumLayout

ALL = "*"


@dataclass(frozen=True, slots=True)
class Recipient:
    """A chat and the categories it selects (`ALL` in them: every item)."""

    chat_id: str
    categories: frozenset[str]
    channel: bool = False
    include: tuple[str, ...] = ()  # keyword filter, words in the normal form
    exclude: tuple[str, ...] = ()

    @property
    def filtered(self) -> bool:
        return bool(self.include or self.exclude)

    @property
    def everything(self) -> bool:
        return ALL in self.categories


def canonical(names: Iterable[str], table: CategoryTable) -> frozenset[str]:
    return frozenset(name if name == ALL else table.get(name).name for name in names)


def selects(recipient: Recipient, item_categories: frozenset[str]) -> bool:
    return recipient.everything or not recipient.categories.isdisjoint(item_categories)


def recipients(
    channels: Sequence[tuple[str, Sequence[str]]],
    subscriptions: Mapping[str, Iterable[str]],
    table: CategoryTable,
    *,
    moves: Mapping[str, str] | None = None,
    inactive: Iterable[str] = (),
) -> list[Recipient]:
    """Channels (chat, filter; an empty filter is everything) and subscribers (chat ->
    categories), one recipient per chat: a chat both configured and subscribed selects the union.
    Configured chats that moved (group -> supergroup) are followed; inactive chats are left out.
    """
    moves = moves or {}
    skip = set(inactive)
    # 100,000 subscribers have a few dozen distinct category sets: share one frozenset for each
    shared: dict[frozenset[str], frozenset[str]] = {}

    def interned(names: Iterable[str]) -> frozenset[str]:
        key = canonical(names, table)
        return shared.setdefault(key, key)

    configured: dict[str, frozenset[str]] = {}
    for chat, names in channels:
        chat_id = moves.get(str(chat), str(chat))
        if chat_id not in skip:
            wanted = interned(names) if names else frozenset({ALL})
            configured[chat_id] = configured.get(chat_id, frozenset()) | wanted
    out: list[Recipient] = []
    for chat, chosen in subscriptions.items():
        chat_id = str(chat)
        if chat_id in skip:
            continue
        wanted = interned(chosen)
        if chat_id in configured:
            wanted = interned(wanted | configured.pop(chat_id))
            out.append(Recipient(chat_id, wanted, True))
        elif wanted:
            out.append(Recipient(chat_id, wanted, False))
    out.extend(Recipient(chat_id, names, True) for chat_id, names in configured.items())
    return out


def with_filters(
    targets: Iterable[Recipient], chosen: Mapping[str, ChatSettings]
) -> list[Recipient]:
    """The recipients with the keyword filters their chats chose (normalised once per distinct
    filter: many chats share one)."""
    shared: dict[tuple[tuple[str, ...], tuple[str, ...]], tuple[tuple[str, ...], ...]] = {}
    out: list[Recipient] = []
    for recipient in targets:
        settings = chosen.get(recipient.chat_id)
        if settings is None or not (settings.include_words or settings.exclude_words):
            out.append(recipient)
            continue
        key = (settings.include_words, settings.exclude_words)
        words = shared.get(key)
        if words is None:
            words = shared[key] = (
                tuple(dict.fromkeys(normal(w) for w in key[0])),
                tuple(dict.fromkeys(normal(w) for w in key[1])),
            )
        out.append(replace(recipient, include=words[0], exclude=words[1]))
    return out


def route(
    items: Sequence[Item],
    targets: Iterable[Recipient],
    table: CategoryTable,
    delivered: Mapping[str, set[str]] | None = None,
) -> dict[str, tuple[Item, ...]]:
    """chat -> the items (in digest order) it selects, its keyword filter passes and it has
    not received; chats with nothing are left out. Recipients selecting the same items share
    one tuple; the items a filter passes are found once per distinct filter."""
    delivered = delivered or {}
    item_categories = [canonical(item.categories, table) for item in items]
    texts: list[str] | None = None
    admitted: dict[tuple[tuple[str, ...], tuple[str, ...]], frozenset[int]] = {}
    shared: dict[tuple[int, ...], tuple[Item, ...]] = {}
    out: dict[str, tuple[Item, ...]] = {}
    for recipient in targets:
        had = delivered.get(recipient.chat_id, ())
        allowed: frozenset[int] | None = None
        if recipient.filtered:
            words = (recipient.include, recipient.exclude)
            allowed = admitted.get(words)
            if allowed is None:
                if texts is None:
                    texts = [searchable(item.title, item.summary_text) for item in items]
                allowed = admitted[words] = frozenset(
                    i for i, text in enumerate(texts) if passes(*words, text)
                )
        key = tuple(
            index
            for index, item in enumerate(items)
            if item.id not in had
            and selects(recipient, item_categories[index])
            and (allowed is None or index in allowed)
        )
        if not key:
            continue
        chosen = shared.get(key)
        if chosen is None:
            chosen = shared[key] = tuple(items[index] for index in key)
        out[recipient.chat_id] = chosen
    return out


@dataclass(frozen=True, slots=True)
class Forum:
    """A forum group's layout: topics (thread id, categories they receive) and whether the
    categories bound to no topic go to General."""

    chat_id: str
    topics: tuple[tuple[int, frozenset[str]], ...]
    general: bool = True


def route_forum(
    items: Sequence[Item],
    base: Recipient | None,
    forum: Forum,
    table: CategoryTable,
    had: Iterable[str] = (),
) -> list[tuple[int | None, tuple[Item, ...]]]:
    """A forum's messages of a digest: (thread, items in digest order) per topic, thread None
    for General. An item goes once to the forum: to the topic of its first category bound to
    one (whether or not the group subscribed to it), else to General if `base` (the group's
    subscriptions) selects it and General is on. Items in `had` are left out, and so are those
    the group's keyword filter (on `base`) does not pass, in every topic."""
    owner: dict[str, int] = {}
    for topic, bound in forum.topics:
        for name in canonical(bound, table):
            owner.setdefault(name, topic)
    skip = set(had)
    out: dict[int | None, list[Item]] = {}
    for item in items:
        if item.id in skip:
            continue
        text = searchable(item.title, item.summary_text) if base and base.filtered else ""
        if base is not None and base.filtered and not passes(base.include, base.exclude, text):
            continue
        names = [table.get(name).name for name in item.categories]
        thread = next((owner[name] for name in names if name in owner), None)
        if thread is None and not (
            forum.general and base is not None and selects(base, frozenset(names))
        ):
            continue
        out.setdefault(thread, []).append(item)
    return [(thread, tuple(chosen)) for thread, chosen in out.items()]


def forum_of(chat_id: str, layout: ForumLayout) -> Forum:
    """A forum's layout as routing takes it: its working bindings (a broken one's categories
    go to General, like those bound to no topic)."""
    bound = tuple((b.thread_id, frozenset(b.categories)) for b in layout.working)
    return Forum(chat_id, bound, layout.general)


def forum_target(forum: Forum, thread_id: int | None, base: Recipient | None) -> Recipient:
    """Who a forum's message for `thread_id` is addressed to: the topic's categories, or the
    group's subscriptions for General (its footer's feed follows from it)."""
    topic = next((names for t, names in forum.topics if t == thread_id), None)
    if topic is not None:
        return Recipient(forum.chat_id, topic)
    return base or Recipient(forum.chat_id, frozenset({ALL}))


def feed_url_for(recipient: Recipient, settings: Settings, table: CategoryTable) -> str:
    """The feed a message's footer points to: the category's feed for a one-category
    recipient, the main feed otherwise."""
    site = settings.site_url
    if not recipient.everything and len(recipient.categories) == 1:
        (name,) = recipient.categories
        return f"{site}c/{table.get(name).slug}/rss.xml"
    return f"{site}rss.xml"
