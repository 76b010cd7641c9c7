"""Each chat's settings in the database, on SQLite and on PostgreSQL."""

from __future__ import annotations

from dataclasses import replace

from bot.storing.chat_settings import COMPACT, DEFAULT, ChatSettings, ChatSettingsStore
from bot.storing.database import open_database
from bot.storing.subscribers import Subscribers


def test_settings_round_trip_survive_reopen_and_default_without_a_row(database_url: str) -> None:
    store = ChatSettingsStore(open_database(database_url))
    assert store.get(42) == DEFAULT
    chosen = ChatSettings(
        language="en",
        paused=True,
        paused_since_ts=100.0,
        quiet_start="23:00",
        quiet_end="08:00",
        quiet_silent=True,
        schedule=("08:00", "20:00"),
        timezone="Europe/Berlin",
        include_words=("openai", "融资"),
        exclude_words=("招聘",),
        format=COMPACT,
        preview=False,
    )
    store.save(42, chosen)
    store.save(-100, replace(DEFAULT, silent=True))

    reopened = ChatSettingsStore(open_database(database_url))
    assert reopened.get("42") == chosen
    assert reopened.many() == {"42": chosen, "-100": replace(DEFAULT, silent=True)}
    assert reopened.many(["-100", "7"]) == {"-100": replace(DEFAULT, silent=True)}

    reopened.save(-100, DEFAULT)  # back at the defaults: no row left
    assert reopened.many() == {"42": chosen}


def test_a_pause_with_an_end_holds_until_then() -> None:
    paused = replace(DEFAULT, paused=True, paused_since_ts=0.0, paused_until_ts=100.0)
    assert paused.paused_at(99.0) and not paused.paused_at(100.0)
    assert replace(paused, paused_until_ts=None).paused_at(1e12)
    assert not DEFAULT.paused_at(0.0)


def test_a_group_that_becomes_a_supergroup_keeps_its_settings(database_url: str) -> None:
    engine = open_database(database_url)
    subscribers, store = Subscribers(engine), ChatSettingsStore(engine)
    subscribers.upsert_chat(-100, "group", "Team")
    store.save(-100, replace(DEFAULT, language="zh", schedule=("08:00",)))
    subscribers.move_chat(-100, -1009)
    assert store.get(-1009) == replace(DEFAULT, language="zh", schedule=("08:00",))
    assert store.get(-100) == DEFAULT
