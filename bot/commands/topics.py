"""`/topic` in a forum supergroup: an admin binds categories to the topic the command is sent in,
unbinds it (`/topic off`), switches General off or on (`/topic general off|on`); `/topic` alone
shows the layout (anyone may look). Also the note posted in General when a topic is found closed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Engine
from telegram import Update
from telegram.constants import ChatType

from bot.categorising.table import CategoryTable
from bot.commands import texts
from bot.commands.actions import register
from bot.commands.context import Context
from bot.commands.handlers import (
    chat_info,
    command_text,
    db,
    known,
    lang_of,
    may_change,
    selection,
    send,
    services,
)
from bot.storing.topics import Topics

log = logging.getLogger(__name__)

__all__ = ["layout_text", "topic", "topic_note"]


def layout_text(
    lang: texts.Lang, store: Topics, table: CategoryTable, chat_id: int, here: int | None
) -> str:
    layout = store.layout(chat_id)
    shown = [
        (b.title, b.thread_id, [table.get(n) for n in b.categories], b.broken)
        for b in layout.bindings
    ]
    return texts.topic_layout(lang, shown, layout.general, here)


async def topic(update: Update, context: Context) -> None:
    s, lang = services(context), lang_of(update)
    chat, message = update.effective_chat, update.effective_message
    if chat is None or message is None:
        return
    if chat.type != ChatType.SUPERGROUP or not chat.is_forum:
        await send(update, context, texts.topic_not_forum(lang))
        return
    store = Topics(s.engine)
    here = message.message_thread_id if message.is_topic_message else None
    words = command_text(update).split()
    if not words:
        reply = await db(layout_text, lang, store, s.table, chat.id, here)
        await send(update, context, f"{reply}\n\n{texts.topic_usage(lang)}")
        return
    if not await may_change(update, context):
        await send(update, context, texts.not_admin(lang))
        return
    await db(register, s.subscribers, chat_info(update))
    if len(words) == 2 and words[0].lower() == "general" and words[1].lower() in ("on", "off"):
        on = words[1].lower() == "on"
        await db(store.set_general, chat.id, on)
        await send(update, context, texts.general_switched(lang, on))
        return
    if here is None:
        await send(update, context, texts.topic_inside_only(lang))
        return
    if len(words) == 1 and words[0].lower() == "off":
        had = await db(store.unbind, chat.id, here)
        names = [s.table.get(n) for n in had.categories] if had else []
        await send(update, context, texts.topic_unbound(lang, names))
        return
    chosen = await selection(update, context, " ".join(words), await known(context), "topic")
    if chosen is None:
        return
    if chosen.all:
        await send(update, context, texts.topic_need_categories(lang))
        return
    created = message.reply_to_message.forum_topic_created if message.reply_to_message else None
    title = created.name if created else None
    bound = [c.name for c in chosen.categories]
    moved = await db(store.bind, chat.id, here, bound, title)
    layout = await db(store.layout, chat.id)
    titles = {b.thread_id: b.title or f"#{b.thread_id}" for b in layout.bindings}
    shown_moves = [(titles.get(t, f"#{t}"), s.table.get(n)) for t, n in moved]
    log.info("chat %s: topic %d takes %s", chat.id, here, bound)
    await send(update, context, texts.topic_bound(lang, chosen.categories, shown_moves))


def topic_note(engine: Engine) -> Callable[[str, int], str]:
    """The dispatcher's `topic_note`: the text posted in General for a closed topic."""

    def note(chat_id: str, thread_id: int) -> str:
        binding = next(
            (b for b in Topics(engine).layout(chat_id).bindings if b.thread_id == thread_id), None
        )
        return texts.topic_note(binding.title if binding else None, thread_id)

    return note
