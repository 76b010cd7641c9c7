"""Who may do what: one `digestbot run` per SQLite database; one sender of the bot per PostgreSQL.

Two processes polling one bot are a known source of duplicate messages (409 Conflict, updates
handled twice), two dispatchers on one SQLite file would fight over its write lock, and two
processes sending for one bot would each spend the bot's whole rate budget. On PostgreSQL the
holder of the advisory lock is the sender: it polls (or takes webhooks), replies and delivers,
through one in-process budget; the service calls the lock and role below "poller" for history.

The PostgreSQL lock lives as long as its connection: when that drops (a restart of the server, a
terminated backend, a network cut) the lock is gone, and another instance may take it. So the
holder re-checks it (`PollerRole`) and stops polling when it is lost; a taker waits out a grace
period longer than the holder's check interval and poll, so that the two never poll at once.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from collections.abc import Awaitable, Callable
from contextlib import suppress
from pathlib import Path

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

_POLLER_KEY = 0x64696765  # "dige": an arbitrary application-wide advisory lock id
POLLER_CHECK_SECONDS = 5.0  # how often the poller lock is re-checked


class AlreadyRunning(RuntimeError):
    """Another process holds the lock."""


class InstanceLock:
    """An exclusive lock on `<database>.lock`, held for the life of the process."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise AlreadyRunning(
                f"another digestbot run (pid {holder}) is using {self.path.with_suffix('')}; "
                "stop it first, or give this one its own DIGESTBOT_DATABASE_URL"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class PollerLock:
    """A PostgreSQL session advisory lock: whoever holds it polls Telegram for updates."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Connection | None = None

    def try_acquire(self) -> bool:
        if self.held():
            return True
        connection = self.engine.connect()
        got = connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _POLLER_KEY})
        if got.scalar():
            connection.commit()
            self._connection = connection
            return True
        connection.close()
        return False

    def held(self) -> bool:
        """Whether this process still holds the lock: asks the server on the lock's own
        connection (a dropped connection took the lock with it)."""
        if self._connection is None:
            return False
        try:
            mine = self._connection.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND pid = pg_backend_pid() AND classid = 0 AND objid = :k"
                ),
                {"k": _POLLER_KEY},
            ).scalar()
            self._connection.commit()
        except DBAPIError:
            mine = 0
        if not mine:
            self._forget()
        return bool(mine)

    def release(self) -> None:
        if self._connection is not None:
            # a dropped connection: the server released the lock then
            with suppress(DBAPIError):
                self._connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _POLLER_KEY})
            self._forget()

    def _forget(self) -> None:
        if self._connection is not None:
            with suppress(DBAPIError):
                self._connection.close()
            self._connection = None


class PollerRole:
    """Keeps this instance's part current, checked every `POLLER_CHECK_SECONDS` (by the
    service's scheduler): the poller re-checks its lock and stops polling once it is lost; the
    others try to take it, and start polling after `grace` seconds (longer than a check and a
    poll of the old holder), if it is still theirs."""

    def __init__(
        self,
        lock: PollerLock,
        start: Callable[[], Awaitable[None]],
        stop: Callable[[], Awaitable[None]],
        *,
        polling: bool,
        grace: float,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.lock = lock
        self.polling = polling
        self.grace = grace
        self._start, self._stop, self._sleep = start, stop, sleep

    async def check(self) -> None:
        if self.polling:
            if not await asyncio.to_thread(self.lock.held):
                self.polling = False
                log.warning("lost the poller lock (database connection dropped); stopped polling")
                await self._stop()
            return
        if not await asyncio.to_thread(self.lock.try_acquire):
            return
        await self._sleep(self.grace)  # the old holder, if alive, notices and stops meanwhile
        if await asyncio.to_thread(self.lock.held):
            self.polling = True
            log.info("took over polling Telegram for updates")
            await self._start()
