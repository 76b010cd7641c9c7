"""Atomic write-if-changed: readers and the HTTP server see the old file or the new one, never a
half-written one; an unchanged file keeps its mtime, so ETag and Last-Modified stay stable."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

FILE_MODE = 0o644


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write `data` to `path` unless it already holds exactly these bytes; True when written.

    The new bytes go to a hidden temporary file in the same folder (the server never serves
    dot-files), are flushed to disk, then renamed over the old file in one step.
    """
    previous_second: int | None = None
    try:
        info = path.stat()
        if info.st_size == len(data) and path.read_bytes() == data:
            return False
        previous_second = int(info.st_mtime)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, FILE_MODE)
        _later_second(temporary, previous_second)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return True


def _later_second(path: str, previous_second: int | None) -> None:
    """Give a changed file a Last-Modified second later than the old one's.

    HTTP dates have whole seconds, and readers built on libcurl (newsboat among them) ignore a
    200 answer whose Last-Modified is not newer than their If-Modified-Since: a feed rewritten
    twice in one second would look unchanged to them, and its new items would be lost.
    """
    if previous_second is None:
        return
    if int(os.stat(path).st_mtime) <= previous_second:
        moment = previous_second + 1
        os.utime(path, (moment, moment))
