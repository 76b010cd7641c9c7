"""Delivery end to end against the fake Bot API: routing by item, limits, faults, chat changes."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import re
from collections import Counter

import pytest
from fakebot.limits import FloodLimits
from fakebot.server import DEFAULT_TOKEN
from test_dispatch_support import (
    CATEGORIES,
    TABLE,
    items_in,
    make_digest,
    make_item,
    settings_for,
    store,
)

from bot.dispatching import ConsoleSender, Dispatcher, TelegramSender, plan_digest
from bot.storing.archive import Archive
from bot.storing.database import open_database
from bot.storing.outbox import CANCELLED, FAILED, SENT, NewPart, Outbox
from bot.storing.subscribers import ACTIVE, ALL, BLOCKED, GONE, Subscribers

TIMEOUT = 40


class World:
    """A database, subscribers, settings pointed at the fake, and helpers to plan and send."""

    def __init__(self, tmp_path, telegram, **telegram_settings) -> None:  # type: ignore[no-untyped-def]
        self.url = f"sqlite:///{tmp_path}/digestbot.db"
        self.engine = open_database(self.url)
        self.subscribers = Subscribers(self.engine)
        self.outbox = Outbox(self.engine)
        self.fake = telegram
        self.settings = settings_for(
            self.url, token=DEFAULT_TOKEN, base_url=telegram.base_url, **telegram_settings
        )

    def subscribe(self, chat: int | str, categories: list[str]) -> None:
        kind = "private" if int(chat) > 0 else "supergroup"
        self.subscribers.upsert_chat(chat, kind)
        self.subscribers.subscribe(chat, categories)

    def plan(self, digest) -> str:  # type: ignore[no-untyped-def]
        store(self.engine, digest)
        plan_digest(
            self.engine,
            digest.id,
            archive=Archive(self.engine),
            subscribers=self.subscribers,
            table=TABLE,
            settings=self.settings,
        )
        return digest.id

    def dispatcher(self, **options) -> Dispatcher:  # type: ignore[no-untyped-def]
        options.setdefault("backoff_base", 0.05)
        options.setdefault("backoff_cap", 0.5)
        return Dispatcher(
            TelegramSender(self.settings),
            self.outbox,
            self.settings,
            subscribers=self.subscribers,
            **options,
        )

    async def drain(self, **options):  # type: ignore[no-untyped-def]
        dispatcher = self.dispatcher(**options)
        try:
            return await asyncio.wait_for(dispatcher.drain(), TIMEOUT)
        finally:
            await dispatcher.sender.close()


def selection(items, categories: set[str]) -> list[str]:  # type: ignore[no-untyped-def]
    return [it.id for it in items if ALL in categories or categories & set(it.categories)]


def received(fake, chat) -> list[list[str]]:  # type: ignore[no-untyped-def]
    """Per accepted message to `chat`, the item ids it shows."""
    return [items_in(m.plain) for m in fake.messages(chat)]


def whole_messages(messages) -> list[tuple[str, list[str]]]:  # type: ignore[no-untyped-def]
    """(digest title, item ids) per message, its parts joined ("title (2/3)" continues one)."""
    out: list[tuple[str, list[str]]] = []
    for m in messages:
        head = m.plain.split("\n", 1)[0]
        match = re.fullmatch(r"(.*) \((\d+)/(\d+)\)", head)
        if match and out and out[-1][0] == match.group(1):
            out[-1][1].extend(items_in(m.plain))
        else:
            out.append((head, items_in(m.plain)))
    return out


def sample_items(prefix: str, count: int, rng: random.Random) -> list:  # type: ignore[type-arg]
    out = []
    for n in range(count):
        cats = tuple(rng.sample(CATEGORIES[:5], rng.randint(1, 2)))  # AI工具 is kept rare
        if n % 4 == 0:
            cats = (*cats, "AI工具")
        out.append(make_item(f"{prefix}{n:02d}", cats))
    return out


async def test_channels_and_subscribers_each_get_exactly_their_items(tmp_path, telegram) -> None:  # type: ignore[no-untyped-def]
    telegram.limits = FloodLimits().scaled(20)  # 600/s, 20/s per private chat, 400/min per group
    world = World(
        tmp_path,
        telegram,
        channels=[
            {"chat": "@tools_news", "categories": ["ai-tools"]},  # by slug
            {"chat": -100200300, "categories": ["AI Industry", "硬件设施"]},  # by label and name
        ],
        global_per_second=500,
        private_per_second=15,
        group_per_minute=300,
    )
    rng = random.Random(7)
    chats: dict[int | str, set[str]] = {
        "@tools_news": {"AI工具"},
        -100200300: {"AI产业", "硬件设施"},
    }
    for n in range(50):
        chat = 5000 + n
        if n % 10 == 0:
            wanted = [ALL]
        elif n % 10 == 1:
            wanted = ["AI伦理"]  # nothing in the first digest is only about ethics
        else:
            wanted = rng.sample(CATEGORIES, rng.randint(1, 3))
        world.subscribe(chat, wanted)
        chats[chat] = set(wanted)

    first = [it for it in sample_items("p", 12, rng) if "AI伦理" not in it.categories]
    huge_text = "".join(f"第{n}句：{'很长的描述' * 30}。" for n in range(60))  # ~10k characters
    huge = make_item("q-huge", ("硬件设施", "AI工具"), summary=f"<b>开头</b>{huge_text}")
    second = [make_item("q-small", ("AI产业",)), huge, make_item("q-last", ("AI工具",))]
    d1 = world.plan(make_digest(27, first))
    d2 = world.plan(make_digest(28, second))
    stats = await world.drain()

    assert telegram.flood_count == 0  # paced below the fake's limits
    assert stats.failed == stats.plain == 0
    for chat, categories in chats.items():
        want = [ids for ids in (selection(first, categories), selection(second, categories)) if ids]
        messages = telegram.messages(chat)
        assert all(m.parse_mode == "HTML" for m in messages)  # accepted by the HTML parser
        got = [ids for _, ids in whole_messages(messages)]
        assert got == want, chat
    assert "AI伦理" in chats[5001] and telegram.messages(5001) == []  # nothing matched: no message

    # the huge item went out in several parts, each within Telegram's limit
    huge_parts = [m for m in telegram.messages(5000) if "很长的描述" in m.plain]
    assert len(huge_parts) >= 3
    assert all(len(m.plain.encode("utf-16-le")) // 2 <= 4096 for m in huge_parts)
    assert "".join(m.plain for m in huge_parts).count("很长的描述") == 60 * 30
    assert [m.link_preview_disabled for m in telegram.messages(5000)] == [True] * len(
        telegram.messages(5000)
    )
    counts = world.outbox.counts()
    assert counts[SENT] == len(telegram.messages()) and counts["pending"] == 0
    assert {r["digest_id"] for r in world.outbox.rows()} == {d1, d2}


async def test_429_storm_5xx_and_timeouts_lose_nothing_and_keep_order(tmp_path, telegram) -> None:  # type: ignore[no-untyped-def]
    telegram.limits = FloodLimits(
        global_per_second=150,
        private_per_second=1,
        private_burst=1,
        group_per_minute=60,
        group_burst=1,
    )
    # Pacing far above what the fake allows: a storm of 429s (a second between two messages to
    # a chat, which a loaded machine does not take by itself).
    world = World(
        tmp_path,
        telegram,
        global_per_second=3000,
        private_per_second=500,
        group_per_minute=30000,
        request_timeout=1.0,
    )
    chats = [6000 + n for n in range(20)] + [-6000 - n for n in range(4)]
    for chat in chats:
        world.subscribe(chat, [ALL])
    digests = [
        world.plan(make_digest(20 + n, [make_item(f"s{n}-{k}", ("AI工具",)) for k in range(2)]))
        for n in range(3)
    ]
    telegram.fail_next("sendMessage", 502, count=4)
    telegram.fail_next("sendMessage", 500, count=3, deliver=True)  # delivered, yet an error
    telegram.stall_next("sendMessage", 2.5, count=2, deliver=False)  # client times out
    stats = await world.drain()

    assert telegram.flood_count > 20 and stats.flood == telegram.flood_count
    assert stats.retried >= 6 and stats.failed == 0
    for chat in chats:
        order = [ids[0].split("-")[0] for ids in received(telegram, chat)]
        deduplicated = [s for i, s in enumerate(order) if i == 0 or order[i - 1] != s]
        assert deduplicated == ["s0", "s1", "s2"], (chat, order)  # every message, in order
        assert len(order) - len(deduplicated) <= 1  # at most the one in flight repeated
    assert world.outbox.counts()[SENT] == len(chats) * len(digests)


async def test_blocked_gone_and_migrated_chats(tmp_path, telegram) -> None:  # type: ignore[no-untyped-def]
    telegram.limits = None
    world = World(
        tmp_path,
        telegram,
        channels=[{"chat": -400, "categories": []}],
        global_per_second=1000,
        private_per_second=100,
        group_per_minute=6000,
    )
    for chat in (201, 202, 203, -300):
        world.subscribe(chat, [ALL])
    telegram.block(201)
    telegram.forget(202)
    telegram.migrate(-300, -1000300)
    telegram.migrate(-400, -1000400)
    world.plan(make_digest(27, [make_item("m1", ("AI工具",))]))
    world.plan(make_digest(28, [make_item("m2", ("AI工具",))]))  # a second message queued
    stats = await world.drain()

    assert telegram.messages(201) == [] and telegram.messages(202) == []
    assert world.subscribers.chat(201).state == BLOCKED
    assert world.subscribers.chat(202).state == GONE
    states = Counter((r["chat_id"], r["state"]) for r in world.outbox.rows())
    assert states[("201", FAILED)] == 1 and states[("201", CANCELLED)] == 1
    assert states[("202", FAILED)] == 1 and states[("202", CANCELLED)] == 1
    assert received(telegram, 203) == [["m1"], ["m2"]]
    assert received(telegram, -1000300) == [["m1"], ["m2"]]  # followed, in order
    assert received(telegram, -1000400) == [["m1"], ["m2"]]
    assert world.subscribers.subscriptions_of(-1000300) == [ALL]
    assert world.subscribers.chat(-1000300).state == ACTIVE
    assert stats.closed_chats == 2 and stats.moved_chats == 2

    # The next digest goes straight to the new ids, and not to the closed chats.
    before = len(telegram.requests_for("sendMessage"))
    world.plan(make_digest(29, [make_item("m3", ("AI工具",))]))
    await world.drain()
    calls = telegram.requests_for("sendMessage")[before:]
    assert sorted(str(r.params["chat_id"]) for r in calls) == sorted(
        ["203", "-1000300", "-1000400"]
    )
    assert all(r.status == 200 for r in calls)


async def test_refused_html_is_resent_as_plain_text(tmp_path, telegram) -> None:  # type: ignore[no-untyped-def]
    telegram.limits = None
    world = World(tmp_path, telegram)
    with world.outbox.planning("dX") as writer:  # as if a bug had produced broken HTML
        writer.add(
            "7001",
            [
                NewPart(
                    '<b>粗体 <i>斜体</b> &amp; <a href="https://x.example">链接</a>', ("x",), True
                )
            ],
        )
    stats = await world.drain()
    (message,) = telegram.messages(7001)
    assert message.parse_mode is None
    assert message.plain == "粗体 斜体 & 链接 (https://x.example)"
    assert stats.plain == 1 and world.outbox.rows()[0]["plain"] is True
    assert world.outbox.counts()[SENT] == 1


async def test_realistic_limits_are_respected(tmp_path, telegram) -> None:  # type: ignore[no-untyped-def]
    """Telegram's own limits (30/s, 1/s per private chat, 20/min per group), few messages."""
    world = World(tmp_path, telegram)  # the fake's default limits and the default pacing
    assert telegram.limits == FloodLimits()
    world.subscribe(501, [ALL])
    world.subscribe(-502, ["AI工具"])
    for n in range(40):
        world.subscribe(8000 + n, ["AI伦理"])
    world.plan(make_digest(26, [make_item("r0", ("AI伦理",))]))
    for n in range(1, 3):
        world.plan(make_digest(26 + n, [make_item(f"r{n}", ("AI工具",))]))
    await world.drain()

    assert telegram.flood_count == 0, telegram.flood_counts
    private = [m.at for m in telegram.messages(501)]
    group = [m.at for m in telegram.messages(-502)]
    assert len(private) == 3 and len(group) == 2
    assert min(b - a for a, b in itertools.pairwise(private)) >= 0.95
    assert min(b - a for a, b in itertools.pairwise(group)) >= 2.9
    assert telegram.max_in_window(1.0) <= 30


async def test_run_wakes_on_new_deliveries_and_does_not_poll(tmp_path, telegram) -> None:  # type: ignore[no-untyped-def]
    telegram.limits = None
    world = World(tmp_path, telegram)
    world.subscribe(9001, [ALL])
    dispatcher = world.dispatcher()
    turns = 0
    exchange = world.outbox.exchange

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal turns
        turns += 1
        return exchange(*args, **kwargs)

    world.outbox.exchange = counting  # type: ignore[method-assign]
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    await asyncio.sleep(1.0)
    assert turns <= 2  # idle: it waits, it does not poll
    world.plan(make_digest(27, [make_item("w1", ("AI工具",))]))
    before = turns
    dispatcher.wake()
    await telegram.wait_for_messages_async(9001, 1, timeout=5)
    assert turns - before <= 3  # the wake, not a poll loop, brought it: a turn or two
    stop.set()
    await asyncio.wait_for(task, 3)
    await dispatcher.sender.close()
    assert received(telegram, 9001) == [["w1"]]


async def test_console_mode_logs_and_marks_sent(tmp_path, telegram, caplog) -> None:  # type: ignore[no-untyped-def]
    world = World(tmp_path, telegram)
    world.subscribe(9101, [ALL])
    world.plan(make_digest(27, [make_item("c1", ("AI工具",))]))
    sender = ConsoleSender()
    dispatcher = Dispatcher(sender, world.outbox, world.settings, subscribers=world.subscribers)
    assert dispatcher.pacer.limits is None  # nothing to pace in console mode
    with caplog.at_level(logging.INFO, logger="digestbot.console"):
        await asyncio.wait_for(dispatcher.drain(), 10)
    assert "would send to 9101" in caplog.text and "新闻 [c1]" in caplog.text
    assert "<b>" not in caplog.text  # shown as text
    assert world.outbox.counts()[SENT] == 1 and telegram.messages() == []


@pytest.mark.parametrize("status", [401])
async def test_refused_token_stops_with_a_clear_error(tmp_path, telegram, status: int) -> None:  # type: ignore[no-untyped-def]
    from bot.dispatching.senders import SenderUnusable

    world = World(tmp_path, telegram)
    world.settings.telegram.token = type(world.settings.telegram.token)("999:" + "x" * 35)
    world.subscribe(9201, [ALL])
    world.plan(make_digest(27, [make_item("t1", ("AI工具",))]))
    with pytest.raises(SenderUnusable):
        await world.drain()
    assert world.outbox.counts()["pending"] == 1  # nothing lost: sent once the token is fixed


async def test_stop_gives_back_unsent_work_and_a_restart_resumes(tmp_path, telegram) -> None:  # type: ignore[no-untyped-def]
    telegram.limits = None
    world = World(tmp_path, telegram, private_per_second=2)  # the chat's next waits 0.5 s
    for chat in (9301, 9302):
        world.subscribe(chat, [ALL])
    for n in range(3):
        world.plan(make_digest(20 + n, [make_item(f"g{n}", ("AI工具",))]))
    dispatcher = world.dispatcher()
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    await telegram.wait_for_messages_async(9301, 1, timeout=5)
    stop.set()
    await asyncio.wait_for(task, 5)  # the chat's next turn (0.5 s on) is not waited for
    await dispatcher.sender.close()
    counts = world.outbox.counts()
    assert counts["sending"] == 0  # what was claimed but not sent went back to pending
    assert counts[SENT] == len(telegram.messages()) < 6

    await world.drain()  # a new dispatcher (as after a restart) sends the rest, once each
    for chat in (9301, 9302):
        assert received(telegram, chat) == [["g0"], ["g1"], ["g2"]]


async def test_migration_seen_by_the_bot_first_is_followed_for_configured_groups(
    tmp_path, telegram
) -> None:  # type: ignore[no-untyped-def]
    """The bot is in the group, so it sees the migrate_to_chat_id service message (the handler
    calls `Subscribers.move_chat`) before any send fails: the configured group must still get
    every later digest, at its new id, without items it already received."""
    telegram.limits = None
    world = World(tmp_path, telegram, channels=[{"chat": -700, "categories": []}])
    world.subscribers.upsert_chat(-700, "group")  # the bot was added to the group
    world.subscribe(-701, [ALL])
    first = make_digest(27, [make_item("h1", ("AI工具",))])
    world.plan(first)
    await world.drain()
    assert received(telegram, -700) == [["h1"]]

    telegram.migrate(-700, -1000700)
    telegram.migrate(-701, -1000701)
    world.subscribers.move_chat(-700, -1000700)  # what the handler of the service message does
    world.subscribers.move_chat(-701, -1000701)
    world.plan(make_digest(28, [make_item("h2", ("AI工具",))]))
    edited = make_digest(27, [*first.items, make_item("h3", ("AI工具",))])  # edited later
    world.plan(edited)
    await world.drain()
    for new in (-1000700, -1000701):
        assert received(telegram, new) == [["h2"], ["h3"]], new


async def test_a_database_hiccup_does_not_stop_deliveries(tmp_path, telegram) -> None:  # type: ignore[no-untyped-def]
    """The outbox or the chats table failing once (locked SQLite, a PostgreSQL restart) is
    retried; it must not end the dispatcher (the service would deliver nothing until a restart)."""
    from sqlalchemy.exc import OperationalError

    telegram.limits = None
    world = World(tmp_path, telegram, private_per_second=100)
    for chat in (211, 212):
        world.subscribe(chat, [ALL])
    telegram.block(211)
    for n in range(3):
        world.plan(make_digest(20 + n, [make_item(f"k{n}", ("AI工具",))]))

    failures = {"reset_inflight": 1, "set_state": 1}

    def flaky(name, function):  # type: ignore[no-untyped-def]
        def call(*args, **kwargs):  # type: ignore[no-untyped-def]
            if failures[name]:
                failures[name] -= 1
                raise OperationalError("SELECT 1", {}, Exception("database is locked"))
            return function(*args, **kwargs)

        return call

    world.outbox.reset_inflight = flaky("reset_inflight", world.outbox.reset_inflight)  # type: ignore[method-assign]
    world.subscribers.set_state = flaky("set_state", world.subscribers.set_state)  # type: ignore[method-assign]
    await world.drain()
    assert failures == {"reset_inflight": 0, "set_state": 0}
    assert received(telegram, 212) == [["k0"], ["k1"], ["k2"]]


@pytest.mark.parametrize(
    ("error", "meaning"),
    [
        ("Bad Request: chat not found", "ChatGone"),
        ("Bad Request: PEER_ID_INVALID", "ChatGone"),
        ("Bad Request: have no rights to send a message", "ChatBlocked"),
        # a channel whose admins took the bot's right to post: as good as blocked
        ("Bad Request: need administrator rights in the channel chat", "ChatBlocked"),
        ("Bad Request: can't parse entities: Unsupported start tag", "EntityError"),
        ("Bad Request: message is too long", "Refused"),
    ],
)
def test_bad_requests_are_classified_by_their_text(error: str, meaning: str) -> None:
    from telegram.error import BadRequest

    from bot.dispatching.senders import classify

    assert type(classify(BadRequest(error))).__name__ == meaning  # texts as PTB rewrites them


async def test_items_of_a_message_given_up_on_are_offered_again(tmp_path, telegram) -> None:  # type: ignore[no-untyped-def]
    telegram.limits = None
    world = World(tmp_path, telegram, max_attempts=2)
    world.subscribe(7100, [ALL])
    first = [make_item("lost-a", ("AI工具",)), make_item("lost-b", ("AI产业",))]
    world.plan(make_digest(21, first))
    telegram.fail_next("sendMessage", 502, count=2)  # both attempts fail: given up
    stats = await world.drain()
    assert stats.failed == 1 and received(telegram, 7100) == []

    # A later digest retells one of those stories with a new one: both reach the chat now.
    world.plan(make_digest(22, [first[0], make_item("new-c", ("AI工具",))]))
    await world.drain()
    assert received(telegram, 7100) == [["lost-a", "new-c"]]


def test_a_turn_that_claimed_nothing_sleeps_a_bounded_time() -> None:
    """A turn that only recorded outcomes (nothing claimed, room to claim) looks again soon
    instead of waiting for a wake-up that no send in flight may ever give."""
    from bot.dispatching.dispatcher import LOOKAHEAD, SHARED_IDLE

    assert Dispatcher._turn_timeout(0, 5, None, False) == LOOKAHEAD / 2
    assert Dispatcher._turn_timeout(0, 5, None, True) == LOOKAHEAD / 2
    assert Dispatcher._turn_timeout(0, 0, None, True) == SHARED_IDLE  # slots all taken
    assert Dispatcher._turn_timeout(3, 5, None, False) is None  # nothing else is due
    assert Dispatcher._turn_timeout(3, 5, None, True) == SHARED_IDLE


async def test_the_sender_posts_json_and_still_tells_every_outcome(tmp_path, telegram) -> None:  # type: ignore[no-untyped-def]
    """Sends and edits go as JSON bodies with raw answers; the fake's answers still come out as
    the same outcomes (429, blocked, migrated, gone message, repeated edit, a refused token)."""
    from bot.dispatching.pacing import Priority
    from bot.dispatching.senders import (
        ChatBlocked,
        ChatMovedTo,
        FloodWait,
        MessageGone,
        SenderUnusable,
    )

    settings = settings_for(
        f"sqlite:///{tmp_path}/d.db",
        token=telegram.token,
        base_url=telegram.base_url,
        global_per_second=1000,
        private_per_second=1000,
    )
    sender = TelegramSender(settings)
    try:
        sent = await sender.send(
            "501", "<b>你好</b> 世界", html=True, disable_preview=True, silent=True, button="设置"
        )
        message = telegram.messages(501)[-1]
        assert (message.message_id, message.plain) == (sent, "你好 世界")
        assert message.link_preview_disabled and message.parse_mode == "HTML"
        assert message.buttons() and message.reply_markup is not None
        request = telegram.requests_for("sendMessage")[-1]
        assert request.params["disable_notification"] is True
        assert request.params["reply_markup"]["inline_keyboard"][0][0]["text"] == "设置"

        telegram.limits = FloodLimits(global_per_second=1)
        with pytest.raises(FloodWait) as flood:  # the fake allows 1/s overall
            for n in range(5):  # with a turn held, as the dispatcher sends (no retry inside)
                permit = await sender.pacer.acquire(f"60{n}", Priority.DELIVERY)
                try:
                    await sender.send(
                        f"60{n}", "hi", html=False, disable_preview=False, permit=permit
                    )
                finally:
                    sender.pacer.done(permit)
        assert flood.value.retry_after > 0
        telegram.limits = None
        assert (
            await sender.edit(
                "501", sent, "<b>你好</b> 世界", html=True, disable_preview=True, button="设置"
            )
            == sent
        )  # not modified: done
        telegram.delete(501, sent)
        with pytest.raises(MessageGone):
            await sender.edit("501", sent, "new", html=False, disable_preview=False)
        telegram.block(502)
        with pytest.raises(ChatBlocked):
            await sender.send("502", "hi", html=False, disable_preview=False)
        telegram.migrate(-503, -100503)
        with pytest.raises(ChatMovedTo) as moved:
            await sender.send("-503", "hi", html=False, disable_preview=False)
        assert moved.value.new_chat_id == "-100503"
    finally:
        await sender.close()
    wrong = TelegramSender(
        settings_for(
            f"sqlite:///{tmp_path}/d.db",
            token="654321:WRONG-token-not-real-00000000000",
            base_url=telegram.base_url,
        )
    )
    try:
        with pytest.raises(SenderUnusable):
            await wrong.send("501", "hi", html=False, disable_preview=False)
    finally:
        await wrong.close()
