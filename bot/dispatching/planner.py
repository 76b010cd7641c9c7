"""Planning: a stored digest becomes deliveries in the outbox, in one transaction.

Every recipient's message is laid out once per distinct selection (100,000 subscribers of a
handful of category combinations cost a handful of layouts), and written with the items it
carries to `delivered_items` in the same transaction. So planning is idempotent: planning the
same digest again finds every item delivered and adds nothing; planning it after an edit that
added items sends each chat only the items it has not had.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from bot.categorising.table import CategoryTable
from bot.dispatching.routing import ALL, Recipient, recipients, route
from bot.formatting.messages import layout_digest
from bot.model import Item
from bot.settings import Settings
from bot.storing.archive import Archive
from bot.storing.outbox import NewPart, Outbox
from bot.storing.subscribers import ACTIVE, Subscribers

log = logging.getLogger(__name__)
_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class PlanResult:
    digest_id: str
    chats: int  # chats that get a message
    deliveries: int  # messages (parts) added to the outbox
    items: int  # (chat, item) pairs added
    skipped: int  # recipients that select nothing new in this digest

    def __str__(self) -> str:
        return (
            f"{self.deliveries} message(s) to {self.chats} chat(s), "
            f"{self.items} item deliveries, {self.skipped} chat(s) with nothing new"
        )


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
) -> PlanResult:
    """Write every delivery of a digest (or nothing, when every recipient has it already)."""
    outbox = Outbox(engine)
    header = outbox.digest_header(digest_id)
    if header is None:
        raise LookupError(f"no digest {digest_id!r} in the archive")
    title, date = header
    items = [entry.item for entry in archive.digest_entries(digest_id)]
    moves = outbox.moves()
    channels = [(str(c.chat), list(c.categories)) for c in settings.telegram.channels]
    inactive = []
    for chat, _ in channels:
        chat_id = moves.get(chat, chat)
        known = subscribers.chat(chat_id)
        if known is not None and known.state != ACTIVE:
            inactive.append(chat_id)
    subscriptions = subscribers.active_subscriptions()
    targets = recipients(channels, subscriptions, table, moves=moves, inactive=inactive)
    del subscriptions  # at 100,000 subscribers, the largest structure of a plan
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            return _write(outbox, digest_id, title, date, items, targets, table, settings)
        except (IntegrityError, OperationalError) as error:
            # another instance planned the same digest at the same moment: read again
            if attempt == _ATTEMPTS:
                raise
            log.info("planning %s again after a conflict: %s", digest_id, error.orig)
    raise AssertionError("unreachable")


def _write(
    outbox: Outbox,
    digest_id: str,
    title: str,
    date,  # type: ignore[no-untyped-def]
    items: list[Item],
    targets: list[Recipient],
    table: CategoryTable,
    settings: Settings,
) -> PlanResult:
    layouts: dict[tuple[tuple[str, ...], str], list[NewPart]] = {}
    by_chat = {r.chat_id: r for r in targets}
    with outbox.planning(digest_id) as writer:
        delivered = writer.delivered([item.id for item in items])
        routed = route(items, targets, table, delivered)
        for chat_id, chosen in routed.items():
            feed_url = feed_url_for(by_chat[chat_id], settings, table)
            key = (tuple(item.id for item in chosen), feed_url)
            parts = layouts.get(key)
            if parts is None:
                parts = layouts[key] = [
                    NewPart(part.html, part.item_ids, part.disable_preview)
                    for part in layout_digest(
                        title,
                        date,
                        chosen,
                        zone=settings.zone,
                        feed_url=feed_url,
                        table=table,
                    )
                ]
            writer.add(chat_id, parts)
    return PlanResult(
        digest_id=digest_id,
        chats=writer.chats,
        deliveries=writer.deliveries,
        items=writer.items,
        skipped=len(targets) - len(routed),
    )


__all__ = ["ALL", "PlanResult", "feed_url_for", "plan_digest"]
