"""The handlers of a reader's settings (#13): `/settings` and its buttons, `/lang`, `/format`,
`/preview`, `/silent`, `/filter`, and the button under deliveries that opens `/settings`.

Anyone may look; in a group only its admins change anything (`handlers.may_change`, as for
subscriptions). A bad argument gets a reply saying what is accepted, and nothing is stored.
Each change is one write of the chat's `ChatSettings`; deliveries read them when they are sent
or planned, so a change applies to what is not sent yet."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

from telegram import Update
from telegram.error import BadRequest

from bot.commands import settings_menu
from bot.commands import settings_texts as st
from bot.commands.actions import register
from bot.commands.context import Context
from bot.commands.filter_argument import FilterError, parse_filter
from bot.commands.handlers import (
    chat_info,
    command_text,
    db,
    lang_of,
    may_change,
    reads,
    send,
    services,
)
from bot.logs import redact
from bot.storing.chat_settings import COMPACT, FULL, ChatSettings

log = logging.getLogger(__name__)

_SWITCH = {"on": True, "off": False, "开": True, "关": False}


def _view(update: Update, context: Context, settings: ChatSettings) -> settings_menu.View:
    zone = services(context).settings.timezone
    return settings_menu.View(settings, lang_of(update), zone, time.time())


async def _current(update: Update, context: Context) -> ChatSettings:
    chat = update.effective_chat
    assert chat is not None
    return await db(services(context).chat_settings.get, chat.id)


async def _store(update: Update, context: Context, settings: ChatSettings) -> None:
    """Save the chat's settings (the chat recorded first, as subscribing does)."""
    s = services(context)
    await db(register, s.subscribers, chat_info(update))
    await db(s.chat_settings.save, chat_info(update).id, settings)
    reads(settings.language)


async def _permitted(update: Update, context: Context) -> bool:
    if await may_change(update, context):
        return True
    await send(update, context, st.not_admin(lang_of(update)))
    return False


# Commands ---------------------------------------------------------------------------------------


async def settings_command(update: Update, context: Context) -> None:
    """/settings: the menu, one row of buttons per setting."""
    view = _view(update, context, await _current(update, context))
    await send(update, context, st.menu(view.lang), settings_menu.keyboard(view))


def _word(update: Update) -> str:
    return command_text(update).strip().casefold()


async def lang_command(update: Update, context: Context) -> None:
    """/lang zh|en|auto: the language of replies and of deliveries' fixed texts."""
    word = _word(update)
    aliases = {"zh": "zh", "cn": "zh", "中文": "zh", "en": "en", "english": "en", "auto": None}
    if word not in aliases:
        await send(update, context, st.language_usage(lang_of(update)))
        return
    if not await _permitted(update, context):
        return
    chosen = aliases[word]
    have = await _current(update, context)
    await _store(update, context, replace(have, language=chosen))
    await send(update, context, st.language_set(lang_of(update), automatic=chosen is None))


async def format_command(update: Update, context: Context) -> None:
    """/format full|compact."""
    word = _word(update)
    if word not in (FULL, COMPACT):
        await send(update, context, st.format_usage(lang_of(update)))
        return
    done = st.format_set(lang_of(update), word == COMPACT)
    await _change(update, context, {"format": word}, done)


async def preview_command(update: Update, context: Context) -> None:
    """/preview on|off: link previews in deliveries."""
    on = _SWITCH.get(_word(update))
    if on is None:
        await send(update, context, st.preview_usage(lang_of(update)))
        return
    await _change(update, context, {"preview": on}, st.preview_set(lang_of(update), on))


async def silent_command(update: Update, context: Context) -> None:
    """/silent on|off: every delivery without sound."""
    on = _SWITCH.get(_word(update))
    if on is None:
        await send(update, context, st.silent_usage(lang_of(update)))
        return
    await _change(update, context, {"silent": on}, st.silent_set(lang_of(update), on))


async def _change(update: Update, context: Context, values: dict[str, object], done: str) -> None:
    if not await _permitted(update, context):
        return
    have = await _current(update, context)
    await _store(update, context, replace(have, **values))  # type: ignore[arg-type]
    await send(update, context, done)


async def filter_command(update: Update, context: Context) -> None:
    """/filter lists; /filter +word -word adds; /filter clear removes every word."""
    raw, lang = command_text(update), lang_of(update)
    have = await _current(update, context)
    if not raw.strip():
        await send(update, context, st.filter_list(lang, have))
        return
    try:
        wanted = parse_filter(raw, have)
    except FilterError as error:
        await send(update, context, st.filter_refused(lang, error.problem, error.word))
        return
    if not await _permitted(update, context):
        return
    await _store(update, context, wanted)
    if not wanted.include_words and not wanted.exclude_words:
        await send(update, context, st.filter_cleared(lang))
    else:
        await send(update, context, st.filter_list(lang, wanted))


COMMANDS: dict[str, Callable[[Update, Context], Coroutine[Any, Any, None]]] = {
    "settings": settings_command,
    "lang": lang_command,
    "format": format_command,
    "preview": preview_command,
    "silent": silent_command,
    "filter": filter_command,
}


# Buttons ----------------------------------------------------------------------------------------


async def settings_button(update: Update, context: Context) -> None:
    """A press on the /settings menu: change the setting and redraw the menu in place (its text
    too: the language may have changed), or explain a row changed by command. The button under
    deliveries (`st:open`) sends the menu."""
    query = update.callback_query
    assert query is not None
    if query.data == settings_menu.OPEN:
        await query.answer()
        await settings_command(update, context)
        return
    press = settings_menu.parse_callback(query.data)
    if press is None or query.message is None:
        await query.answer()
        return
    explain = settings_menu.EXPLAINED.get(press.setting)
    if explain is not None:
        await query.answer(explain(lang_of(update)), show_alert=True)
        return
    have = await _current(update, context)
    wanted = settings_menu.apply(have, press)
    if wanted is None:  # forged or from an older menu: nothing changes
        await query.answer()
        return
    if not await may_change(update, context):
        await query.answer(st.not_admin(lang_of(update)), show_alert=True)
        return
    if wanted != have:
        await _store(update, context, wanted)
    view = _view(update, context, wanted)
    try:
        await query.edit_message_text(st.menu(view.lang), reply_markup=settings_menu.keyboard(view))
    except BadRequest as error:  # "message is not modified", or too old to edit
        log.debug("settings menu not redrawn: %s", redact(str(error)))
    await query.answer(st.saved(view.lang))


__all__ = ["COMMANDS", "settings_button"]
