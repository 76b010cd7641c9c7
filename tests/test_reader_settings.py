"""A reader's settings through the fake Bot API (real python-telegram-bot stack, real SQLite):
/settings and its buttons, /lang, /format, /preview, /silent, /filter, /stop's confirmation,
/mysubs and /unsubscribe buttons, the newest items on subscribing; zh and en; groups' admins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fakebot import FakeTelegram
from test_commands import Bot, make_settings, started, stopped, store_digest

from bot.commands import settings_menu
from bot.storing.chat_settings import ChatSettings, ChatSettingsStore

EN = {"language_code": "en-US"}


@pytest.fixture
async def bot(
    telegram: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Bot]:
    telegram.limits = None
    running = await started(make_settings(telegram, tmp_path / "bot.db", monkeypatch), telegram)
    try:
        yield running
    finally:
        await stopped(running)


def chosen(bot: Bot, chat_id: int) -> ChatSettings:
    return ChatSettingsStore(bot.engine).get(chat_id)


def button(message, data: str) -> dict:  # type: ignore[no-untyped-def]
    return next(b for b in message.buttons() if b.get("callback_data") == data)


# /settings ------------------------------------------------------------------------------------


async def test_settings_menu_has_a_row_for_every_setting(bot: Bot) -> None:
    menu = await bot.ask(201, "/settings")
    assert "设置" in menu.plain
    data = menu.callback_data()
    for wanted in (
        "st:lang:zh",
        "st:lang:en",
        "st:format:full",
        "st:format:compact",
        "st:preview:on",
        "st:preview:off",
        "st:silent:on",
        "st:silent:off",
        "st:filter:",
        "st:pause:",
        "st:quiet:",
        "st:schedule:",
        "st:timezone:",
    ):
        assert wanted in data
    assert all(len(d.encode()) <= 64 for d in data)
    rows = menu.reply_markup["inline_keyboard"]  # type: ignore[index]
    assert len(rows) == len(settings_menu.ROWS)
    assert button(menu, "st:lang:zh")["text"].startswith("✅")
    assert button(menu, "st:format:full")["text"].startswith("✅")
    assert "Asia/Shanghai" in button(menu, "st:timezone:")["text"]
    assert "即时" in button(menu, "st:schedule:")["text"]


async def test_pressing_buttons_changes_settings_and_redraws_in_place(bot: Bot) -> None:
    menu = await bot.ask(202, "/settings")
    answer = await bot.press(202, menu.message_id, "st:format:compact")
    assert answer == "已保存"
    assert chosen(bot, 202).format == "compact"
    redrawn = bot.fake.messages(202)[-1]
    assert redrawn.message_id == menu.message_id and redrawn.edit_count == 1
    assert button(redrawn, "st:format:compact")["text"].startswith("✅")
    assert not button(redrawn, "st:format:full")["text"].startswith("✅")

    await bot.press(202, menu.message_id, "st:silent:on")
    await bot.press(202, menu.message_id, "st:preview:off")
    assert (chosen(bot, 202).silent, chosen(bot, 202).preview) == (True, False)

    # Language: the menu's text and buttons are redrawn in English, and so are replies.
    answer = await bot.press(202, menu.message_id, "st:lang:en")
    assert answer == "Saved"
    redrawn = bot.fake.messages(202)[-1]
    assert "Settings" in redrawn.plain and redrawn.message_id == menu.message_id
    assert button(redrawn, "st:lang:en")["text"].startswith("✅")
    assert "Commands" in (await bot.ask(202, "/help")).plain  # Telegram says zh-hans

    for data in ("st:format:full", "st:silent:off", "st:lang:zh"):
        await bot.press(202, menu.message_id, data)
    assert chosen(bot, 202) == ChatSettings(language="zh", preview=False)


async def test_explaining_rows_and_forged_presses_change_nothing(bot: Bot) -> None:
    menu = await bot.ask(203, "/settings")
    answer = await bot.press(203, menu.message_id, "st:filter:")
    assert answer is not None and "/filter" in answer
    assert bot.fake.callback_answers[-1].show_alert
    assert len(answer) <= 200
    for row in ("pause", "quiet", "schedule", "timezone"):
        answer = await bot.press(203, menu.message_id, f"st:{row}:")
        assert answer is not None and f"/{row}" in answer
    english = await bot.press(203, menu.message_id, "st:filter:", **EN)
    assert english is not None and "/filter" in english and len(english) <= 200
    before = len(bot.fake.callback_answers)
    for data in ("st:format:huge", "st:lang:fr", "st:nothing:x", "st:silent:", "st:<b>:1"):
        bot.fake.push_callback(203, menu.message_id, data, check_button=False)
    await bot.fake.wait_for_async(lambda f: len(f.callback_answers) == before + 5, timeout=10)
    assert chosen(bot, 203) == ChatSettings()
    assert bot.fake.messages(203)[-1].edit_count == 0


async def test_english_menu(bot: Bot) -> None:
    menu = await bot.ask(204, "/settings", **EN)
    assert "Settings" in menu.plain and "设置" not in menu.plain
    assert button(menu, "st:lang:en")["text"].startswith("✅")
    assert "instant" in button(menu, "st:schedule:")["text"]
    assert "none" in button(menu, "st:filter:")["text"]


# Commands -------------------------------------------------------------------------------------


@pytest.mark.parametrize("user", [{}, EN])
async def test_setting_commands(bot: Bot, user: dict) -> None:
    chat = 205 if not user else 206
    assert "compact" in (await bot.ask(chat, "/format", **user)).plain  # usage
    reply = await bot.ask(chat, "/format compact", **user)
    assert ("titles only" if user else "只列出") in reply.plain
    await bot.ask(chat, "/preview on", **user)
    await bot.ask(chat, "/silent on", **user)
    have = chosen(bot, chat)
    assert (have.format, have.preview, have.silent) == ("compact", True, True)
    await bot.ask(chat, "/format full", **user)
    await bot.ask(chat, "/preview off", **user)
    await bot.ask(chat, "/silent off", **user)
    have = chosen(bot, chat)
    assert (have.format, have.preview, have.silent) == ("full", False, False)

    for bad in ("/format huge", "/preview maybe", "/silent 1", "/lang fr", "/lang"):
        reply = await bot.ask(chat, bad, **user)
        assert ("Nothing was changed" if user else "没有做任何更改") in reply.plain
    assert chosen(bot, chat) == ChatSettings(preview=False)


async def test_lang_overrides_the_telegram_language(bot: Bot) -> None:
    reply = await bot.ask(207, "/lang en")
    assert "English" in reply.plain
    assert chosen(bot, 207).language == "en"
    assert "Commands" in (await bot.ask(207, "/help")).plain
    reply = await bot.ask(207, "/lang zh", **EN)
    assert "中文" in reply.plain
    assert "命令" in (await bot.ask(207, "/help", **EN)).plain
    reply = await bot.ask(207, "/lang auto", **EN)
    assert "Telegram" in reply.plain and chosen(bot, 207).language is None
    assert "Commands" in (await bot.ask(207, "/help", **EN)).plain


async def test_filter_command(bot: Bot) -> None:
    assert "没有关键词过滤" in (await bot.ask(208, "/filter")).plain
    reply = await bot.ask(208, "/filter +OpenAI +Anthropic -融资 -招聘")
    assert "OpenAI" in reply.plain and "融资" in reply.plain
    have = chosen(bot, 208)
    assert have.include_words == ("OpenAI", "Anthropic")
    assert have.exclude_words == ("融资", "招聘")
    listing = await bot.ask(208, "/filter")
    assert "Anthropic" in listing.plain and "招聘" in listing.plain
    # Named again with the other sign: the word changes sides; width and case do not matter.
    await bot.ask(208, "/filter -ｏｐｅｎａｉ，+融资")
    have = chosen(bot, 208)
    assert have.include_words == ("Anthropic", "融资")
    assert have.exclude_words == ("招聘", "ｏｐｅｎａｉ")
    menu = await bot.ask(208, "/settings")
    assert "Anthropic" in button(menu, "st:filter:")["text"]

    assert "已清除" in (await bot.ask(208, "/filter clear")).plain
    assert chosen(bot, 208) == ChatSettings()


@pytest.mark.parametrize(
    ("words", "zh", "en"),
    [
        (" ".join(f"+w{n}" for n in range(500)), "最多 20 个", "At most 20 words"),
        (" ".join(f"+w{n}" for n in range(21)), "最多 20 个", "At most 20 words"),
        ("+OpenAI +", "后面要写一个词", "needs a word"),
        ("-", "后面要写一个词", "needs a word"),
        ("+" + "x" * 41, "最多 40 个字符", "at most 40 characters"),
    ],
)
async def test_bad_filters_say_what_is_accepted_and_change_nothing(
    bot: Bot, words: str, zh: str, en: str
) -> None:
    await bot.ask(209, "/filter +keep")
    reply = await bot.ask(209, f"/filter {words}")
    assert zh in reply.plain and "没有做任何更改" in reply.plain
    reply = await bot.ask(209, f"/filter {words}", **EN)
    assert en in reply.plain and "Nothing was changed" in reply.plain
    assert chosen(bot, 209) == ChatSettings(include_words=("keep",))


async def test_forty_characters_are_accepted(bot: Bot) -> None:
    await bot.ask(210, "/filter +" + "字" * 40)
    assert chosen(bot, 210).include_words == ("字" * 40,)


# Groups ---------------------------------------------------------------------------------------


async def test_only_group_admins_change_group_settings(bot: Bot) -> None:
    group = -1_001_234_567_891
    bot.fake.set_admins(group, [601], creator=600)
    member = {"user_id": 602, "chat_type": "supergroup", "chat_title": "fans"}
    admin = {"user_id": 601, "chat_type": "supergroup", "chat_title": "fans"}
    for text in ("/lang en", "/format compact", "/preview on", "/silent on", "/filter +AI"):
        reply = await bot.ask(group, text, **member)
        assert "只有管理员" in reply.plain
    assert chosen(bot, group) == ChatSettings()
    assert "没有关键词过滤" in (await bot.ask(group, "/filter", **member)).plain  # anyone looks
    menu = await bot.ask(group, "/settings", **member)
    answer = await bot.press(group, menu.message_id, "st:silent:on", user_id=602)
    assert answer is not None and "管理员" in answer and bot.fake.callback_answers[-1].show_alert
    assert chosen(bot, group) == ChatSettings()

    await bot.ask(group, "/filter +AI", **admin)
    await bot.press(group, menu.message_id, "st:silent:on", user_id=600)
    assert chosen(bot, group) == ChatSettings(silent=True, include_words=("AI",))
    # The group's /lang holds for everyone in it.
    await bot.ask(group, "/lang en", **admin)
    assert "Commands" in (await bot.ask(group, "/help", **member)).plain


# /stop, /mysubs, /unsubscribe, /subscribe -----------------------------------------------------


@pytest.mark.parametrize("user", [{}, EN])
async def test_stop_asks_first_and_mentions_pause(bot: Bot, user: dict) -> None:
    chat = 211 if not user else 212
    await bot.ask(chat, "/subscribe AI工具", **user)
    question = await bot.ask(chat, "/stop", **user)
    assert "/pause" in question.plain
    assert question.callback_data() == ["stop:yes", "stop:no"]
    assert bot.subs(chat) == {"AI工具"}
    await bot.press(chat, question.message_id, "stop:no", **user)
    assert bot.subs(chat) == {"AI工具"}
    kept = bot.fake.messages(chat)[-1]
    assert kept.message_id == question.message_id and not kept.buttons()
    assert ("kept" if user else "保持不变") in kept.plain

    question = await bot.ask(chat, "/stop", **user)
    await bot.press(chat, question.message_id, "stop:yes", **user)
    assert bot.subs(chat) == set()
    done = bot.fake.messages(chat)[-1]
    assert ("Unsubscribed from everything" if user else "已取消全部订阅") in done.plain


async def test_only_group_admins_confirm_stop(bot: Bot) -> None:
    group = -1_001_234_567_892
    bot.fake.set_admins(group, [701], creator=700)
    admin = {"user_id": 701, "chat_type": "supergroup", "chat_title": "g"}
    await bot.ask(group, "/subscribe AI工具", **admin)
    question = await bot.ask(group, "/stop", **admin)
    answer = await bot.press(group, question.message_id, "stop:yes", user_id=702)
    assert answer is not None and "管理员" in answer
    assert bot.subs(group) == {"AI工具"}


async def test_mysubs_and_unsubscribe_have_buttons(bot: Bot) -> None:
    await bot.ask(213, "/subscribe AI工具 硬件")
    mysubs = await bot.ask(213, "/mysubs")
    assert button(mysubs, "sub:ai-tools")["text"].startswith("✅")
    assert not button(mysubs, "sub:ai-ethics")["text"].startswith("✅")
    await bot.press(213, mysubs.message_id, "sub:ai-tools")
    assert bot.subs(213) == {"硬件设施"}

    menu = await bot.ask(213, "/unsubscribe")
    assert "取消" in menu.plain
    assert button(menu, "sub:hardware")["text"].startswith("✅")
    await bot.press(213, menu.message_id, "sub:hardware")
    assert bot.subs(213) == set()
    english = await bot.ask(213, "/unsubscribe", **EN)
    assert "Tap a category" in english.plain and "All categories" in [
        b["text"] for b in english.buttons()
    ]


async def test_subscribing_answers_with_the_newest_items(bot: Bot) -> None:
    store_digest(bot.engine, count=12, hour=8)
    store_digest(bot.engine, count=12, hour=12)
    reply = await bot.ask(214, "/subscribe AI工具")
    assert "最新的条目" in reply.plain
    listed = [line for line in reply.plain.splitlines() if line[:2] in {f"{n}." for n in range(9)}]
    assert len(listed) == 5
    assert "Story 9 of digest 12" in reply.plain  # the newest digest's
    assert "digest 8" not in reply.plain
    again = await bot.ask(214, "/subscribe AI工具")  # nothing new: no listing
    assert "最新" not in again.plain

    # Through the chat's keyword filter; and by deep link, in English.
    await bot.ask(215, "/filter -Story", **EN)
    reply = await bot.ask(215, "/start sub-ai-applications", **EN)
    assert "Subscribed" in reply.plain and "newest" not in reply.plain
    await bot.ask(216, "/filter +3", **EN)
    reply = await bot.ask(216, "/subscribe ai-tools", **EN)
    assert "The newest items there" in reply.plain
    assert "Story 3 of digest 12" in reply.plain and "Story 5 " not in reply.plain
