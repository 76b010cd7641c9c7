"""Who may do what: one `digestbot run` per SQLite database; one poller of the bot per PostgreSQL.

Two processes polling one bot are a known source of duplicate messages (409 Conflict, updates
handled twice), and two dispatchers on one SQLite file would fight over its write lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from sqlalchemy import Connection, Engine, text

_POLLER_KEY = 0x64696765  # "dige": an arbitrary application-wide advisory lock id


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
        connection = self.engine.connect()
        got = connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _POLLER_KEY})
        if got.scalar():
            connection.commit()
            self._connection = connection
            return True
        connection.close()
        return False

    def release(self) -> None:
        if self._connection is not None:
            self._connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _POLLER_KEY})
            self._connection.close()
            self._connection = None
