"""Pause, quiet hours and schedules applied where they belong (#13): planning holds or skips a
chat's items, the releaser writes one bundle when it is due, the dispatcher sends it to the fake
Bot API. Clocks are passed in (`now=`), never waited for; a restart is a new engine and new
stores over the same SQLite file."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from test_dispatch import World, received
from test_dispatch_support import TABLE, make_digest, make_item, settings_for, store
from test_service_health import running

from bot.dispatching.bundles import release_bundles
from bot.dispatching.planner import plan_digest
from bot.scheduling.service import Service
from bot.settings import load_settings
from bot.storing.archive import Archive
from bot.storing.chat_settings import ChatSettings, ChatSettingsStore
from bot.storing.database import open_database
from bot.storing.held import HeldItems
from bot.storing.outbox import Outbox
from bot.storing.subscribers import Subscribers
from bot.storing.tables import held_items

SHANGHAI = ZoneInfo("Asia/Shanghai")
SCHEDULED, INSTANT, QUIET = 701, 702, 703


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).timestamp()


FIRST = [make_item("s1-tools", ("AI工具",)), make_item("s1-apps", ("AI应用",))]
SECOND = [make_item("s2-tools", ("AI工具",)), make_item("s2-funding", ("AI工具",), "完成一轮融资")]


def plan(world: World, items: list, day: int, now: float) -> None:  # type: ignore[type-arg]
    digest = make_digest(day, items)
    store(world.engine, digest)
    plan_digest(
        world.engine,
        digest.id,
        archive=Archive(world.engine),
        subscribers=world.subscribers,
        table=TABLE,
        settings=world.settings,
        now=now,
    )


def choose(world: World, chat: int, **settings: object) -> None:
    store_ = ChatSettingsStore(world.engine)
    store_.save(chat, replace(store_.get(chat), **settings))  # type: ignore[arg-type]


def release(world: World, now: float) -> dict[str, int]:
    return release_bundles(world.engine, world.settings, TABLE, now)


@pytest.fixture
def world(tmp_path: Path, telegram):  # type: ignore[no-untyped-def]
    telegram.reset()
    telegram.limits = None
    made = World(tmp_path, telegram)
    for chat in (SCHEDULED, INSTANT, QUIET):
        made.subscribe(chat, ["*"])
    yield made
    made.engine.dispose()


async def test_a_scheduled_chat_gets_one_bundle_at_its_time_across_a_restart(world) -> None:  # type: ignore[no-untyped-def]
    choose(world, SCHEDULED, schedule=("08:00", "20:00"))
    plan(world, FIRST, 26, at("2026-03-01T06:00"))
    plan(world, SECOND, 27, at("2026-03-01T07:00"))
    held = HeldItems(world.engine)
    assert held.held(str(SCHEDULED)) == ["s1-tools", "s1-apps", "s2-tools", "s2-funding"]
    assert release(world, at("2026-03-01T07:59")) == {}
    await world.drain()
    assert received(world.fake, INSTANT) == [["s1-tools", "s1-apps"], ["s2-tools", "s2-funding"]]
    assert received(world.fake, SCHEDULED) == []  # nothing one by one

    world.engine.dispose()  # a restart between setting and delivery
    world.engine = open_database(world.url)
    world.outbox.engine = world.engine
    assert release(world, at("2026-03-01T08:00")) == {str(SCHEDULED): 1}
    assert release(world, at("2026-03-01T08:01")) == {}  # once, never twice
    await world.drain()
    assert received(world.fake, SCHEDULED) == [["s1-tools", "s1-apps", "s2-tools", "s2-funding"]]
    assert "2 期" in world.fake.messages(SCHEDULED)[0].plain  # one title for two digests
    # planning the same digests again adds nothing (they are delivered now)
    plan(world, SECOND, 27, at("2026-03-01T09:00"))
    assert HeldItems(world.engine).holding() == {}


async def test_quiet_hours_hold_until_they_end_then_one_message(world) -> None:  # type: ignore[no-untyped-def]
    choose(world, QUIET, quiet_start="23:00", quiet_end="08:00")
    plan(world, FIRST, 26, at("2026-03-01T23:30"))
    plan(world, SECOND, 27, at("2026-03-02T03:00"))
    assert release(world, at("2026-03-02T07:59")) == {}
    await world.drain()
    assert received(world.fake, QUIET) == []
    assert release(world, at("2026-03-02T08:00")) == {str(QUIET): 1}
    await world.drain()
    assert received(world.fake, QUIET) == [["s1-tools", "s1-apps", "s2-tools", "s2-funding"]]
    plan(world, [make_item("s3-day", ("AI工具",))], 28, at("2026-03-02T12:00"))
    await world.drain()
    assert received(world.fake, QUIET)[-1] == ["s3-day"]  # outside quiet hours: as it comes


async def test_silent_quiet_hours_deliver_instead_of_holding_without_sound(world) -> None:  # type: ignore[no-untyped-def]
    # the dispatcher decides the sound when it sends (now): quiet hours around the real time
    hour = datetime.now(SHANGHAI).hour
    around = (f"{(hour - 1) % 24:02d}:00", f"{(hour + 2) % 24:02d}:00")
    elsewhere = (f"{(hour + 4) % 24:02d}:00", f"{(hour + 6) % 24:02d}:00")
    choose(world, QUIET, quiet_start=around[0], quiet_end=around[1], quiet_silent=True)
    choose(world, INSTANT, quiet_start=elsewhere[0], quiet_end=elsewhere[1], quiet_silent=True)
    plan(world, FIRST, 26, time.time())
    assert HeldItems(world.engine).holding() == {}
    await world.drain()
    assert received(world.fake, QUIET) == [["s1-tools", "s1-apps"]]
    assert [m.silent for m in world.fake.messages(QUIET)] == [True]
    assert [m.silent for m in world.fake.messages(INSTANT)] == [False]


@pytest.mark.parametrize(
    "change",
    [{"schedule": ()}, {"quiet_start": None, "quiet_end": None}],
    ids=["schedule-instant", "quiet-off"],
)
async def test_a_setting_changed_while_held_applies_to_what_is_held(world, change) -> None:  # type: ignore[no-untyped-def]
    choose(world, SCHEDULED, schedule=("08:00",), quiet_start="23:00", quiet_end="08:00")
    plan(world, FIRST, 26, at("2026-03-01T23:30"))
    now = at("2026-03-02T01:00")
    assert release(world, now) == {}
    if "schedule" in change:
        choose(world, SCHEDULED, schedule=(), quiet_start=None, quiet_end=None)
    else:
        choose(world, SCHEDULED, **change, schedule=())
    assert release(world, now) == {str(SCHEDULED): 1}  # at the next check, not at 08:00
    await world.drain()
    assert received(world.fake, SCHEDULED) == [["s1-tools", "s1-apps"]]


async def test_a_pause_sends_nothing_and_one_that_expires_ends_by_itself(world) -> None:  # type: ignore[no-untyped-def]
    start = at("2026-03-01T10:00")
    choose(world, INSTANT, paused=True, paused_since_ts=start, paused_until_ts=start + 3600)
    choose(world, SCHEDULED, paused=True, paused_since_ts=start)  # until /resume
    plan(world, FIRST, 26, start + 60)
    assert HeldItems(world.engine).holding() == {}  # skipped, not held for later
    plan(world, SECOND, 27, start + 7200)  # the pause ended an hour ago
    plan(world, [*FIRST, make_item("s1-late", ("AI工具",))], 26, start + 7200)  # a revision
    await world.drain()
    # what was published while it was paused is not sent later, not even by a revision
    assert received(world.fake, INSTANT) == [["s2-tools", "s2-funding"], ["s1-late"]]
    assert received(world.fake, SCHEDULED) == []
    assert received(world.fake, QUIET) == [  # its message of the first digest edited in place
        ["s1-tools", "s1-apps", "s1-late"],
        ["s2-tools", "s2-funding"],
    ]


async def test_filters_apply_when_planned_and_again_when_bundled(world) -> None:  # type: ignore[no-untyped-def]
    choose(world, SCHEDULED, schedule=("08:00",), exclude_words=("融资",))
    choose(world, INSTANT, include_words=("s2",))
    plan(world, FIRST + SECOND, 26, at("2026-03-01T07:00"))
    assert HeldItems(world.engine).held(str(SCHEDULED)) == ["s1-tools", "s1-apps", "s2-tools"]
    choose(world, SCHEDULED, exclude_words=("融资", "apps"))  # changed while held
    release(world, at("2026-03-01T08:00"))
    await world.drain()
    assert received(world.fake, SCHEDULED) == [["s1-tools", "s2-tools"]]
    assert received(world.fake, INSTANT) == [["s2-tools", "s2-funding"]]


async def test_a_release_that_fails_keeps_everything_held(world) -> None:  # type: ignore[no-untyped-def]
    choose(world, SCHEDULED, schedule=("08:00",))
    plan(world, FIRST, 26, at("2026-03-01T07:00"))
    held = HeldItems(world.engine)

    def broken(entries, slugs):  # type: ignore[no-untyped-def]
        raise RuntimeError("crash while laying out")

    with pytest.raises(RuntimeError):
        held.release(str(SCHEDULED), broken, at("2026-03-01T08:00"))
    assert held.held(str(SCHEDULED)) == ["s1-tools", "s1-apps"]  # nothing lost
    assert world.outbox.pending_count() == 2  # the other chats' messages only
    assert release(world, at("2026-03-01T08:00")) == {str(SCHEDULED): 1}
    with world.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(held_items)).scalar() == 0


async def test_a_chat_that_blocked_the_bot_holds_nothing_more(world) -> None:  # type: ignore[no-untyped-def]
    choose(world, SCHEDULED, schedule=("08:00",))
    plan(world, FIRST, 26, at("2026-03-01T07:00"))
    world.subscribers.set_state(SCHEDULED, "blocked")
    assert release(world, at("2026-03-01T08:00")) == {}
    assert HeldItems(world.engine).holding() == {}


def test_default_settings_are_not_stored_and_plan_as_before(world) -> None:  # type: ignore[no-untyped-def]
    ChatSettingsStore(world.engine).save(INSTANT, ChatSettings())
    assert ChatSettingsStore(world.engine).many() == {}


async def test_a_bundle_due_while_the_service_was_down_is_sent_once_at_start(
    tmp_path: Path, telegram
) -> None:  # type: ignore[no-untyped-def]
    telegram.limits = None
    (tmp_path / "seeds").mkdir()
    settings = load_settings(
        digests_dir=tmp_path / "seeds",
        feeds_dir=tmp_path / "feeds",
        database_url=f"sqlite:///{tmp_path}/state/db.sqlite",
        site_url="https://news.example.com/",
        http={"host": "127.0.0.1", "port": 0},
        telegram={
            "token": telegram.token,
            "base_url": telegram.base_url,
            "poll_timeout": 1,
            "global_per_second": 1000,
            "private_per_second": 1000,
        },
    )
    (tmp_path / "state").mkdir()
    engine = open_database(settings.database_url)
    subscribers = Subscribers(engine)
    subscribers.upsert_chat(SCHEDULED, "private")
    subscribers.subscribe(SCHEDULED, ["*"])
    ChatSettingsStore(engine).save(SCHEDULED, ChatSettings(schedule=("08:00",)))
    digest = make_digest(26, FIRST)
    store(engine, digest)
    plan_digest(
        engine,
        digest.id,
        archive=Archive(engine),
        subscribers=subscribers,
        table=TABLE,
        settings=settings,
        now=at("2026-03-01T07:00"),
    )
    Archive(engine).mark_planned(digest.id, digest.content_hash)
    engine.dispose()
    clock = lambda: at("2026-03-01T09:30")  # noqa: E731  (08:00 passed while it was down)

    async with running(Service(settings, now=clock)):
        await telegram.wait_for_messages_async(SCHEDULED, 1, timeout=20)
    async with running(Service(settings, now=clock)) as _:
        pass  # started again: the release at start finds nothing held
    assert received(telegram, SCHEDULED) == [["s1-tools", "s1-apps"]]
    engine = open_database(settings.database_url)
    try:
        assert Outbox(engine).pending_count() == 0 and HeldItems(engine).holding() == {}
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_held_items_on_postgresql_are_released_once(postgres_url: str) -> None:
    engine = open_database(postgres_url)
    try:
        settings = settings_for(postgres_url)
        subscribers = Subscribers(engine)
        subscribers.upsert_chat(SCHEDULED, "private")
        subscribers.subscribe(SCHEDULED, ["*"])
        ChatSettingsStore(engine).save(SCHEDULED, ChatSettings(schedule=("08:00",)))
        digest = make_digest(26, FIRST)
        store(engine, digest)
        plan_digest(
            engine,
            digest.id,
            archive=Archive(engine),
            subscribers=subscribers,
            table=TABLE,
            settings=settings,
            now=at("2026-03-01T07:00"),
        )
        plan_digest(  # planned again (another instance, a retry): held once
            engine,
            digest.id,
            archive=Archive(engine),
            subscribers=subscribers,
            table=TABLE,
            settings=settings,
            now=at("2026-03-01T07:30"),
        )
        assert HeldItems(engine).held(str(SCHEDULED)) == ["s1-tools", "s1-apps"]
        assert release_bundles(engine, settings, TABLE, at("2026-03-01T08:00")) == {
            str(SCHEDULED): 1
        }
        assert release_bundles(engine, settings, TABLE, at("2026-03-01T08:00")) == {}
        assert Outbox(engine).pending_count() == 1
    finally:
        engine.dispose()


async def test_what_is_held_follows_a_migrated_group_and_ends_with_its_subscriptions(world) -> None:  # type: ignore[no-untyped-def]
    group, supergroup = -700, -1_000_700
    world.subscribe(group, ["*"])
    choose(world, group, schedule=("08:00",))
    plan(world, FIRST, 26, at("2026-03-01T07:00"))
    world.subscribers.move_chat(group, supergroup)
    held = HeldItems(world.engine)
    assert held.held(str(group)) == [] and held.held(str(supergroup)) == ["s1-tools", "s1-apps"]
    assert release(world, at("2026-03-01T08:00")) == {str(supergroup): 1}

    choose(world, SCHEDULED, schedule=("08:00",))
    plan(world, SECOND, 27, at("2026-03-01T09:00"))
    world.subscribers.unsubscribe(SCHEDULED)  # /stop: every category
    assert release(world, at("2026-03-02T08:00")) == {str(supergroup): 1}  # not SCHEDULED
    assert held.holding() == {}
