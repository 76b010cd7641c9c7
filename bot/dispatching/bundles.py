"""Releasing held items (#13): each chat whose bundle is due gets ONE message of everything it
holds, laid out with its current settings (the keyword filter applied again).

Called by a periodic job of the service and once at start-up (a bundle due while the service was
down goes out then), with the time passed in. Whether a bundle is due is
`timing.release_due`; writing it and deleting what it holds is one transaction
(`HeldItems.release`), so a bundle is written once, whatever crashes or restarts in between.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Engine

from bot.categorising.table import CategoryTable
from bot.commands import texts
from bot.dispatching.holding import Holding
from bot.dispatching.timing import release_due, zone_of
from bot.formatting.messages import Style, layout_digest
from bot.model import Entry
from bot.settings import Settings
from bot.storing.chat_settings import (
    COMPACT,
    DEFAULT,
    ChatSettings,
    ChatSettingsStore,
    reading_language,
)
from bot.storing.held import HeldItems
from bot.storing.outbox import NewPart
from bot.storing.subscribers import ACTIVE, Subscribers

log = logging.getLogger(__name__)


def release_bundles(
    engine: Engine, settings: Settings, table: CategoryTable, now: float
) -> dict[str, int]:
    """Write the bundle of every chat whose bundle is due at `now`; chat -> parts written (0:
    what it held was filtered out or delivered meanwhile). Chats that left hold nothing more."""
    held = HeldItems(engine)
    holding = held.holding()
    if not holding:
        return {}
    chosen = ChatSettingsStore(engine).many(holding)
    subscribers = Subscribers(engine)
    channels = {str(c.chat) for c in settings.telegram.channels}
    written: dict[str, int] = {}
    for chat_id, since in holding.items():
        chat_settings = chosen.get(chat_id, DEFAULT)
        if not release_due(chat_settings, since, now, settings.zone):
            continue
        chat = subscribers.chat(chat_id)
        left = chat is not None and chat.state != ACTIVE  # blocked or gone
        if left or (chat_id not in channels and not subscribers.subscriptions_of(chat_id)):
            held.forget(chat_id)  # nothing to send it, or it unsubscribed from everything
            continue
        language = reading_language(chat_settings.language, chat.language if chat else None)
        bundle = _Bundle(settings, table, chat_settings, texts.language(language), now)
        written[chat_id] = held.release(chat_id, bundle, now)
        log.info("chat %s: bundle of held items written (%d part(s))", chat_id, written[chat_id])
    return written


class _Bundle:
    """Lays out one chat's held entries as one message."""

    def __init__(
        self,
        settings: Settings,
        table: CategoryTable,
        chat_settings: ChatSettings,
        lang: texts.Lang,
        now: float,
    ) -> None:
        self.settings = settings
        self.table = table
        self.chat_settings = chat_settings
        self.lang = lang
        self.now = now

    def __call__(self, entries: list[Entry]) -> list[NewPart]:
        zone = zone_of(self.chat_settings, self.settings.zone)
        holding = Holding(self.now, zone)
        admitted = holding.admitted(self.chat_settings, [entry.item for entry in entries])
        if not admitted:
            return []
        titles = list(dict.fromkeys(entry.digest_title for entry in entries))
        title = titles[0] if len(titles) == 1 else texts.bundle_title(self.lang, len(titles))
        parts = layout_digest(
            title,
            datetime.fromtimestamp(self.now, zone),
            admitted,
            zone=zone,
            feed_url=f"{self.settings.site_url}rss.xml",
            table=self.table,
            style=Style(self.lang, self.chat_settings.format == COMPACT),
        )
        return [NewPart(part.html, part.item_ids, part.disable_preview) for part in parts]
