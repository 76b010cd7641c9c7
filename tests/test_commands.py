"""The bot's commands end to end: python-telegram-bot's real HTTP stack against the fake Bot API
(tests/fakebot), a real SQLite file, the real category table.

The fake parses every reply as Telegram's HTML (strictly), so a reply that is not valid HTML is
refused there and the test waiting for it fails.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fakebot import FakeTelegram, SentMessage
from sqlalchemy import Engine, select
from telegram.error import InvalidToken, NetworkError
from telegram.ext import Application, CommandHandler

from bot.categorising.table import CategoryRule, CategoryTable
from bot.commands import build_application, start_bot, stop_bot
from bot.commands.flood import FloodGuard
from bot.commands.updates import ChatOrderedUpdates
from bot.logs import configure_logging
from bot.model import Category, Digest, Item
from bot.settings import Settings, load_settings
from bot.storing.archive import Archive
from bot.storing.database import open_database
from bot.storing.subscribers import ALL, Subscribers
from bot.storing.tables import subscriptions

ADMIN = 42  # in settings.telegram.admins
# The six categories of config/categories.toml (names, slugs, labels; keywords do not matter here),
# so that edits to the operator's keyword rules never break these tests.
CATEGORIES = [
    ("AI产业", "ai-industry", "AI Industry"),
    ("AI发展", "ai-progress", "AI Progress"),
    ("AI应用", "ai-applications", "AI Applications"),
    ("AI伦理", "ai-ethics", "AI Ethics"),
    ("硬件设施", "hardware", "Hardware & Infrastructure"),
    ("AI工具", "ai-tools", "AI Tools"),
]
CATEGORY_NAMES = [name for name, _, _ in CATEGORIES]
TABLE = CategoryTable(rules=tuple(CategoryRule(Category(*c)) for c in CATEGORIES))


@dataclass(repr=False)  # Application's repr holds the token: keep it out of failure reports
class Bot:
    """A running bot and what a test needs around it."""

    app: Application
    fake: FakeTelegram
    engine: Engine
    settings: Settings
    table: CategoryTable

    @property
    def subscribers(self) -> Subscribers:
        return Subscribers(self.engine)

    async def ask(self, chat_id: int, text: str, **user: object) -> SentMessage:
        """Send `text` as a user and return the bot's one reply in that chat."""
        before = len(self.fake.messages(chat_id))
        self.fake.push_message(chat_id, text, **user)  # type: ignore[arg-type]
        sent = await self.fake.wait_for_messages_async(chat_id, before + 1, timeout=10)
        reply = sent[before]
        assert reply.parse_mode == "HTML"
        return reply

    async def press(self, chat_id: int, message_id: int, data: str, **user: object) -> str | None:
        """Press a button; returns the text of the callback answer once the keyboard is redrawn
        (or the press answered without a change)."""
        before = len(self.fake.callback_answers)
        self.fake.push_callback(chat_id, message_id, data, **user)  # type: ignore[arg-type]
        await self.fake.wait_for_async(lambda f: len(f.callback_answers) > before, timeout=10)
        return self.fake.callback_answers[before].text

    async def settle(self) -> None:
        """Wait until every update pushed so far has been handled: updates are taken in order,
        so once a /help from an idle chat is answered every earlier one has been taken; then
        wait until none is being handled any more."""
        await self.ask(999_999, "/help", user_id=999_999)
        processor = self.app.update_processor
        assert isinstance(processor, ChatOrderedUpdates)
        await processor.idle()

    def subs(self, chat_id: int) -> set[str]:
        return set(self.subscribers.subscriptions_of(chat_id))

    def snapshot(self) -> list[tuple]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(subscriptions.c.chat_id, subscriptions.c.category).order_by(
                    subscriptions.c.chat_id, subscriptions.c.category
                )
            ).all()
        return [tuple(row) for row in rows]


def make_settings(
    fake: FakeTelegram, database: Path | str, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """Settings as the service reads them: DIGESTBOT_* variables over the config file."""
    monkeypatch.setenv("DIGESTBOT_TELEGRAM__TOKEN", fake.token)
    monkeypatch.setenv("DIGESTBOT_TELEGRAM__BASE_URL", fake.base_url)
    url = database if isinstance(database, str) else f"sqlite:///{database}"
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", url)
    monkeypatch.setenv("DIGESTBOT_TELEGRAM__ADMINS", json.dumps([ADMIN]))
    monkeypatch.setenv("DIGESTBOT_TELEGRAM__POLL_TIMEOUT", "10")
    monkeypatch.setenv("DIGESTBOT_SITE_URL", "https://news.example.com/")
    if fake.limits is None:  # the fake enforces no flood limits: nor need the bot's pacing
        monkeypatch.setenv("DIGESTBOT_TELEGRAM__GLOBAL_PER_SECOND", "1000")
        monkeypatch.setenv("DIGESTBOT_TELEGRAM__PRIVATE_PER_SECOND", "1000")
        monkeypatch.setenv("DIGESTBOT_TELEGRAM__GROUP_PER_MINUTE", "60000")
    return load_settings()


async def started(settings: Settings, fake: FakeTelegram, flood: FloodGuard | None = None) -> Bot:
    engine = open_database(settings.database_url)
    app = build_application(settings, engine=engine, table=TABLE, flood=flood)
    await start_bot(app)
    return Bot(app, fake, engine, settings, TABLE)


async def stopped(bot: Bot) -> None:
    await stop_bot(bot.app)
    bot.engine.dispose()


@pytest.fixture
async def bot(
    telegram: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Bot]:
    telegram.limits = None  # these tests are about replies, not about Telegram's flood limits
    running = await started(make_settings(telegram, tmp_path / "bot.db", monkeypatch), telegram)
    try:
        yield running
    finally:
        await stopped(running)


@pytest.fixture
async def any_bot(
    telegram: FakeTelegram, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Bot]:
    """The bot on SQLite and (marked `postgres`) on PostgreSQL."""
    telegram.limits = None
    running = await started(make_settings(telegram, database_url, monkeypatch), telegram)
    try:
        yield running
    finally:
        await stopped(running)


def store_digest(engine: Engine, count: int = 12, hour: int = 12) -> Digest:
    """A digest of `count` items; item 1 has a hostile title and a javascript: link."""
    date = datetime(2025, 11, 27, hour, tzinfo=timezone(timedelta(hours=8)))
    items = []
    for n in range(1, count + 1):
        category = "AI工具" if n % 2 else "AI应用"
        title = f'<b>Tag & "quote" {n}</b>' if n == 1 else f"Story {n} of digest {hour}"
        url = "javascript:alert(1)" if n == 1 else f"https://example.com/{hour}/{n}?a=1&b=2"
        items.append(
            Item(
                id=f"item-{hour}-{n}",
                position=n,
                title=title,
                url=url,
                author=f"Author <{n}>",
                summary_md="text",
                summary_html="text",
                summary_text="text",
                categories=(category,),
            )
        )
    digest = Digest(
        id=f"digest-{hour}",
        title=f"2025.11.27.{hour} 过去4小时全球AI发生了什么？",
        date=date,
        categories=("AI工具", "AI应用"),
        items=tuple(items),
        source=Path(f"seeds/2025.11.27.{hour}.md"),
        content_hash=f"hash-{hour}",
    )
    Archive(engine).store(digest)
    return digest


# Subscribing ---------------------------------------------------------------------------------


async def test_start_registers_the_chat_and_publishes_the_command_menus(bot: Bot) -> None:
    reply = await bot.ask(101, "/start", username="alice")
    assert "/subscribe" in reply.plain
    chat = bot.subscribers.chat(101)
    assert chat is not None and (chat.type, chat.title, chat.state) == (
        "private",
        "alice",
        "active",
    )
    assert chat.language == "zh-hans"
    zh = bot.fake.commands[("default", "")]
    en = bot.fake.commands[("default", "en")]
    assert [c["command"] for c in zh] == [c["command"] for c in en]
    assert {"start", "subscribe", "unsubscribe", "mysubs", "latest", "feeds", "stop"} <= {
        c["command"] for c in zh
    }
    assert next(c for c in zh if c["command"] == "subscribe")["description"].startswith("订阅")
    assert next(c for c in en if c["command"] == "subscribe")["description"].startswith("Sub")


@pytest.mark.parametrize(
    "words", ["AI工具", "工具", "ai-tools", "AI Tools", "ai tools", "ＡＩ工具"]
)
async def test_subscribe_by_name_slug_label_or_unique_part(bot: Bot, words: str) -> None:
    reply = await bot.ask(102, f"/subscribe {words}")
    assert "已订阅" in reply.plain and "AI工具" in reply.plain
    assert bot.subs(102) == {"AI工具"}
    mysubs = await bot.ask(102, "/mysubs")
    assert "AI工具" in mysubs.plain and "AI应用" not in mysubs.plain


async def test_subscribe_several_all_unsubscribe_and_stop(any_bot: Bot) -> None:
    bot = any_bot
    reply = await bot.ask(103, "/subscribe AI工具, 硬件设施 ai-ethics")
    assert bot.subs(103) == {"AI工具", "硬件设施", "AI伦理"}
    assert "AI伦理" in reply.plain
    again = await bot.ask(103, "/subscribe AI工具")
    assert "已经订阅过" in again.plain

    reply = await bot.ask(103, "/unsubscribe AI工具")
    assert "已取消订阅" in reply.plain and "AI工具" in reply.plain
    assert bot.subs(103) == {"硬件设施", "AI伦理"}

    reply = await bot.ask(103, "/subscribe all")
    assert "全部分类" in reply.plain
    assert ALL in bot.subs(103)
    assert "全部分类" in (await bot.ask(103, "/mysubs")).plain

    # Leaving one category while subscribed to all keeps every other one.
    reply = await bot.ask(103, "/unsubscribe AI应用")
    assert "AI应用" in reply.plain
    assert bot.subs(103) == set(CATEGORY_NAMES) - {"AI应用"}

    question = await bot.ask(103, "/stop")
    await bot.press(103, question.message_id, "stop:yes")
    reply = bot.fake.messages(103)[-1]
    assert "已取消全部订阅" in reply.plain and "5" in reply.plain
    assert bot.subs(103) == set()
    assert "还没有订阅" in (await bot.ask(103, "/mysubs")).plain

    await bot.ask(103, "/subscribe all")
    await bot.ask(103, "/unsubscribe all")
    assert bot.subs(103) == set()


async def test_subscriptions_are_per_chat(bot: Bot) -> None:
    await bot.ask(104, "/subscribe AI工具")
    await bot.ask(105, "/subscribe 硬件")
    assert bot.subs(104) == {"AI工具"} and bot.subs(105) == {"硬件设施"}
    assert bot.subscribers.active_subscriptions() == {"104": {"AI工具"}, "105": {"硬件设施"}}


async def test_buttons_toggle_categories(bot: Bot) -> None:
    await bot.ask(106, "/subscribe AI工具")
    menu = await bot.ask(106, "/subscribe")
    data = menu.callback_data()
    assert "sub:ai-tools" in data and "sub:*" in data
    assert all(len(d.encode()) <= 64 for d in data)
    tools = next(b for b in menu.buttons() if b["callback_data"] == "sub:ai-tools")
    assert tools["text"].startswith("✅")

    answer = await bot.press(106, menu.message_id, "sub:hardware")
    assert answer is not None and "硬件设施" in answer
    assert bot.subs(106) == {"AI工具", "硬件设施"}
    redrawn = bot.fake.messages(106)[-1]
    assert redrawn.message_id == menu.message_id and redrawn.edit_count == 1
    hardware = next(b for b in redrawn.buttons() if b["callback_data"] == "sub:hardware")
    assert hardware["text"].startswith("✅")

    await bot.press(106, menu.message_id, "sub:ai-tools")
    assert bot.subs(106) == {"硬件设施"}
    await bot.press(106, menu.message_id, "sub:*")
    assert ALL in bot.subs(106)
    assert all(b["text"].startswith("✅") for b in bot.fake.messages(106)[-1].buttons())
    await bot.press(106, menu.message_id, "sub:*")
    assert bot.subs(106) == set()


async def test_a_forged_button_changes_nothing(bot: Bot) -> None:
    menu = await bot.ask(107, "/subscribe")
    for data in ("sub:no-such-slug", "sub:<b>", "other:thing"):
        bot.fake.push_callback(107, menu.message_id, data, check_button=False)
    await bot.fake.wait_for_async(lambda f: len(f.callback_answers) == 3, timeout=10)
    assert bot.subs(107) == set()


async def test_deep_links(bot: Bot) -> None:
    reply = await bot.ask(108, "/start sub-ai-tools")
    assert "你好" in reply.plain and "已订阅" in reply.plain and "AI工具" in reply.plain
    assert bot.subs(108) == {"AI工具"}

    await bot.ask(109, "/start sub-all")
    assert bot.subs(109) == {ALL}

    for payload in ("sub-nothing", "sub-", "other", "sub-AI工具", "x" * 65):
        reply = await bot.ask(110, f"/start {payload}")
        assert "无法识别" in reply.plain
    assert bot.subs(110) == set()


async def test_categories_and_feeds(bot: Bot) -> None:
    await bot.ask(111, "/subscribe AI工具")
    listing = await bot.ask(111, "/categories")
    for name in CATEGORY_NAMES:
        assert name in listing.plain
    assert "ai-tools" in listing.plain and "✅" in listing.plain

    feeds = await bot.ask(111, "/feeds")
    base = "https://news.example.com/"
    for path in ("rss.xml", "atom.xml", "feed.json", "opml.xml", "c/ai-tools/rss.xml"):
        assert base + path in feeds.plain


async def test_english_users_get_english_replies(bot: Bot) -> None:
    english = {"language_code": "en-US"}
    reply = await bot.ask(112, "/subscribe AI Tools", **english)
    assert reply.plain.startswith("✅ Subscribed to: AI Tools")
    assert "AI Tools" in (await bot.ask(112, "/mysubs", **english)).plain
    assert "Unknown category" in (await bot.ask(112, "/subscribe nope", **english)).plain
    assert "Commands" in (await bot.ask(112, "/help", **english)).plain
    menu = await bot.ask(112, "/subscribe", **english)
    assert "All categories" in [b["text"] for b in menu.buttons()]
    assert "已" not in menu.plain


# /latest -------------------------------------------------------------------------------------


async def test_latest_before_and_after_digests(bot: Bot) -> None:
    assert "还没有" in (await bot.ask(113, "/latest")).plain
    store_digest(bot.engine, count=12, hour=8)
    newest = store_digest(bot.engine, count=12, hour=12)

    reply = await bot.ask(113, "/latest")
    assert newest.title in reply.plain
    assert "Story 12 of digest 12" not in reply.plain  # ten items at most
    assert "还有 2 条" in reply.plain
    assert reply.link_preview_disabled
    # The hostile title is shown as text, its javascript: link dropped.
    assert '<b>Tag & "quote" 1</b>' in reply.plain
    links = [e["url"] for e in reply.entities if e["type"] == "text_link"]
    assert "https://example.com/12/2?a=1&b=2" in links
    assert not any(url.startswith("javascript") for url in links)
    assert "digest 8" not in reply.plain

    only_tools = await bot.ask(113, "/latest 工具")
    assert "Story 3 of digest 12" in only_tools.plain
    assert "Story 2 of digest 12" not in only_tools.plain


async def test_latest_follows_the_chats_subscriptions(bot: Bot) -> None:
    store_digest(bot.engine, count=6, hour=12)
    await bot.ask(114, "/subscribe AI应用")
    reply = await bot.ask(114, "/latest")
    assert "Story 2 of digest 12" in reply.plain
    assert "Story 3 of digest 12" not in reply.plain


async def test_latest_names_the_digest_its_items_come_from(bot: Bot) -> None:
    """A story the newest digest repeats from an older one: the header names the newest."""
    older = store_digest(bot.engine, count=2, hour=8)
    newest = store_digest(bot.engine, count=2, hour=12)
    repeat = replace(newest, items=(older.items[0], *newest.items), content_hash="again")
    Archive(bot.engine).store(repeat)
    reply = await bot.ask(117, "/latest")
    assert newest.title in reply.plain
    assert older.title not in reply.plain


@pytest.mark.parametrize(
    ("language", "expected"), [("zh-hans", "没有做任何更改"), ("en", "Nothing was changed")]
)
async def test_subscribing_with_an_unknown_word_changes_nothing_and_says_so(
    bot: Bot, language: str, expected: str
) -> None:
    before = bot.snapshot()
    reply = await bot.ask(118, "/subscribe AI工具 nonsense", language_code=language)
    assert expected in reply.plain and "nonsense" in reply.plain
    assert bot.snapshot() == before
    unsubscribing = await bot.ask(118, "/unsubscribe AI工具 nonsense", language_code=language)
    assert expected in unsubscribing.plain
    assert expected not in (await bot.ask(118, "/latest nonsense", language_code=language)).plain


# Bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/subscribe 不存在的分类", "找不到分类"),
        ("/subscribe AI工具 nope", "找不到分类"),
        ("/subscribe AI", "多个分类"),
        ("/unsubscribe", "点按分类"),
        ("/subscribe " + "x" * 201, "太长"),
        ("/unsubscribe " + "y" * 201, "太长"),
        ("/latest " + "z" * 201, "太长"),
        ("/subscribe " + " ".join(["AI工具"] * 21), "最多指定 20 个分类"),
        ("/unsubscribe " + ",".join(["hardware"] * 21), "最多指定 20 个分类"),
        ("/subscribe <b>&amp;</b>", "找不到分类"),
        ("/subscribe ,,,", "请指定分类"),
    ],
)
async def test_bad_arguments_get_a_clear_reply_and_change_nothing(
    bot: Bot, text: str, expected: str
) -> None:
    await bot.ask(115, "/subscribe 硬件设施")
    before = bot.snapshot()
    reply = await bot.ask(115, text)
    assert expected in reply.plain
    assert bot.snapshot() == before
    if "找不到" in expected:
        for name in CATEGORY_NAMES:  # the reply lists the real categories
            assert name in reply.plain


async def test_unknown_command_in_a_private_chat(bot: Bot) -> None:
    assert "/help" in (await bot.ask(116, "/nonsense")).plain


async def test_only_group_admins_change_group_subscriptions(any_bot: Bot) -> None:
    bot = any_bot
    group = -1_001_234_567_890
    bot.fake.set_admins(group, [501], creator=500)
    member = {"user_id": 502, "chat_type": "supergroup", "chat_title": "AI <fans>"}

    for text in ("/subscribe AI工具", "/unsubscribe all", "/stop", "/start sub-ai-tools"):
        reply = await bot.ask(group, text, **member)
        assert "只有管理员" in reply.plain
    assert bot.subs(group) == set()

    menu = await bot.ask(group, "/subscribe", **member)  # anyone may look
    answer = await bot.press(group, menu.message_id, "sub:ai-tools", user_id=502)
    assert answer is not None and "管理员" in answer
    assert bot.fake.callback_answers[-1].show_alert
    assert bot.subs(group) == set()

    await bot.ask(group, "/subscribe AI工具", user_id=501, chat_type="supergroup")
    await bot.ask(group, "/subscribe 硬件", user_id=500, chat_type="supergroup")
    await bot.press(group, menu.message_id, "sub:ai-ethics", user_id=501)
    assert bot.subs(group) == {"AI工具", "硬件设施", "AI伦理"}
    chat = bot.subscribers.chat(group)
    assert chat is not None and chat.type == "supergroup"
    # An anonymous admin writes as the group itself (from GroupAnonymousBot, sender_chat).
    before = len(bot.fake.messages(group))
    chat = {"id": group, "type": "supergroup", "title": "AI <fans>"}
    text = "/unsubscribe AI工具"
    bot.fake.push_update(
        {
            "message": {
                "message_id": 10_000,
                "date": 1_764_216_000,
                "chat": chat,
                "sender_chat": chat,
                "from": {"id": 1_087_968_824, "is_bot": True, "first_name": "Group"},
                "text": text,
                "entities": [{"type": "bot_command", "offset": 0, "length": 12}],
            }
        }
    )
    await bot.fake.wait_for_messages_async(group, before + 1)
    assert bot.subs(group) == {"硬件设施", "AI伦理"}


async def test_a_flood_of_commands_is_refused_once_then_ignored(
    telegram: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    telegram.limits = None
    now = [1000.0]
    settings = make_settings(telegram, tmp_path / "bot.db", monkeypatch)
    bot = await started(settings, telegram, FloodGuard(clock=lambda: now[0]))
    try:
        for _ in range(25):
            telegram.push_message(120, "/subscribe AI工具")
        await bot.settle()
        sent = telegram.messages(120)
        assert len(sent) == 21  # twenty served, one refusal, then silence
        assert "太快" in sent[-1].plain
        assert all("太快" not in m.plain for m in sent[:-1])
        assert bot.subs(120) == {"AI工具"}

        now[0] += 61  # the window frees
        reply = await bot.ask(120, "/mysubs")
        assert "AI工具" in reply.plain
    finally:
        await stopped(bot)


# Restarts, errors, secrets -------------------------------------------------------------------


async def test_subscriptions_survive_a_restart(
    telegram: FakeTelegram, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    telegram.limits = None
    settings = make_settings(telegram, database_url, monkeypatch)
    first = await started(settings, telegram)
    try:
        await first.ask(130, "/subscribe AI工具 hardware")
    finally:
        await stopped(first)

    second = await started(load_settings(), telegram)
    try:
        reply = await second.ask(130, "/mysubs")
        assert "AI工具" in reply.plain and "硬件设施" in reply.plain
        assert len(telegram.messages(130)) == 2  # the first /subscribe was not handled twice
    finally:
        await stopped(second)


async def test_a_chat_that_blocked_the_bot_is_marked(bot: Bot) -> None:
    await bot.ask(131, "/subscribe AI工具")
    bot.fake.block(131)
    bot.fake.push_message(131, "/mysubs")
    await bot.fake.wait_for_async(
        lambda f: any(r.status == 403 for r in f.requests_for("sendMessage")), timeout=10
    )
    await bot.settle()
    chat = bot.subscribers.chat(131)
    assert chat is not None and chat.state == "blocked"
    assert bot.subscribers.active_subscriptions() == {}

    bot.fake.unblock(131)
    await bot.ask(131, "/start")
    assert bot.subscribers.active_subscriptions() == {"131": {"AI工具"}}


async def test_bot_removed_from_a_group_and_group_migrated(bot: Bot) -> None:
    group, supergroup = -4001, -1_004_001
    bot.fake.set_admins(group, [601])
    await bot.ask(group, "/subscribe AI工具", user_id=601, chat_type="group")
    bot.fake.push_update(
        {
            "message": {
                "message_id": 99,
                "date": 1_764_216_000,
                "chat": {"id": group, "type": "group", "title": "G"},
                "from": {"id": 601, "is_bot": False, "first_name": "A"},
                "migrate_to_chat_id": supergroup,
            }
        }
    )
    await bot.settle()
    assert bot.subs(group) == set() and bot.subs(supergroup) == {"AI工具"}

    bot_user = {"id": bot.fake.bot_id, "is_bot": True, "first_name": "Bot"}
    bot.fake.push_update(
        {
            "my_chat_member": {
                "chat": {"id": supergroup, "type": "supergroup", "title": "G"},
                "from": {"id": 601, "is_bot": False, "first_name": "A"},
                "date": 1_764_216_100,
                "old_chat_member": {"status": "member", "user": bot_user},
                "new_chat_member": {"status": "left", "user": bot_user},
            }
        }
    )
    await bot.settle()
    chat = bot.subscribers.chat(supergroup)
    assert chat is not None and chat.state == "gone"


async def test_replies_to_one_chat_wait_their_turn_and_other_chats_do_not_wait(
    telegram: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert telegram.limits is not None  # Telegram's limits: a burst of 3, then 1/s per chat
    bot = await started(make_settings(telegram, tmp_path / "bot.db", monkeypatch), telegram)
    try:
        for _ in range(5):
            telegram.push_message(132, "/help")
        await bot.ask(133, "/help")  # answered while chat 132's replies wait their turn
        assert len(telegram.messages(132)) < 5
        await telegram.wait_for_messages_async(132, 5, timeout=20)
        assert telegram.flood_count == 0  # paced at 1/s: none refused, none dropped
        times = [m.at for m in telegram.messages(132)]
        assert min(b - a for a, b in itertools.pairwise(times)) >= 0.95
    finally:
        await stopped(bot)


async def test_stats_for_admins_only(any_bot: Bot) -> None:
    bot = any_bot
    await bot.ask(140, "/subscribe AI工具")
    await bot.ask(141, "/subscribe all")
    assert "管理员" in (await bot.ask(140, "/stats")).plain
    reply = await bot.ask(ADMIN, "/stats")
    assert "AI工具: 1" in reply.plain and "全部分类: 1" in reply.plain
    assert "投递" in reply.plain


async def test_the_token_never_reaches_logs_or_error_texts(
    telegram: FakeTelegram,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = telegram.token
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    names = ("httpx", "httpcore", "telegram", "telegram.ext", "apscheduler", "bot")
    saved_levels = {name: logging.getLogger(name).level for name in names}
    configure_logging("DEBUG", secrets=[token])
    root.addHandler(caplog.handler)
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    telegram.limits = None
    errors: list[str] = []
    try:
        bot = await started(make_settings(telegram, tmp_path / "bot.db", monkeypatch), telegram)
        try:

            async def boom(update, context) -> None:  # type: ignore[no-untyped-def]
                raise RuntimeError(f"failed with {context.bot.token} in hand")

            bot.app.add_handler(CommandHandler("boom", boom), group=1)
            await bot.ask(150, "/subscribe AI工具")
            telegram.fail_next("sendMessage", 500)
            telegram.push_message(150, "/mysubs")  # its reply meets a 500
            await telegram.wait_for_async(  # chats are handled at once: one at a time here
                lambda f: any(r.status == 500 for r in f.requests_for("sendMessage"))
            )
            telegram.forget(151)
            telegram.push_message(151, "/help")  # its reply meets 400 chat not found
            await bot.ask(152, "/boom")  # an exception carrying the token: "sorry" reply
            telegram.fail_next("getUpdates", 502)
            await bot.settle()
            await bot.ask(150, "/mysubs")  # polling recovered
            try:
                await bot.app.bot.send_message(151, "x")
            except Exception as error:
                errors.append(str(error))
                errors.append(repr(error))
            telegram.fail_next("sendMessage", 503)
            try:
                await bot.app.bot.send_message(150, "x")
            except NetworkError as error:
                errors.append(str(error))
        finally:
            await stopped(bot)

        # A token the server rejects: python-telegram-bot's message names it; ours must not.
        monkeypatch.setenv("DIGESTBOT_TELEGRAM__TOKEN", "123456:WRONG-token-not-real-000000000000")
        wrong = load_settings()
        engine = open_database(wrong.database_url)
        app = build_application(wrong, engine=engine, table=TABLE)
        with pytest.raises(InvalidToken) as rejected:
            await start_bot(app)
        engine.dispose()
        assert wrong.token not in str(rejected.value) and "[REDACTED]" in str(rejected.value)
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)

    text = caplog.text + capsys.readouterr().err
    assert "[REDACTED]" in text  # httpx logged request URLs, redacted
    assert "getUpdates" in text and "sendMessage" in text
    assert "Internal Server Error" in text and "Chat not found" in text
    assert "Bad Gateway" in text
    assert "failed with [REDACTED] in hand" in text
    for record in caplog.records:
        assert token not in record.getMessage()
    assert token not in text and str(wrong.token) not in text
    assert errors and not any(token in e for e in errors)
    assert "抱歉" in telegram.messages(152)[-1].plain
