"""`digestbot run`: one asyncio process that watches, ingests, renders, serves, polls and delivers.

Every stage is a library; this module only wires them and owns the process's life: start-up
order, periodic jobs (APScheduler), signals, and a shutdown that keeps in-flight deliveries safe.
The parts are built one by one into an `AsyncExitStack`, so whatever step fails (or a SIGTERM
arrives, at any stage) undoes exactly what was done, in reverse order.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application

from bot import metrics
from bot.categorising.table import CategoryTable, CategoryTableError, load_table
from bot.commands.application import (
    build_application,
    start_bot,
    start_polling,
    stop_bot,
    stop_polling,
)
from bot.commands.topics import topic_note
from bot.commands.webhook import set_webhook, webhook_route
from bot.dispatching import ConsoleSender, Dispatcher, Sender, TelegramSender, pacing, plan_digest
from bot.dispatching.bundles import release_bundles
from bot.dispatching.relay import Relay, RelayingLimiter, RelayWorker
from bot.feeds.search_results import SearchSite
from bot.logs import configure_logging
from bot.pipeline import Failures, Pipeline, Planner
from bot.scheduling.checks import StartupProblem, StateGuard, check_paths, database_problem
from bot.scheduling.watcher import DigestWatcher
from bot.serving import FeedServer, create_app
from bot.serving.guard import Limits, raise_open_files_limit
from bot.serving.search import search_routes
from bot.settings import Settings, unknown_channel_categories
from bot.storing.backlog import backlog
from bot.storing.database import open_database, sqlite_path
from bot.storing.locks import (
    POLLER_CHECK_SECONDS,
    AlreadyRunning,
    InstanceLock,
    PollerLock,
    PollerRole,
)
from bot.storing.notify import PlannedListener
from bot.storing.relay import RELAY, RELAYED, Relayed
from bot.storing.retention import Retention
from bot.storing.search import Search
from bot.storing.status import ping
from bot.storing.subscribers import ACTIVE

log = logging.getLogger("digestbot")

# Seconds in-flight deliveries get to finish. With the bot's 2 s and the HTTP server's 2 s,
# the process exits within the 10 s a supervisor gives it.
SHUTDOWN_GRACE = 5.0
BUNDLE_CHECK_SECONDS = 30.0  # how often held items are checked for a due bundle (#13)
PRUNE_SECONDS = 3600.0  # the retention job's period
STORAGE_SECONDS = 600.0  # the outbox's size measured (SQLite reads every page of it)
PRUNE_PAUSE = 0.02  # seconds between two of its transactions: deliveries' go first
DAY = 86400.0
EXIT_OK, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2

T = TypeVar("T")


def run(settings: Settings) -> int:
    """The service's entry point: returns the process exit code."""
    configure_logging(settings.log_level, secrets=[settings.token])
    try:
        return asyncio.run(Service(settings).main())
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 130


class Stopped(Exception):
    """SIGTERM/SIGINT (or a lost state) arrived while a start-up step was still running."""


class Unusable(Exception):
    """A start-up step that cannot succeed; its message is the one line to log."""

    def __init__(self, message: str, code: int = EXIT_UNUSABLE) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Components:
    """The running service's parts, all built before the first digest is handled."""

    engine: Engine
    pipeline: Pipeline
    dispatcher: Dispatcher
    watcher: DigestWatcher
    server: FeedServer
    guard: StateGuard
    bot: Application | None
    username: str | None
    listener: PlannedListener | None = None  # PostgreSQL: planning notices wake the dispatcher


class Service:
    """The running digestbot: its parts, its jobs, its start and stop."""

    def __init__(
        self,
        settings: Settings,
        *,
        planner: Planner = plan_digest,
        failures: Failures | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.now = now  # the clock of planning, bundles and retention: tests inject it
        self.planner = planner
        self.failures = failures
        self.stop = asyncio.Event()
        self.running = asyncio.Event()  # set once every job runs
        self.started = time.time()
        self.arrivals: dict[str, float] = {}  # digest id -> when its file was noticed
        self.parts: Components | None = None
        self.ready = False
        self.jobs: dict[str, asyncio.Task[None]] = {}
        self.periodic: set[asyncio.Task[None]] = set()  # periodic jobs' runs in progress
        self.problem: str | None = None  # why the service stops on its own
        # PostgreSQL: the one instance that sends (and polls), elected and re-checked; the
        # others stand by. SQLite: this process, always.
        self.sender_role: PollerRole | None = None
        # PostgreSQL with a token: a standby's requests go to the sender, which makes them
        self.relay: Relay | None = None
        self.relay_worker: RelayWorker | None = None
        self.sending = asyncio.Event()
        self._turn_over = asyncio.Event()  # set to end the dispatcher's run: standing by
        self._turn_ended = asyncio.Event()  # the dispatcher's run is over
        self._turn_ended.set()
        self.exit_code = EXIT_OK

    async def main(self) -> int:
        self._install_signal_handlers()
        try:
            async with AsyncExitStack() as stack:
                parts = await self._build(stack)
                return await self._serve(parts, stack)
        except Stopped:
            log.info("stopped during start-up")
            return self.exit_code
        except Unusable as error:
            log.error("%s", error)
            return error.code

    # Start-up, step by step ----------------------------------------------------------------

    async def _build(self, stack: AsyncExitStack) -> Components:
        settings = self.settings
        table = self._table()
        try:
            await self._step(asyncio.to_thread(check_paths, settings))
        except StartupProblem as error:
            raise Unusable(str(error)) from None
        database = sqlite_path(settings.database_url)
        if database is not None:
            lock = InstanceLock(database)
            try:
                lock.acquire()
            except AlreadyRunning as error:
                raise Unusable(str(error), EXIT_FAILED) from None
            stack.callback(lock.release)
        engine = await self._open_database(stack)
        guard = StateGuard(settings)
        pipeline = Pipeline(
            engine, table, settings, planner=self.planner, failures=self.failures, clock=self.now
        )
        await self._step(asyncio.to_thread(self._reopen_channels, pipeline))

        bot, sender, username = await self._start_bot(stack, engine, pipeline)
        pipeline.bot_username = username
        # the only sender: SQLite's one process, or PostgreSQL's elected instance
        sole = not pipeline.outbox.postgres or self.sender_role is not None
        dispatcher = Dispatcher(
            sender, pipeline.outbox, settings, subscribers=pipeline.subscribers, sole=sole
        )
        dispatcher.on_first_send = self._first_send
        dispatcher.topic_note = topic_note(engine)  # a closed forum topic: told in General
        pipeline.released = dispatcher.wake  # each batch of a plan goes out as it is written
        listener = None
        if engine.dialect.name == "postgresql":  # whoever plans, the sender hears of it
            also: dict[str, Callable[[str], None]] = {}
            if self.relay is not None and self.relay_worker is not None:
                also = {RELAY: self.relay_worker.wake, RELAYED: self.relay.answered}
            listener = PlannedListener(engine, dispatcher.wake, also).start()
            stack.callback(listener.close)
        metrics.count_deliveries_of(lambda: dispatcher.stats)
        watcher = DigestWatcher(
            settings.digests_dir,
            self._handle_file,
            settle=settings.settle_seconds,
            changed=pipeline.changed_files,
        )
        stack.push_async_callback(watcher.close)
        server = await self._start_server(stack, bot, pipeline)
        self.parts = Components(
            engine, pipeline, dispatcher, watcher, server, guard, bot, username, listener
        )
        return self.parts

    def _table(self) -> CategoryTable:
        try:
            table = load_table(self.settings.categories_file)
        except CategoryTableError as error:
            raise Unusable(f"bad category table: {error}") from None
        unknown = unknown_channel_categories(self.settings, table)
        if unknown:
            raise Unusable(unknown[0])
        return table

    async def _open_database(self, stack: AsyncExitStack) -> Engine:
        try:
            engine = await self._step(asyncio.to_thread(open_database, self.settings.database_url))
        except (DBAPIError, OSError) as error:  # unreachable, read-only, not a database
            raise Unusable(str(database_problem(self.settings, error))) from None
        stack.callback(engine.dispose)
        return engine

    async def _start_bot(
        self, stack: AsyncExitStack, engine: Engine, pipeline: Pipeline
    ) -> tuple[Application | None, Sender, str | None]:
        """The bot's update polling and the sender of deliveries; console mode without a token."""
        settings = self.settings
        if not settings.token:
            log.info("no bot token: console mode, messages are logged instead of sent")
            self.sending.set()  # nothing reaches Telegram: every instance logs its share
            return None, ConsoleSender(), settings.telegram.username
        # one budget for the bot token: replies, deliveries and edits draw from it
        pacer = pacing.Pacer(pacing.Limits.from_settings(settings.telegram))
        limiter = None
        if engine.dialect.name == "postgresql":  # while standing by, the sender makes them
            self.relay = Relay(Relayed(engine))
            limiter = RelayingLimiter(pacer, self.relay, lambda: not self.sending.is_set())
        app = build_application(
            settings,
            engine=engine,
            table=pipeline.table,
            archive=pipeline.archive,
            subscribers=pipeline.subscribers,
            pacer=pacer,
            limiter=limiter,
        )
        if self.relay is not None:
            instance = f"{socket.gethostname()}:{os.getpid()}"
            self.relay_worker = RelayWorker(Relayed(engine), app.bot, instance)
        poll = not settings.telegram.webhook_url
        sender = True
        if engine.dialect.name == "postgresql":
            # One elected sender holds the bot's whole budget (its Pacer): it polls and
            # delivers; the others plan and serve feeds, and take over when it is gone.
            sender_lock = PollerLock(engine)
            sender = await self._step(asyncio.to_thread(sender_lock.try_acquire))
            stack.push_async_callback(asyncio.to_thread, sender_lock.release)
            if not sender:
                log.info("another instance sends and polls Telegram; this one stands by")
            self.sender_role = PollerRole(
                sender_lock,
                lambda: self._become_sender(app, poll),
                lambda: self._stand_by(app),
                polling=sender,
                grace=POLLER_CHECK_SECONDS + settings.telegram.poll_timeout + SHUTDOWN_GRACE,
            )
            poll = poll and sender
        if sender:
            self.sending.set()
        try:
            await self._step(start_bot(app, poll=poll))
        except InvalidToken as error:
            raise Unusable(f"telegram.token (DIGESTBOT_TELEGRAM__TOKEN): {error}") from None
        except TelegramError as error:
            host = urlsplit(settings.telegram.base_url).netloc or settings.telegram.base_url
            raise Unusable(
                f"cannot start the bot: {error}; is {host} reachable?", EXIT_FAILED
            ) from None
        stack.push_async_callback(_stop_bot, app)
        username = settings.telegram.username or app.bot.username
        return app, TelegramSender(settings, pacer=pacer), username

    async def _start_server(
        self, stack: AsyncExitStack, bot: Application | None, pipeline: Pipeline
    ) -> FeedServer:
        settings = self.settings
        routes = []
        if bot is not None and settings.telegram.webhook_url:
            routes.append(webhook_route(bot, settings))
        searches = SearchSite(Search(pipeline.engine), pipeline.table, settings)
        routes.extend(search_routes(searches, settings.feeds.search_per_minute))
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
            limits=Limits.for_open_files(
                raise_open_files_limit(),
                max_connections=settings.http.max_connections,
                header_seconds=settings.http.header_timeout,
            ),
        )
        try:
            await self._step(server.start())
        except OSError as error:
            raise Unusable(
                f"http (DIGESTBOT_HTTP__HOST/PORT): cannot serve on "
                f"{settings.http.host}:{settings.http.port}: {error.strerror or error}",
                EXIT_FAILED,
            ) from None
        stack.push_async_callback(server.stop)
        if bot is not None and routes:
            await self._step(set_webhook(bot, settings))
        return server

    async def _step(self, work: Awaitable[T]) -> T:
        """Await one start-up step, unless a stop comes first (a thread in it finishes its
        current call, but nothing waits for it)."""
        task = asyncio.ensure_future(work)
        stopping = asyncio.create_task(self.stop.wait())
        try:
            await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not task.done():
            task.cancel()
            with suppress(BaseException):
                await task
            raise Stopped
        return task.result()

    # Running -------------------------------------------------------------------------------

    async def _serve(self, parts: Components, stack: AsyncExitStack) -> int:
        settings = self.settings
        watching = asyncio.create_task(parts.watcher.watch(self.stop), name="watch")
        stack.push_async_callback(_finish, watching)
        # So that no file arriving during the first scan goes unnoticed.
        await self._step(parts.watcher.started(watching))
        await self._step(parts.watcher.rescan())
        # From here each digest is rendered and planned as it comes; the first scan's digests
        # are rendered once and planned together (planning twice is harmless, missing one not).
        self.ready = True
        await self._step(self._render_feeds())
        await self._step(self._plan_due())
        await self._step(self._release_bundles())  # what fell due while the service was down

        scheduler = AsyncIOScheduler(timezone=settings.zone)

        def every(seconds: float, job: Callable[[], Coroutine[Any, Any, None]], **kw: Any) -> None:
            scheduler.add_job(
                self._periodic,
                "interval",
                args=[job],
                seconds=seconds,
                max_instances=1,
                coalesce=True,
                **kw,
            )

        every(settings.scan_interval, self._scan, id="scan")
        every(BUNDLE_CHECK_SECONDS, self._release_bundles, id="bundles")
        every(15, self._refresh_gauges)
        # at start too: a service restarted within the hour still prunes and measures
        every(PRUNE_SECONDS, self._prune, next_run_time=datetime.now(settings.zone))
        every(STORAGE_SECONDS, self._measure_storage, next_run_time=datetime.now(settings.zone))
        if self.sender_role:  # a dropped database connection loses the lock: re-checked
            every(POLLER_CHECK_SECONDS, self._check_role)
        dispatching = asyncio.create_task(self._dispatch(parts.dispatcher), name="dispatch")
        stack.push_async_callback(_finish, dispatching)
        scheduler.start()
        # first to go: no new jobs while stopping; then the runs in progress end
        stack.push_async_callback(self._periodic_done)
        stack.callback(scheduler.shutdown, wait=False)
        for task in (watching, dispatching):
            self._watch_task(task)
        mode = "bot @" + parts.username if parts.username else "console mode"
        log.info("digestbot is running (%s)", mode)
        self.running.set()
        await self.stop.wait()
        log.info("stopping")
        return self.exit_code

    async def _dispatch(self, dispatcher: Dispatcher) -> None:
        """The dispatch job: delivers whenever this instance is the sender (SQLite: from start
        to stop; PostgreSQL: from its election until it stands by or stops)."""
        while not self.stop.is_set():
            await _first_set(self.stop, self.sending)
            if self.stop.is_set():
                return
            if not self.sending.is_set():  # stood by again before this turn began
                continue
            self._turn_ended.clear()
            turn_ends = asyncio.Event()
            relay = asyncio.create_task(_first_set(self.stop, self._turn_over))
            relay.add_done_callback(functools.partial(_set_event, turn_ends))
            relaying = asyncio.Event()  # the standbys' requests, made through the same budget
            worker = self.relay_worker
            made = asyncio.create_task(worker.run(relaying)) if worker is not None else None
            try:
                await dispatcher.run(turn_ends)
            finally:
                relaying.set()
                if made is not None:
                    await made
                relay.cancel()
                self._turn_ended.set()
            if not self._turn_over.is_set():  # stopped, or the token was refused
                return

    async def _check_role(self) -> None:
        """The scheduler's job: the sender role re-checked or taken (a stop may cut it short,
        in the grace period of a takeover: nothing to report then)."""
        if self.sender_role is not None:
            with suppress(asyncio.CancelledError):
                await self.sender_role.check()

    async def _become_sender(self, app: Application, poll: bool) -> None:
        """Elected: poll (unless webhooks bring the updates) and deliver, taking back what a
        dead sender left in flight (the dispatcher's recovery at start)."""
        if poll:
            await start_polling(app)
        self._turn_over.clear()
        self.sending.set()
        log.info("this instance is now the sender: it delivers and polls Telegram")

    async def _stand_by(self, app: Application) -> None:
        """The election is lost: no more polling or sending (sends in flight finish within
        the dispatcher's grace, well inside the next sender's waiting time)."""
        self.sending.clear()
        self._turn_over.set()
        await stop_polling(app)
        await self._turn_ended.wait()

    async def _periodic(self, job: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """One run of a periodic job, in a task of its own. The scheduler's shutdown cancels
        the runs it started; a scan or render half done must instead end before the parts it
        uses are closed (`_periodic_done`), and a stop is no error to log."""
        run = asyncio.create_task(job())
        self.periodic.add(run)
        run.add_done_callback(self.periodic.discard)
        with suppress(asyncio.CancelledError):  # the scheduler stopping; `run` goes on
            await asyncio.shield(run)

    async def _periodic_done(self) -> None:
        """At shutdown: the periodic jobs' runs in progress finish, within one grace time."""
        await asyncio.gather(*(_finish(run) for run in list(self.periodic)))

    async def _scan(self) -> None:
        """The periodic job: the state still there, the folder rescanned, failures retried."""
        parts = self.parts
        if parts is None:
            return
        if await self._state_lost(parts):
            return
        await parts.watcher.rescan()
        await self._plan_due()
        with suppress(OperationalError):
            await asyncio.to_thread(parts.pipeline.render_due)

    async def _state_lost(self, parts: Components) -> bool:
        """Stop the service (exit 1) when its SQLite state is gone or read-only."""
        problem = await asyncio.to_thread(parts.guard.problem)
        if problem is None:
            return False
        if self.problem is None:
            self.problem = problem
            log.error("%s; stopping, since nothing can be stored safely", problem)
            self.exit_code = EXIT_FAILED
            self.stop.set()
        return True

    async def _storage_failed(self, what: str, error: OperationalError) -> None:
        """A database error in a stage: the state guard says why (and stops the service), or
        it is logged once here."""
        parts = self.parts
        if parts is not None and await self._state_lost(parts):
            return
        log.error("%s: database error: %s", what, error.orig if error.orig else error)

    def _reopen_channels(self, pipeline: Pipeline) -> None:
        """A configured channel that once refused the bot (403: not yet an admin, say) is tried
        again at each start: the operator's configuration says it should receive, and Telegram
        tells us nothing when a channel's rights change."""
        for channel in self.settings.telegram.channels:
            chat = pipeline.subscribers.chat(channel.chat)
            if chat is not None and chat.state != ACTIVE:
                pipeline.subscribers.set_state(channel.chat, ACTIVE)
                log.info("channel %s was %s; trying it again", channel.chat, chat.state)

    # Digests -------------------------------------------------------------------------------

    async def _handle_file(self, path: Path, noticed: float) -> None:
        parts = self.parts
        if parts is None or self.problem is not None:
            return
        try:
            outcome = await asyncio.to_thread(parts.pipeline.ingest, path)
        except OperationalError as error:
            await self._storage_failed(f"storing {path.name}", error)
            return
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

    async def _plan_due(self) -> None:
        parts = self.parts
        if parts is None:
            return
        try:
            results = await asyncio.to_thread(parts.pipeline.plan_due)
        except OperationalError as error:
            await self._storage_failed("planning", error)
            return
        if results:
            parts.dispatcher.wake()

    async def _release_bundles(self) -> None:
        """Held items whose bundle is due (schedule time passed, quiet hours over) become one
        delivery per chat."""
        parts = self.parts
        if parts is None or self.problem is not None:
            return
        pipeline = parts.pipeline
        try:
            written = await asyncio.to_thread(
                release_bundles,
                parts.engine,
                self.settings,
                pipeline.table,
                self.now(),
                released=parts.dispatcher.wake,  # each batch goes out as it is written
            )
        except OperationalError as error:
            await self._storage_failed("releasing held items", error)
            return
        if any(written.values()):
            parts.dispatcher.wake()

    async def _plan(self, digest_id: str) -> None:
        parts = self.parts
        if parts is None:
            return
        try:
            result = await asyncio.to_thread(parts.pipeline.plan, digest_id)
        except OperationalError as error:
            await self._storage_failed(f"planning digest {digest_id}", error)
            return
        if result is not None:
            log.info("digest %s planned: %s", digest_id, result)
            parts.dispatcher.wake()

    async def _render_feeds(self, noticed: float | None = None) -> None:
        parts = self.parts
        if parts is None:
            return
        try:
            written = await asyncio.to_thread(parts.pipeline.render)
        except OperationalError as error:
            await self._storage_failed("rendering the feeds", error)
            return
        if written is None:
            return
        if noticed is not None:
            metrics.file_to_feed.observe(time.time() - noticed)
        if written:
            log.info("feeds: %d file(s) updated", len(written))

    def _first_send(self, digest_id: str) -> None:
        noticed = self.arrivals.pop(digest_id, None)
        if noticed is not None:
            metrics.file_to_first_send.observe(time.time() - noticed)

    # Health --------------------------------------------------------------------------------

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
        """For /healthz: healthy when the database answers, the folder was scanned lately, the
        watch and dispatch jobs run and the state is where it was; `degraded` (still 200) when
        some digest's planning or the feeds' rendering fails and waits for a retry."""
        parts = self.parts
        if parts is None:
            return False, {"status": "starting"}
        database_ok = ping(parts.engine)
        last_scan = parts.watcher.last_scan
        scan_ok = last_scan is not None and (
            time.time() - last_scan < 3 * self.settings.scan_interval + 5
        )
        pending = parts.pipeline.outbox.pending_count() if database_ok else None
        stopped = sorted(name for name, job in self.jobs.items() if job.done())
        failing = parts.pipeline.failures.report()
        healthy = database_ok and scan_ok and not stopped and self.problem is None
        status = "unhealthy" if not healthy else "degraded" if failing else "ok"
        body: dict[str, object] = {
            "status": status,
            "database": "ok" if database_ok else "unreachable",
            "last_scan": last_scan,
            "pending_deliveries": pending,
            "uptime": round(time.time() - self.started, 1),
            "mode": "telegram" if self.settings.token else "console",
            "stopped_jobs": stopped,
            "failing": failing,
        }
        if self.problem is not None:
            body["problem"] = self.problem
        return healthy, body

    async def _refresh_gauges(self) -> None:
        if self.parts is not None:
            with suppress(Exception):
                now = await asyncio.to_thread(backlog, self.parts.engine)
                metrics.deliveries_pending.set(now.waiting)
                metrics.send_rate.set(now.rate)
                drain = now.drain_seconds
                metrics.backlog_drain_seconds.set(-1 if drain is None else drain)

    async def _measure_storage(self) -> None:
        if self.parts is not None:
            with suppress(Exception):
                storage = await asyncio.to_thread(Retention(self.parts.engine).storage)
                metrics.outbox_bytes.set(-1 if storage.bytes is None else storage.bytes)
                metrics.outbox_rows.labels("deliveries").set(storage.deliveries)
                metrics.outbox_rows.labels("delivered_items").set(storage.delivered_items)
                metrics.outbox_rows.labels("delivery_texts").set(storage.texts)

    async def _prune(self) -> None:
        """The retention job: history older than `retention_days` deleted, in small steps."""
        parts = self.parts
        if parts is None or self.problem is not None:
            return
        retention = Retention(parts.engine, pause=lambda: time.sleep(PRUNE_PAUSE))
        cutoff = self.now() - self.settings.retention_days * DAY
        try:
            pruned = await asyncio.to_thread(retention.prune, cutoff)
            if self.relay is not None:  # answers no standby came back for
                await asyncio.to_thread(Relayed(parts.engine).forget_answered, self.now() - DAY)
        except OperationalError as error:
            await self._storage_failed("pruning the outbox's history", error)
            return
        if pruned:
            metrics.history_pruned.labels("deliveries").inc(pruned.deliveries)
            metrics.history_pruned.labels("delivered_items").inc(pruned.items)
            metrics.history_pruned.labels("delivery_texts").inc(pruned.texts)
            log.info(
                "retention: %d delivery(ies), %d delivered item(s), %d text(s) older than %d "
                "day(s) deleted; %d digest(s) and %d bundle(s) gone from the outbox",
                pruned.deliveries,
                pruned.items,
                pruned.texts,
                self.settings.retention_days,
                pruned.digests,
                pruned.bundles,
            )

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop.set)


async def _finish(task: asyncio.Task[None]) -> None:
    """Give a job the grace time to finish what it has in hand, then cancel it."""
    with suppress(BaseException):
        await asyncio.wait_for(asyncio.shield(task), timeout=SHUTDOWN_GRACE)
    task.cancel()
    with suppress(BaseException):
        await task


def _set_event(event: asyncio.Event, _done: object) -> None:
    event.set()


async def _first_set(*events: asyncio.Event) -> None:
    """Until one of `events` is set."""
    waits = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


async def _stop_bot(app: Application) -> None:
    with suppress(Exception):
        await asyncio.wait_for(stop_bot(app), timeout=2)
