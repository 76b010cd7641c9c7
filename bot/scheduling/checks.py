"""The service's footing: folders and database usable at start, and still there while running.

At start every problem is one `StartupProblem` line naming the path (or database) and the reason,
before anything is half set up. While running, `StateGuard` notices a SQLite state folder or
database file that was deleted, replaced or made read-only: the service must stop then, since
it would otherwise write into a deleted file while a second instance starts on a new one.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from bot.settings import Settings
from bot.storing.database import engine_url, sqlite_path


class StartupProblem(Exception):
    """A path or database the service cannot use; its message is one line."""


def check_paths(settings: Settings) -> None:
    """Folders exist (made if missing) and are usable; the SQLite file, if any, is writable."""
    usable_folder(settings.digests_dir, "digests_dir", writable=False)
    usable_folder(settings.feeds_dir, "feeds_dir", writable=True)
    database = sqlite_path(settings.database_url)
    if database is not None:
        usable_folder(database.parent, "database_url folder", writable=True)
        for path in (database, *_sidecars(database)):
            _writable_file(path)


def usable_folder(path: Path, key: str, *, writable: bool) -> None:
    if path.exists() and not path.is_dir():
        raise StartupProblem(f"{key} {path}: is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StartupProblem(f"{key} {path}: cannot create the folder: {_reason(error)}") from None
    try:
        os.listdir(path)
    except OSError as error:
        raise StartupProblem(f"{key} {path}: cannot read the folder: {_reason(error)}") from None
    if writable:
        problem = _write_problem(path)
        if problem:
            raise StartupProblem(f"{key} {path}: cannot write in the folder: {problem}")


def _write_problem(folder: Path) -> str | None:
    """Why a file cannot be made in `folder`, or None (root ignores modes, so try it)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".digestbot-probe-", dir=folder)
    except OSError as error:
        return _reason(error)
    os.close(fd)
    os.unlink(name)
    return None


def _writable_file(path: Path) -> None:
    if not path.exists():
        return
    if not path.is_file():
        raise StartupProblem(f"database_url {path}: is not a regular file")
    try:
        os.close(os.open(path, os.O_RDWR))
    except OSError as error:
        raise StartupProblem(
            f"database_url {path}: cannot write the file: {_reason(error)}"
        ) from None


def _sidecars(database: Path) -> tuple[Path, ...]:
    return tuple(database.with_name(database.name + suffix) for suffix in ("-wal", "-shm"))


def database_problem(settings: Settings, error: Exception) -> StartupProblem:
    """One line for a database that cannot be opened or migrated (password hidden)."""
    where = make_url(engine_url(settings.database_url)).render_as_string(hide_password=True)
    cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    return StartupProblem(f"database_url {where}: cannot open: {_first_line(cause)}")


def _reason(error: OSError) -> str:
    return error.strerror or type(error).__name__


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@dataclass(frozen=True, slots=True)
class _Identity:
    device: int
    inode: int


class StateGuard:
    """Notices the SQLite state going away under the running service (PostgreSQL: nothing to
    watch here; its outages show as an unreachable database in `/healthz`)."""

    def __init__(self, settings: Settings) -> None:
        self.database = sqlite_path(settings.database_url)
        self._folder: _Identity | None = None
        self._file: _Identity | None = None
        if self.database is not None:
            self._folder = _identity(self.database.parent)
            self._file = _identity(self.database)

    def problem(self) -> str | None:
        """Why the service can no longer trust its state, or None."""
        database = self.database
        if database is None:
            return None
        folder = database.parent
        if _identity(folder) is None:
            return f"the state folder {folder} was deleted"
        if _identity(folder) != self._folder:
            return f"the state folder {folder} was replaced"
        now = _identity(database)
        if now is None:
            return f"the database {database} was deleted"
        if now != self._file:
            return f"the database {database} was replaced by another file"
        try:
            os.close(os.open(database, os.O_RDWR))
        except OSError as error:
            return f"the database {database} is no longer writable: {_reason(error)}"
        problem = _write_problem(folder)
        if problem:
            return f"the state folder {folder} is no longer writable: {problem}"
        return None


def _identity(path: Path) -> _Identity | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return _Identity(info.st_dev, info.st_ino)
