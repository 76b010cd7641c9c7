"""A reader's settings applied to deliveries, end to end: chosen by command through the fake Bot
API (real python-telegram-bot stack), the bot restarted, the digest planned and sent by the real
dispatcher to the fake; keyword filters on Chinese and English text, `/format compact`, `/lang`,
`/preview`, `/silent`, and the button under the last part that opens `/settings`."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from fakebot import FakeTelegram, SentMessage
from test_commands import Bot, make_settings, started, stopped
from test_dispatch_support import TABLE, items_in, make_digest, make_item, settings_for, store

from bot.dispatching import Dispatcher, TelegramSender, plan_digest
from bot.model import Item
from bot.settings import Settings
from bot.storing.archive import Archive
from bot.storing.database import open_database
from bot.storing.outbox import Outbox
from bot.storing.subscribers import Subscribers

EN = {"language_code": "en-US"}
TIMEOUT = 40


def item(item_id: str, title: str, summary: str, categories: tuple[str, ...] = ("AI产业",)) -> Item:
    return replace(make_item(item_id, categories, summary), title=f"{title} [{item_id}]")


ITEMS = [
    item("openai", "OpenAI ships a model", "A new model from the lab."),
    item("funding", "Anthropic raises money", "一轮新的融资。"),
    item("both", "openai 融资 传闻", "关于融资的消息。"),
    item("wide", "ＯＰＥＮＡＩ 的新产品", "全角字母也算。"),
    item("baidu", "百度发布大模型", "文心一言更新。", ("AI工具",)),
    item("hiring", "某公司招聘研究员", "招聘信息。", ("AI工具",)),
]


def plan(settings: Settings, day: int = 27) -> None:
    engine = open_database(settings.database_url)
    try:
        digest = make_digest(day, ITEMS)
        store(engine, digest)
        plan_digest(
            engine,
            digest.id,
            archive=Archive(engine),
            subscribers=Subscribers(engine),
            table=TABLE,
            settings=settings,
        )
    finally:
        engine.dispose()


async def deliver(settings: Settings) -> None:
    engine = open_database(settings.database_url)
    dispatcher = Dispatcher(
        TelegramSender(settings), Outbox(engine), settings, subscribers=Subscribers(engine)
    )
    try:
        await asyncio.wait_for(dispatcher.drain(), TIMEOUT)
    finally:
        await dispatcher.sender.close()
        engine.dispose()


def deliveries(fake: FakeTelegram, chat: int | str) -> list[SentMessage]:
    return [m for m in fake.messages(chat) if "[" in m.plain and "RSS" in m.plain]


@pytest.fixture
def bot_settings(
    telegram: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    telegram.limits = None
    return make_settings(telegram, tmp_path / "bot.db", monkeypatch)


async def test_settings_survive_a_restart_and_shape_what_each_chat_gets(
    telegram: FakeTelegram, bot_settings: Settings
) -> None:
    bot = await started(bot_settings, telegram)
    try:
        # 301: a keyword subscription, compact, in Chinese
        await bot.ask(301, "/subscribe all")
        await bot.ask(301, "/filter +OpenAI -融资")
        await bot.ask(301, "/format compact")
        # 302: English by Telegram; 303: Chinese Telegram, English by /lang
        await bot.ask(302, "/subscribe all", **EN)
        await bot.ask(303, "/subscribe all")
        await bot.ask(303, "/lang en")
        # 304: Chinese words only, including and excluding
        await bot.ask(304, "/subscribe all")
        await bot.ask(304, "/filter +大模型 +招聘 -研究员")
    finally:
        await stopped(bot)

    plan(bot_settings)  # the bot is down: settings come from the database
    bot = await started(bot_settings, telegram)
    try:
        await bot.ask(301, "/silent on")  # after planning: applies to what is not sent yet
        await bot.ask(301, "/preview on")
        await deliver(bot_settings)

        (message,) = deliveries(telegram, 301)
        assert items_in(message.plain) == ["openai", "wide"]
        assert "A new model" not in message.plain  # compact: titles only
        assert "作者" not in message.plain
        assert message.silent and not message.link_preview_disabled
        assert message.buttons() == [{"text": "⚙️ 设置", "callback_data": "st:open"}]
        assert "2025-11-27 12:00" in message.plain and "RSS: " in message.plain

        (message,) = deliveries(telegram, 304)
        assert items_in(message.plain) == ["baidu"]
        assert "文心一言更新" in message.plain  # full format
        assert not message.silent
        assert not message.link_preview_disabled  # the default: a preview for one link

        for chat in (302, 303):
            (message,) = deliveries(telegram, chat)
            assert items_in(message.plain) == [it.id for it in ITEMS]
            assert message.link_preview_disabled  # the default for several links
            assert "27 Nov 2025, 12:00 (UTC+08:00)" in message.plain
            assert "RSS feed: " in message.plain
            assert message.buttons() == [{"text": "⚙️ Settings", "callback_data": "st:open"}]

        # The button opens /settings in the chat.
        before = len(telegram.messages(301))
        answer = await bot.press(301, message_id(telegram, 301), "st:open")
        assert answer is None
        menu = (await telegram.wait_for_messages_async(301, before + 1))[before]
        assert "设置" in menu.plain
        compact = next(b for b in menu.buttons() if b["callback_data"] == "st:format:compact")
        assert compact["text"].startswith("✅")
        assert "OpenAI" in next(
            b["text"] for b in menu.buttons() if b["callback_data"] == "st:filter:"
        )
    finally:
        await stopped(bot)


def message_id(fake: FakeTelegram, chat: int) -> int:
    return deliveries(fake, chat)[-1].message_id


async def test_only_the_last_part_carries_the_button_and_channels_get_none(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/digestbot.db"
    settings = settings_for(
        url,
        token=telegram.token,
        base_url=telegram.base_url,
        channels=[{"chat": "@news_channel", "categories": []}],
        global_per_second=1000,
        private_per_second=1000,
    )
    telegram.limits = None
    engine = open_database(url)
    Subscribers(engine).upsert_chat(401, "private")
    Subscribers(engine).subscribe(401, ["*"])
    long = "很长的摘要。" * 300  # three items of ~1,800 characters: more than one part
    items = [make_item(f"long-{n}", ("AI产业",), long) for n in range(3)]
    digest = make_digest(28, items)
    store(engine, digest)
    plan_digest(
        engine,
        digest.id,
        archive=Archive(engine),
        subscribers=Subscribers(engine),
        table=TABLE,
        settings=settings,
    )
    engine.dispose()
    await deliver(settings)
    parts = telegram.messages(401)
    assert len(parts) > 1
    assert [bool(p.buttons()) for p in parts] == [False] * (len(parts) - 1) + [True]
    channel = telegram.messages("@news_channel")
    assert channel and not any(p.buttons() for p in channel)


async def test_a_group_filter_set_by_its_admin_applies_to_the_group(
    telegram: FakeTelegram, bot_settings: Settings
) -> None:
    group = -1_001_999
    telegram.set_admins(group, [801], creator=800)
    admin = {"user_id": 801, "chat_type": "supergroup", "chat_title": "g"}
    bot: Bot = await started(bot_settings, telegram)
    try:
        await bot.ask(group, "/subscribe AI工具", **admin)
        await bot.ask(group, "/filter -招聘", **admin)
        await bot.ask(group, "/filter +OpenAI", user_id=802, chat_type="supergroup")  # refused
    finally:
        await stopped(bot)
    plan(bot_settings)
    await deliver(bot_settings)
    (message,) = deliveries(telegram, group)
    assert items_in(message.plain) == ["baidu"]
