"""One schema: the migrations build exactly the tables in code, and every step back runs."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text

from bot.feeds import entry_id
from bot.storing.archive import Archive
from bot.storing.database import downgrade, make_engine, migrate, open_database
from bot.storing.search import SEARCH_OBJECTS
from bot.storing.tables import item_categories, items, metadata


def _described(obj: object, name: str | None, kind: str, reflected: bool, other: object) -> bool:
    return name not in SEARCH_OBJECTS  # search's virtual table and index are not in `metadata`


def differences(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        opts = {"compare_type": True, "include_object": _described}
        context = MigrationContext.configure(connection, opts=opts)
        return list(compare_metadata(context, metadata))


def test_migrated_database_matches_the_tables_in_code(database_url: str) -> None:
    engine = open_database(database_url)
    assert differences(engine) == []
    assert "ix_item_categories_item" in {
        index["name"] for index in inspect(engine).get_indexes("item_categories")
    }
    engine.dispose()


def test_every_downgrade_runs_and_upgrades_again(database_url: str) -> None:
    engine = open_database(database_url)
    downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate(engine)
    assert differences(engine) == []
    engine.dispose()


def test_the_comparison_sees_what_a_migration_misses(tmp_path: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/old.db")
    migrate(engine, revision="0002")
    found = {
        (d[0], getattr(d[1], "name", None)) for d in differences(engine) if isinstance(d, tuple)
    }
    assert ("add_index", "ix_item_categories_item") in found
    assert ("add_fk", "fk_subscriptions_chat") in found
    engine.dispose()


CST = timezone(timedelta(hours=8))


def _old_item(item_id: str, digest_id: str, published: datetime) -> dict[str, object]:
    stamp = published.isoformat()
    return {
        "id": item_id,
        "digest_id": digest_id,
        "position": 1,
        "title": item_id,
        "summary_md": "",
        "summary_html": "",
        "summary_text": "",
        "categories": json.dumps(["AI工具"]),
        "category_rule": "",
        "published": stamp,
        "published_ts": published.timestamp(),
        "updated": stamp,
        "updated_ts": published.timestamp(),
        "content_hash": "h",
    }


def _database_at_0002(url: str) -> Engine:
    """A database as 0.2 left it: one digest, an item it carries, an item whose first digest
    was removed but which it repeats, and one whose digest is gone and that nobody carries."""
    from bot.storing.tables import chats, digest_items, digests, subscriptions

    engine = make_engine(url)
    migrate(engine, revision="0002")
    moment = datetime(2024, 12, 31, 23, 59, 59, tzinfo=CST)
    with engine.begin() as connection:
        connection.execute(
            digests.insert().values(
                id="d1",
                title="D1",
                date=moment.isoformat(),
                date_ts=moment.timestamp(),
                categories="[]",
                source="x.md",
                content_hash="h",
                ingested_ts=0.0,
            )
        )
        connection.execute(
            items.insert(),
            [
                _old_item("kept", "d1", moment),
                _old_item("adopted", "removed", moment + timedelta(days=1)),
                _old_item("lost", "removed", moment),
            ],
        )
        connection.execute(
            digest_items.insert(),
            [
                {"digest_id": "d1", "item_id": "kept", "position": 0},
                {"digest_id": "d1", "item_id": "adopted", "position": 1},
            ],
        )
        connection.execute(
            item_categories.insert(),
            [{"category": "AI工具", "item_id": i, "published_ts": 0.0} for i in ("kept", "lost")],
        )
        connection.execute(
            chats.insert().values(
                id="1", type="private", state="active", created_ts=0.0, updated_ts=0.0
            )
        )
        connection.execute(
            subscriptions.insert(),
            [{"chat_id": c, "category": "*", "created_ts": 0.0} for c in ("1", "nobody")],
        )
    return engine


def test_migration_keeps_the_feed_ids_readers_have(database_url: str) -> None:
    engine = _database_at_0002(database_url)
    migrate(engine, site_url="https://News.Example.com:8443/news/")
    with engine.connect() as connection:
        ids = dict(connection.execute(select(items.c.id, items.c.feed_id)).all())
        owners = dict(connection.execute(select(items.c.id, items.c.digest_id)).all())
        subscribed = connection.execute(text("SELECT chat_id FROM subscriptions")).scalars().all()
    assert ids == {
        "kept": "tag:news.example.com,2024:item/kept",
        "adopted": "tag:news.example.com,2025:item/adopted",
    }
    assert owners == {"kept": "d1", "adopted": "d1"}  # "lost" belonged to nothing
    assert subscribed == ["1"]
    assert differences(engine) == []
    shown = {entry_id(e) for e in Archive(engine).recent(10)}  # what the feeds now say
    assert shown == set(ids.values())
    engine.dispose()


def test_migration_without_an_address_uses_the_configured_one(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGESTBOT_SITE_URL", "http://localhost:8080/")
    engine = _database_at_0002(database_url)
    migrate(engine)
    with engine.connect() as connection:
        feed_id = connection.execute(
            select(items.c.feed_id).where(items.c.id == "kept")
        ).scalar_one()
    assert feed_id == "tag:localhost,2024:item/kept"
    engine.dispose()
