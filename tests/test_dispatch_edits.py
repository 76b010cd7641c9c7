"""A digest changed after it was sent edits the sent messages in place (python-telegram-bot's
real HTTP stack against the fake Bot API): corrected summaries, added and removed items,
follow-ups for what no longer fits, unsent parts, deleted messages, group pacing, crashes."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fakebot.limits import FloodLimits
from fakebot.server import DEFAULT_TOKEN, FakeTelegram
from test_dispatch_support import CST, TABLE, items_in, make_digest, make_item, settings_for

from bot.dispatching import ConsoleSender, Dispatcher, Sender, TelegramSender, plan_digest
from bot.dispatching.planner import PlanResult
from bot.formatting.messages import layout_digest, revise_layout, settings_button
from bot.ingest import Ingester
from bot.model import Digest, Item
from bot.storing.archive import Archive
from bot.storing.database import open_database
from bot.storing.outbox import SENT, Outbox, Sent
from bot.storing.subscribers import ALL, Subscribers

TIMEOUT = 40
CHAT = 5001
GROUP = -1001234567890
FEED = "https://news.example.com/rss.xml"


class World:
    """A database with one subscriber of everything, pointed at the fake Bot API."""

    def __init__(self, tmp_path: Path, telegram: FakeTelegram, **telegram_settings: object) -> None:
        self.engine = open_database(f"sqlite:///{tmp_path}/digestbot.db")
        self.subscribers = Subscribers(self.engine)
        self.outbox = Outbox(self.engine)
        self.fake = telegram
        self.settings = settings_for(
            f"sqlite:///{tmp_path}/digestbot.db",
            token=DEFAULT_TOKEN,
            base_url=telegram.base_url,
            **telegram_settings,
        )

    def subscribe(self, chat: int, kind: str = "private") -> None:
        self.subscribers.upsert_chat(chat, kind)
        self.subscribers.subscribe(chat, [ALL])

    def plan(self, digest: Digest) -> PlanResult:
        Archive(self.engine).store(digest)
        return plan_digest(
            self.engine,
            digest.id,
            archive=Archive(self.engine),
            subscribers=self.subscribers,
            table=TABLE,
            settings=self.settings,
        )

    async def drain(self, sender: Sender | None = None) -> Dispatcher:
        sender = sender or TelegramSender(self.settings)
        dispatcher = Dispatcher(
            sender, self.outbox, self.settings, subscribers=self.subscribers, backoff_base=0.05
        )
        try:
            await asyncio.wait_for(dispatcher.drain(), TIMEOUT)
        finally:
            await sender.close()
        return dispatcher

    def requests(self, method: str) -> int:
        return len(self.fake.requests_for(method))


def corrected(digest: Digest, item_id: str, summary: str) -> Digest:
    items = tuple(
        replace(it, summary_md=summary, summary_html=summary, summary_text=summary)
        if it.id == item_id
        else it
        for it in digest.items
    )
    return replace(digest, items=items)


def with_items(digest: Digest, items: list[Item]) -> Digest:
    return replace(digest, items=tuple(replace(it, position=n) for n, it in enumerate(items, 1)))


def three() -> Digest:
    return make_digest(27, [make_item(f"item-{n}", ("AI工具",)) for n in range(1, 4)])


@pytest.fixture
def world(tmp_path: Path, telegram: FakeTelegram) -> World:
    world = World(tmp_path, telegram)
    world.subscribe(CHAT)
    return world


async def test_a_corrected_summary_edits_the_sent_message_in_place(world: World) -> None:
    digest = three()
    world.plan(digest)
    await world.drain()
    (first,) = world.fake.messages(CHAT)

    result = world.plan(corrected(digest, "item-2", "更正后的摘要：模型发布于周二。"))
    assert (result.deliveries, result.edits) == (0, 1)
    dispatcher = await world.drain()

    (message,) = world.fake.messages(CHAT)  # no second copy
    assert message.message_id == first.message_id
    assert message.edit_count == 1
    assert "更正后的摘要：模型发布于周二。" in message.plain
    assert items_in(message.plain) == ["item-1", "item-2", "item-3"]
    assert (world.requests("sendMessage"), world.requests("editMessageText")) == (1, 1)
    assert dispatcher.stats.edited == 1


async def test_an_added_item_is_edited_into_the_message(world: World) -> None:
    digest = three()
    world.plan(digest)
    await world.drain()
    world.plan(with_items(digest, [*digest.items, make_item("item-4", ("AI工具",))]))
    await world.drain()

    (message,) = world.fake.messages(CHAT)
    assert items_in(message.plain) == ["item-1", "item-2", "item-3", "item-4"]
    assert "4. 新闻" in message.plain
    # item-4 now counts as received: planning again sends and edits nothing
    again = world.plan(with_items(digest, [*digest.items, make_item("item-4", ("AI工具",))]))
    assert (again.deliveries, again.edits, again.items) == (0, 0, 0)


async def test_what_no_longer_fits_goes_as_a_follow_up_and_nothing_twice(world: World) -> None:
    long = "很长的摘要。" * 280  # about 1,700 units: two fill one message
    digest = make_digest(27, [make_item(f"big-{n}", ("AI工具",), long) for n in range(1, 3)])
    world.plan(digest)
    await world.drain()
    (first,) = world.fake.messages(CHAT)

    changed = corrected(digest, "big-1", long + "更正。")
    changed = with_items(changed, [*changed.items, make_item("big-3", ("AI工具",), long)])
    result = world.plan(changed)
    assert (result.deliveries, result.edits) == (1, 1)
    await world.drain()

    edited, follow_up = world.fake.messages(CHAT)
    assert edited.message_id == first.message_id and edited.edit_count == 1
    assert "更正。" in edited.plain
    assert items_in(edited.plain) == ["big-1", "big-2"]
    assert items_in(follow_up.plain) == ["big-3"]  # only the item that did not fit
    assert len(follow_up.plain) <= 4096


async def test_an_unchanged_digest_stored_again_changes_nothing(world: World) -> None:
    digest = three()
    world.plan(digest)
    await world.drain()
    result = world.plan(digest)
    assert (result.deliveries, result.edits, result.rewritten) == (0, 0, 0)
    await world.drain()
    assert (world.requests("sendMessage"), world.requests("editMessageText")) == (1, 0)


async def test_a_removed_item_disappears_from_the_message(world: World) -> None:
    digest = three()
    world.plan(digest)
    await world.drain()
    world.plan(with_items(digest, [digest.items[0], digest.items[2]]))
    await world.drain()
    (message,) = world.fake.messages(CHAT)
    assert items_in(message.plain) == ["item-1", "item-3"]
    assert "2. 新闻 [item-3]" in message.plain  # numbered again


async def test_a_part_not_sent_yet_is_sent_with_the_new_text(world: World) -> None:
    digest = three()
    world.plan(digest)
    result = world.plan(corrected(digest, "item-1", "先更正，再发送。"))
    assert (result.deliveries, result.edits, result.rewritten) == (0, 0, 1)
    await world.drain()
    (message,) = world.fake.messages(CHAT)
    assert "先更正，再发送。" in message.plain and message.edit_count == 0
    assert (world.requests("sendMessage"), world.requests("editMessageText")) == (1, 0)


async def test_a_message_deleted_in_the_chat_is_sent_again_corrected(world: World) -> None:
    digest = three()
    world.plan(digest)
    await world.drain()
    (first,) = world.fake.messages(CHAT)
    world.fake.delete(CHAT, first.message_id)

    once = corrected(digest, "item-3", "第一次更正。")
    world.plan(once)
    await world.drain()
    live = [m for m in world.fake.messages(CHAT) if not m.deleted]
    assert len(live) == 1 and live[0].message_id != first.message_id
    assert "第一次更正。" in live[0].plain
    assert [r.description for r in world.fake.requests_for("editMessageText")] == [
        "Bad Request: message to edit not found"
    ]

    # the message sent anew is the one a later correction edits
    world.plan(corrected(once, "item-3", "第二次更正。"))
    await world.drain()
    live = [m for m in world.fake.messages(CHAT) if not m.deleted]
    assert len(live) == 1 and "第二次更正。" in live[0].plain and live[0].edit_count == 1


async def test_an_edit_repeated_after_a_crash_is_harmless(world: World) -> None:
    digest = three()
    world.plan(digest)
    await world.drain()
    world.plan(corrected(digest, "item-2", "崩溃前已更正。"))
    # a dispatcher claims the edit, Telegram applies it, the process dies before recording it
    (claimed,) = world.outbox.claim(10)
    assert claimed.is_edit and claimed.target_message_id is not None
    sender = TelegramSender(world.settings)
    await sender.edit(  # as the dispatcher edits it: with the settings button
        claimed.chat_id,
        claimed.target_message_id,
        claimed.text,
        html=True,
        disable_preview=True,
        button=settings_button("zh"),
    )
    await sender.close()
    world.outbox.reset_inflight()

    dispatcher = await world.drain()
    (message,) = world.fake.messages(CHAT)
    assert message.edit_count == 1 and "崩溃前已更正。" in message.plain
    answers = [r.description for r in world.fake.requests_for("editMessageText")]
    assert answers[0] is None and len(answers) == 2
    assert str(answers[1]).startswith("Bad Request: message is not modified")
    assert dispatcher.stats.edited == 1
    assert {r["state"] for r in world.outbox.rows()} == {SENT}


async def test_edits_to_a_group_keep_its_pace(tmp_path: Path, telegram: FakeTelegram) -> None:
    # 120 messages a minute per group (one each 0.5 s) on both sides, so the test takes seconds
    telegram.limits = FloodLimits(group_per_minute=120, group_burst=1)
    world = World(tmp_path, telegram, group_per_minute=120)
    world.subscribe(GROUP, "supergroup")
    long = "群组摘要。" * 300
    digest = make_digest(27, [make_item(f"g-{n}", ("AI工具",), long) for n in range(1, 7)])
    world.plan(digest)
    sender = TelegramSender(world.settings)
    dispatcher = Dispatcher(sender, world.outbox, world.settings, subscribers=world.subscribers)
    stop = asyncio.Event()
    running = asyncio.create_task(dispatcher.run(stop))
    try:
        count = world.outbox.pending_count()
        assert count >= 3
        await telegram.wait_for_messages_async(GROUP, count, timeout=TIMEOUT)
        changed = digest
        for item in digest.items:  # every part changes (the last may still be in flight)
            changed = corrected(changed, item.id, long + "改。")
        result = world.plan(changed)
        assert result.edits == count and result.deliveries == 0
        dispatcher.wake()
        await telegram.wait_for_async(
            lambda fake: all(m.edit_count == 1 for m in fake.messages(GROUP)), timeout=TIMEOUT
        )
    finally:
        stop.set()
        await asyncio.wait_for(running, TIMEOUT)
        await sender.close()

    assert telegram.flood_count == 0
    assert len(telegram.messages(GROUP)) == count  # edited, not sent again
    assert telegram.max_requests_in_window(0.45, GROUP) == 1  # sends and edits alike
    heads = [m.plain.split("\n", 1)[0] for m in telegram.messages(GROUP)]
    assert heads[1:] == [f"{digest.title} ({n}/{count})" for n in range(2, count + 1)]


async def test_console_mode_logs_the_edit(world: World, caplog: pytest.LogCaptureFixture) -> None:
    digest = three()
    world.plan(digest)
    console = ConsoleSender()
    await world.drain(console)
    world.plan(corrected(digest, "item-1", "控制台里的更正。"))
    with caplog.at_level(logging.INFO, logger="digestbot.console"):
        await world.drain(console)
    assert any("would edit message 1" in r.getMessage() for r in caplog.records)
    assert "控制台里的更正。" in console.edited[-1][2]
    assert len(console.sent) == 1


def test_an_unchanged_message_is_laid_out_again_exactly_as_before() -> None:
    rng = random.Random(3)
    when = datetime(2025, 11, 27, 12, tzinfo=CST)
    for trial in range(60):
        items = [
            make_item(f"t{trial}-{n}", ("AI工具",), "句子。" * rng.choice([3, 60, 900]))
            for n in range(rng.randint(1, 12))
        ]
        limit = rng.choice([4096, 900])
        options = {"zone": CST, "feed_url": FEED, "table": TABLE, "limit": limit}
        parts = layout_digest("标题", when, items, **options)  # type: ignore[arg-type]
        by_id = {it.id: it for it in items}
        slots = [[by_id[i] for i in part.item_ids] for part in parts]
        again = revise_layout("标题", when, slots, **options)  # type: ignore[arg-type]
        assert [p.html for p in again.parts] == [p.html for p in parts]
        assert again.overflow == ()


DIGEST_FILE = """---
title: "{title}"
date: 2025-11-28T08:00:00+08:00
categories: ["AI工具"]
---

1.  [一款新的代码助手发布](https://example.com/edits/assistant) - 作者甲
    这款代码助手支持 **十种语言**。

2.  [没有链接的一条消息] - 作者乙
    它没有链接，以标题和所在的日报为键。
"""


async def test_a_title_corrected_in_the_file_edits_the_header(world: World, tmp_path: Path) -> None:
    # a new title gives the digest a new id; its messages pass to it and are edited
    ingester = Ingester(Archive(world.engine), TABLE, ZoneInfo("Asia/Shanghai"))
    path = tmp_path / "2025.11.28.08.md"
    archive = Archive(world.engine)

    def ingest(title: str) -> PlanResult:
        path.write_text(DIGEST_FILE.format(title=title), "utf-8")
        outcome = ingester.ingest(path)
        assert outcome.digest is not None
        return plan_digest(
            world.engine,
            outcome.digest.id,
            archive=archive,
            subscribers=world.subscribers,
            table=TABLE,
            settings=world.settings,
        )

    ingest("2025.11.28.08 过去4小时全球AI发生了什么")
    await world.drain()
    result = ingest("2025.11.28.08 过去4小时全球AI发生了什么？（更正）")
    assert (result.deliveries, result.edits) == (0, 1)
    await world.drain()
    (message,) = world.fake.messages(CHAT)
    assert message.plain.startswith("2025.11.28.08 过去4小时全球AI发生了什么？（更正）")
    assert message.plain.count("没有链接的一条消息") == 1


def test_edits_are_planned_and_claimed_on_both_databases(database_url: str) -> None:
    engine = open_database(database_url)
    subscribers = Subscribers(engine)
    subscribers.upsert_chat(CHAT, "private")
    subscribers.subscribe(CHAT, [ALL])
    settings = settings_for(database_url)
    outbox = Outbox(engine)

    def plan(digest: Digest) -> PlanResult:
        Archive(engine).store(digest)
        return plan_digest(
            engine,
            digest.id,
            archive=Archive(engine),
            subscribers=subscribers,
            table=TABLE,
            settings=settings,
        )

    digest = three()
    plan(digest)
    (claimed,) = outbox.claim(10)
    outbox.settle([Sent(claimed.id, claimed.chat_id, 77, 1.0)])
    assert plan(corrected(digest, "item-1", "更正。")).edits == 1
    assert plan(corrected(digest, "item-1", "再更正。")).rewritten == 1  # the edit not sent yet
    (edit,) = outbox.claim(10)
    assert (edit.is_edit, edit.edit_of, edit.target_message_id) == (True, claimed.id, 77)
    assert "再更正。" in edit.text
    engine.dispose()
