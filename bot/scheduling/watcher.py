"""Noticing digest files: file-system events at once, a periodic rescan as the safety net.

A file is handed on only once it has been quiet (mtime older than the settle time), so a digest
that is still being written is not published half-way; the ingester then parses it, and a file
that does not parse yet is retried when it changes again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from watchfiles import Change, DefaultFilter, awatch

from bot.ingest import digest_files, is_digest_name

log = logging.getLogger(__name__)

FileHandler = Callable[[Path, float], Awaitable[None]]


class DigestFilter(DefaultFilter):
    """Only digest names: hidden, temporary and editor files are ignored."""

    def __call__(self, change: Change, path: str) -> bool:
        return (
            change != Change.deleted
            and is_digest_name(Path(path))
            and super().__call__(change, path)
        )


class DigestWatcher:
    """Hands each settled digest file to `handle(path, noticed_at)`, one file at a time."""

    def __init__(
        self,
        folder: Path,
        handle: FileHandler,
        *,
        settle: float = 0.5,
        changed: Callable[[list[Path]], list[Path]] | None = None,
    ) -> None:
        self.folder = folder
        self.handle = handle
        self.settle = settle
        self.changed = changed
        self.last_scan: float | None = None
        self._pending: dict[Path, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._serial = asyncio.Lock()

    async def watch(self, stop: asyncio.Event) -> None:
        """React to file events until `stop` is set."""
        async for changes in awatch(
            self.folder,
            watch_filter=DigestFilter(),
            stop_event=stop,
            debounce=50,
            step=20,
            recursive=True,
            ignore_permission_denied=True,
        ):
            for _change, name in changes:
                self.notice(Path(name))

    async def rescan(self) -> None:
        """Look at every file (the ingester skips those it has already read, by size and mtime)."""
        self.last_scan = time.time()
        paths = await asyncio.to_thread(digest_files, self.folder)
        if self.changed is not None:
            paths = await asyncio.to_thread(self.changed, paths)
        for path in paths:
            self.notice(path)
        await self.idle()

    def notice(self, path: Path) -> None:
        path = path.resolve()  # one key per file, however it was named
        if path in self._pending:
            return
        self._pending[path] = time.time()
        task = asyncio.get_running_loop().create_task(self._settle_then_handle(path))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait until every noticed file has been handled."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _settle_then_handle(self, path: Path) -> None:
        noticed = self._pending[path]
        try:
            while True:
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    return  # renamed away or deleted before it settled
                quiet_for = time.time() - stat.st_mtime
                if quiet_for >= self.settle:
                    break
                # Waiting for quiet is waiting for time to pass: there is no event for "done".
                await asyncio.sleep(self.settle - quiet_for)
            async with self._serial:
                self._pending.pop(path, None)
                await self.handle(path, noticed)
        except Exception:
            log.exception("handling %s failed; it is retried on the next change or scan", path)
        finally:
            self._pending.pop(path, None)
