"""Reading a digest file safely: only a regular file, only inside the digests folder, bounded.

A digest is a few tens of kilobytes. Anything else that can sit in the folder under a digest's
name must cost nothing: a FIFO would block `open()` until some writer appears (holding every
later digest and the shutdown), a symlink to `/dev/zero` or a sparse file of gigabytes would be
read into memory. So the file is opened without blocking, `fstat`-ed, and refused unless it is a
regular file of at most `MAX_BYTES`; the read itself stops at the cap in case the file grows.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from bot.model import DigestError

# 10 MB: two hundred times a real digest, and about 2 s of parsing (see `bot.parsing`).
MAX_BYTES = 10 * 1024 * 1024
_CHUNK = 1 << 20
# Not on every OS (Windows has no FIFOs to guard against either).
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def too_big(size: int) -> str:
    return f"file too large: {size / 1048576:.1f} MB, more than the {MAX_BYTES // 1048576} MB limit"


def inside_folder(path: Path, folder: Path) -> bool:
    """Whether `path`, with every symlink followed, is within `folder` (also followed)."""
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError):  # a symlink loop, an unreadable component
        return False


def read_digest_file(path: Path, limit: int = MAX_BYTES) -> bytes:
    """The bytes of the regular file at `path`, at most `limit` of them; a DigestError (line 1)
    naming the reason for anything else, without reading from it."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise DigestError(path, 1, f"cannot read the file: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise DigestError(
                path, 1, f"not a regular file ({_kind(info.st_mode)}): only regular files are read"
            )
        if info.st_size > limit:
            raise DigestError(path, 1, too_big(info.st_size))
        return _read_at_most(fd, path, limit)
    except OSError as exc:
        raise DigestError(path, 1, f"cannot read the file: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _read_at_most(fd: int, path: Path, limit: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while total <= limit:
        chunk = os.read(fd, min(_CHUNK, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
    raise DigestError(path, 1, too_big(total) + " (it grew while being read)")


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a directory"),
    ):
        if test(mode):
            return name
    return "a special file"
