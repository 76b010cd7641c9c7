"""`digestbot publish FILE` and `digestbot stats`, as functions the command line calls.

`publish` ingests one digest, plans it and delivers the whole outbox, then returns. Interrupted
(Ctrl-C, SIGTERM, even SIGKILL) and run again, it goes on where it stopped: nothing sent is sent
again; only a message that was in flight may repeat (at most one per chat).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import unicodedata
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bot.categorising.table import CategoryTableError, load_table
from bot.dispatching.dispatcher import Dispatcher
from bot.dispatching.planner import plan_digest
from bot.dispatching.senders import ConsoleSender, Sender, SenderUnusable, TelegramSender
from bot.ingest import Ingester
from bot.logs import add_secret
from bot.settings import Settings
from bot.storing.archive import Archive, source_key
from bot.storing.database import open_database, sqlite_path
from bot.storing.locks import AlreadyRunning, InstanceLock
from bot.storing.outbox import STATES, Outbox, Result, Sent
from bot.storing.subscribers import ALL, Subscribers
from bot.storing.tables import chats

EXIT_OK, EXIT_BAD_DIGEST, EXIT_UNUSABLE, EXIT_INTERRUPTED = 0, 1, 2, 130

__all__ = ["format_stats", "publish", "stats"]


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

    0: every delivery is sent or definitively failed; 1: the digest is invalid; 2: the category
    table is broken or the bot token was refused; 130: interrupted (run again to resume).
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
    try:
        archive, subscribers, outbox = Archive(engine), Subscribers(engine), Outbox(engine)
        ingester = Ingester(archive, table, settings.zone)
        outcome = await asyncio.to_thread(ingester.ingest, path)
        if outcome.error is not None:
            _say(str(outcome.error))
            return EXIT_BAD_DIGEST
        digest_id = outcome.digest.id if outcome.digest is not None else None
        if digest_id is None:  # unchanged since an earlier run: resume it
            record = await asyncio.to_thread(archive.file_record, source_key(path))
            digest_id = record.digest_id if record else None
        if digest_id is None:
            _say(f"{path}: not a digest that could be stored")
            return EXIT_BAD_DIGEST
        plan = await asyncio.to_thread(
            plan_digest,
            engine,
            digest_id,
            archive=archive,
            subscribers=subscribers,
            table=table,
            settings=settings,
        )
        row = await asyncio.to_thread(archive.digest_row, digest_id)
        if row is not None:
            await asyncio.to_thread(archive.mark_planned, digest_id, row.content_hash)
        _say(f"digest {digest_id}: planned {plan}")

        if sender is None:
            sender = TelegramSender(settings) if settings.token else ConsoleSender()
        stop = stop or asyncio.Event()
        with _signals_set(stop), _Progress(outbox, digest_id) as progress:
            dispatcher = Dispatcher(
                sender, outbox, settings, subscribers=subscribers, progress=progress.update
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
        engine.dispose()
        if lock:
            lock.release()


@contextlib.contextmanager
def _signals_set(stop: asyncio.Event):  # type: ignore[no-untyped-def]
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


def _stopper(loop: asyncio.AbstractEventLoop, stop: asyncio.Event, sig: signal.Signals):  # type: ignore[no-untyped-def]
    def handler() -> None:
        if stop.is_set() and sig == signal.SIGINT:
            loop.remove_signal_handler(sig)
            raise KeyboardInterrupt
        _say("stopping: messages in flight finish, the rest waits for the next run")
        stop.set()

    return handler


class _Progress:
    """A progress bar on a terminal (rich), nothing otherwise."""

    def __init__(self, outbox: Outbox, digest_id: str) -> None:
        self.outbox = outbox
        self.digest_id = digest_id
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            counts = self.outbox.counts(self.digest_id)
            total = sum(counts.values())
            done = counts["sent"] + counts["failed"] + counts["cancelled"]
            self._bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._task = self._bar.add_task("delivering", total=total, completed=done)
            self._bar.start()
        return self

    def update(self, result: Result, claimed: Any) -> None:
        if self._bar is not None and isinstance(result, Sent):
            self._bar.advance(self._task)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def stats(settings: Settings) -> dict[str, Any]:
    """Subscribers per category, chats per state, deliveries per state."""
    engine = open_database(settings.database_url)
    try:
        subscribers = Subscribers(engine)
        by_category = subscribers.counts_by_category()
        with engine.connect() as connection:
            chat_states = dict(
                connection.execute(
                    select(chats.c.state, func.count()).group_by(chats.c.state)
                ).all()
            )
        archive = Archive(engine)
        n_digests, n_items = archive.counts()
        try:
            known = load_table(settings.categories_file).categories
        except CategoryTableError:
            known = ()
        ordered = {c.name: by_category.get(c.name, 0) for c in known}
        ordered.update({k: v for k, v in sorted(by_category.items()) if k not in ordered})
        if ALL in ordered:
            ordered["all"] = ordered.pop(ALL) + ordered.get("all", 0)
        return {
            "subscribers": ordered,
            "chats": {state: int(n) for state, n in sorted(chat_states.items())},
            "deliveries": Outbox(engine).counts(),
            "digests": n_digests,
            "items": n_items,
        }
    finally:
        engine.dispose()


def _width(text: str) -> int:
    """Columns on a terminal: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def format_stats(figures: dict[str, Any]) -> str:
    lines = ["Subscribers per category:"]
    subscribers = figures.get("subscribers", {})
    width = max((_width(name) for name in subscribers), default=0)
    for name, count in subscribers.items():
        lines.append(f"  {name}{' ' * (width - _width(name))}  {count}")
    if not subscribers:
        lines.append("  (none)")
    chat_states = figures.get("chats", {})
    if chat_states:
        lines.append("Chats: " + ", ".join(f"{n} {state}" for state, n in chat_states.items()))
    deliveries = figures.get("deliveries", {})
    lines.append(
        "Deliveries: " + ", ".join(f"{deliveries.get(state, 0)} {state}" for state in STATES)
    )
    if "digests" in figures:
        lines.append(f"Archive: {figures['digests']} digest(s), {figures['items']} item(s)")
    return "\n".join(lines)
