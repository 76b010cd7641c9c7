"""The archive and the subscriber store, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import insert, inspect, select
from sqlalchemy.exc import IntegrityError, OperationalError

from bot.model import Digest, Item
from bot.storing.archive import Archive, FileRecord
from bot.storing.database import downgrade, make_engine, migrate, open_database
from bot.storing.subscribers import ALL, Subscribers
from bot.storing.tables import chats, digest_items, item_categories, subscriptions

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
    moved = reopened.chat(-100)
    assert moved is not None and moved.state == "gone"

    reopened.set_state(42, "blocked")
    assert "42" not in reopened.active_subscriptions()
    assert reopened.unsubscribe(42, ["AI产业"]) == ["AI产业"]
    assert reopened.unsubscribe(42) == ["AI工具"]


def test_an_audience_added_in_bulk_is_active_with_its_categories(database_url: str) -> None:
    store = Subscribers(open_database(database_url))
    audience = [(str(10_000 + n), "private", ["AI工具", "AI产业"][: 1 + n % 2]) for n in range(7)]
    audience.append(("-1001", "supergroup", [ALL]))

    assert store.add_audience(audience, chunk=3) == 8  # statements of 3 rows: chunks join up

    assert store.active_chat_count() == 8
    assert store.active_subscriptions_of(["10000", "10001", "-1001"]) == {
        "10000": {"AI工具"},
        "10001": {"AI工具", "AI产业"},
        "-1001": {ALL},
    }
    group = store.chat("-1001")
    assert group is not None and group.type == "supergroup" and group.state == "active"
    with pytest.raises(IntegrityError):  # an import never overwrites a chat that exists
        store.add_audience([("10000", "private", ["AI发展"])])
    assert store.subscriptions_of("10000") == ["AI工具"]


def test_future_dated_digest_is_published_at_ingest_time_and_staggered(database_url: str) -> None:
    """A digest dated ahead (a writer's skewed clock) gets its times once, when stored: they must
    not follow the clock of each later feed build, and its items keep their order."""
    archive = Archive(open_database(database_url))
    ahead = replace(
        make_digest(27, (make_item(1), make_item(2), make_item(3))),
        date=datetime.now(CST) + timedelta(days=2),
    )
    before = datetime.now(CST)
    archive.store(ahead)
    after = datetime.now(CST)
    entries = archive.recent(10)
    assert [e.item.id for e in entries] == ["item0001", "item0002", "item0003"]
    first = entries[0].published
    assert before <= first <= after
    assert [e.published for e in entries] == [first - timedelta(seconds=i) for i in range(3)]
    assert all(e.updated == e.published for e in entries)
    archive.store(ahead)  # stored again (a rescan): nothing moves
    assert [(e.published, e.updated) for e in archive.recent(10)] == [
        (e.published, e.updated) for e in entries
    ]


def test_a_story_repeated_with_new_text_is_updated_at_the_later_digests_time(
    database_url: str,
) -> None:
    """`updated` comes from the data, not the clock: a rebuild of the same digests into a fresh
    database gives the same times (and so byte-identical feeds)."""
    results = []
    for _ in range(2):
        archive = Archive(open_database(database_url))
        archive.store(make_digest(27, (make_item(1), make_item(2))))
        retold = replace(make_item(1), title="标题 1（更新）", summary_md="新的摘要")
        later = make_digest(28, (make_item(3), retold))
        result = archive.store(later)
        assert result.edited_items == ("item0001",)
        entry = next(e for e in archive.recent(10) if e.item.id == "item0001")
        assert entry.published == make_digest(27, ()).date
        assert entry.updated == later.date - timedelta(seconds=1)
        assert entry.item.title == "标题 1（更新）"
        results.append([(e.item.id, e.published, e.updated) for e in archive.recent(10)])
        archive.engine.dispose()
        _drop_all(database_url)
    assert results[0] == results[1]


def test_an_older_digest_stored_again_does_not_take_back_a_newer_text(database_url: str) -> None:
    archive = Archive(open_database(database_url))
    first = make_digest(27, (make_item(1), make_item(2)))
    archive.store(first)
    retold = replace(make_item(1), summary_md="新的摘要", categories=("AI产业",))
    archive.store(make_digest(28, (retold,)))
    entry = next(e for e in archive.recent(10) if e.item.id == "item0001")
    # the older digest edited (another item fixed) and stored again
    fixed = replace(make_item(2), summary_md="改过的摘要")
    result = archive.store(replace(first, items=(make_item(1), fixed), content_hash="h2"))
    assert result.edited_items == ("item0002",)
    again = next(e for e in archive.recent(10) if e.item.id == "item0001")
    assert again.item.summary_md == "新的摘要" and again.item.categories == ("AI产业",)
    assert (again.published, again.updated) == (entry.published, entry.updated)
    assert [e.item.id for e in archive.recent(10, "AI产业")] == ["item0001"]


def test_items_dropped_from_an_edited_digest_leave_the_archive(database_url: str) -> None:
    """A link corrected in a digest gives the item a new id: the old entry (wrong link) must not
    stay in the feeds beside the corrected one. An item another digest still carries stays."""
    archive = Archive(open_database(database_url))
    first = make_digest(27, (make_item(1), make_item(2, categories=("AI产业",)), make_item(4)))
    archive.store(first)
    archive.store(make_digest(28, (make_item(4),)))
    corrected = make_item(3, url="https://example.com/fixed")
    archive.store(replace(first, items=(make_item(1), corrected), content_hash="h2"))
    # item 4 keeps its first time (third of digest 27); the corrected item takes the second place
    assert [e.item.id for e in archive.recent(10)] == ["item0001", "item0003", "item0004"]
    assert archive.recent(10, "AI产业") == []
    assert archive.categories_in_use() == ["AI工具"]
    assert archive.counts() == (2, 3)
    assert [e.item.id for e in archive.digest_entries("digest27")] == ["item0001", "item0003"]


def _drop_all(database_url: str) -> None:
    """Every migration taken back (search's virtual table is no table of `metadata`)."""
    from bot.storing.database import downgrade

    engine = open_database(database_url)
    downgrade(engine, "base")
    engine.dispose()


# Transactions and foreign keys ---------------------------------------------------------------


def test_a_read_that_decides_a_write_holds_the_sqlite_write_lock(tmp_path: Path) -> None:
    """Every SQLite transaction begins IMMEDIATE: while one is open (even before it writes), a
    second connection's transaction cannot begin, so it cannot read what the first will change."""
    url = f"sqlite:///{tmp_path}/race.db"
    first_engine, second_engine = open_database(url), make_engine(url)
    subscribers = Subscribers(first_engine)
    with first_engine.begin() as first, second_engine.connect() as second:
        second.connection.driver_connection.execute("PRAGMA busy_timeout=0")  # type: ignore[union-attr]
        assert first.execute(select(chats.c.id)).all() == []  # the read that decides
        with pytest.raises(OperationalError, match="locked"):
            second.execute(select(chats.c.id)).all()
        second.rollback()
        first.execute(
            insert(chats).values(id="1", type="private", state="active", created_ts=0, updated_ts=0)
        )
    with second_engine.connect() as second:
        assert second.execute(select(chats.c.id)).scalars().all() == ["1"]
    assert subscribers.chat(1) is not None
    first_engine.dispose()
    second_engine.dispose()


def test_racing_writers_each_see_the_others_row(database_url: str) -> None:
    """Many threads register one new chat and add one subscription at once: no error, and
    exactly one of them is told it added the subscription."""
    engine = open_database(database_url)
    subscribers = Subscribers(engine)
    racers = 8
    start = threading.Barrier(racers)

    def race(n: int) -> list[str]:
        start.wait()
        subscribers.upsert_chat(77, "private", f"racer {n}")
        return subscribers.subscribe(77, ["AI工具"])

    with ThreadPoolExecutor(racers) as pool:
        results = list(pool.map(race, range(racers)))
    assert sorted(results) == [[]] * (racers - 1) + [["AI工具"]]
    assert subscribers.subscriptions_of(77) == ["AI工具"]
    engine.dispose()


def test_rows_that_belong_to_no_row_are_refused(database_url: str) -> None:
    engine = open_database(database_url)
    orphans = [
        insert(subscriptions).values(chat_id="nobody", category=ALL, created_ts=0),
        insert(item_categories).values(category="AI工具", item_id="nothing", published_ts=0),
        insert(digest_items).values(digest_id="no-digest", item_id="nothing", position=0),
    ]
    for statement in orphans:
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(statement)
    engine.dispose()


def test_foreign_keys_are_checked_when_a_migration_runs_only(tmp_path: Path) -> None:
    """Opening a database already on the newest schema runs no migration and so reads no
    row for the foreign-key check (at a million subscribers that read took seconds at every
    start); a migration that runs still refuses to commit rows that belong to no row."""
    import sqlite3

    database = tmp_path / "orphan.db"
    open_database(f"sqlite:///{database}").dispose()
    with sqlite3.connect(database) as raw:  # foreign keys off: an orphan slips in
        raw.execute("INSERT INTO subscriptions VALUES ('nobody', '*', 0)")
    engine = open_database(f"sqlite:///{database}")  # nothing to migrate: not checked
    with pytest.raises(RuntimeError, match="without the rows they belong to"):
        downgrade(engine, "-1")
    migrate(engine)  # the failed downgrade committed nothing: still on the newest schema
    with engine.connect() as connection:
        assert connection.execute(select(subscriptions.c.chat_id)).scalars().all() == ["nobody"]
    engine.dispose()


def test_removing_a_digest_hands_its_items_to_the_digest_that_carries_them(
    database_url: str,
) -> None:
    """Item 2 was dropped from digest 27 (its first) but is repeated by digest 28: when digest
    27 goes, item 2 belongs to digest 28 (no item points at a digest that is gone)."""
    archive = Archive(open_database(database_url))
    first = make_digest(27, (make_item(1), make_item(2)))
    archive.store(first)
    archive.store(make_digest(28, (make_item(2),)))
    archive.store(replace(first, items=(make_item(1),), content_hash="h2"))
    assert archive.remove_digest("digest27") == ("item0001",)
    assert [(e.item.id, e.digest_id) for e in archive.recent(10)] == [("item0002", "digest28")]
