"""Channels connected by their admins, the bot's membership, forum topics: python-telegram-bot's
real HTTP stack against the fake Bot API, a real SQLite file; each scenario in both languages."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from fakebot import FakeTelegram, SentMessage
from sqlalchemy import select
from test_commands import Bot, make_settings, started, stopped
from test_dispatch_support import items_in, make_digest, make_item, store

from bot.commands.topics import topic_note
from bot.dispatching import Dispatcher, TelegramSender, plan_digest
from bot.storing.archive import Archive
from bot.storing.channels import Channels
from bot.storing.chat_settings import ChatSettingsStore
from bot.storing.outbox import Outbox
from bot.storing.subscribers import ACTIVE, ALL, BLOCKED, GONE
from bot.storing.tables import deliveries
from bot.storing.topics import BROKEN, Topics

LANGS = ["zh-hans", "en"]
OWNER, ADMIN2, STRANGER = 500, 501, 502  # the channel's creator, another admin, a member
FORUM = -1009000000001
MOD = 7_100_001  # an admin of the forum


@pytest.fixture
async def bot(
    telegram: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Bot]:
    telegram.limits = None  # replies and routing here; limits in test_channels_delivery.py
    running = await started(make_settings(telegram, tmp_path / "bot.db", monkeypatch), telegram)
    try:
        yield running
    finally:
        await stopped(running)


def en(lang: str) -> bool:
    return lang == "en"


def says(reply: SentMessage, lang: str, zh: str, english: str) -> None:
    expected = english if en(lang) else zh
    assert expected in reply.plain, reply.plain


async def private_notice(bot: Bot, user: int, before: int) -> SentMessage:
    sent = await bot.fake.wait_for_messages_async(user, before + 1, timeout=10)
    return sent[before]


# Connecting a channel ------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
async def test_a_channel_admin_connects_the_channel_and_manages_it(bot: Bot, lang: str) -> None:
    channel = bot.fake.add_channel("ainews", title="AI 新闻", creator=OWNER, admins=[ADMIN2])
    reply = await bot.ask(OWNER, "/connect @ainews", language_code=lang)
    says(reply, lang, "已连接频道「AI 新闻」", "Connected “AI 新闻”")
    row = bot.subscribers.chat(channel)
    assert row is not None and (row.type, row.state) == ("channel", ACTIVE)
    assert bot.subs(channel) == {ALL}  # every category until its admin chooses
    assert Channels(bot.engine).connector(channel) == OWNER
    # the buttons: categories, then toggles, each checked with getChatMember first
    data = reply.callback_data()
    assert data == [f"ch:c:{channel}", f"ch:s:{channel}", f"ch:d:{channel}"]
    # the per-chat settings that apply to a channel, stored as any chat's
    await bot.press(OWNER, reply.message_id, data[1], language_code=lang)
    panel = bot.fake.last_message(OWNER)
    says(panel, lang, "的设置（点击切换）", "Settings of “AI 新闻”")
    await bot.press(OWNER, panel.message_id, f"ch:n:{channel}", language_code=lang)
    await bot.press(OWNER, panel.message_id, f"ch:p:{channel}", language_code=lang)
    chosen = ChatSettingsStore(bot.engine).get(channel)
    assert chosen.silent and chosen.paused and chosen.paused_since_ts is not None
    assert bot.fake.messages(OWNER)[-1].buttons()[0]["text"].startswith("✅")
    await bot.press(OWNER, reply.message_id, data[0], language_code=lang)
    toggles = bot.fake.last_message(OWNER)
    says(toggles, lang, "的分类（点击切换）", "(tap to toggle)")
    await bot.press(OWNER, toggles.message_id, f"ch:t:{channel}:*", language_code=lang)
    assert bot.subs(channel) == set()
    await bot.press(OWNER, toggles.message_id, f"ch:t:{channel}:ai-tools", language_code=lang)
    assert bot.subs(channel) == {"AI工具"}
    # another admin of the channel may manage it too; /channels lists it for both
    again = await bot.ask(ADMIN2, "/connect ainews", language_code=lang)
    says(again, lang, "已经连接", "is connected already")
    assert Channels(bot.engine).connector(channel) == OWNER
    listing = await bot.ask(ADMIN2, "/channels", language_code=lang)
    says(listing, lang, "AI 新闻: AI工具", "AI 新闻: AI Tools")
    # disconnect: nothing more goes there
    await bot.press(ADMIN2, listing.message_id, f"ch:d:{channel}", language_code=lang)
    done = bot.fake.last_message(ADMIN2)
    says(done, lang, "已断开频道", "Disconnected")
    assert bot.subs(channel) == set()
    assert Channels(bot.engine).managed_by(OWNER) == []


@pytest.mark.parametrize("lang", LANGS)
async def test_someone_who_is_not_a_channel_admin_is_refused(bot: Bot, lang: str) -> None:
    channel = bot.fake.add_channel("ainews", title="AI News", creator=OWNER)
    reply = await bot.ask(STRANGER, "/connect @ainews", language_code=lang)
    says(reply, lang, "你不是频道「AI News」的管理员", "You are not an administrator")
    assert bot.subscribers.chat(channel) is None
    # connected by its owner, a stranger's forged button press changes nothing
    await bot.ask(OWNER, "/connect @ainews", language_code=lang)
    listing = await bot.ask(OWNER, "/channels", language_code=lang)
    answer = await bot.press(
        OWNER,
        listing.message_id,
        f"ch:d:{channel}",
        user_id=STRANGER,
        language_code=lang,
        check_button=False,
    )
    assert answer == (
        "⛔ Only the channel's admins may manage it."
        if en(lang)
        else "⛔ 只有该频道的管理员可以管理它。"
    )
    assert bot.subs(channel) == {ALL}


@pytest.mark.parametrize("lang", LANGS)
async def test_the_bot_must_be_an_admin_allowed_to_post(bot: Bot, lang: str) -> None:
    channel = bot.fake.add_channel("ainews", title="AI News", creator=OWNER)
    bot.fake.set_bot_member(channel, "administrator", can_post=False)
    reply = await bot.ask(OWNER, "/connect @ainews", language_code=lang)
    says(reply, lang, "没有“发布消息”的权限", "may not post messages")
    bot.fake.set_bot_member(channel, "left")
    reply = await bot.ask(OWNER, "/connect @ainews", language_code=lang)
    says(reply, lang, "我还不是频道「AI News」的管理员", "I am not an administrator of")
    reply = await bot.ask(OWNER, "/connect @nosuchchannel", language_code=lang)
    says(reply, lang, "找不到频道", "I cannot find the channel")
    reply = await bot.ask(OWNER, "/connect", language_code=lang)
    says(reply, lang, "连接频道：", "To connect a channel")
    assert bot.subscribers.chat(channel) is None
    bot.fake.set_bot_member(channel, "administrator")
    reply = await bot.ask(OWNER, "/connect @ainews", language_code=lang)
    says(reply, lang, "已连接频道", "Connected")


@pytest.mark.parametrize("lang", LANGS)
async def test_a_forwarded_post_connects_its_channel(bot: Bot, lang: str) -> None:
    channel = bot.fake.add_channel("ainews", title="AI News", creator=OWNER)
    before = len(bot.fake.messages(OWNER))
    bot.fake.push_message(OWNER, "a post", forwarded_from=channel, language_code=lang)
    reply = await private_notice(bot, OWNER, before)
    says(reply, lang, "已连接频道「AI News」", "Connected “AI News”")
    assert bot.subs(channel) == {ALL}


@pytest.mark.parametrize("lang", LANGS)
async def test_channels_of_the_settings_file_stay_the_operators(
    telegram: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lang: str
) -> None:
    telegram.limits = None
    monkeypatch.setenv("DIGESTBOT_TELEGRAM__CHANNELS", json.dumps([{"chat": "@opsnews"}]))
    running = await started(make_settings(telegram, tmp_path / "bot.db", monkeypatch), telegram)
    try:
        telegram.add_channel("opsnews", title="Ops News", creator=OWNER)
        reply = await running.ask(OWNER, "/connect @opsnews", language_code=lang)
        says(reply, lang, "由运营者在配置文件中管理", "managed by the operator")
        listing = await running.ask(42, "/channels", language_code=lang)  # an operator admin
        says(listing, lang, "@opsnews: 由运营者管理", "@opsnews: managed by the operator")
    finally:
        await stopped(running)


# The bot's own membership --------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
async def test_removed_or_demoted_the_channel_stops_and_its_connector_is_told(
    bot: Bot, lang: str
) -> None:
    channel = bot.fake.add_channel("ainews", title="AI News", creator=OWNER)
    await bot.ask(OWNER, "/connect @ainews", language_code=lang)
    before = len(bot.fake.messages(OWNER))
    bot.fake.change_bot_member(channel, "administrator", can_post=False, by_user=OWNER)
    notice = await private_notice(bot, OWNER, before)
    says(notice, lang, "失去了发布消息的权限", "may no longer post")
    assert bot.subscribers.chat(channel).state == BLOCKED  # type: ignore[union-attr]
    bot.fake.change_bot_member(channel, "administrator", by_user=OWNER)
    notice = await private_notice(bot, OWNER, before + 1)
    says(notice, lang, "发送 /connect 恢复推送", "Send /connect to resume")
    assert bot.subscribers.chat(channel).state == BLOCKED  # type: ignore[union-attr]
    await bot.ask(OWNER, "/connect @ainews", language_code=lang)
    assert bot.subscribers.chat(channel).state == ACTIVE  # type: ignore[union-attr]
    before = len(bot.fake.messages(OWNER))
    bot.fake.change_bot_member(channel, "left", by_user=OWNER)
    notice = await private_notice(bot, OWNER, before)
    says(notice, lang, "我已被移出频道「AI News」", "I was removed from the channel")
    assert bot.subscribers.chat(channel).state == GONE  # type: ignore[union-attr]
    # a failed send may mark the channel before Telegram's update comes: told all the same
    await bot.ask(OWNER, "/connect @ainews", language_code=lang)  # (refused: the bot is out)
    bot.fake.set_bot_member(channel, "administrator")
    await bot.ask(OWNER, "/connect @ainews", language_code=lang)
    bot.subscribers.set_state(channel, BLOCKED)  # as the dispatcher does on a 403
    before = len(bot.fake.messages(OWNER))
    bot.fake.change_bot_member(channel, "kicked", by_user=OWNER)
    notice = await private_notice(bot, OWNER, before)
    says(notice, lang, "我已被移出频道「AI News」", "I was removed from the channel")


# Forum topics --------------------------------------------------------------------------------


def forum(fake: FakeTelegram, *names: str) -> list[int]:
    fake.make_forum(FORUM, title="AI Forum")
    fake.set_admins(FORUM, [MOD])
    return [fake.create_topic(FORUM, name) for name in names]


async def in_topic(
    bot: Bot, thread: int | None, text: str, lang: str, user: int = MOD
) -> SentMessage:
    before = len(bot.fake.messages(FORUM))
    bot.fake.push_message(FORUM, text, user_id=user, thread_id=thread, language_code=lang)
    reply = (await bot.fake.wait_for_messages_async(FORUM, before + 1, timeout=10))[before]
    assert reply.message_thread_id == thread  # answered where it was asked
    return reply


@pytest.mark.parametrize("lang", LANGS)
async def test_topic_binding_and_unbinding(bot: Bot, lang: str) -> None:
    tools, apps = forum(bot.fake, "工具", "Apps")
    reply = await in_topic(bot, tools, "/topic AI工具 AI应用", lang)
    says(
        reply,
        lang,
        "这个话题将接收：AI工具、AI应用",
        "This topic receives: AI Tools, AI Applications",
    )
    reply = await in_topic(bot, apps, "/topic ai-applications", lang)
    says(
        reply,
        lang,
        "已从其他话题移到这里：AI应用 (工具)",
        "Moved here from other topics: AI Applications (工具)",
    )
    layout = Topics(bot.engine).layout(FORUM)
    assert [(b.thread_id, b.title, b.categories) for b in layout.bindings] == [
        (tools, "工具", ("AI工具",)),
        (apps, "Apps", ("AI应用",)),
    ]
    shown = await in_topic(bot, tools, "/topic", lang)
    says(shown, lang, "工具 ⬅️: AI工具", "工具 ⬅️: AI Tools")
    says(shown, lang, "General：本群订阅", "General: the group's other subscribed")
    refused = await in_topic(bot, apps, "/topic off", lang, user=STRANGER)
    says(refused, lang, "管理员", "admin")
    reply = await in_topic(bot, apps, "/topic off", lang)
    says(reply, lang, "已解除绑定：AI应用", "Unbound: AI Applications")
    reply = await in_topic(bot, None, "/topic AI工具", lang)
    says(reply, lang, "请在要接收这些分类的话题里", "inside the topic")
    reply = await in_topic(bot, None, "/topic general off", lang)
    says(reply, lang, "General 关闭", "General is off")
    assert [b.thread_id for b in Topics(bot.engine).layout(FORUM).bindings] == [tools]
    assert not Topics(bot.engine).layout(FORUM).general
    reply = await in_topic(bot, tools, "/topic nonsense", lang)
    assert [b.categories for b in Topics(bot.engine).layout(FORUM).bindings] == [("AI工具",)]
    reply = await bot.ask(-4001, "/topic AI工具", chat_type="group", language_code=lang)
    says(reply, lang, "只能在开启了话题的超级群组", "only in supergroups with topics")


def plan(bot: Bot, digest) -> None:  # type: ignore[no-untyped-def]
    store(bot.engine, digest)
    plan_digest(
        bot.engine,
        digest.id,
        archive=Archive(bot.engine),
        subscribers=bot.subscribers,
        table=bot.table,
        settings=bot.settings,
    )


async def drain(bot: Bot) -> Dispatcher:
    dispatcher = Dispatcher(
        TelegramSender(bot.settings), Outbox(bot.engine), bot.settings, subscribers=bot.subscribers
    )
    dispatcher.topic_note = topic_note(bot.engine)
    try:
        await asyncio.wait_for(dispatcher.drain(), 30)
    finally:
        await dispatcher.sender.close()
    return dispatcher


def by_thread(fake: FakeTelegram, chat: int) -> dict[int | None, list[str]]:
    out: dict[int | None, list[str]] = {}
    for message in fake.messages(chat):
        if items_in(message.plain):  # digests, not the replies to commands
            out.setdefault(message.message_thread_id, []).extend(items_in(message.plain))
    return out


ITEMS = [
    make_item("t1", ("AI工具",)),
    make_item("a1", ("AI应用",)),
    make_item("x1", ("AI伦理",)),
    make_item("t2", ("AI工具", "AI应用")),  # once: in the topic of its first bound category
    make_item("h1", ("硬件设施",)),
]


@pytest.mark.parametrize("lang", LANGS)
async def test_a_closed_topic_sends_its_items_to_general_once_with_a_note(
    bot: Bot, lang: str
) -> None:
    tools, apps = forum(bot.fake, "Tools", "Apps")
    await in_topic(bot, None, "/subscribe all", lang)
    await in_topic(bot, tools, "/topic AI工具", lang)
    await in_topic(bot, apps, "/topic AI应用", lang)
    replies = len(bot.fake.messages(FORUM))
    bot.fake.close_topic(FORUM, apps)
    plan(bot, make_digest(3, ITEMS))
    dispatcher = await drain(bot)
    got = by_thread(bot.fake, FORUM)
    assert got[tools] == ["t1", "t2"]
    assert apps not in got  # nothing reached the closed topic
    general = [m for m in bot.fake.messages(FORUM)[replies:] if m.message_thread_id is None]
    assert "⚠️ The topic Apps is closed or deleted" in general[0].plain  # the note, then items
    assert "⚠️ 话题 Apps 已关闭或被删除" in general[0].plain
    assert [items_in(m.plain) for m in general[1:]] == [["a1"], ["x1", "h1"]]
    assert dispatcher.stats.broken_topics == 1 and dispatcher.stats.failed == 0
    binding = {b.thread_id: b for b in Topics(bot.engine).layout(FORUM).bindings}[apps]
    assert binding.state == BROKEN
    shown = await in_topic(bot, None, "/topic", lang)
    says(shown, lang, "Apps: AI应用 ⚠️ 已失效", "Apps: AI Applications ⚠️ broken")
    # the next digest: the broken topic's categories go to General, with no second note
    plan(bot, make_digest(4, [make_item("a2", ("AI应用",)), make_item("t3", ("AI工具",))]))
    await drain(bot)
    got = by_thread(bot.fake, FORUM)
    assert got[tools] == ["t1", "t2", "t3"] and got[None][-1:] == ["a2"]
    notes = [m for m in bot.fake.messages(FORUM) if "⚠️ The topic" in m.plain]
    assert len(notes) == 1
    # rebinding a topic (reopened) makes it work again
    bot.fake.close_topic(FORUM, apps, closed=False)
    await in_topic(bot, apps, "/topic AI应用", lang)
    assert {b.thread_id: b.state for b in Topics(bot.engine).layout(FORUM).bindings}[
        apps
    ] == "bound"


@pytest.mark.parametrize("lang", LANGS)
async def test_a_deleted_topic_and_general_switched_off(bot: Bot, lang: str) -> None:
    tools, gone = forum(bot.fake, "Tools", "Old")
    await in_topic(bot, None, "/subscribe all", lang)
    await in_topic(bot, tools, "/topic AI工具", lang)
    await in_topic(bot, gone, "/topic 硬件设施", lang)
    await in_topic(bot, None, "/topic general off", lang)
    bot.fake.delete_topic(FORUM, gone)
    replies = len(bot.fake.messages(FORUM))
    plan(bot, make_digest(5, ITEMS))
    await drain(bot)
    sent = bot.fake.messages(FORUM)[replies:]
    assert [(m.message_thread_id, items_in(m.plain)) for m in sent if items_in(m.plain)] == [
        (tools, ["t1", "t2"]),
        (None, ["h1"]),  # the deleted topic's item, in General once; nothing else there
    ]


@pytest.mark.parametrize("lang", LANGS)
async def test_a_forum_group_that_migrates_keeps_subscriptions_and_topics(
    bot: Bot, lang: str
) -> None:
    old, new = -4242, -1004242000000
    bot.fake.make_forum(old, title="Old forum")
    bot.fake.set_admins(old, [MOD])
    tools = bot.fake.create_topic(old, "Tools")
    bot.fake.push_message(old, "/subscribe AI伦理", user_id=MOD, language_code=lang)
    bot.fake.push_message(old, "/topic AI工具", user_id=MOD, thread_id=tools, language_code=lang)
    await bot.fake.wait_for_messages_async(old, 2, timeout=10)
    bot.fake.migrate(old, new)
    plan(bot, make_digest(6, ITEMS))
    await drain(bot)
    assert bot.subs(new) == {"AI伦理"} and bot.subs(old) == set()
    assert [b.categories for b in Topics(bot.engine).layout(new).bindings] == [("AI工具",)]
    assert by_thread(bot.fake, new) == {tools: ["t1", "t2"], None: ["x1"]}
    shown = await bot.ask(new, "/topic", user_id=MOD, language_code=lang)
    says(shown, lang, "Tools: AI工具", "Tools: AI Tools")
    with bot.engine.connect() as connection:
        chats = set(connection.execute(select(deliveries.c.chat_id)).scalars())
    assert str(old) not in chats


async def until(condition: Callable[[], bool], timeout: float) -> None:
    """Wait for a change in the database that the fake Bot API cannot see."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "still false"
        await asyncio.sleep(0.05)


def states(bot: Bot, chat: int) -> set[str]:
    with bot.engine.connect() as connection:
        query = select(deliveries.c.state).where(deliveries.c.chat_id == str(chat))
        return set(connection.execute(query).scalars())


def gone(bot: Bot, chat: int) -> bool:
    known = bot.subscribers.chat(chat)
    return known is not None and known.state == GONE


@pytest.mark.parametrize("lang", LANGS)
async def test_removed_from_a_group_its_pending_deliveries_stop(bot: Bot, lang: str) -> None:
    group, other = -1003000000001, 880
    bot.fake.set_admins(group, [MOD])
    await bot.ask(group, "/subscribe all", user_id=MOD, language_code=lang)
    await bot.ask(other, "/subscribe all", language_code=lang)
    plan(bot, make_digest(7, ITEMS))
    bot.fake.change_bot_member(group, "kicked")
    # the cancelling is a database change that no request to the fake follows: look for it
    await until(lambda: states(bot, group) == {"cancelled"}, 30)
    assert gone(bot, group) and bot.subs(group) == {ALL}  # kept, for when it is added back
    await drain(bot)
    assert [i for m in bot.fake.messages(other) for i in items_in(m.plain)] == [i.id for i in ITEMS]
