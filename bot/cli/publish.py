"""`digestbot publish FILE`: ingest one digest, plan it, deliver the whole outbox, return.

Interrupted (Ctrl-C, SIGTERM, even SIGKILL) and run again, it goes on where it stopped: nothing
sent is sent again; only a message that was in flight may repeat (at most one per chat).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from bot.categorising.table import CategoryTableError, load_table
from bot.cli.progress import DeliveryProgress
from bot.dispatching.dispatcher import Dispatcher
from bot.dispatching.senders import ConsoleSender, Sender, SenderUnusable, TelegramSender
from bot.logs import add_secret
from bot.pipeline import Pipeline
from bot.settings import Settings
from bot.storing.database import open_database, sqlite_path
from bot.storing.locks import AlreadyRunning, InstanceLock, PollerLock

EXIT_OK, EXIT_BAD_DIGEST, EXIT_UNUSABLE, EXIT_INTERRUPTED = 0, 1, 2, 130

__all__ = ["publish"]


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def publish(
    settings: Settings,
    path: Path,
    *,
    sender: Sender | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Ingest `path`, plan it, deliver until nothing is pending; the process exit code.

    0: every delivery is sent or definitively failed; 1: the digest is invalid or cannot be
    planned; 2: the category table is broken or the bot token was refused; 130: interrupted
    (run again to resume).
    """
    add_secret(settings.token)
    try:
        table = load_table(settings.categories_file)
    except CategoryTableError as error:
        _say(str(error))
        return EXIT_UNUSABLE
    database = sqlite_path(settings.database_url)
    lock = InstanceLock(database) if database is not None else None
    try:
        if lock:
            lock.acquire()  # `run` or another `publish` on this file would share in-flight rows
    except AlreadyRunning as error:
        _say(str(error))
        return EXIT_UNUSABLE
    engine = await asyncio.to_thread(open_database, settings.database_url)
    owned_sender = sender is None
    stack = contextlib.ExitStack()
    try:
        pipeline = Pipeline(engine, table, settings)
        outcome = await asyncio.to_thread(pipeline.ingest, path)
        if outcome.error is not None:
            _say(str(outcome.error))
            return EXIT_BAD_DIGEST
        digest_id = await asyncio.to_thread(pipeline.digest_of, outcome)
        if digest_id is None:
            _say(f"{path}: not a digest that could be stored")
            return EXIT_BAD_DIGEST
        plan = await asyncio.to_thread(pipeline.plan, digest_id)
        if plan is None:
            failure = pipeline.failures.by_key.get(digest_id)
            _say(f"digest {digest_id}: cannot be planned: {failure.error if failure else '?'}")
            return EXIT_BAD_DIGEST
        _say(f"digest {digest_id}: planned {plan}")

        sole = lock is not None  # SQLite: this process holds the database's lock file
        if engine.dialect.name == "postgresql" and settings.token:
            # One sender per bot (its budget is in that process): a running service delivers
            # (the plan's notice woke it); without one, this process is the sender meanwhile.
            sender_lock = PollerLock(engine)
            if not await asyncio.to_thread(sender_lock.try_acquire):
                _say(f"digest {digest_id}: the running sender instance delivers it")
                return EXIT_OK
            stack.callback(sender_lock.release)
            sole = True

        if sender is None:
            sender = TelegramSender(settings) if settings.token else ConsoleSender()
        stop = stop or asyncio.Event()
        outbox = pipeline.outbox
        with _signals_set(stop), DeliveryProgress(outbox, digest_id) as progress:
            dispatcher = Dispatcher(
                sender,
                outbox,
                settings,
                subscribers=pipeline.subscribers,
                progress=progress.update,
                sole=sole,
            )
            try:
                await dispatcher.drain(stop)
            except SenderUnusable as error:
                _say(f"cannot deliver: {error}")
                return EXIT_UNUSABLE
        counts = await asyncio.to_thread(outbox.counts, digest_id)
        _say(
            f"digest {digest_id}: {counts['sent']} sent, {counts['failed']} failed, "
            f"{counts['cancelled']} cancelled, {counts['pending'] + counts['sending']} pending"
        )
        return EXIT_INTERRUPTED if stop.is_set() else EXIT_OK
    finally:
        if owned_sender and sender is not None:
            await sender.close()
        stack.close()
        engine.dispose()
        if lock:
            lock.release()


@contextlib.contextmanager
def _signals_set(stop: asyncio.Event) -> Iterator[None]:
    """SIGINT/SIGTERM stop the delivery cleanly (a second SIGINT interrupts at once)."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, _stopper(loop, stop, sig))
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def _stopper(
    loop: asyncio.AbstractEventLoop, stop: asyncio.Event, sig: signal.Signals
) -> Callable[[], None]:
    def handler() -> None:
        if stop.is_set() and sig == signal.SIGINT:
            loop.remove_signal_handler(sig)
            raise KeyboardInterrupt
        _say("stopping: messages in flight finish, the rest waits for the next run")
        stop.set()

    return handler
