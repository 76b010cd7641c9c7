"""Noticing digest files and deciding when one is finished: file events at once, a periodic
rescan as the safety net.

When is a file that is written in place finished? Signals, strongest first:
- renamed in (inotify `IN_MOVED_TO`): the writer's own "done" (README: write elsewhere, rename
  in). Handed over at once.
- written to (`IN_MODIFY`) and not yet closed: still being written, however long the pauses; it
  waits for the writer's close (`IN_CLOSE_WRITE`), or for `OPEN_WRITE_LIMIT` seconds of quiet if
  the writer never closes it.
- closed, or seen by a scan, or on an OS without inotify (watchfiles is used there): finished
  once quiet (mtime older than the settle time) and, unless it was renamed in, its last item
  does not look cut off (`bot.parsing.cutoff`); a file that does is held until it has been quiet
  for `cut_off_quiet`, then taken as it is.
A file that leads outside the folder (a symlink) is refused. File-system calls (stat, reading,
resolving) run on threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from asyncinotify import Mask, RecursiveInotify
from watchfiles import Change, DefaultFilter, awatch

from bot.ingest import digest_files, is_digest_name
from bot.model import DigestError
from bot.parsing import inside_folder, read_digest_file
from bot.parsing.cutoff import cut_off_reason

log = logging.getLogger(__name__)

FileHandler = Callable[[Path, float], Awaitable[None]]

# A file written to and never closed (a writer that hung, or writes through mmap) is taken once
# it has been quiet this long.
OPEN_WRITE_LIMIT = 30.0
# A file that looks cut off is taken as it is once quiet this long (or twice the settle time).
CUT_OFF_QUIET = 2.0


class DigestFilter(DefaultFilter):
    """Only digest names: hidden, temporary and editor files are ignored."""

    def __call__(self, change: Change, path: str) -> bool:
        return (
            change != Change.deleted
            and is_digest_name(Path(path))
            and super().__call__(change, path)
        )


@dataclass
class _Pending:
    """What is known about a file between its first event and its hand-over."""

    noticed: float
    writing: bool = False  # written to since its last close (only known with inotify)
    renamed: bool = False  # renamed in since its last write
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    said_cut_off: bool = False


class DigestWatcher:
    """Hands each finished digest file to `handle(path, noticed_at)`, one file at a time."""

    def __init__(
        self,
        folder: Path,
        handle: FileHandler,
        *,
        settle: float = 0.5,
        changed: Callable[[list[Path]], list[Path]] | None = None,
        inotify: bool | None = None,
    ) -> None:
        self.folder = folder
        self.handle = handle
        self.settle = settle
        self.cut_off_quiet = max(CUT_OFF_QUIET, 2 * settle)
        self.changed = changed
        self.use_inotify = sys.platform.startswith("linux") if inotify is None else inotify
        self.last_scan: float | None = None
        self._root: Path | None = None
        self._pending: dict[Path, _Pending] = {}
        self._refused: set[Path] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._serial = asyncio.Lock()
        self.watching = asyncio.Event()  # set once the file events are being received

    async def root(self) -> Path:
        """The folder with its symlinks resolved (once, on a thread)."""
        if self._root is None:
            self._root = await asyncio.to_thread(self.folder.resolve)
        return self._root

    async def watch(self, stop: asyncio.Event) -> None:
        """React to file events until `stop` is set."""
        root = await self.root()
        if self.use_inotify:
            await self._watch_inotify(root, stop)
        else:
            await self._watch_watchfiles(root, stop)

    async def started(self, watching: asyncio.Task[None]) -> None:
        """Wait until file events are being received (or the `watch` task has ended)."""
        ready = asyncio.ensure_future(self.watching.wait())
        await asyncio.wait({ready, watching}, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()

    async def _watch_inotify(self, root: Path, stop: asyncio.Event) -> None:
        mask = (
            Mask.MODIFY
            | Mask.CLOSE_WRITE
            | Mask.MOVED_TO
            | Mask.MOVED_FROM
            | Mask.CREATE
            | Mask.DELETE
            | Mask.ATTRIB
        )
        with RecursiveInotify() as inotify:
            await asyncio.to_thread(inotify.add_recursive_watch, root, mask)
            self.watching.set()
            stopping = asyncio.ensure_future(stop.wait())
            try:
                while not stop.is_set():
                    getting = asyncio.ensure_future(inotify.get())
                    await asyncio.wait({getting, stopping}, return_when=asyncio.FIRST_COMPLETED)
                    if not getting.done():
                        getting.cancel()
                        break
                    event = getting.result()
                    if Mask.Q_OVERFLOW in event.mask:
                        log.warning("file events overflowed; the next scan catches up")
                        continue
                    if event.path is None or Mask.ISDIR in event.mask:
                        continue
                    self._on_event(event.path, event.mask)
            finally:
                stopping.cancel()

    def _on_event(self, path: Path, mask: Mask) -> None:
        if not self._wanted(path):
            return
        gone = mask & (Mask.DELETE | Mask.MOVED_FROM)
        state = self._pending.get(path)
        if gone:
            if state is not None:
                state.wake.set()
            return
        state = self.notice(path)
        if mask & Mask.MODIFY:
            state.writing, state.renamed = True, False
        if mask & Mask.CLOSE_WRITE:
            state.writing = False
        if mask & Mask.MOVED_TO:
            state.writing, state.renamed = False, True
        state.wake.set()

    async def _watch_watchfiles(self, root: Path, stop: asyncio.Event) -> None:
        watching = awatch(
            root,
            watch_filter=DigestFilter(),
            stop_event=stop,
            debounce=50,
            step=20,
            recursive=True,
            ignore_permission_denied=True,
        )
        self.watching.set()
        async for changes in watching:
            for _change, name in changes:
                self.notice(Path(name))

    def _wanted(self, path: Path) -> bool:
        root = self._root or self.folder
        try:
            parts = path.relative_to(root).parts
        except ValueError:
            return False
        return is_digest_name(path) and not any(part.startswith(".") for part in parts)

    async def rescan(self) -> None:
        """Look at every file (the ingester skips those it has already read, by size and mtime)."""
        self.last_scan = time.time()
        paths = await asyncio.to_thread(digest_files, await self.root())
        if self.changed is not None:
            paths = await asyncio.to_thread(self.changed, paths)
        for path in paths:
            self.notice(path)
        await self.idle()

    def notice(self, path: Path) -> _Pending:
        """Start waiting for `path` to be finished (once: a file already waited for is not)."""
        state = self._pending.get(path)
        if state is None:
            state = self._pending[path] = _Pending(time.time())
            task = asyncio.get_running_loop().create_task(self._settle_then_handle(path, state))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return state

    async def idle(self) -> None:
        """Wait until every noticed file has been handled."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _settle_then_handle(self, path: Path, state: _Pending) -> None:
        try:
            if not await self._finished(path, state):
                return
            async with self._serial:
                if self._pending.get(path) is state:
                    del self._pending[path]
                await self.handle(path, state.noticed)
        except Exception:
            log.exception("handling %s failed; it is retried on the next change or scan", path)
        finally:
            if self._pending.get(path) is state:
                del self._pending[path]

    async def _finished(self, path: Path, state: _Pending) -> bool:
        """Wait until `path` is finished (True) or gone or refused (False)."""
        while True:
            state.wake.clear()
            try:
                stat = await asyncio.to_thread(path.stat)
            except OSError:
                return False  # renamed away or deleted before it was finished
            quiet_for = time.time() - stat.st_mtime
            if state.writing and quiet_for < OPEN_WRITE_LIMIT:
                await self._wait(state, OPEN_WRITE_LIMIT - quiet_for)
                continue
            if not state.renamed and quiet_for < self.settle:
                await self._wait(state, self.settle - quiet_for)
                continue
            if not await asyncio.to_thread(inside_folder, path, await self.root()):
                self._refuse(path)
                return False
            if state.renamed or quiet_for >= self.cut_off_quiet:
                return True
            reason = await asyncio.to_thread(_cut_off, path)
            if reason is None:
                return True
            if not state.said_cut_off:
                state.said_cut_off = True
                log.info(
                    "%s looks cut off (%s); waiting until it has been quiet %.1f s",
                    path.name,
                    reason,
                    self.cut_off_quiet,
                )
            await self._wait(state, self.cut_off_quiet - quiet_for)

    @staticmethod
    async def _wait(state: _Pending, seconds: float) -> None:
        """Until the next event for the file, or `seconds`, whichever comes first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(state.wake.wait(), max(seconds, 0.01))

    def _refuse(self, path: Path) -> None:
        if path not in self._refused:  # said once, not at every scan
            self._refused.add(path)
            log.warning("refused %s: it leads outside the digests folder", path)


def _cut_off(path: Path) -> str | None:
    """Why the file looks cut off, or None (also when it cannot be read: the ingester says why)."""
    try:
        data = read_digest_file(path)
    except DigestError:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.end == len(data):
            return "it ends inside a UTF-8 character"
        return None
    return cut_off_reason(text)
