"""The atomic feed writer: unchanged bytes are not rewritten; changed ones get a later second."""

from __future__ import annotations

import os
from pathlib import Path

from bot.feeds.writer import write_if_changed


def test_unchanged_bytes_keep_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c" / "rss.xml"
    assert write_if_changed(path, b"<rss/>")
    before = path.stat()
    assert not write_if_changed(path, b"<rss/>")
    after = path.stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]


def test_change_within_one_second_moves_last_modified(tmp_path: Path) -> None:
    path = tmp_path / "rss.xml"
    write_if_changed(path, b"one")
    stamp = int(path.stat().st_mtime) + 5  # as if the first write were in the future second
    os.utime(path, (stamp, stamp))
    assert write_if_changed(path, b"two")
    assert int(path.stat().st_mtime) == stamp + 1
    assert path.read_bytes() == b"two"
