"""The archive and the subscriber store, on SQLite and on PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import inspect

from bot.model import Digest, Item
from bot.storing.archive import Archive, FileRecord
from bot.storing.database import open_database
from bot.storing.subscribers import ALL, Subscribers

CST = timezone(timedelta(hours=8))


def make_item(n: int, url: str | None = None, categories: tuple[str, ...] = ("AI工具",)) -> Item:
    return Item(
        id=f"item{n:04d}",
        position=n,
        title=f"标题 {n}",
        url=url or f"https://example.com/{n}",
        author="作者",
        summary_md=f"摘要 **{n}**",
        summary_html=f"摘要 <b>{n}</b>",
        summary_text=f"摘要 {n}",
        categories=categories,
        category_rule="keywords",
    )


def make_digest(day: int, items: tuple[Item, ...]) -> Digest:
    return Digest(
        id=f"digest{day:02d}",
        title=f"第 {day} 期",
        date=datetime(2025, 11, day, 12, 0, tzinfo=CST),
        categories=("AI工具", "AI产业"),
        items=items,
        source=Path(f"seeds/2025.11.{day:02d}.12.md"),
        content_hash=f"hash{day}",
    )


def test_migrations_create_schema_and_are_idempotent(database_url: str) -> None:
    engine = open_database(database_url)
    open_database(database_url)  # a second start changes nothing
    names = set(inspect(engine).get_table_names())
    assert {"digests", "items", "chats", "subscriptions", "deliveries"} <= names


def test_archive_keeps_published_and_moves_updated_only_on_edit(database_url: str) -> None:
    archive = Archive(open_database(database_url))
    first = make_digest(27, (make_item(1), make_item(2, categories=("AI产业",))))
    result = archive.store(first)
    assert result.new_digest and result.new_items == ("item0001", "item0002")

    again = archive.store(first)
    assert not again.changed

    entries = archive.recent(10)
    assert [e.item.id for e in entries] == ["item0001", "item0002"]  # first item newest
    assert entries[0].published == first.date
    assert entries[1].published == first.date - timedelta(seconds=1)

    edited_item = replace(make_item(2, categories=("AI产业",)), summary_md="改过的摘要")
    edited = archive.store(replace(first, items=(make_item(1), edited_item), content_hash="h2"))
    assert edited.edited_items == ("item0002",) and not edited.new_items
    entry = next(e for e in archive.recent(10) if e.item.id == "item0002")
    assert entry.published == first.date - timedelta(seconds=1)
    assert entry.updated > entry.published

    later = make_digest(28, (make_item(3), make_item(1)))  # item 1 again, a day later
    result = archive.store(later)
    assert result.new_items == ("item0003",)
    ids = [e.item.id for e in archive.recent(10)]
    assert ids == ["item0003", "item0001", "item0002"]  # the repeat keeps its first time
    assert [e.item.id for e in archive.recent(10, "AI产业")] == ["item0002"]
    assert [e.item.id for e in archive.digest_entries("digest28")] == ["item0003", "item0001"]
    assert archive.counts() == (2, 3)


def test_unplanned_until_marked(database_url: str) -> None:
    archive = Archive(open_database(database_url))
    digest = make_digest(27, (make_item(1),))
    archive.store(digest)
    assert archive.unplanned() == ["digest27"]
    archive.mark_planned("digest27", "hash27")
    assert archive.unplanned() == []
    archive.store(replace(digest, content_hash="changed"))
    assert archive.unplanned() == ["digest27"]


def test_file_records(database_url: str) -> None:
    archive = Archive(open_database(database_url))
    record = FileRecord("/x/a.md", 10, 123, "abc", "digest27", None)
    archive.record_file(record)
    archive.record_file(replace(record, size=11, error="bad"))
    assert archive.file_record("/x/a.md") == replace(record, size=11, error="bad")
    assert archive.file_record("/x/b.md") is None


def test_subscriptions_survive_reopen_and_follow_migration(database_url: str) -> None:
    store = Subscribers(open_database(database_url))
    store.upsert_chat(42, "private", "Ada", "en")
    assert store.subscribe(42, ["AI工具", "AI产业"]) == ["AI工具", "AI产业"]
    assert store.subscribe(42, ["AI工具"]) == []
    store.upsert_chat(-100, "group", "Team")
    store.subscribe(-100, [ALL])

    reopened = Subscribers(open_database(database_url))
    assert reopened.subscriptions_of(42) == ["AI工具", "AI产业"]
    assert reopened.active_subscriptions() == {"42": {"AI工具", "AI产业"}, "-100": {ALL}}
    assert reopened.counts_by_category() == {"AI工具": 1, "AI产业": 1, ALL: 1}

    reopened.move_chat(-100, -1009)
    assert reopened.subscriptions_of(-1009) == [ALL]
    assert reopened.subscriptions_of(-100) == []
    assert reopened.chat(-100).state == "gone"

    reopened.set_state(42, "blocked")
    assert "42" not in reopened.active_subscriptions()
    assert reopened.unsubscribe(42, ["AI产业"]) == ["AI产业"]
    assert reopened.unsubscribe(42) == ["AI工具"]
