"""Channels managed by their own admins from a private chat: `/connect @channel` (or a forwarded
post), `/channels` with buttons (categories, disconnect), and the bot's own membership in
channels (`my_chat_member`: removed or demoted -> deliveries stop and the admin who connected it
is told; allowed to post again -> told it may /connect again).

Every change is checked with Telegram first: the person must be an administrator (or the
creator) of the channel, and the bot an administrator allowed to post there. Channels of the
settings file stay the operator's and are only shown.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

from telegram import (
    ChatMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MessageOriginChannel,
    Update,
)
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.commands import buttons, texts
from bot.commands.actions import ChatInfo, current, register, toggle
from bot.commands.arguments import find_slug
from bot.commands.context import Context
from bot.commands.handlers import chat_info, command_text, db, known, lang_of, send, services
from bot.logs import redact
from bot.model import Category
from bot.settings import Settings
from bot.storing.channels import Channels
from bot.storing.chat_settings import COMPACT, FULL, ChatSettings, ChatSettingsStore
from bot.storing.subscribers import ACTIVE, BLOCKED, GONE

log = logging.getLogger(__name__)

PREFIX = "ch:"
_ADMINS = (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR)
_GONE = (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED)

__all__ = ["PATTERN", "channel_button", "channels_command", "connect", "forwarded", "membership"]
PATTERN = r"^ch:"
_BUTTON_ROWS = 30  # channels with buttons in /channels (three each)
# c: categories, t: a category toggle, d: disconnect, s: settings, p/n/f: pause, silent, format
_ACTIONS = ("c", "d", "t", "s", "p", "n", "f")


def _store(context: Context) -> Channels:
    return Channels(services(context).engine)


def _target(raw: str) -> int | str | None:
    """A channel as /connect names it: "@name", "name" or its numeric id."""
    word = raw.strip().split()[0] if raw.strip() else ""
    if not word:
        return None
    if word.lstrip("-").isdigit():
        return int(word)
    name = word.removeprefix("https://t.me/").removeprefix("t.me/").removeprefix("@")
    if 5 <= len(name) <= 32 and all(c.isascii() and (c.isalnum() or c == "_") for c in name):
        return "@" + name
    return None


def configured(settings: Settings, chat_id: int, username: str | None) -> bool:
    """Whether the settings file names the channel (by id or by @name)."""
    names = {str(chat_id)}
    if username:
        names.add("@" + username.lower())
    return any(str(c.chat).lower() in names for c in settings.telegram.channels)


async def connect(update: Update, context: Context) -> None:
    """/connect @channel in a private chat."""
    lang, chat = lang_of(update), update.effective_chat
    if chat is None or chat.type != ChatType.PRIVATE:
        await send(update, context, texts.connect_private_only(lang))
        return
    raw = command_text(update)
    target = _target(raw)
    if target is None:
        await send(update, context, texts.connect_usage(lang))
        return
    await _connect(update, context, target, raw.strip() or str(target))


async def forwarded(update: Update, context: Context) -> None:
    """A post of a channel forwarded to the bot in a private chat: connect that channel."""
    message = update.effective_message
    origin = message.forward_origin if message else None
    if not isinstance(origin, MessageOriginChannel):
        await send(update, context, texts.connect_usage(lang_of(update)))
        return
    await _connect(update, context, origin.chat.id, origin.chat.title or str(origin.chat.id))


async def _connect(update: Update, context: Context, target: int | str, shown: str) -> None:
    s, lang, user = services(context), lang_of(update), update.effective_user
    assert user is not None
    try:
        channel = await context.bot.get_chat(target)
    except (BadRequest, Forbidden) as error:
        log.info("/connect %s: %s", shown, redact(str(error)))
        await send(update, context, texts.channel_not_found(lang, shown))
        return
    title = channel.title or channel.username or str(channel.id)
    if channel.type != ChatType.CHANNEL:
        await send(update, context, texts.not_a_channel(lang, title))
        return
    if configured(s.settings, channel.id, channel.username):
        await send(update, context, texts.configured_channel(lang, title))
        return
    try:  # the bot first: only an administrator may read the channel's members
        me = await context.bot.get_chat_member(channel.id, context.bot.id)
        if me.status != ChatMemberStatus.ADMINISTRATOR:
            await send(update, context, texts.bot_not_admin(lang, title))
            return
        member = await context.bot.get_chat_member(channel.id, user.id)
    except (BadRequest, Forbidden) as error:
        log.info("/connect %s: %s", shown, redact(str(error)))
        await send(update, context, texts.bot_not_admin(lang, title))
        return
    if member.status not in _ADMINS:
        await send(update, context, texts.not_channel_admin(lang, title))
        return
    if not getattr(me, "can_post_messages", False):
        await send(update, context, texts.bot_cannot_post(lang, title))
        return
    await db(register, s.subscribers, chat_info(update))  # the admin's language, for notices
    fresh = await db(_store(context).connect, channel.id, title, user.id)
    log.info("channel %s connected by user %s", channel.id, user.id)
    await send(
        update, context, texts.connected(lang, title, fresh), _channel_row(lang, channel.id, title)
    )


async def channels_command(update: Update, context: Context) -> None:
    """/channels: the channels the user manages, with their buttons."""
    s, lang, user, chat = (
        services(context),
        lang_of(update),
        update.effective_user,
        update.effective_chat,
    )
    if user is None or chat is None or chat.type != ChatType.PRIVATE:
        await send(update, context, texts.connect_private_only(lang))
        return
    managed = await db(_store(context).managed_by, user.id)
    rows = []
    for channel in managed:
        have = await db(current, s.subscribers, int(channel.id))
        shown = [s.table.get(name) for name in have.names]
        rows.append((channel.title or channel.id, channel.state == ACTIVE, shown, have.all))
    operator = user.id in s.settings.telegram.admins
    configured_names = [str(c.chat) for c in s.settings.telegram.channels] if operator else []
    markup = None
    if managed:
        keyboard: list[tuple[InlineKeyboardButton, ...]] = []
        for channel in managed[:_BUTTON_ROWS]:  # Telegram takes 100 buttons a keyboard
            keyboard.extend(
                _channel_row(lang, int(channel.id), channel.title or channel.id).inline_keyboard
            )
        markup = InlineKeyboardMarkup(keyboard)
    await send(update, context, texts.channels_list(lang, rows, configured_names), markup)


def _channel_row(lang: texts.Lang, chat_id: int, title: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    texts.categories_button(lang, title), callback_data=f"{PREFIX}c:{chat_id}"
                ),
                InlineKeyboardButton(
                    texts.settings_button(lang), callback_data=f"{PREFIX}s:{chat_id}"
                ),
                InlineKeyboardButton(
                    texts.disconnect_button(lang), callback_data=f"{PREFIX}d:{chat_id}"
                ),
            ]
        ]
    )


def _categories_keyboard(
    lang: texts.Lang,
    chat_id: int,
    pool: tuple[Category, ...],
    names: set[str],
    all_: bool,
) -> InlineKeyboardMarkup:
    """The /subscribe toggles, for a channel: `ch:t:<chat>:<slug>` (`*` for all)."""
    rows = []
    for row in buttons.keyboard(pool, names, all_, lang).inline_keyboard:
        pressed = []
        for button in row:
            slug = str(button.callback_data).removeprefix(buttons.PREFIX)
            data = f"{PREFIX}t:{chat_id}:{slug}"
            if len(data.encode()) <= buttons.MAX_CALLBACK_BYTES:
                pressed.append(InlineKeyboardButton(button.text, callback_data=data))
        if pressed:
            rows.append(pressed)
    return InlineKeyboardMarkup(rows)


def _parse(data: str | None) -> tuple[str, int, str | None] | None:
    """(action, channel id, slug) of a /channels button; None if it is not one of ours."""
    if not data or not data.startswith(PREFIX):
        return None
    parts = data[len(PREFIX) :].split(":")
    if len(parts) < 2 or parts[0] not in _ACTIONS or not parts[1].lstrip("-").isdigit():
        return None
    slug = parts[2] if len(parts) == 3 and parts[0] == "t" else None
    if parts[0] == "t" and slug is None:
        return None
    return parts[0], int(parts[1]), slug


async def is_channel_admin(context: Context, chat_id: int, user_id: int) -> bool:
    """Asked of Telegram at every change: an admin removed since /connect may manage no more."""
    try:
        member = await context.bot.get_chat_member(chat_id, user_id)
    except TelegramError as error:
        log.info("getChatMember failed for channel %s: %s", chat_id, redact(str(error)))
        return False
    return member.status in _ADMINS


async def channel_button(update: Update, context: Context) -> None:
    """A press under /channels or /connect: categories (show toggles), a toggle, disconnect."""
    query, lang, user = update.callback_query, lang_of(update), update.effective_user
    assert query is not None and user is not None
    s = services(context)
    press = _parse(query.data)
    if press is None or query.message is None:
        await query.answer()
        return
    action, chat_id, slug = press
    if not await is_channel_admin(context, chat_id, user.id):
        await query.answer(texts.not_channel_admin_plain(lang), show_alert=True)
        return
    channel = await db(s.subscribers.chat, chat_id)
    if channel is None or channel.type != "channel":
        await query.answer(texts.not_channel_admin_plain(lang), show_alert=True)
        return
    title = channel.title or channel.id
    if action == "d":
        await db(_store(context).disconnect, chat_id)
        log.info("channel %s disconnected by user %s", chat_id, user.id)
        await send(update, context, texts.disconnected(lang, title))
        await query.answer()
        return
    if channel.state != ACTIVE:
        await query.answer(texts.channel_stopped_plain(lang), show_alert=True)
        return
    if action in _SETTING_ACTIONS:
        await _settings_press(update, context, action, chat_id, title)
        return
    pool = await known(context)
    if action == "t":
        category = find_slug(slug, pool) if slug and slug != "*" else None
        if slug != "*" and category is None:
            await query.answer()
            return
        info = ChatInfo(chat_id, "channel", channel.title, None)
        on, have = await db(
            toggle, s.subscribers, info, category.name if category else None, [c.name for c in pool]
        )
        markup = _categories_keyboard(lang, chat_id, pool, set(have.names), have.all)
        try:
            await query.edit_message_reply_markup(markup)
        except BadRequest as error:
            log.debug("keyboard not redrawn: %s", redact(str(error)))
        await query.answer(texts.toggled(lang, category, on))
        return
    have = await db(current, s.subscribers, chat_id)
    markup = _categories_keyboard(lang, chat_id, pool, set(have.names), have.all)
    await send(update, context, texts.channel_categories(lang, title), markup)
    await query.answer()


async def membership(update: Update, context: Context) -> None:
    """The bot's own status in a channel changed: removed or no longer allowed to post ->
    the channel is stopped (pending deliveries cancelled) and its connector told; allowed
    again -> the connector is told it may /connect again."""
    change = update.my_chat_member
    if change is None or change.chat.type != ChatType.CHANNEL:
        return
    s, chat, new = services(context), change.chat, change.new_chat_member
    title = chat.title or chat.username or str(chat.id)
    known_chat = await db(s.subscribers.chat, chat.id)
    connector = await db(_store(context).connector, chat.id)
    if known_chat is None or connector is None:  # never connected (or disconnected): nothing
        return
    if _may_post(new):
        if known_chat.state != ACTIVE:
            await _tell(context, connector, lambda lang: texts.channel_back(lang, title))
        return
    removed = new.status in _GONE
    cancelled = await db(_store(context).lost, chat.id, GONE if removed else BLOCKED)
    log.info(
        "channel %s: the bot is %s; %d delivery(ies) cancelled", chat.id, new.status, cancelled
    )
    # told once, when posting stops (a failed send may have marked the channel already)
    if _may_post(change.old_chat_member):
        await _tell(context, connector, lambda lang: texts.channel_lost(lang, title, removed))


def _may_post(member: ChatMember) -> bool:
    return member.status == ChatMemberStatus.ADMINISTRATOR and bool(
        getattr(member, "can_post_messages", False)
    )


async def _tell(context: Context, user_id: int, text: Callable[[texts.Lang], str]) -> None:
    """A notice to an admin's private chat, in their language; a failure is only logged."""
    s = services(context)
    known_user = await db(s.subscribers.chat, user_id)
    lang = texts.language(known_user.language if known_user else None)
    try:
        await context.bot.send_message(user_id, text(lang))
    except TelegramError as error:
        log.info("notice to user %s not sent: %s", user_id, redact(str(error)))


# The per-chat settings (#13) that apply to a channel: pause, silent delivery, compact format.
_SETTING_ACTIONS = ("s", "p", "n", "f")


def _settings_keyboard(
    lang: texts.Lang, chat_id: int, chosen: ChatSettings
) -> InlineKeyboardMarkup:
    def button(label: str, on: bool, action: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(
            ("✅ " if on else "") + label, callback_data=f"{PREFIX}{action}:{chat_id}"
        )

    return InlineKeyboardMarkup(
        [
            [button(texts.channel_setting_label(lang, "pause"), chosen.paused, "p")],
            [button(texts.channel_setting_label(lang, "silent"), chosen.silent, "n")],
            [button(texts.channel_setting_label(lang, "compact"), chosen.format == COMPACT, "f")],
        ]
    )


def _toggled(chosen: ChatSettings, action: str, now: float) -> ChatSettings:
    if action == "p":
        paused = not chosen.paused
        return replace(
            chosen, paused=paused, paused_since_ts=now if paused else None, paused_until_ts=None
        )
    if action == "n":
        return replace(chosen, silent=not chosen.silent)
    return replace(chosen, format=FULL if chosen.format == COMPACT else COMPACT)


async def _settings_press(
    update: Update, context: Context, action: str, chat_id: int, title: str
) -> None:
    """ "settings" shows the channel's toggles; a toggle flips one and redraws them."""
    query, lang = update.callback_query, lang_of(update)
    assert query is not None
    store = ChatSettingsStore(services(context).engine)
    chosen = await db(store.get, chat_id)
    if action == "s":
        markup = _settings_keyboard(lang, chat_id, chosen)
        await send(update, context, texts.channel_settings(lang, title), markup)
        await query.answer()
        return
    chosen = _toggled(chosen, action, time.time())
    await db(store.save, chat_id, chosen)
    try:
        await query.edit_message_reply_markup(_settings_keyboard(lang, chat_id, chosen))
    except BadRequest as error:
        log.debug("keyboard not redrawn: %s", redact(str(error)))
    await query.answer()
