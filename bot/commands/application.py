"""The one place the Telegram Application is built, and its lifecycle for the service.

    app = build_application(settings, engine=engine, table=table, pacer=pacer)
    await start_bot(app)      # initialize, setMyCommands (zh and en), start, poll
    ...
    await stop_bot(app)       # the reverse

Neither installs signal handlers nor closes the event loop: the service owns both.

Every request of the bot goes through a `SharedLimiter` over `pacer`, the token's one budget,
which the service shares with the dispatcher's sender. Replies are HTML without link previews
(`Defaults`); updates of different chats are handled at once (`ChatOrderedUpdates`). There is
no JobQueue: the service's periodic jobs run on its own APScheduler.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine
from telegram import BotCommand, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    Defaults,
    ExtBot,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.categorising.table import CategoryTable
from bot.commands import (
    channels,
    correcting,
    handlers,
    reader_settings,
    settings_menu,
    texts,
    timing_buttons,
    timing_commands,
    topics,
)
from bot.commands.context import CONTEXT_TYPES, BotData, Context, Services
from bot.commands.flood import FloodGuard
from bot.commands.updates import ChatOrderedUpdates
from bot.dispatching.limiter import SharedLimiter
from bot.dispatching.pacing import Limits, Pacer, Permit
from bot.logs import add_secret, redact
from bot.settings import Settings
from bot.storing.archive import Archive
from bot.storing.chat_settings import ChatSettingsStore
from bot.storing.subscribers import Subscribers

log = logging.getLogger(__name__)

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
BotApp = Application[ExtBot[Permit], Context, dict[Any, Any], dict[Any, Any], BotData, None]
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY, Update.MY_CHAT_MEMBER]
_COMMANDS = {
    "start": handlers.start,
    "help": handlers.help_command,
    "categories": handlers.categories,
    "subscribe": handlers.subscribe,
    "unsubscribe": handlers.unsubscribe,
    "mysubs": handlers.mysubs,
    "latest": handlers.latest,
    "feeds": handlers.feeds,
    "search": handlers.search,
    "stop": handlers.stop,
    "stats": handlers.stats,
    "recategorise": handlers.recategorise,
    **reader_settings.COMMANDS,
    **timing_commands.COMMANDS,  # /pause /resume /quiet /schedule /timezone (#13)
    "connect": channels.connect,
    "channels": channels.channels_command,
    "topic": topics.topic,
}


def build_application(
    settings: Settings,
    *,
    engine: Engine,
    table: CategoryTable,
    archive: Archive | None = None,
    subscribers: Subscribers | None = None,
    flood: FloodGuard | None = None,
    pacer: Pacer | None = None,
    limiter: SharedLimiter | None = None,
) -> BotApp:
    """The bot: token and Bot API address from the settings, every command's handler
    registered, the stores in `bot_data.services`. `pacer`: the token's budget, shared with
    the dispatcher (by default one of its own, at the settings' limits); `limiter`, one over
    it already (a standby's, which relays its requests to the sender)."""
    token = settings.token
    if not token:
        raise ValueError("telegram.token is not set: the bot cannot start without it")
    add_secret(token)  # before the first request is logged
    timeout = settings.telegram.request_timeout
    app = (
        ApplicationBuilder()
        .token(token)
        .base_url(settings.telegram.base_url)
        .base_file_url(_file_url(settings.telegram.base_url))
        .connect_timeout(min(10.0, timeout))
        .read_timeout(timeout)
        .write_timeout(timeout)
        .pool_timeout(timeout)
        .get_updates_connect_timeout(min(10.0, timeout))
        .get_updates_read_timeout(timeout)  # plus the long-poll timeout, added per request
        .get_updates_write_timeout(timeout)
        .get_updates_pool_timeout(timeout)
        .defaults(Defaults(parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW))
        .rate_limiter(
            limiter or SharedLimiter(pacer or Pacer(Limits.from_settings(settings.telegram)))
        )
        .concurrent_updates(ChatOrderedUpdates())
        .context_types(CONTEXT_TYPES)
        .job_queue(None)
        .build()
    )
    services = Services(
        settings=settings,
        engine=engine,
        table=table,
        archive=archive or Archive(engine),
        subscribers=subscribers or Subscribers(engine),
        flood=flood or FloodGuard(),
        chat_settings=ChatSettingsStore(engine),
    )
    app.bot_data.services = services
    register_handlers(app)
    return app


def _file_url(base_url: str) -> str:
    """Telegram serves files under /file/bot<token>: derive it from a base URL ending in /bot."""
    if base_url.endswith("/bot"):
        return base_url[: -len("bot")] + "file/bot"
    return base_url


def register_handlers(app: BotApp) -> None:
    only_messages = filters.UpdateType.MESSAGE
    app.add_handler(TypeHandler(Update, handlers.guard), group=-1)
    for name, callback in _COMMANDS.items():
        app.add_handler(CommandHandler(name, callback, filters=only_messages))
    app.add_handler(CallbackQueryHandler(handlers.recategorise_button, pattern=correcting.PATTERN))
    app.add_handler(
        CallbackQueryHandler(timing_commands.timing_button, pattern=timing_buttons.PATTERN)
    )
    app.add_handler(
        CallbackQueryHandler(reader_settings.settings_button, pattern=settings_menu.PATTERN)
    )
    app.add_handler(CallbackQueryHandler(handlers.stop_button, pattern=handlers.STOP_PATTERN))
    app.add_handler(CallbackQueryHandler(channels.channel_button, pattern=channels.PATTERN))
    app.add_handler(CallbackQueryHandler(handlers.button))
    app.add_handler(ChatMemberHandler(handlers.chat_member, ChatMemberHandler.MY_CHAT_MEMBER))
    app.add_handler(
        ChatMemberHandler(channels.membership, ChatMemberHandler.MY_CHAT_MEMBER), group=1
    )
    app.add_handler(
        MessageHandler(
            filters.FORWARDED & filters.ChatType.PRIVATE & ~filters.COMMAND & only_messages,
            channels.forwarded,
        )
    )
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, handlers.migrated))
    app.add_handler(
        MessageHandler(
            filters.COMMAND & filters.ChatType.PRIVATE & only_messages, handlers.unknown_command
        )
    )
    app.add_error_handler(handlers.on_error)


def command_menu(lang: texts.Lang) -> list[BotCommand]:
    """The command menu in one language (admin-only commands left out)."""
    return [
        BotCommand(c.name, c.en if lang == "en" else c.zh) for c in texts.COMMANDS if not c.admin
    ]


async def set_commands(bot: ExtBot[Permit]) -> None:
    """setMyCommands in Chinese (the default) and in English (language_code "en")."""
    await bot.set_my_commands(command_menu("zh"))
    await bot.set_my_commands(command_menu("en"), language_code="en")


async def on_start(app: BotApp) -> None:
    """After initialize(): publish the command menu; a failure is logged, not fatal."""
    try:
        await set_commands(app.bot)
    except TelegramError as error:
        log.warning("setMyCommands failed: %s", redact(str(error)))


async def start_bot(app: BotApp, *, poll: bool = True) -> None:
    """initialize, command menu, start, long polling (pending updates kept). With poll=False
    (another instance polls) the bot is started but takes no updates."""
    try:
        await app.initialize()
    except TelegramError as error:
        # "The token `…` was rejected by the server." must not carry the token onwards.
        await stop_bot(app)
        raise _without_secrets(error) from None
    try:
        await on_start(app)
        await app.start()
        if poll:
            await start_polling(app)
    except BaseException:
        await stop_bot(app)
        raise


async def start_polling(app: BotApp) -> None:
    """Long polling of a started bot (pending updates kept)."""
    settings = app.bot_data.services.settings
    assert app.updater is not None
    await app.updater.start_polling(
        timeout=settings.telegram.poll_timeout,
        drop_pending_updates=False,
        allowed_updates=ALLOWED_UPDATES,
    )
    log.info("bot @%s is polling for updates", app.bot.username)


async def stop_polling(app: BotApp) -> None:
    """No more updates taken (another instance polls now); the bot still sends."""
    if app.updater is not None and app.updater.running:
        await app.updater.stop()


def _without_secrets(error: TelegramError) -> TelegramError:
    """The same error, its text redacted (python-telegram-bot puts the token in some)."""
    text = redact(str(error))
    if text == str(error):
        return error
    try:
        return type(error)(text)
    except TypeError:  # an error class whose constructor takes more than a message
        return TelegramError(text)


async def stop_bot(app: BotApp) -> None:
    """Stop polling, stop handling, shut down; safe after a partial start and twice."""
    if app.updater is not None and app.updater.running:
        await app.updater.stop()
    if app.running:
        await app.stop()
    await app.shutdown()
