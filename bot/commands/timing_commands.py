"""/pause, /resume, /quiet, /schedule and /timezone (#13): when a chat gets its deliveries.

Each command reads the chat's settings, changes one thing and stores them; a bad argument gets
the usage and changes nothing; in a group only its admins change them. What is held already
follows the new settings at the releaser's next check (`bot.dispatching.bundles`).
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from telegram import Update

from bot.commands import texts
from bot.commands.context import Context
from bot.commands.handlers import command_text, db, lang_of, may_change, send, services
from bot.commands.texts import Lang
from bot.commands.timing_arguments import (
    TimingError,
    parse_duration,
    parse_quiet,
    parse_schedule,
    parse_zone,
)
from bot.dispatching.holding import Holding
from bot.dispatching.timing import zone_of
from bot.storing.catch_up import missed
from bot.storing.chat_settings import ChatSettings, ChatSettingsStore
from bot.storing.subscribers import ALL

CATCH_UP_READ = 1000  # items read for a catch-up at most (it shows a screenful)


def store(context: Context) -> ChatSettingsStore:
    return ChatSettingsStore(services(context).engine)


async def chat_settings(update: Update, context: Context) -> tuple[str, ChatSettings, Lang]:
    chat = update.effective_chat
    assert chat is not None
    chosen = await db(store(context).get, chat.id)
    lang: Lang = texts.language(chosen.language) if chosen.language else lang_of(update)
    return str(chat.id), chosen, lang


async def _permitted(update: Update, context: Context, lang: Lang) -> bool:
    if await may_change(update, context):
        return True
    await send(update, context, texts.settings_admins_only(lang))
    return False


def now() -> float:
    return time.time()


def local(moment: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(moment, zone).strftime("%Y-%m-%d %H:%M")


# Pure changes of one setting (also used by the /settings buttons) --------------------------


def pausing(chosen: ChatSettings, seconds: float | None, at: float) -> ChatSettings:
    """Paused from `at` for `seconds` (None: until /resume); a pause that holds keeps its start,
    so what was missed since then is still offered."""
    since = chosen.paused_since_ts if chosen.paused_at(at) else at
    until = None if seconds is None else at + seconds
    return replace(chosen, paused=True, paused_since_ts=since, paused_until_ts=until)


def resuming(chosen: ChatSettings) -> ChatSettings:
    return replace(chosen, paused=False, paused_since_ts=None, paused_until_ts=None)


# The commands ------------------------------------------------------------------------------


async def pause(update: Update, context: Context) -> None:
    chat_id, chosen, lang = await chat_settings(update, context)
    try:
        seconds = parse_duration(command_text(update))
    except TimingError:
        await send(update, context, texts.timing_usage(lang, "pause"))
        return
    if not await _permitted(update, context, lang):
        return
    at = now()
    changed = pausing(chosen, seconds, at)
    await db(store(context).save, chat_id, changed)
    zone = zone_of(changed, services(context).settings.zone)
    until = None if changed.paused_until_ts is None else local(changed.paused_until_ts, zone)
    await send(update, context, texts.paused(lang, until))


async def resume(update: Update, context: Context) -> None:
    chat_id, chosen, lang = await chat_settings(update, context)
    if not chosen.paused:
        await send(update, context, texts.not_paused(lang))
        return
    if not await _permitted(update, context, lang):
        return
    await db(store(context).save, chat_id, resuming(chosen))
    await send(update, context, await catch_up(context, chat_id, chosen, lang, now()))


async def catch_up(
    context: Context, chat_id: str, chosen: ChatSettings, lang: Lang, at: float
) -> str:
    """One message: the newest items of the chat's selection published while it was paused
    (at most a screenful, with the feed for the rest), or that nothing was missed."""
    s = services(context)
    names = await db(s.subscribers.subscriptions_of, chat_id)
    categories = None if ALL in names else set(names)
    since = chosen.paused_since_ts or at
    until = min(at, chosen.paused_until_ts) if chosen.paused_until_ts else at
    if (categories is not None and not categories) or until <= since:
        return texts.resumed(lang)
    count, entries = await db(missed, s.engine, categories, since, until, CATCH_UP_READ)
    if chosen.include_words or chosen.exclude_words:
        admitted = set(
            item.id
            for item in Holding(at, s.settings.zone).admitted(chosen, [e.item for e in entries])
        )
        entries = [e for e in entries if e.item.id in admitted]
        count = len(entries)
    if not entries:
        return texts.resumed(lang)
    text, _ = texts.latest_listing(
        lang, texts.catch_up_title(lang, count), entries, (), f"{s.settings.site_url}rss.xml"
    )
    return text


async def quiet(update: Update, context: Context) -> None:
    chat_id, chosen, lang = await chat_settings(update, context)
    try:
        window = parse_quiet(command_text(update))
    except TimingError:
        await send(update, context, texts.timing_usage(lang, "quiet"))
        return
    if not await _permitted(update, context, lang):
        return
    changed = replace(
        chosen, quiet_start=window.start, quiet_end=window.end, quiet_silent=window.silent
    )
    await db(store(context).save, chat_id, changed)
    if window.start is None or window.end is None:
        await send(update, context, texts.quiet_off(lang))
    else:
        await send(update, context, texts.quiet_set(lang, window.start, window.end, window.silent))


async def schedule(update: Update, context: Context) -> None:
    chat_id, chosen, lang = await chat_settings(update, context)
    try:
        times = parse_schedule(command_text(update))
    except TimingError:
        await send(update, context, texts.timing_usage(lang, "schedule"))
        return
    if not await _permitted(update, context, lang):
        return
    changed = replace(chosen, schedule=times)
    await db(store(context).save, chat_id, changed)
    zone = changed.timezone or services(context).settings.timezone
    await send(update, context, texts.schedule_set(lang, times, zone))


async def timezone(update: Update, context: Context) -> None:
    chat_id, chosen, lang = await chat_settings(update, context)
    try:
        name = parse_zone(command_text(update))
    except TimingError:
        await send(update, context, texts.timing_usage(lang, "timezone"))
        return
    if not await _permitted(update, context, lang):
        return
    default = services(context).settings.timezone
    changed = replace(chosen, timezone=None if name == default else name)
    await db(store(context).save, chat_id, changed)
    await send(update, context, texts.timezone_set(lang, name, local(now(), ZoneInfo(name))))


COMMANDS = {
    "pause": pause,
    "resume": resume,
    "quiet": quiet,
    "schedule": schedule,
    "timezone": timezone,
}
