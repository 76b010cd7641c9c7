"""/pause, /resume, /quiet, /schedule and /timezone end to end (#13): python-telegram-bot's real
HTTP stack against the fake Bot API, a real SQLite file; in Chinese and in English."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fakebot import FakeTelegram
from test_commands import Bot, make_settings, started, stopped
from test_dispatch_support import make_digest, make_item

from bot.storing.archive import Archive
from bot.storing.chat_settings import ChatSettings, ChatSettingsStore

EN = {"language_code": "en-US"}
ZH: dict[str, object] = {}


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


def settings_of(bot: Bot, chat: int) -> ChatSettings:
    return ChatSettingsStore(bot.engine).get(chat)


def publish_now(
    bot: Bot, prefix: str, count: int, category: str = "AI工具", date: datetime | None = None
) -> None:
    """A digest stored now (its items published now, so during a pause begun before)."""
    items = [make_item(f"{prefix}-{n}", (category,)) for n in range(1, count + 1)]
    digest = make_digest(27, items)
    digest = type(digest)(
        **{
            **{f: getattr(digest, f) for f in digest.__dataclass_fields__},
            "id": f"now-{prefix}",
            "date": date or datetime.now(UTC),
            "content_hash": f"hash-{prefix}",
        }
    )
    Archive(bot.engine).store(digest)


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_pause_for_a_while_then_resume_with_one_catch_up(bot: Bot, lang: str) -> None:
    user = EN if lang == "en" else ZH
    await bot.ask(301, "/subscribe AI工具", **user)
    publish_now(bot, "before", 2, date=datetime(2025, 11, 27, tzinfo=UTC))
    before = time.time()
    reply = await bot.ask(301, "/pause 8h", **user)
    assert ("paused until" if lang == "en" else "已暂停推送至") in reply.plain
    assert ("not sent later one by one" if lang == "en" else "不会逐条补发") in reply.plain
    chosen = settings_of(bot, 301)
    assert chosen.paused and chosen.paused_until_ts is not None
    assert 8 * 3600 - 5 < chosen.paused_until_ts - before <= 8 * 3600 + 60
    # the pause began a minute ago (a digest's items are dated a second apart, back from now)
    assert chosen.paused_since_ts is not None
    ChatSettingsStore(bot.engine).save(
        301, replace(chosen, paused_since_ts=chosen.paused_since_ts - 60)
    )
    publish_now(bot, "missed", 14)
    publish_now(bot, "other", 3, category="AI伦理")  # not in the selection
    reply = await bot.ask(301, "/resume", **user)
    assert ("You missed 14 item(s)" if lang == "en" else "错过 14 条") in reply.plain
    assert "missed-1" in reply.text and "before-" not in reply.text and "other-" not in reply.text
    assert "https://news.example.com/rss.xml" in reply.plain  # the feed for the rest
    assert ("and 4 more" if lang == "en" else "还有 4 条") in reply.plain  # a screenful: ten
    assert not settings_of(bot, 301).paused
    again = await bot.ask(301, "/resume", **user)
    assert ("not paused" if lang == "en" else "没有暂停") in again.plain


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_pause_until_resume_and_nothing_missed(bot: Bot, lang: str) -> None:
    user = EN if lang == "en" else ZH
    await bot.ask(302, "/subscribe all", **user)
    reply = await bot.ask(302, "/pause", **user)
    assert "/resume" in reply.plain
    chosen = settings_of(bot, 302)
    assert chosen.paused and chosen.paused_until_ts is None
    reply = await bot.ask(302, "/resume", **user)
    assert ("You missed nothing" if lang == "en" else "没有错过") in reply.plain


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_quiet_schedule_and_timezone_are_stored(bot: Bot, lang: str) -> None:
    user = EN if lang == "en" else ZH
    reply = await bot.ask(303, "/quiet 23:00-08:00", **user)
    assert "23:00–08:00" in reply.plain and ("one message" if lang == "en" else "合成一条") in (
        reply.plain
    )
    got = settings_of(bot, 303)
    assert (got.quiet_start, got.quiet_end, got.quiet_silent) == ("23:00", "08:00", False)
    reply = await bot.ask(303, "/quiet 22:30-7:00 silent", **user)
    assert ("without sound" if lang == "en" else "不响铃") in reply.plain
    assert settings_of(bot, 303).quiet_silent and settings_of(bot, 303).quiet_end == "07:00"
    reply = await bot.ask(303, "/quiet off", **user)
    assert ("Quiet hours off" if lang == "en" else "免打扰已关闭") in reply.plain
    assert settings_of(bot, 303).quiet_start is None

    reply = await bot.ask(303, "/schedule 20:00 08:00", **user)
    assert "08:00, 20:00" in reply.plain and "Asia/Shanghai" in reply.plain
    assert settings_of(bot, 303).schedule == ("08:00", "20:00")
    reply = await bot.ask(303, "/timezone Europe/Berlin", **user)
    assert "Europe/Berlin" in reply.plain
    assert settings_of(bot, 303).timezone == "Europe/Berlin"
    reply = await bot.ask(303, "/schedule 08:00", **user)
    assert "Europe/Berlin" in reply.plain
    reply = await bot.ask(303, "/schedule instant", **user)
    assert ("Instant delivery" if lang == "en" else "即时推送") in reply.plain
    assert settings_of(bot, 303).schedule == ()
    await bot.ask(303, "/timezone Asia/Shanghai", **user)  # the service's zone: the default
    assert settings_of(bot, 303).timezone is None


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("/quiet 25:00-99", "/quiet 23:00-08:00"),
        ("/quiet", "/quiet off"),
        ("/quiet 23:00-08:00 loud", "silent"),
        ("/schedule 8", "/schedule instant"),
        ("/schedule", "/schedule 08:00 20:00"),
        ("/timezone Mars/Base", "/timezone Europe/Berlin"),
        ("/timezone ../../etc/passwd", "IANA"),
        ("/pause 5x", "/pause 8h"),
        ("/pause 0h", "365"),
    ],
)
async def test_bad_arguments_say_what_is_accepted_and_change_nothing(
    bot: Bot, lang: str, text: str, kind: str
) -> None:
    user = EN if lang == "en" else ZH
    await bot.ask(304, "/schedule 09:00", **user)
    before = settings_of(bot, 304)
    reply = await bot.ask(304, text, **user)
    assert kind in reply.plain
    assert ("nothing changed" if lang == "en" else "设置未改变") in reply.plain
    assert settings_of(bot, 304) == before


async def test_only_group_admins_change_the_settings(bot: Bot) -> None:
    group = -1_001_234_000_001
    bot.fake.set_admins(group, [601], creator=600)
    member = {"user_id": 602, "chat_type": "supergroup", "chat_title": "group"}
    for text in ("/pause 8h", "/quiet 23:00-08:00", "/schedule 08:00", "/timezone UTC"):
        reply = await bot.ask(group, text, **member)
        assert "只有管理员可以更改设置" in reply.plain
    reply = await bot.ask(group, "/pause", **{**member, **EN})
    assert "only its admins can change its settings" in reply.plain
    assert ChatSettingsStore(bot.engine).many() == {}
    admin = {"user_id": 601, "chat_type": "supergroup", "chat_title": "group"}
    await bot.ask(group, "/schedule 08:00", **admin)
    await bot.ask(group, "/pause 3d", **admin)
    got = settings_of(bot, group)
    assert got.schedule == ("08:00",) and got.paused
    reply = await bot.ask(group, "/resume", **member)
    assert "只有管理员" in reply.plain and settings_of(bot, group).paused


async def test_settings_survive_a_restart(
    telegram: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    telegram.limits = None
    settings = make_settings(telegram, tmp_path / "bot.db", monkeypatch)
    first = await started(settings, telegram)
    await first.ask(305, "/schedule 07:30")
    await first.ask(305, "/pause 30m")
    await stopped(first)
    second = await started(settings, telegram)
    try:
        got = settings_of(second, 305)
        assert got.schedule == ("07:30",) and got.paused_at(time.time())
        assert "已恢复推送" in (await second.ask(305, "/resume")).plain
    finally:
        await stopped(second)
