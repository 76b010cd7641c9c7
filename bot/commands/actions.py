"""What the commands do to the database: small synchronous functions, called from the handlers
through `asyncio.to_thread`, and testable without Telegram.

Every change first records the chat (so deliveries, which join chats, see it), then changes its
subscriptions. Subscribing to all stores `ALL` ("*"); leaving one category while subscribed to all
turns "all" into every other known category.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine

from bot.categorising.table import CategoryTable
from bot.dispatching.filtering import admits, normal
from bot.feeds.common import digest_page, item_anchor
from bot.model import Category, Entry
from bot.storing.archive import Archive
from bot.storing.browse import Browse
from bot.storing.chat_settings import ChatSettingsStore
from bot.storing.outbox import Outbox
from bot.storing.search import Search
from bot.storing.subscribers import ALL, Subscribers


@dataclass(frozen=True, slots=True)
class ChatInfo:
    """The chat a command came from, as the database keeps it."""

    id: int
    type: str
    title: str | None
    language: str | None


@dataclass(frozen=True, slots=True)
class Change:
    """What a subscription command changed (category names)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()  # already subscribed / not subscribed anyway
    expanded_from_all: bool = False


@dataclass(frozen=True, slots=True)
class Subscriptions:
    """A chat's subscriptions: category names, and whether it takes all categories."""

    names: tuple[str, ...]
    all: bool

    @property
    def empty(self) -> bool:
        return not self.names and not self.all


def register(subscribers: Subscribers, chat: ChatInfo) -> None:
    subscribers.upsert_chat(chat.id, chat.type, chat.title, chat.language)


def current(subscribers: Subscribers, chat_id: int) -> Subscriptions:
    names = subscribers.subscriptions_of(chat_id)
    return Subscriptions(tuple(n for n in names if n != ALL), ALL in names)


def subscribe(subscribers: Subscribers, chat: ChatInfo, names: Sequence[str]) -> Change:
    register(subscribers, chat)
    added = subscribers.subscribe(chat.id, names)
    return Change(added=tuple(added), unchanged=tuple(n for n in names if n not in added))


def subscribe_all(subscribers: Subscribers, chat: ChatInfo) -> Change:
    return subscribe(subscribers, chat, [ALL])


def unsubscribe(
    subscribers: Subscribers, chat: ChatInfo, names: Sequence[str], known: Sequence[str]
) -> Change:
    """Leave `names`; a chat subscribed to all keeps every other category of `known`."""
    register(subscribers, chat)
    have = current(subscribers, chat.id)
    if have.all:
        rest = [n for n in dict.fromkeys([*known, *have.names]) if n not in names]
        # Add the rest before dropping "all": a crash in between leaves a superset, not a gap.
        subscribers.subscribe(chat.id, rest)
        subscribers.unsubscribe(chat.id, [ALL, *names])
        return Change(removed=tuple(names), expanded_from_all=True)
    removed = subscribers.unsubscribe(chat.id, names)
    return Change(removed=tuple(removed), unchanged=tuple(n for n in names if n not in removed))


def unsubscribe_all(subscribers: Subscribers, chat: ChatInfo) -> Change:
    register(subscribers, chat)
    return Change(removed=tuple(subscribers.unsubscribe(chat.id, None)))


def toggle(
    subscribers: Subscribers, chat: ChatInfo, name: str | None, known: Sequence[str]
) -> tuple[bool, Subscriptions]:
    """Flip one category (or all with None); returns whether it is now on, and the new state."""
    have = current(subscribers, chat.id)
    if name is None:
        on = not have.all
        if on:
            subscribe_all(subscribers, chat)
        else:
            unsubscribe_all(subscribers, chat)
    else:
        on = not (have.all or name in have.names)
        if on:
            subscribe(subscribers, chat, [name])
        else:
            unsubscribe(subscribers, chat, [name], known)
    return on, current(subscribers, chat.id)


def known_categories(archive: Archive | None, table: CategoryTable) -> tuple[Category, ...]:
    """The table's categories, then any other category the archive's items use."""
    if archive is None:
        return table.categories
    names = {c.name for c in table.categories}
    extra = [table.get(name) for name in archive.categories_in_use() if name not in names]
    return table.categories + tuple(extra)


@dataclass(frozen=True, slots=True)
class Latest:
    """What /latest shows: the newest digest's entries (`newest`), or, when it has none in the
    categories asked for, the most recent entries of those categories."""

    title: str
    entries: tuple[Entry, ...]
    newest: bool = True


def latest(archive: Archive, names: set[str] | None, limit: int = 50) -> Latest | None:
    """The newest digest's entries in `names` (all with None); when it has none there, the most
    recent entries of those categories from earlier digests. None when there is no digest."""
    digest_id = archive.latest_digest_id()
    if digest_id is None:
        return None
    entries = archive.digest_entries(digest_id)
    if not entries:
        return Latest("", ())
    title = entries[0].digest_title
    if names is None:
        return Latest(title, tuple(entries))
    chosen = [e for e in entries if names & set(e.item.categories)]
    if chosen:
        return Latest(title, tuple(chosen))
    recent: dict[str, Entry] = {}
    for name in sorted(names):
        for entry in archive.recent(limit, name):
            recent.setdefault(entry.item.id, entry)
    ordered = sorted(recent.values(), key=lambda e: e.published, reverse=True)[:limit]
    return Latest(title, tuple(ordered), newest=False)


def newest(
    archive: Archive,
    chat_settings: ChatSettingsStore,
    chat_id: int,
    names: Sequence[str],
    limit: int,
) -> list[Entry]:
    """The newest `limit` entries of these categories that pass the chat's keyword filter
    (what a new subscription answers with), newest first."""
    chosen = chat_settings.get(chat_id)
    include = [normal(w) for w in chosen.include_words]
    exclude = [normal(w) for w in chosen.exclude_words]
    found: dict[str, Entry] = {}
    for name in names:
        for entry in archive.recent(limit * 4, name):  # room for what the filter drops
            if admits(include, exclude, entry.item.title, entry.item.summary_text):
                found.setdefault(entry.item.id, entry)
    return sorted(found.values(), key=lambda e: e.published, reverse=True)[:limit]


def delivery_counts(engine: Engine) -> dict[str, int]:
    """Deliveries per state (pending / sent / failed / ...), the states that have any."""
    return {state: n for state, n in Outbox(engine).counts().items() if n}


def active_chats(subscribers: Subscribers) -> int:
    return subscribers.active_chat_count()


def search(engine: Engine, site_url: str, query: str, limit: int) -> list[tuple[Entry, str | None]]:
    """The newest `limit` entries holding `query`, each with what to open: its own link, else
    its anchor on its digest's page. Raises QueryError for an empty or oversized query."""
    found = Search(engine).find(query, limit)
    slugs = Browse(engine).slugs_of(e.digest_id for e in found)
    result: list[tuple[Entry, str | None]] = []
    for entry in found:
        link = entry.item.url
        slug = slugs.get(entry.digest_id)
        if not (link and link.lower().startswith(("https://", "http://"))) and slug:
            link = f"{digest_page(site_url, slug)}#{item_anchor(entry.item.id)}"
        result.append((entry, link))
    return result
