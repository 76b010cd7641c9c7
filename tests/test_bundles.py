"""A bundle of held items (#13) addressed like the chat's digests (its feed in the footer, a
forum's items in their topics), the settings button on exactly the last part of every message
(follow-ups of a revision, a forum's topics), revisions in forums, and the service's injected
clock deciding quiet hours when it plans. Real python-telegram-bot stack, fake Bot API,
injected clocks."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from test_delivery_timing import SHANGHAI, at, choose, plan, release
from test_dispatch import World
from test_dispatch_edits import with_items
from test_dispatch_support import TABLE, items_in, make_digest, make_item, store
from test_service_health import running

from bot.dispatching.planner import plan_digest
from bot.scheduling.service import Service
from bot.settings import load_settings
from bot.storing.archive import Archive
from bot.storing.chat_settings import ChatSettings, ChatSettingsStore
from bot.storing.database import open_database
from bot.storing.held import HeldItems
from bot.storing.subscribers import Subscribers
from bot.storing.topics import Topics

SITE = "https://news.example.com/"
FEED = re.compile(r'href="(https://news\.example\.com/[^"]*rss\.xml)"')
FORUM = -1007000000042
LONG = "很长的摘要。" * 280  # about 1,700 UTF-16 units: two such items fill one part


def feeds(message) -> list[str]:  # type: ignore[no-untyped-def]
    """The feed links of a message's footer."""
    return FEED.findall(message.text)


def buttons(telegram, chat) -> list[bool]:  # type: ignore[no-untyped-def]
    """Per part sent to `chat`, whether it carries the settings button."""
    return [bool(m.buttons()) for m in telegram.messages(chat)]


def by_thread(telegram, chat) -> dict[int | None, list[list[str]]]:  # type: ignore[no-untyped-def]
    """thread -> the item ids of each part sent into it, in order."""
    out: dict[int | None, list[list[str]]] = {}
    for message in telegram.messages(chat):
        out.setdefault(message.message_thread_id, []).append(items_in(message.plain))
    return out


@pytest.fixture
def world(tmp_path: Path, telegram):  # type: ignore[no-untyped-def]
    telegram.reset()
    telegram.limits = None
    made = World(
        tmp_path, telegram, global_per_second=1000, private_per_second=1000, group_per_minute=60000
    )
    yield made
    made.engine.dispose()


ITEMS = [
    make_item("b-tools", ("AI工具",)),
    make_item("b-apps", ("AI应用",)),
    make_item("b-ethics", ("AI伦理",)),
    make_item("b-research", ("AI发展",)),
]


async def test_a_bundle_links_the_feed_a_digest_links_for_that_chat(world) -> None:  # type: ignore[no-untyped-def]
    now, later = 801, 802
    for chat in (now, later):
        world.subscribe(chat, ["AI工具"])
    world.subscribe(803, ["AI工具", "AI应用"])
    choose(world, later, schedule=("08:00",))
    choose(world, 803, schedule=("08:00",))
    linkless = replace(make_item("b-nolink", ("AI工具",)), url=None)
    plan(world, [*ITEMS, linkless], 26, at("2026-03-01T07:00"))
    assert release(world, at("2026-03-01T08:00")) == {str(later): 1, "803": 1}
    await world.drain()
    (digest,), (bundle,), (two,) = (world.fake.messages(c) for c in (now, later, 803))
    assert items_in(bundle.plain) == ["b-tools", "b-nolink"]
    assert items_in(two.plain) == ["b-tools", "b-apps", "b-nolink"]
    assert feeds(bundle) == feeds(digest) == [f"{SITE}c/ai-tools/rss.xml"]
    # an item without a link of its own links to its digest's page, as in the digest's message
    page = re.compile(r'href="([^"]*#item-b-nolink)"')
    assert page.findall(bundle.text) == page.findall(digest.text) == page.findall(two.text)
    assert page.findall(bundle.text)[0].startswith(f"{SITE}d/")
    assert feeds(two) == [f"{SITE}rss.xml"]  # two categories: the main feed, as a digest's
    assert [bool(m.buttons()) for m in (digest, bundle, two)] == [True, True, True]


def forum_with_topics(world, telegram, *, own: list[str] | None):  # type: ignore[no-untyped-def]
    """A forum with topics for tools, apps and ethics (the last one broken); `own`: the
    group's own subscriptions (None: it has none)."""
    telegram.make_forum(FORUM)
    tools, apps, ethics = (telegram.create_topic(FORUM, n) for n in ("Tools", "Apps", "Ethics"))
    if own is None:
        world.subscribers.upsert_chat(FORUM, "supergroup")
    else:
        world.subscribe(FORUM, own)
    topics = Topics(world.engine)
    topics.bind(FORUM, tools, ["AI工具"], "Tools")
    topics.bind(FORUM, apps, ["AI应用"], "Apps")
    topics.bind(FORUM, ethics, ["AI伦理"], "Ethics")
    return tools, apps, ethics


@pytest.mark.parametrize("own", [["*"], None], ids=["subscribed", "topics-only"])
async def test_a_forum_bundle_goes_to_the_topics_its_items_belong_to(world, telegram, own) -> None:  # type: ignore[no-untyped-def]
    tools, apps, ethics = forum_with_topics(world, telegram, own=own)
    choose(world, FORUM, quiet_start="23:00", quiet_end="08:00")
    plan(world, ITEMS[:2], 26, at("2026-03-01T23:30"))
    plan(world, [*ITEMS[2:], make_item("b-tools-2", ("AI工具",))], 27, at("2026-03-02T01:00"))
    held = HeldItems(world.engine).held(str(FORUM))
    assert "b-ethics" in held and ("b-research" in held) == bool(own)
    # the ethics topic was closed meanwhile: its binding is broken, what it held goes to General
    Topics(world.engine).mark_broken(FORUM, ethics, "TOPIC_CLOSED")
    assert world.fake.messages(FORUM) == []
    assert release(world, at("2026-03-02T07:59")) == {}
    assert release(world, at("2026-03-02T08:00")) == {str(FORUM): 3}
    await world.drain()

    general = ["b-ethics", "b-research"] if own else ["b-ethics"]
    assert by_thread(telegram, FORUM) == {  # one message per topic
        tools: [["b-tools", "b-tools-2"]],
        apps: [["b-apps"]],
        None: [general],
    }
    footer = {m.message_thread_id: feeds(m) for m in telegram.messages(FORUM)}
    assert footer[tools] == [f"{SITE}c/ai-tools/rss.xml"]
    assert footer[apps] == [f"{SITE}c/ai-applications/rss.xml"]
    assert footer[None] == [f"{SITE}rss.xml"]
    assert all(buttons(telegram, FORUM))  # each message one part: each its button
    assert HeldItems(world.engine).holding() == {}


async def test_a_follow_up_of_a_revision_carries_the_button_on_its_last_part_only(world) -> None:  # type: ignore[no-untyped-def]
    chat = 811
    world.subscribe(chat, ["*"])
    big = [make_item(f"big-{n}", ("AI工具",), LONG) for n in range(1, 3)]
    digest = make_digest(27, big)
    world.plan(digest)
    await world.drain()
    assert buttons(world.fake, chat) == [True]  # one part

    # three more long items: they no longer fit, and go as a follow-up of two parts
    more = [make_item(f"big-{n}", ("AI工具",), LONG) for n in range(3, 6)]
    world.plan(with_items(digest, [*big, *more]))
    await world.drain()
    messages = world.fake.messages(chat)
    assert [items_in(m.plain) for m in messages] == [
        ["big-1", "big-2"],
        ["big-3", "big-4"],
        ["big-5"],
    ]
    assert buttons(world.fake, chat) == [True, False, True]  # the first, and the follow-up's last


async def test_each_topic_message_of_a_forum_carries_the_button_once(world, telegram) -> None:  # type: ignore[no-untyped-def]
    tools, apps, _ = forum_with_topics(world, telegram, own=["*"])
    items = [make_item("t-apps", ("AI应用",), LONG)] + [
        make_item(f"t-tools-{n}", ("AI工具",), LONG) for n in range(3)
    ]
    world.plan(make_digest(28, items))  # apps: one part, then tools: parts 2 and 3 of the chat
    await world.drain()
    parts = telegram.messages(FORUM)
    assert [(m.message_thread_id, bool(m.buttons())) for m in parts] == [
        (apps, True),
        (tools, False),
        (tools, True),
    ]


async def test_a_revision_that_adds_items_sends_them_to_their_topics(world, telegram) -> None:  # type: ignore[no-untyped-def]
    tools, apps, ethics = forum_with_topics(world, telegram, own=["*"])
    first = [make_item("v-tools", ("AI工具",)), make_item("v-research", ("AI发展",))]
    digest = make_digest(29, first)
    world.plan(digest)
    await world.drain()
    before = {m.message_thread_id: m.message_id for m in telegram.messages(FORUM)}
    assert set(before) == {tools, None}

    added = [
        make_item("v-tools-2", ("AI工具",)),  # a topic that has this digest's message
        make_item("v-apps", ("AI应用",)),  # a topic that has none yet
        make_item("v-ethics", ("AI伦理",)),  # a working topic without a message either
        make_item("v-research-2", ("AI发展",)),  # General
    ]
    world.plan(with_items(digest, [*first, *added]))
    world.plan(with_items(digest, [*first, *added]))  # planned again: nothing more
    await world.drain()
    got = {
        thread: [i for part in parts for i in part]
        for thread, parts in by_thread(telegram, FORUM).items()
    }
    assert got == {
        tools: ["v-tools", "v-tools-2"],
        None: ["v-research", "v-research-2"],
        apps: ["v-apps"],
        ethics: ["v-ethics"],
    }
    assert all(buttons(telegram, FORUM))  # one-part messages: each its button, once

    # a revision while the forum's quiet hours hold: the new items wait, then go to their topics
    choose(world, FORUM, quiet_start="23:00", quiet_end="08:00")
    late = [make_item("v-tools-3", ("AI工具",)), make_item("v-apps-2", ("AI应用",))]
    store(world.engine, with_items(digest, [*first, *added, *late]))
    plan_digest(
        world.engine,
        digest.id,
        archive=Archive(world.engine),
        subscribers=world.subscribers,
        table=TABLE,
        settings=world.settings,
        now=at("2026-03-01T23:30"),
    )
    assert HeldItems(world.engine).held(str(FORUM)) == ["v-tools-3", "v-apps-2"]
    assert release(world, at("2026-03-02T08:00")) == {str(FORUM): 2}
    await world.drain()
    latest = {m.message_thread_id: items_in(m.plain) for m in telegram.messages(FORUM)[-2:]}
    assert latest == {tools: ["v-tools-3"], apps: ["v-apps-2"]}


async def test_the_service_plans_with_its_injected_clock(tmp_path: Path, telegram) -> None:  # type: ignore[no-untyped-def]
    """Quiet hours far from the real time of day, around the injected one: the digest found at
    start-up is held (the real clock would deliver it), and released once they end."""
    telegram.limits = None
    (tmp_path / "seeds").mkdir()
    (tmp_path / "state").mkdir()
    settings = load_settings(
        digests_dir=tmp_path / "seeds",
        feeds_dir=tmp_path / "feeds",
        database_url=f"sqlite:///{tmp_path}/state/db.sqlite",
        site_url=SITE,
        http={"host": "127.0.0.1", "port": 0},
        telegram={
            "token": telegram.token,
            "base_url": telegram.base_url,
            "poll_timeout": 1,
            "global_per_second": 1000,
            "private_per_second": 1000,
        },
    )
    chat = 821
    real = datetime.now(SHANGHAI)
    injected = (real + timedelta(hours=12)).replace(minute=30, second=0, microsecond=0)
    start, end = ((injected + timedelta(hours=h)).strftime("%H:00") for h in (-1, 2))
    engine = open_database(settings.database_url)
    subscribers = Subscribers(engine)
    subscribers.upsert_chat(chat, "private")
    subscribers.subscribe(chat, ["*"])
    ChatSettingsStore(engine).save(chat, ChatSettings(quiet_start=start, quiet_end=end))
    engine.dispose()
    source = Path(__file__).resolve().parent.parent / "seeds" / "2025.11.27.12.md"
    (tmp_path / "seeds" / source.name).write_bytes(source.read_bytes())
    clock = [injected.timestamp()]

    async with running(Service(settings, now=lambda: clock[0])):
        pass  # planned at start-up, in the injected quiet hours
    engine = open_database(settings.database_url)
    try:
        held = HeldItems(engine).held(str(chat))
    finally:
        engine.dispose()
    assert held and telegram.messages(chat) == []

    clock[0] += 3 * 3600  # past the end of the quiet hours
    async with running(Service(settings, now=lambda: clock[0])):
        await telegram.wait_for_messages_async(chat, 1, timeout=20)
    engine = open_database(settings.database_url)
    try:
        assert HeldItems(engine).holding() == {}
    finally:
        engine.dispose()
    assert buttons(telegram, chat)[-1]


def replan(world, digest, now: float):  # type: ignore[no-untyped-def]
    store(world.engine, digest)
    return plan_digest(
        world.engine,
        digest.id,
        archive=Archive(world.engine),
        subscribers=world.subscribers,
        table=TABLE,
        settings=world.settings,
        now=now,
    )


async def test_a_digest_corrected_after_its_items_were_bundled_edits_the_bundle(world) -> None:  # type: ignore[no-untyped-def]
    bundled, instant = 831, 832
    for chat in (bundled, instant):
        world.subscribe(chat, ["*"])
    choose(world, bundled, schedule=("08:00",))
    other = make_digest(25, [make_item("o-1", ("AI工具",))])
    replan(world, other, at("2026-03-01T06:00"))
    digest = make_digest(26, [make_item("k-1", ("AI工具",)), make_item("k-2", ("AI应用",))])
    replan(world, digest, at("2026-03-01T07:00"))
    assert release(world, at("2026-03-01T08:00")) == {str(bundled): 1}
    await world.drain()
    (bundle,) = world.fake.messages(bundled)
    assert items_in(bundle.plain) == ["o-1", "k-1", "k-2"]

    fixed = with_items(digest, [*corrected_items(digest, "k-2"), make_item("k-3", ("AI工具",))])
    result = replan(world, fixed, at("2026-03-01T09:00"))
    assert result.edits == 2  # the instant chat's message and the bundle, each in place
    again = replan(world, fixed, at("2026-03-01T09:30"))
    assert (again.edits, again.deliveries) == (0, 0)  # planned again: nothing more
    await world.drain()
    (edited,) = world.fake.messages(bundled)  # no second copy
    assert edited.message_id == bundle.message_id and edited.edit_count == 1
    assert "更正后的摘要。" in edited.plain and items_in(edited.plain) == ["o-1", "k-1", "k-2"]
    assert edited.plain.split("\n", 1)[0] == bundle.plain.split("\n", 1)[0]  # same title
    assert edited.buttons() and feeds(edited) == feeds(bundle)
    assert HeldItems(world.engine).held(str(bundled)) == ["k-3"]  # new: for the next bundle
    message = world.fake.messages(instant)[-1]
    assert items_in(message.plain) == ["k-1", "k-2", "k-3"] and "更正后的摘要。" in message.plain


async def test_a_correction_reaches_a_forum_bundle_in_its_topic(world, telegram) -> None:  # type: ignore[no-untyped-def]
    tools, apps, _ = forum_with_topics(world, telegram, own=["*"])
    choose(world, FORUM, schedule=("08:00",))
    digest = make_digest(26, [make_item("f-1", ("AI工具",)), make_item("f-2", ("AI应用",))])
    replan(world, digest, at("2026-03-01T07:00"))
    assert release(world, at("2026-03-01T08:00")) == {str(FORUM): 2}
    replan(world, with_items(digest, corrected_items(digest, "f-2")), at("2026-03-01T08:10"))
    await world.drain()  # the bundle's apps message not sent yet: sent with its new text
    sent = {m.message_thread_id: m for m in telegram.messages(FORUM)}
    assert set(sent) == {tools, apps}
    assert "更正后的摘要。" in sent[apps].plain and sent[apps].edit_count == 0
    assert feeds(sent[apps]) == [f"{SITE}c/ai-applications/rss.xml"]

    replan(world, with_items(digest, corrected_items(digest, "f-1")), at("2026-03-01T08:20"))
    await world.drain()
    sent = {m.message_thread_id: m for m in telegram.messages(FORUM)}
    assert len(telegram.messages(FORUM)) == 2
    assert "更正后的摘要。" in sent[tools].plain and sent[tools].edit_count == 1
    assert "更正后的摘要。" not in sent[apps].plain  # f-2 as the file says now
    assert feeds(sent[tools]) == [f"{SITE}c/ai-tools/rss.xml"]


def corrected_items(digest, item_id: str) -> list:  # type: ignore[no-untyped-def, type-arg]
    text = "更正后的摘要。"
    return [
        replace(it, summary_md=text, summary_html=text, summary_text=text)
        if it.id == item_id
        else it
        for it in digest.items
    ]
