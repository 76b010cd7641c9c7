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


def test_feeds_of_a_category_that_is_gone_are_removed(tmp_path: Path) -> None:
    from zoneinfo import ZoneInfo

    from bot.categorising.table import load_table
    from bot.feeds import build_feeds
    from bot.ingest import Ingester
    from bot.settings import load_settings
    from bot.storing.archive import Archive
    from bot.storing.database import open_database

    root = Path(__file__).resolve().parent.parent
    settings = load_settings(
        feeds_dir=tmp_path / "feeds", database_url=f"sqlite:///{tmp_path}/db.sqlite"
    )
    table = load_table(root / "config" / "categories.toml")
    archive = Archive(open_database(settings.database_url))
    Ingester(archive, table, ZoneInfo("Asia/Shanghai")).ingest(root / "seeds" / "2025.11.27.12.md")
    stale = settings.feeds_dir / "c" / "robotics"
    stale.mkdir(parents=True)
    (stale / "rss.xml").write_bytes(b"<rss/>")
    written = build_feeds(archive, table, settings)
    assert stale / "rss.xml" in written and not stale.exists()
    assert (settings.feeds_dir / "c" / "ai-tools" / "rss.xml").is_file()
    assert build_feeds(archive, table, settings) == []  # and nothing more the second time
