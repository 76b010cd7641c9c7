"""Delivery to forum topics and connected channels against the fake Bot API, within its flood
limits: SPEC §5's promises per topic (order, nothing lost, nothing twice, the group's limit
shared by its topics), and a channel that drops the bot in the middle of a broadcast."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

from fakebot.limits import FloodLimits
from test_dispatch import World
from test_dispatch_edits import corrected, with_items
from test_dispatch_support import CATEGORIES, TABLE, items_in, make_digest, make_item

from bot.dispatching.routing import Forum, Recipient, route_forum
from bot.storing.channels import Channels
from bot.storing.outbox import CANCELLED, Sent
from bot.storing.subscribers import ACTIVE, ALL, BLOCKED
from bot.storing.topics import Topics

FORUM = -1007000000001


def thread_items(telegram, chat) -> dict[int | None, list[str]]:  # type: ignore[no-untyped-def]
    out: dict[int | None, list[str]] = {}
    for message in telegram.messages(chat):
        out.setdefault(message.message_thread_id, []).extend(items_in(message.plain))
    return out


async def test_a_forum_with_six_topics_and_fifty_other_chats(tmp_path, telegram) -> None:  # type: ignore[no-untyped-def]
    telegram.limits = FloodLimits().scaled(40)  # 1200/s, 40/s per private chat, 800/min a group
    world = World(
        tmp_path, telegram, global_per_second=900, private_per_second=30, group_per_minute=600
    )
    telegram.make_forum(FORUM)
    threads = [telegram.create_topic(FORUM, f"topic {n}") for n in range(6)]
    world.subscribe(FORUM, [ALL])
    topics = Topics(world.engine)
    for thread, name in zip(threads, CATEGORIES, strict=True):  # one category per topic
        topics.bind(FORUM, thread, [name], None)
    topics.bind(FORUM, threads[5], ["AI工具", "AI发展"], None)  # moves AI发展 from its topic
    topics.bind(FORUM, threads[1], ["AI发展"], None)  # and back: the sixth keeps AI工具
    rng = random.Random(14)
    others: dict[int, set[str]] = {}
    for n in range(50):
        chat = 8000 + n if n < 40 else -8000 - n  # 40 private chats, 10 groups
        wanted = [ALL] if n % 7 == 0 else rng.sample(CATEGORIES, rng.randint(1, 3))
        world.subscribe(chat, wanted)
        others[chat] = set(wanted)
    digests = []
    for day in range(3):
        # every third item is (also) about research, a category no topic takes: General
        items = [
            make_item(
                f"f{day}-{k}",
                ("科学研究",) * (k % 3 == 0) + tuple(rng.sample(CATEGORIES, rng.randint(0, 2))),
            )
            for k in range(15)
        ]
        digests.append(items)
        world.plan(make_digest(10 + day, items))
    world.plan(make_digest(10, digests[0]))  # planned again: nothing added
    stats = await world.drain()

    assert telegram.flood_count == 0 and stats.failed == 0  # every limit kept, nothing refused
    layout = topics.layout(FORUM)
    forum = Forum(str(FORUM), tuple((b.thread_id, frozenset(b.categories)) for b in layout.working))
    assert [names for _, names in forum.topics] == [{c} for c in CATEGORIES]
    expected: dict[int | None, list[str]] = {}
    for items in digests:
        for thread, chosen in route_forum(
            items, Recipient(str(FORUM), frozenset({ALL})), forum, TABLE
        ):
            expected.setdefault(thread, []).extend(item.id for item in chosen)
    got = thread_items(telegram, FORUM)
    assert got == expected  # each topic its items, in digest order, digest after digest
    every = [i for ids in got.values() for i in ids]
    assert sorted(every) == sorted(i.id for items in digests for i in items)  # all, once each
    assert set(got) == {None, *(t for t, _ in forum.topics)}
    # the topics share the group's budget: never more than the group's pace in the forum
    assert telegram.max_requests_in_window(1.0, FORUM) <= 600 / 60 + 1
    for chat, wanted in others.items():
        want = [
            item.id
            for items in digests
            for item in items
            if ALL in wanted or wanted & set(item.categories)
        ]
        got_chat = [i for m in telegram.messages(chat) for i in items_in(m.plain)]
        assert got_chat == want, chat
        assert all(m.message_thread_id is None for m in telegram.messages(chat))


async def test_the_bot_removed_from_a_channel_mid_broadcast(tmp_path, telegram) -> None:  # type: ignore[no-untyped-def]
    telegram.limits = FloodLimits().scaled(40)
    world = World(
        tmp_path, telegram, global_per_second=900, private_per_second=30, group_per_minute=600
    )
    channel = telegram.add_channel("ainews", title="AI News", creator=500)
    Channels(world.engine).connect(channel, "AI News", 500)
    chats = [9000 + n for n in range(30)]
    for chat in chats:
        world.subscribe(chat, [ALL])
    ids = [
        world.plan(make_digest(20 + n, [make_item(f"c{n}-{k}", ("AI工具",)) for k in range(2)]))
        for n in range(3)
    ]

    def remove_after_first(result, claimed) -> None:  # type: ignore[no-untyped-def]
        if isinstance(result, Sent) and claimed.chat_id == str(channel):
            telegram.set_bot_member(channel, "left")  # removed by an admin meanwhile

    stats = await world.drain(progress=remove_after_first)
    assert [items_in(m.plain) for m in telegram.messages(channel)] == [["c0-0", "c0-1"]]
    # a channel's readers cannot use the settings button: it goes to the others only
    assert not telegram.messages(channel)[0].buttons()
    assert all(telegram.messages(chat)[-1].buttons() for chat in chats)
    assert world.subscribers.chat(channel).state == BLOCKED  # type: ignore[union-attr]
    rows = [r for r in world.outbox.rows() if r["chat_id"] == str(channel)]
    assert Counter(r["state"] for r in rows) == Counter({"sent": 1, "failed": 1, CANCELLED: 1})
    for chat in chats:  # nothing else stopped
        assert [items_in(m.plain) for m in telegram.messages(chat)] == [
            [f"c{n}-0", f"c{n}-1"] for n in range(3)
        ]
    assert stats.closed_chats == 1 and len(ids) == 3
    # a later digest is not planned for the channel, and /connect makes it active again
    world.plan(make_digest(25, [make_item("late", ("AI工具",))]))
    assert not [
        r for r in world.outbox.rows() if r["chat_id"] == str(channel) and r["digest_id"] == "d2512"
    ]
    telegram.set_bot_member(channel, "administrator")
    assert Channels(world.engine).connect(channel, "AI News", 500)
    assert world.subscribers.chat(channel).state == ACTIVE  # type: ignore[union-attr]


async def test_a_digest_corrected_after_it_went_to_a_forum(tmp_path, telegram) -> None:  # type: ignore[no-untyped-def]
    telegram.limits = None
    world = World(
        tmp_path, telegram, global_per_second=1000, private_per_second=1000, group_per_minute=60000
    )
    telegram.make_forum(FORUM)
    tools, apps = telegram.create_topic(FORUM, "Tools"), telegram.create_topic(FORUM, "Apps")
    world.subscribe(FORUM, [ALL])
    Topics(world.engine).bind(FORUM, tools, ["AI工具"], "Tools")
    Topics(world.engine).bind(FORUM, apps, ["AI应用"], "Apps")
    items = [
        make_item("r1", ("AI工具",)),
        make_item("r2", ("AI应用",)),
        make_item("r3", ("AI伦理",)),
    ]
    digest = make_digest(12, items)
    world.plan(digest)
    await world.drain()
    before = {m.message_thread_id: m.message_id for m in telegram.messages(FORUM)}
    world.plan(corrected(digest, "r2", "更正后的摘要。"))
    fixed = corrected(digest, "r2", "更正后的摘要。")
    world.plan(with_items(fixed, [*fixed.items, make_item("r4", ("AI工具",))]))
    await world.drain()
    messages = telegram.messages(FORUM)
    edited = next(m for m in messages if m.message_id == before[apps])
    assert "更正后的摘要。" in edited.plain and edited.message_thread_id == apps
    assert edited.edit_count == 1  # in place, in its topic, with its own feed in the footer
    assert "c/ai-applications/rss.xml" in edited.plain
    assert thread_items(telegram, FORUM) == {tools: ["r1", "r4"], apps: ["r2"], None: ["r3"]}


async def test_a_forum_broadcast_stopped_and_started_again_sends_nothing_twice(
    tmp_path,  # type: ignore[no-untyped-def]
    telegram,
) -> None:
    telegram.limits = FloodLimits().scaled(40)
    world = World(
        tmp_path, telegram, global_per_second=900, private_per_second=30, group_per_minute=600
    )
    telegram.make_forum(FORUM)
    threads = [telegram.create_topic(FORUM, f"t{n}") for n in range(3)]
    world.subscribe(FORUM, [ALL])
    for thread, name in zip(threads, CATEGORIES, strict=False):
        Topics(world.engine).bind(FORUM, thread, [name], None)
    digests = [
        [make_item(f"s{day}-{k}", (CATEGORIES[k % 4],)) for k in range(8)] for day in range(4)
    ]
    for day, items in enumerate(digests):
        world.plan(make_digest(14 + day, items))
    stop = asyncio.Event()
    sent = 0

    def stop_after_five(result, claimed) -> None:  # type: ignore[no-untyped-def]
        nonlocal sent
        sent += isinstance(result, Sent)
        if sent == 5:
            stop.set()  # a shutdown in the middle of the forum's messages

    first = world.dispatcher(progress=stop_after_five)
    try:
        await asyncio.wait_for(first.drain(stop), 30)
    finally:
        await first.sender.close()
    assert 5 <= len(telegram.messages(FORUM)) < 16
    await world.drain()  # the next start
    got = thread_items(telegram, FORUM)
    every = [i for ids in got.values() for i in ids]
    assert sorted(every) == sorted(i.id for items in digests for i in items)  # once each
    for thread, name in zip(threads, CATEGORIES, strict=False):
        want = [i.id for items in digests for i in items if i.categories == (name,)]
        assert got[thread] == want  # in order across the restart
    assert got[None] == [
        i.id for items in digests for i in items if i.categories == (CATEGORIES[3],)
    ]
    assert telegram.flood_count == 0
