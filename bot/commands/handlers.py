"""One async handler per bot command (SPEC §4), plus the buttons, the flood guard, chat-state
updates and the error handler.

Handlers stay short: database work runs in a thread (`asyncio.to_thread`), each command sends at
most one message, and nothing waits on a broadcast or a flood limit. Every reply comes from
`bot.commands.texts`, which escapes what users and digests supplied.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar
from urllib.parse import quote

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatMemberStatus, ChatType, MessageEntityType
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import ApplicationHandlerStop

from bot.categorising.table import CategoryTable
from bot.commands import actions, buttons, correcting, texts
from bot.commands import settings_texts as st
from bot.commands.actions import ChatInfo
from bot.commands.arguments import (
    MAX_ARGUMENT_CHARS,
    MAX_CATEGORIES,
    ArgumentError,
    Selection,
    arguments,
    check_length,
    find_slug,
    parse_categories,
)
from bot.commands.context import Context, Services
from bot.commands.flood import Verdict
from bot.commands.texts import Lang
from bot.feeds import build_feeds
from bot.logs import redact
from bot.model import Category
from bot.settings import Settings
from bot.storing.archive import Archive
from bot.storing.chat_settings import reading_language
from bot.storing.corrections import Correction, Corrections
from bot.storing.outbox import Outbox
from bot.storing.search import MAX_QUERY, QueryError, normalise_query
from bot.storing.subscribers import BLOCKED, GONE

log = logging.getLogger(__name__)

START_PAYLOAD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ADMIN_STATES = (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR)
STOP_PATTERN = r"^stop:(yes|no)$"
NEWEST_ITEMS = 5  # what a new subscription answers with
# The language the update's chat chose with /lang, read once per update by `guard` (which runs
# first, in the update's own task: a context variable is that update's alone).
_chosen_language: ContextVar[str | None] = ContextVar("chosen_language", default=None)
T = TypeVar("T")


def services(context: Context) -> Services:
    return context.bot_data.services


# Small helpers ---------------------------------------------------------------------------------


async def db(function: Callable[..., T], *args: Any) -> T:
    """Run a synchronous database call without blocking the event loop."""
    return await asyncio.to_thread(function, *args)


def lang_of(update: Update) -> Lang:
    """The chat's `/lang`, else the sender's Telegram language."""
    user = update.effective_user
    code = reading_language(_chosen_language.get(), user.language_code if user else None)
    return "en" if code == "en" else "zh"


def reads(language: str | None) -> None:
    """From now on this update is answered in `language` (after `/lang` changed it)."""
    _chosen_language.set(language)


def chat_info(update: Update) -> ChatInfo:
    chat, user = update.effective_chat, update.effective_user
    assert chat is not None
    if chat.type == ChatType.PRIVATE:
        title = (user.username or user.full_name) if user else (chat.username or chat.first_name)
        return ChatInfo(chat.id, chat.type, title, user.language_code if user else None)
    return ChatInfo(chat.id, chat.type, chat.title or chat.username, None)


def command_text(update: Update) -> str:
    message = update.effective_message
    return arguments(message.text if message else None)


async def send(
    update: Update, context: Context, text: str, markup: InlineKeyboardMarkup | None = None
) -> Message | None:
    """Reply in the update's chat (quoting the command in groups), in HTML without link
    previews (the Application's `Defaults`). The reply waits for its turn in the bot's rate
    budget, before deliveries to the chat; errors propagate to `on_error`, which logs them and
    marks chats that refuse us."""
    chat, message = update.effective_chat, update.effective_message
    if chat is None:
        return None
    quote = None
    if chat.type != ChatType.PRIVATE and message is not None:
        quote = ReplyParameters(message.message_id, allow_sending_without_reply=True)
    # in a forum, the reply goes to the topic the command came from (else it lands in General)
    thread = message.message_thread_id if message and message.is_topic_message else None
    return await context.bot.send_message(
        chat.id, text, reply_markup=markup, reply_parameters=quote, message_thread_id=thread
    )


async def may_change(update: Update, context: Context) -> bool:
    """Private chats change their own subscriptions; in a group only its admins may."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None:
        return False
    if chat.type == ChatType.PRIVATE:
        return True
    message = update.message
    if message is not None and message.sender_chat is not None:
        return message.sender_chat.id == chat.id  # an anonymous admin writes as the group
    if user is None:
        return False
    try:
        member = await context.bot.get_chat_member(chat.id, user.id)
    except TelegramError as error:
        log.warning("getChatMember failed for chat %s: %s", chat.id, redact(str(error)))
        return False
    return member.status in _ADMIN_STATES


async def known(context: Context) -> tuple[Category, ...]:
    s = services(context)
    return await db(actions.known_categories, s.archive, s.table)


async def selection(
    update: Update, context: Context, raw: str, pool: tuple[Category, ...], command: str
) -> Selection | None:
    """The categories `raw` names; None after replying with what is wrong with it."""
    lang = lang_of(update)
    try:
        check_length(raw)
        chosen = parse_categories(raw, services(context).table, pool)
    except ArgumentError as error:
        await refuse_arguments(update, context, error)
        return None
    if chosen.unknown:
        unchanged = command in ("subscribe", "unsubscribe")
        reply = texts.unknown_categories(lang, chosen.unknown, pool, unchanged)
        await send(update, context, reply)
    elif chosen.ambiguous:
        word, candidates = chosen.ambiguous[0]
        await send(update, context, texts.ambiguous(lang, word, candidates))
    elif not chosen.ok:
        await send(update, context, texts.need_categories(lang, command))
    else:
        return chosen
    return None


async def refuse_arguments(update: Update, context: Context, error: ArgumentError) -> None:
    lang = lang_of(update)
    if error.kind == "too_long":
        await send(update, context, texts.too_long(lang, MAX_ARGUMENT_CHARS))
    else:
        await send(update, context, texts.too_many(lang, MAX_CATEGORIES))


def categories_named(table: CategoryTable, names: tuple[str, ...] | list[str]) -> list[Category]:
    return [table.get(name) for name in names]


# Commands --------------------------------------------------------------------------------------


async def start(update: Update, context: Context) -> None:
    """/start [payload]: register the chat; `sub-<slug>` (or `sub-all`) also subscribes."""
    s, lang, chat = services(context), lang_of(update), chat_info(update)
    raw = command_text(update)
    await db(actions.register, s.subscribers, chat)
    if not raw:
        await send(update, context, texts.welcome(lang))
        return
    pool = await known(context)
    slug = raw.removeprefix("sub-") if raw.startswith("sub-") else None
    category = find_slug(slug, pool) if slug and START_PAYLOAD.match(raw) else None
    if category is None and slug != "all":
        await send(update, context, f"{texts.welcome(lang)}\n\n{texts.bad_start_link(lang)}")
        return
    if not await may_change(update, context):
        await send(update, context, texts.not_admin(lang))
        return
    if category is None:
        change = await db(actions.subscribe_all, s.subscribers, chat)
        done = texts.subscribed_all(lang, already=not change.added)
    else:
        change = await db(actions.subscribe, s.subscribers, chat, [category.name])
        done = texts.subscribed(lang, *_split(s.table, change))
        done += await newest(context, chat.id, change.added, lang)
    await send(update, context, f"{texts.welcome(lang)}\n\n{done}")


async def help_command(update: Update, context: Context) -> None:
    user = update.effective_user
    admin = user is not None and user.id in services(context).settings.telegram.admins
    await send(update, context, texts.help_text(lang_of(update), admin=admin))


async def permitted_selection(
    update: Update, context: Context, raw: str, pool: tuple[Category, ...], command: str
) -> Selection | None:
    """The categories `raw` names, if the sender may change this chat's subscriptions; None
    after replying why not (a bad argument, or not an admin of the group)."""
    chosen = await selection(update, context, raw, pool, command)
    if chosen is not None and not await may_change(update, context):
        await send(update, context, texts.not_admin(lang_of(update)))
        return None
    return chosen


async def categories(update: Update, context: Context) -> None:
    s, lang = services(context), lang_of(update)
    pool = await known(context)
    have = await db(actions.current, s.subscribers, update.effective_chat.id)  # type: ignore[union-attr]
    await send(update, context, texts.categories_list(lang, pool, set(have.names), have.all))


async def subscribe(update: Update, context: Context) -> None:
    """/subscribe <category...>|all; without arguments, a keyboard of toggles."""
    s, lang, chat = services(context), lang_of(update), chat_info(update)
    raw = command_text(update)
    pool = await known(context)
    if not raw:
        have = await db(actions.current, s.subscribers, chat.id)
        markup = buttons.keyboard(pool, set(have.names), have.all, lang)
        await send(update, context, texts.choose(lang), markup)
        return
    chosen = await permitted_selection(update, context, raw, pool, "subscribe")
    if chosen is None:
        return
    if chosen.all:
        change = await db(actions.subscribe_all, s.subscribers, chat)
        await send(update, context, texts.subscribed_all(lang, already=not change.added))
        return
    names = [c.name for c in chosen.categories]
    change = await db(actions.subscribe, s.subscribers, chat, names)
    reply = texts.subscribed(lang, *_split(s.table, change))
    await send(update, context, reply + await newest(context, chat.id, change.added, lang))


async def newest(context: Context, chat_id: int, names: tuple[str, ...], lang: Lang) -> str:
    """The newest items of newly subscribed categories, through the chat's keyword filter
    (at most NEWEST_ITEMS, as linked titles), to add to the reply; "" when there are none."""
    if not names:
        return ""
    s = services(context)
    found = await db(actions.newest, s.archive, s.chat_settings, chat_id, names, NEWEST_ITEMS)
    if not found:
        return ""
    listing, _ = texts.latest_listing(lang, "", found, limit=NEWEST_ITEMS)
    return "\n\n" + st.newest_head(lang) + "\n" + listing.removeprefix("<b></b>").lstrip("\n")


def _split(table: CategoryTable, change: actions.Change) -> tuple[list[Category], list[Category]]:
    return categories_named(table, change.added), categories_named(table, change.unchanged)


async def unsubscribe(update: Update, context: Context) -> None:
    """/unsubscribe <category...>|all."""
    s, lang, chat = services(context), lang_of(update), chat_info(update)
    raw = command_text(update)
    pool = await known(context)
    if not raw:  # the toggles of /subscribe: a ✅ pressed unsubscribes
        have = await db(actions.current, s.subscribers, chat.id)
        markup = buttons.keyboard(pool, set(have.names), have.all, lang)
        await send(update, context, st.unsubscribe_choose(lang), markup)
        return
    chosen = await permitted_selection(update, context, raw, pool, "unsubscribe")
    if chosen is None:
        return
    if chosen.all:
        change = await db(actions.unsubscribe_all, s.subscribers, chat)
        await send(update, context, texts.unsubscribed_all(lang, len(change.removed)))
        return
    names = [c.name for c in chosen.categories]
    change = await db(actions.unsubscribe, s.subscribers, chat, names, [c.name for c in pool])
    reply = texts.unsubscribed(
        lang,
        categories_named(s.table, change.removed),
        categories_named(s.table, change.unchanged),
        change.expanded_from_all,
    )
    await send(update, context, reply)


async def mysubs(update: Update, context: Context) -> None:
    s, lang = services(context), lang_of(update)
    have = await db(actions.current, s.subscribers, update.effective_chat.id)  # type: ignore[union-attr]
    shown = categories_named(s.table, have.names)
    markup = buttons.keyboard(await known(context), set(have.names), have.all, lang)
    await send(update, context, texts.my_subscriptions(lang, shown, have.all), markup)


async def latest(update: Update, context: Context) -> None:
    """/latest [category]: the newest digest's items in the category (else in the chat's
    subscriptions, else all of them), compactly; one message."""
    s, lang = services(context), lang_of(update)
    raw = command_text(update)
    chosen: tuple[Category, ...] = ()
    if raw:
        picked = await selection(update, context, raw, await known(context), "latest")
        if picked is None:
            return
        chosen = () if picked.all else picked.categories
    else:
        have = await db(actions.current, s.subscribers, update.effective_chat.id)  # type: ignore[union-attr]
        if not have.all:
            chosen = tuple(categories_named(s.table, have.names))
    names = {c.name for c in chosen} or None
    found = await db(actions.latest, s.archive, names)
    if found is None:
        await send(update, context, texts.no_digest(lang))
    elif not found.entries:
        await send(
            update, context, texts.nothing_in(lang, chosen) if chosen else texts.no_digest(lang)
        )
    else:
        title = found.title if found.newest else texts.recent_title(lang)
        more = _more_url(s.settings, chosen)
        text, shown = texts.latest_listing(lang, title, found.entries, chosen, more)
        markup = None
        if is_admin(update, context):  # admins re-categorise the listed items by button
            markup = correcting.items_keyboard([e.item.id for e in found.entries[:shown]])
        await send(update, context, text, markup)


def _more_url(settings: Settings, chosen: tuple[Category, ...]) -> str:
    if len(chosen) == 1:
        return f"{settings.site_url}c/{chosen[0].slug}/rss.xml"
    return settings.site_url


async def search(update: Update, context: Context) -> None:
    """/search <words>: the newest ten items of the whole archive holding the words."""
    s, lang = services(context), lang_of(update)
    raw = command_text(update)
    if not raw.strip():
        await send(update, context, texts.search_usage(lang))
        return
    try:
        found = await db(actions.search, s.engine, s.settings.site_url, raw, texts.SEARCH_ITEMS)
    except QueryError as error:
        reply = (
            texts.search_too_long(lang, MAX_QUERY) if error.too_long else texts.search_usage(lang)
        )
        await send(update, context, reply)
        return
    page = f"{s.settings.site_url}search?q={quote(normalise_query(raw))}"
    await send(update, context, texts.search_results(lang, normalise_query(raw), found, page))


async def feeds(update: Update, context: Context) -> None:
    s = services(context)
    pool = await known(context)
    await send(update, context, texts.feeds(lang_of(update), s.settings.site_url, pool))


async def stop(update: Update, context: Context) -> None:
    """/stop: asks first (a button), and mentions /pause, which keeps the subscriptions."""
    lang = lang_of(update)
    if not await may_change(update, context):
        await send(update, context, texts.not_admin(lang))
        return
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(st.stop_yes(lang), callback_data="stop:yes"),
                InlineKeyboardButton(st.stop_no(lang), callback_data="stop:no"),
            ]
        ]
    )
    await send(update, context, st.stop_confirm(lang), markup)


async def stop_button(update: Update, context: Context) -> None:
    """/stop's confirmation: "yes" removes every subscription, "no" keeps them; the question
    is replaced by the outcome."""
    query = update.callback_query
    assert query is not None
    s, lang = services(context), lang_of(update)
    if not await may_change(update, context):
        await query.answer(texts.not_admin(lang), show_alert=True)
        return
    if query.data == "stop:yes":
        change = await db(actions.unsubscribe_all, s.subscribers, chat_info(update))
        outcome = texts.stopped(lang, len(change.removed))
    else:
        outcome = st.stop_kept(lang)
    try:
        await query.edit_message_text(outcome, reply_markup=None)
    except BadRequest as error:  # pressed twice: already says so
        log.debug("stop question not replaced: %s", redact(str(error)))
    await query.answer()


async def stats(update: Update, context: Context) -> None:
    """/stats for the admins of settings.telegram.admins."""
    s, lang, user = services(context), lang_of(update), update.effective_user
    if user is None or user.id not in s.settings.telegram.admins:
        await send(update, context, texts.admins_only(lang))
        return
    counts = await db(s.subscribers.counts_by_category)
    deliveries = await db(actions.delivery_counts, s.engine)
    chats = await db(actions.active_chats, s.subscribers)
    n_digests, n_items = await db(s.archive.counts)
    names = {c.name: c for c in await known(context)}
    reply = texts.stats(lang, counts, deliveries, chats, n_digests, n_items, names)
    await send(update, context, reply)


async def recategorise(update: Update, context: Context) -> None:
    """/recategorise <item> <categories> for the admins: the item (its number in /latest, or its
    id) gets those categories, stored as a correction; the feeds are rendered again at once."""
    s, lang, user = services(context), lang_of(update), update.effective_user
    if user is None or user.id not in s.settings.telegram.admins:
        await send(update, context, texts.admins_only(lang))
        return
    parts = command_text(update).split(maxsplit=1)
    if len(parts) < 2:
        await send(update, context, texts.recategorise_usage(lang))
        return
    chosen = await selection(update, context, parts[1], s.table.categories, "recategorise")
    if chosen is None:
        return
    if chosen.all:
        await send(update, context, texts.recategorise_usage(lang))
        return
    item_id = await db(_item_named, s.archive, parts[0])
    done = await correct(context, item_id, chosen.categories, user.id) if item_id else None
    if done is None:
        await send(update, context, texts.no_such_item(lang, parts[0]))
        return
    await send(update, context, texts.recategorised(lang, done.title, chosen.categories))


async def correct(
    context: Context, item_id: str, categories: tuple[Category, ...], user_id: int
) -> Correction | None:
    """Store an admin's correction and render the feeds again; None if there is no such item."""
    s = services(context)
    names = [c.name for c in categories]
    done = await db(Corrections(s.engine).correct, item_id, names, str(user_id))
    if done is not None:
        username = context.bot.username
        await db(lambda: build_feeds(s.archive, s.table, s.settings, bot_username=username))
    return done


def is_admin(update: Update, context: Context) -> bool:
    user = update.effective_user
    return user is not None and user.id in services(context).settings.telegram.admins


def _item_named(archive: Archive, reference: str) -> str | None:
    """An item by its number in the newest digest (as /latest lists it) or by its id."""
    if reference.isdigit():
        found = actions.latest(archive, None)
        number = int(reference)
        if found is None or not 1 <= number <= len(found.entries):
            return None
        return found.entries[number - 1].item.id
    return reference


async def unknown_command(update: Update, context: Context) -> None:
    await send(update, context, texts.unknown_command(lang_of(update)))


# Buttons ---------------------------------------------------------------------------------------


async def button(update: Update, context: Context) -> None:
    """A press on a /subscribe keyboard: toggle, redraw the keyboard, answer."""
    query = update.callback_query
    assert query is not None
    s, lang = services(context), lang_of(update)
    toggle = buttons.parse_callback(query.data)
    message = query.message
    if toggle is None or message is None:
        await query.answer()
        return
    pool = await known(context)
    category = find_slug(toggle.slug, pool) if toggle.slug is not None else None
    if toggle.slug is not None and category is None:
        await query.answer(texts.bad_start_link(lang))
        return
    if not await may_change(update, context):
        await query.answer(texts.not_admin(lang), show_alert=True)
        return
    name = category.name if category else None
    on, have = await db(
        actions.toggle, s.subscribers, chat_info(update), name, [c.name for c in pool]
    )
    markup = buttons.keyboard(pool, set(have.names), have.all, lang)
    try:
        await query.edit_message_reply_markup(markup)
    except BadRequest as error:  # "message is not modified", or too old to edit
        log.debug("keyboard not redrawn: %s", redact(str(error)))
    await query.answer(texts.toggled(lang, category, on))


async def recategorise_button(update: Update, context: Context) -> None:
    """A press under an admin's /latest: open an item's category toggles, toggle one (the
    button carries the selection it leads to), or "done": stored as /recategorise stores it."""
    query = update.callback_query
    assert query is not None
    s, lang = services(context), lang_of(update)
    press = correcting.parse_callback(query.data)
    if press is None or query.message is None:
        await query.answer()
        return
    if not is_admin(update, context):
        await query.answer(texts.admins_only_plain(lang), show_alert=True)
        return
    pool = s.table.categories
    if press.action == correcting.DONE:
        await _finish_correction(update, context, press, pool)
        return
    mask = press.mask
    if press.action == correcting.OPEN:
        have = await db(s.archive.item_categories, press.item_id)
        if have is None:
            await query.answer(texts.item_gone(lang), show_alert=True)
            return
        mask = correcting.mask_of(pool, have)
    await _redraw(update, correcting.categories_keyboard(press.item_id, pool, mask, lang))
    await query.answer()


async def _finish_correction(
    update: Update, context: Context, press: correcting.Press, pool: tuple[Category, ...]
) -> None:
    query, lang, user = update.callback_query, lang_of(update), update.effective_user
    assert query is not None and user is not None
    chosen = correcting.chosen(pool, press.mask)
    if not chosen:
        await query.answer(texts.pick_a_category(lang), show_alert=True)
        return
    done = await correct(context, press.item_id, chosen, user.id)
    if done is None:
        await query.answer(texts.item_gone(lang), show_alert=True)
        return
    await query.answer()
    await send(update, context, texts.recategorised(lang, done.title, chosen))


async def _redraw(update: Update, markup: InlineKeyboardMarkup) -> None:
    query = update.callback_query
    assert query is not None
    try:
        await query.edit_message_reply_markup(markup)
    except BadRequest as error:  # "message is not modified", or too old to edit
        log.debug("keyboard not redrawn: %s", redact(str(error)))


# Flood guard, chat state -----------------------------------------------------------------------


def is_command_for_us(message: Message | None, username: str | None) -> bool:
    """A message starting with a bot command that is not addressed to another bot."""
    if message is None or not message.text or not message.entities:
        return False
    entity = message.entities[0]
    if entity.type != MessageEntityType.BOT_COMMAND or entity.offset != 0:
        return False
    command = message.text[: entity.length]
    if "@" in command:
        return bool(username) and command.split("@", 1)[1].lower() == username.lower()  # type: ignore[union-attr]
    return True


async def guard(update: Update, context: Context) -> None:
    """Before every handler: at most FloodGuard.limit commands a minute per user; one polite
    refusal, then silence until the window frees."""
    user = update.effective_user
    query = update.callback_query
    if user is None or (
        query is None and not is_command_for_us(update.message, context.bot.username)
    ):
        return
    flood = services(context).flood
    verdict = flood.check(user.id)
    if verdict is Verdict.ALLOW:
        chat = update.effective_chat
        if chat is not None:
            chosen = await db(services(context).chat_settings.get, chat.id)
            reads(chosen.language)
        return
    lang = lang_of(update)
    text = texts.flooding(lang, flood.retry_in(user.id))
    try:
        if query is not None:
            await query.answer(text if verdict is Verdict.REFUSE else None)
        elif verdict is Verdict.REFUSE:
            await send(update, context, text)
    except TelegramError as error:
        log.info("flood refusal not sent to user %s: %s", user.id, redact(str(error)))
    if verdict is Verdict.REFUSE:
        log.info("user %s is sending commands too fast; ignoring them for now", user.id)
    raise ApplicationHandlerStop


async def chat_member(update: Update, context: Context) -> None:
    """The bot was blocked, removed, or let back in: mark the chat so deliveries follow."""
    change = update.my_chat_member
    if change is None:
        return
    s, chat = services(context), change.chat
    if chat.type == ChatType.CHANNEL:  # channels are connected by their admins: see channels.py
        return
    status = change.new_chat_member.status
    if status in (ChatMemberStatus.BANNED, ChatMemberStatus.LEFT):
        state = BLOCKED if chat.type == ChatType.PRIVATE else GONE
        await db(s.subscribers.set_state, chat.id, state)
        cancelled = await db(Outbox(s.engine).cancel_chat, str(chat.id), f"chat {state}")
        log.info("chat %s is now %s; %d delivery(ies) cancelled", chat.id, state, cancelled)
    elif status in (ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR):
        await db(actions.register, s.subscribers, chat_info(update))


async def migrated(update: Update, context: Context) -> None:
    """A group became a supergroup: its subscriptions follow it to the new id."""
    message = update.message
    if message is None or not message.migrate_to_chat_id:
        return
    await db(services(context).subscribers.move_chat, message.chat.id, message.migrate_to_chat_id)
    log.info("chat %s moved to %s", message.chat.id, message.migrate_to_chat_id)


# Errors ----------------------------------------------------------------------------------------


async def on_error(update: object, context: Context) -> None:
    """Log every error (the token redacted), mark chats that refuse us, never raise."""
    error = context.error
    chat = update.effective_chat if isinstance(update, Update) else None
    where = f" in chat {chat.id}" if chat else ""
    try:
        if isinstance(error, Forbidden) and chat is not None:
            state = BLOCKED if chat.type == ChatType.PRIVATE else GONE
            log.info("cannot write%s (%s): chat marked %s", where, redact(str(error)), state)
            await db(services(context).subscribers.set_state, chat.id, state)
        elif isinstance(error, RetryAfter):  # waited as long as a reply may (SharedLimiter)
            log.warning("reply not sent%s: flood limit, %s", where, redact(str(error)))
        elif isinstance(error, NetworkError | BadRequest):
            log.warning("Bot API error%s: %s", where, redact(str(error)))
        elif isinstance(error, TelegramError):
            log.warning("Telegram error%s: %s", where, redact(str(error)))
        else:
            log.error("command failed%s", where, exc_info=error)
            if chat is not None and isinstance(update, Update):
                await send(update, context, texts.failed(lang_of(update)))
    except Exception as inner:  # the error handler itself never raises
        log.warning("error handler failed%s: %s", where, redact(str(inner)))
