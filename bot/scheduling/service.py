"""`digestbot run`: one asyncio process that watches, ingests, renders, serves, polls and delivers.

Every stage is a library; this module only wires them and owns the process's life: start-up
order, periodic jobs (APScheduler), signals, and a shutdown that keeps in-flight deliveries safe.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from contextlib import suppress
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Engine, text
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application

from bot import metrics
from bot.categorising.table import CategoryTable, CategoryTableError, load_table
from bot.commands.application import build_application, start_bot, stop_bot
from bot.commands.webhook import set_webhook, webhook_route
from bot.dispatching import ConsoleSender, Dispatcher, Sender, TelegramSender, plan_digest
from bot.feeds import build_feeds
from bot.ingest import Ingester
from bot.logs import configure_logging
from bot.scheduling.watcher import DigestWatcher
from bot.serving import FeedServer, create_app
from bot.settings import Settings
from bot.storing.archive import Archive
from bot.storing.database import open_database, sqlite_path
from bot.storing.locks import AlreadyRunning, InstanceLock, PollerLock
from bot.storing.outbox import Outbox
from bot.storing.subscribers import ACTIVE, Subscribers

log = logging.getLogger("digestbot")

# Seconds in-flight deliveries get to finish. With the bot's 2 s and the HTTP server's 2 s,
# the process exits within the 10 s a supervisor gives it.
SHUTDOWN_GRACE = 5.0


def run(settings: Settings) -> int:
    """The service's entry point: returns the process exit code."""
    configure_logging(settings.log_level, secrets=[settings.token])
    try:
        return asyncio.run(Service(settings).main())
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 130


class Service:
    """The running digestbot: state shared by its jobs, and its start and stop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stop = asyncio.Event()
        self.started = time.time()
        self.arrivals: dict[str, float] = {}  # digest id -> when its file was noticed
        self.ready = False
        self.jobs: dict[str, asyncio.Task[None]] = {}
        self._lock: InstanceLock | None = None
        self._poller_lock: PollerLock | None = None

    async def main(self) -> int:
        settings = self.settings
        try:
            table = load_table(settings.categories_file)
        except CategoryTableError as error:
            log.error("bad category table: %s", error)
            return 2
        for folder in (settings.digests_dir, settings.feeds_dir):
            folder.mkdir(parents=True, exist_ok=True)
        database = sqlite_path(settings.database_url)
        if database is not None:
            self._lock = InstanceLock(database)
            try:
                self._lock.acquire()
            except AlreadyRunning as error:
                log.error("%s", error)
                return 1
        try:
            return await self._serve(table)
        finally:
            if self._lock:
                self._lock.release()

    async def _serve(self, table: CategoryTable) -> int:
        settings = self.settings
        self.engine = engine = await asyncio.to_thread(open_database, settings.database_url)
        self.table = table
        self.archive = Archive(engine)
        self.subscribers = Subscribers(engine)
        self.outbox = Outbox(engine)
        self.ingester = Ingester(self.archive, table, settings.zone)
        await asyncio.to_thread(self._reopen_channels)
        self._install_signal_handlers()

        try:
            bot_app, sender, username = await self._start_bot(engine, table)
        except InvalidToken as error:
            log.error("telegram.token (DIGESTBOT_TELEGRAM__TOKEN): %s", error)
            return 2
        except TelegramError as error:
            log.error("cannot start the bot: %s; is %s reachable?", error, _host(settings))
            return 1
        self.username = username
        self.dispatcher = Dispatcher(sender, self.outbox, settings, subscribers=self.subscribers)
        self.dispatcher.on_first_send = self._first_send
        metrics.count_deliveries_of(lambda: self.dispatcher.stats)

        routes = []
        if bot_app is not None and settings.telegram.webhook_url:
            routes.append(webhook_route(bot_app, settings))
        server = FeedServer(
            create_app(
                settings.feeds_dir,
                health=self.health,
                registry=metrics.registry,
                extra_routes=routes,
            ),
            settings.http.host,
            settings.http.port,
            graceful_seconds=2.0,
        )
        try:
            await server.start()
        except OSError as error:
            log.error(
                "http (DIGESTBOT_HTTP__HOST/PORT): cannot serve on %s:%s: %s",
                settings.http.host,
                settings.http.port,
                error.strerror or error,
            )
            await self._stop_bot(bot_app)
            engine.dispose()
            return 1
        if routes:
            await set_webhook(bot_app, settings)
        self.watcher = DigestWatcher(
            settings.digests_dir,
            self._handle_file,
            settle=settings.settle_seconds,
            changed=self.ingester.changed_files,
        )
        watching = asyncio.create_task(self.watcher.watch(self.stop), name="watch")
        # So that no file arriving during the first scan goes unnoticed.
        await self.watcher.started(watching)
        await self.watcher.rescan()
        # From here each digest is rendered and planned as it comes; the first scan's digests
        # are rendered once and planned together (planning twice is harmless, missing one not).
        self.ready = True
        await self._render_feeds()
        await self._plan_unplanned()

        scheduler = AsyncIOScheduler(timezone=settings.zone)
        scheduler.add_job(
            self.watcher.rescan,
            "interval",
            seconds=settings.scan_interval,
            max_instances=1,
            coalesce=True,
            id="rescan",
        )
        scheduler.add_job(
            self._refresh_gauges, "interval", seconds=15, max_instances=1, coalesce=True
        )
        scheduler.start()

        tasks = [
            watching,
            asyncio.create_task(self.dispatcher.run(self.stop), name="dispatch"),
        ]
        for task in tasks:
            self._watch_task(task)
        log.info("digestbot is running (%s)", "bot @" + username if username else "console mode")
        await self.stop.wait()
        log.info("stopping")

        scheduler.shutdown(wait=False)
        await self.watcher.close()
        _, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._stop_bot(bot_app)
        await server.stop()
        engine.dispose()
        log.info("stopped")
        return 0

    # Bot ----------------------------------------------------------------------------------------

    async def _start_bot(
        self, engine: Engine, table: CategoryTable
    ) -> tuple[Application | None, Sender, str | None]:
        """The bot's update polling and the sender of deliveries; console mode without a token."""
        settings = self.settings
        if not settings.token:
            log.info("no bot token: console mode, messages are logged instead of sent")
            return None, ConsoleSender(), settings.telegram.username
        app = build_application(
            settings,
            engine=engine,
            table=table,
            archive=self.archive,
            subscribers=self.subscribers,
        )
        poll = not settings.telegram.webhook_url
        if poll and engine.dialect.name == "postgresql":
            self._poller_lock = PollerLock(engine)
            poll = await asyncio.to_thread(self._poller_lock.try_acquire)
            if not poll:
                log.info("another instance polls Telegram; this one only delivers")
        await start_bot(app, poll=poll)
        username = settings.telegram.username or app.bot.username
        return app, TelegramSender(settings), username

    async def _stop_bot(self, app: Application | None) -> None:
        if app is None:
            return
        with suppress(Exception):
            await asyncio.wait_for(stop_bot(app), timeout=2)
        if self._poller_lock:
            await asyncio.to_thread(self._poller_lock.release)

    def _reopen_channels(self) -> None:
        """A configured channel that once refused the bot (403: not yet an admin, say) is tried
        again at each start: the operator's configuration says it should receive, and Telegram
        tells us nothing when a channel's rights change."""
        for channel in self.settings.telegram.channels:
            chat = self.subscribers.chat(channel.chat)
            if chat is not None and chat.state != ACTIVE:
                self.subscribers.set_state(channel.chat, ACTIVE)
                log.info("channel %s was %s; trying it again", channel.chat, chat.state)

    # Digests ------------------------------------------------------------------------------------

    async def _handle_file(self, path: Path, noticed: float) -> None:
        outcome = await asyncio.to_thread(self.ingester.ingest, path)
        if outcome.error:
            metrics.digest_errors.inc()
            log.warning("skipped bad digest %s", outcome.error)
            return
        if outcome.status != "stored" or outcome.ingested is None or outcome.digest is None:
            return
        ingested = outcome.ingested
        if not ingested.changed:
            log.info("%s: nothing new (digest %s)", path.name, ingested.digest_id)
            return
        metrics.digests_ingested.inc()
        metrics.items_ingested.inc(len(ingested.new_items))
        log.info(
            "%s: digest %s, %d new item(s), %d edited",
            path.name,
            ingested.digest_id,
            len(ingested.new_items),
            len(ingested.edited_items),
        )
        self.arrivals[ingested.digest_id] = noticed
        if self.ready:
            await asyncio.gather(self._plan(ingested.digest_id), self._render_feeds(noticed))
            log.info("%s: digest %s published", path.name, ingested.digest_id)

    async def _plan_unplanned(self) -> None:
        for digest_id in await asyncio.to_thread(self.archive.unplanned):
            await self._plan(digest_id)

    async def _plan(self, digest_id: str) -> None:
        row = await asyncio.to_thread(self.archive.digest_row, digest_id)
        if row is None:
            return
        result = await asyncio.to_thread(
            plan_digest,
            self.engine,
            digest_id,
            archive=self.archive,
            subscribers=self.subscribers,
            table=self.table,
            settings=self.settings,
        )
        await asyncio.to_thread(self.archive.mark_planned, digest_id, row.content_hash)
        log.info("digest %s planned: %s", digest_id, result)
        self.dispatcher.wake()

    async def _render_feeds(self, noticed: float | None = None) -> None:
        written = await asyncio.to_thread(
            build_feeds, self.archive, self.table, self.settings, bot_username=self.username
        )
        if noticed is not None:
            metrics.file_to_feed.observe(time.time() - noticed)
        if written:
            log.info("feeds: %d file(s) updated", len(written))

    def _first_send(self, digest_id: str) -> None:
        noticed = self.arrivals.pop(digest_id, None)
        if noticed is not None:
            metrics.file_to_first_send.observe(time.time() - noticed)

    # Health -------------------------------------------------------------------------------------

    def _watch_task(self, task: asyncio.Task[None]) -> None:
        """A long-running job that ends before shutdown is a failure /healthz reports (so a
        supervisor restarts the service) and the log explains."""
        self.jobs[task.get_name()] = task

        def ended(done: asyncio.Task[None]) -> None:
            if self.stop.is_set() or done.cancelled():
                return
            error = done.exception()
            log.error("the %s job stopped: %r", done.get_name(), error, exc_info=error)

        task.add_done_callback(ended)

    def health(self) -> tuple[bool, dict[str, object]]:
        """For /healthz: healthy when the database answers, the folder was scanned lately and
        the watch and dispatch jobs are running."""
        database_ok = True
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            database_ok = False
        last_scan = self.watcher.last_scan if hasattr(self, "watcher") else None
        scan_ok = last_scan is not None and (
            time.time() - last_scan < 3 * self.settings.scan_interval + 5
        )
        pending = self.outbox.pending_count() if database_ok else None
        stopped = sorted(name for name, job in self.jobs.items() if job.done())
        healthy = database_ok and scan_ok and not stopped
        body = {
            "status": "ok" if healthy else "unhealthy",
            "database": "ok" if database_ok else "unreachable",
            "last_scan": last_scan,
            "pending_deliveries": pending,
            "uptime": round(time.time() - self.started, 1),
            "mode": "telegram" if self.settings.token else "console",
            "stopped_jobs": stopped,
        }
        return healthy, body

    async def _refresh_gauges(self) -> None:
        with suppress(Exception):
            metrics.deliveries_pending.set(await asyncio.to_thread(self.outbox.pending_count))

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop.set)


def _host(settings: Settings) -> str:
    from urllib.parse import urlsplit

    return urlsplit(settings.telegram.base_url).netloc or settings.telegram.base_url
