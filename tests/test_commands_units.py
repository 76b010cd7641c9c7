"""The bot's pure parts: argument parsing, the flood guard, buttons, reply texts, and the
database actions behind the commands (on a real SQLite file)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from fakebot import parse_html, utf16_len

from bot.categorising.table import CategoryRule, CategoryTable, auto_slug
from bot.commands import actions, buttons, texts
from bot.commands.application import command_menu
from bot.commands.arguments import (
    MAX_ARGUMENT_CHARS,
    ArgumentError,
    arguments,
    find_slug,
    parse_categories,
)
from bot.commands.flood import FloodGuard, Verdict
from bot.model import Category, Digest, Entry, Item
from bot.storing.archive import Archive
from bot.storing.database import open_database
from bot.storing.subscribers import ALL, Subscribers

TOOLS = Category("AI工具", "ai-tools", "AI Tools")
APPS = Category("AI应用", "ai-applications", "AI Applications")
HARDWARE = Category("硬件设施", "hardware", "Hardware & Infrastructure")
INDUSTRY = Category("AI产业", "ai-industry", "AI Industry")
TABLE = CategoryTable(rules=tuple(CategoryRule(c) for c in (INDUSTRY, APPS, HARDWARE, TOOLS)))
HOSTILE = '<script>alert("x")</script> & &amp; &nbsp; </b> <a href="x">'


def names(text: str) -> list[str]:
    return [c.name for c in parse_categories(text, TABLE).categories]


# Arguments -----------------------------------------------------------------------------------


def test_arguments_are_the_text_after_the_command() -> None:
    assert arguments("/subscribe@digest_bot  AI工具  硬件 ") == "AI工具  硬件"
    assert arguments("/subscribe") == "" and arguments(None) == ""
    assert arguments("/subscribe\u3000AI工具") == "AI工具"


@pytest.mark.parametrize(
    "text",
    [
        "AI工具",
        "ai工具",
        "工具",
        "ai-tools",
        "AI-TOOLS",
        "AI Tools",
        "ai  tools",
        "AI 工具",
        "ＡＩ工具",
    ],
)
def test_one_category_by_name_slug_label_or_unique_part(text: str) -> None:
    assert names(text) == ["AI工具"]


def test_several_categories_separated_by_spaces_or_commas() -> None:
    assert names("AI工具 硬件") == ["AI工具", "硬件设施"]
    assert names("AI Tools, Hardware & Infrastructure，AI应用、industry") == [
        "AI工具",
        "硬件设施",
        "AI应用",
        "AI产业",
    ]
    assert names("AI工具 ai-tools AI Tools") == ["AI工具"]  # once each


def test_all_unknown_and_ambiguous() -> None:
    assert parse_categories("all", TABLE).all
    assert parse_categories("全部", TABLE).all
    unknown = parse_categories("AI工具 nope <b>", TABLE)
    assert unknown.unknown == ("nope", "<b>") and not unknown.ok
    ambiguous = parse_categories("AI", TABLE)
    assert ambiguous.ambiguous[0][0] == "AI" and len(ambiguous.ambiguous[0][1]) == 3
    assert not parse_categories(",,", TABLE).ok


def test_too_long_and_too_many() -> None:
    with pytest.raises(ArgumentError) as long:
        parse_categories("x" * (MAX_ARGUMENT_CHARS + 1), TABLE)
    assert long.value.kind == "too_long"
    assert parse_categories(" ".join(["hardware"] * 20), TABLE).ok
    with pytest.raises(ArgumentError) as many:
        parse_categories(" ".join(["hardware"] * 21), TABLE)
    assert many.value.kind == "too_many"
    with pytest.raises(ArgumentError):
        parse_categories(" ".join(f"x{i}" for i in range(21)), TABLE)


# Flood guard ---------------------------------------------------------------------------------


def test_flood_guard_refuses_once_then_stays_quiet_until_the_window_frees() -> None:
    now = [0.0]
    guard = FloodGuard(limit=20, window=60, clock=lambda: now[0])
    for second in range(20):
        now[0] = float(second)
        assert guard.check(1) is Verdict.ALLOW
    assert guard.check(1) is Verdict.REFUSE
    assert guard.check(1) is Verdict.SILENT and guard.check(1) is Verdict.SILENT
    assert guard.check(2) is Verdict.ALLOW  # per user
    assert guard.retry_in(1) == pytest.approx(41.0)
    now[0] = 60.5  # the first command left the window: one more may go
    assert guard.check(1) is Verdict.ALLOW
    assert guard.check(1) is Verdict.REFUSE  # and a new flood is refused once again
    assert guard.check(1) is Verdict.SILENT


def test_flood_guard_forgets_idle_users() -> None:
    now = [0.0]
    guard = FloodGuard(limit=1, window=1, clock=lambda: now[0], max_users=10)
    for user in range(10):
        guard.check(user)
    now[0] = 5.0
    guard.check(100)
    assert len(guard._seen) == 1


# Buttons -------------------------------------------------------------------------------------


def test_callback_data_is_ascii_within_64_bytes() -> None:
    long_name = "很长的中文分类名称" * 10
    categories = [*TABLE.categories, TABLE.get(long_name)]
    assert categories[-1].slug == auto_slug(long_name)
    markup = buttons.keyboard(categories, {"AI工具"}, False, "zh")
    data = [b.callback_data for row in markup.inline_keyboard for b in row]
    assert all(isinstance(d, str) and d.isascii() and len(d.encode()) <= 64 for d in data)
    assert data[-1] == buttons.ALL_DATA
    texts_ = [b.text for row in markup.inline_keyboard for b in row]
    assert "✅ AI工具" in texts_ and "AI应用" in texts_
    for category in categories:
        toggle = buttons.parse_callback(buttons.callback_data(category))
        assert toggle is not None and find_slug(toggle.slug, tuple(categories)) == category


def test_foreign_or_forged_callback_data_is_ignored() -> None:
    assert buttons.parse_callback("sub:*") == buttons.Toggle(None)
    for data in (None, "", "sub:", "other:ai-tools", "sub:AI工具", "sub:a b", "sub:" + "a" * 61):
        assert buttons.parse_callback(data) is None


# Texts ---------------------------------------------------------------------------------------


def test_language_follows_the_users_telegram_language() -> None:
    assert texts.language("en") == texts.language("en-GB") == "en"
    assert texts.language("zh-hans") == texts.language(None) == texts.language("de") == "zh"


def entry(n: int, title: str, url: str | None = "https://example.com/a?b=1&c=2") -> Entry:
    item = Item(
        id=f"i{n}",
        position=n,
        title=title,
        url=url,
        author=HOSTILE,
        summary_md="",
        summary_html="",
        summary_text="",
        categories=("AI工具",),
    )
    now = datetime(2025, 11, 27, 12, tzinfo=UTC)
    return Entry(item, "d", HOSTILE, now, now)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_reply_is_valid_telegram_html_whatever_it_holds(lang: texts.Lang) -> None:
    hostile = Category(HOSTILE, "x-1", HOSTILE)
    pool = (*TABLE.categories, hostile)
    entries = [entry(1, HOSTILE, "javascript:alert(1)"), entry(2, HOSTILE)]
    replies = [
        texts.welcome(lang),
        texts.help_text(lang, admin=True),
        texts.bad_start_link(lang),
        texts.categories_list(lang, pool, {HOSTILE}, all_=True),
        texts.categories_list(lang, (), set()),
        texts.subscribed(lang, [hostile], [hostile]),
        texts.subscribed_all(lang, True),
        texts.subscribed_all(lang, False),
        texts.unsubscribed(lang, [hostile], [hostile], True),
        texts.unsubscribed_all(lang, 0),
        texts.unsubscribed_all(lang, 2),
        texts.stopped(lang, 0),
        texts.stopped(lang, 3),
        texts.my_subscriptions(lang, [hostile], False),
        texts.my_subscriptions(lang, [], False),
        texts.my_subscriptions(lang, [], True),
        texts.choose(lang),
        texts.unknown_categories(lang, [HOSTILE, "x" * 500], pool),
        texts.ambiguous(lang, HOSTILE, pool),
        texts.need_categories(lang, "unsubscribe"),
        texts.too_long(lang, 200),
        texts.too_many(lang, 20),
        texts.not_admin(lang),
        texts.admins_only(lang),
        texts.flooding(lang, 41.2),
        texts.unknown_command(lang),
        texts.failed(lang),
        texts.no_digest(lang),
        texts.nothing_in(lang, [hostile]),
        texts.latest(lang, HOSTILE, entries, [hostile], "https://x.example/?a=1&b=<2>"),
        texts.feeds(lang, "https://news.example.com/a&b/", pool),
        texts.stats(lang, {HOSTILE: 1, ALL: 2}, {"pending": 1}, 3, 4, 5, {}),
    ]
    for reply in replies:
        parsed = parse_html(reply, strict=True)  # raises on anything Telegram would refuse
        assert parsed.text.strip() and utf16_len(parsed.text) <= texts.MAX_MESSAGE
        assert "<script>" not in reply
    latest = parse_html(replies[-3], strict=True)
    links = [e["url"] for e in latest.entities if e["type"] == "text_link"]
    assert links == ["https://example.com/a?b=1&c=2"]  # the javascript: link was dropped
    assert HOSTILE in latest.text


def test_latest_fits_one_message_whatever_the_items() -> None:
    huge = "🤖长" * 2000  # surrogate pairs: UTF-16 counts them twice
    entries = [entry(n, huge + str(n)) for n in range(40)]
    reply = texts.latest("zh", huge, entries, [TOOLS], "https://news.example.com/")
    parsed = parse_html(reply, strict=True)
    assert utf16_len(parsed.text) <= texts.MAX_MESSAGE
    assert "还有" in parsed.text
    many = [entry(n, f"title {n}") for n in range(25)]
    shown = parse_html(texts.latest("en", "T", many), strict=True).text
    assert "10. title 9" in shown and "title 10" not in shown and "and 15 more" in shown


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_long_lists_of_categories_still_fit_one_message(lang: texts.Lang) -> None:
    many = tuple(
        Category("类" * 100 + str(n), f"c-{n:04d}", "L" * 100 + str(n)) for n in range(300)
    )
    replies = [
        texts.categories_list(lang, many, {c.name for c in many}),
        texts.unknown_categories(lang, ["x" * 200], many),
        texts.feeds(lang, "https://news.example.com/", many),
        texts.stats(lang, {c.name: 1 for c in many}, {}, 1, 1, 1, {c.name: c for c in many}),
    ]
    for reply in replies:
        parsed = parse_html(reply, strict=True)
        assert utf16_len(parsed.text) <= texts.MAX_MESSAGE
        assert ("还有" if lang == "zh" else "more") in parsed.text
    markup = buttons.keyboard(many, set(), True, lang)
    assert sum(len(row) for row in markup.inline_keyboard) <= 100
    assert all(len(b.text) <= 42 for row in markup.inline_keyboard for b in row)
    long = texts.toggled(lang, many[0], True)
    assert len(long) <= 200


def test_command_menus_are_valid_for_set_my_commands() -> None:
    for lang in ("zh", "en"):
        menu = command_menu(lang)  # type: ignore[arg-type]
        assert "stats" not in [c.command for c in menu]
        for command in menu:
            assert re.fullmatch(r"[a-z0-9_]{1,32}", command.command)
            assert 1 <= len(command.description) <= 256


# Actions (SQLite) ----------------------------------------------------------------------------


@pytest.fixture
def subscribers(database_url: str) -> Iterator[Subscribers]:
    """On SQLite, and on PostgreSQL (marked `postgres`): the same portable queries."""
    engine = open_database(database_url)
    yield Subscribers(engine)
    engine.dispose()


CHAT = actions.ChatInfo(7, "private", "alice", "en")
KNOWN = [c.name for c in TABLE.categories]


def test_subscribe_records_the_chat_and_reports_what_changed(subscribers: Subscribers) -> None:
    change = actions.subscribe(subscribers, CHAT, ["AI工具", "AI应用"])
    assert change.added == ("AI工具", "AI应用") and change.unchanged == ()
    chat = subscribers.chat(7)
    assert chat is not None and (chat.title, chat.language, chat.state) == ("alice", "en", "active")
    again = actions.subscribe(subscribers, CHAT, ["AI工具"])
    assert again.added == () and again.unchanged == ("AI工具",)
    gone = actions.unsubscribe(subscribers, CHAT, ["AI工具", "硬件设施"], KNOWN)
    assert gone.removed == ("AI工具",) and gone.unchanged == ("硬件设施",)
    assert actions.current(subscribers, 7) == actions.Subscriptions(("AI应用",), False)


def test_leaving_one_category_of_all_keeps_the_others(subscribers: Subscribers) -> None:
    actions.subscribe_all(subscribers, CHAT)
    change = actions.unsubscribe(subscribers, CHAT, ["AI工具"], KNOWN)
    assert change.expanded_from_all
    have = actions.current(subscribers, 7)
    assert not have.all and set(have.names) == set(KNOWN) - {"AI工具"}
    assert len(actions.unsubscribe_all(subscribers, CHAT).removed) == 3


def test_toggle(subscribers: Subscribers) -> None:
    on, have = actions.toggle(subscribers, CHAT, "AI工具", KNOWN)
    assert on and have.names == ("AI工具",)
    on, have = actions.toggle(subscribers, CHAT, None, KNOWN)
    assert on and have.all
    on, have = actions.toggle(subscribers, CHAT, "AI应用", KNOWN)
    assert not on and not have.all and "AI应用" not in have.names and "AI产业" in have.names
    actions.toggle(subscribers, CHAT, None, KNOWN)  # all on
    on, have = actions.toggle(subscribers, CHAT, None, KNOWN)  # all off: nothing left
    assert not on and have.empty


def test_latest_picks_the_newest_digest_then_falls_back_to_recent_items(database_url: str) -> None:
    engine = open_database(database_url)
    archive = Archive(engine)
    assert actions.latest(archive, None) is None

    def digest(hour: int, categories: tuple[str, ...]) -> Digest:
        date = datetime(2025, 11, 27, hour, tzinfo=timezone(timedelta(hours=8)))
        items = tuple(
            Item(f"h{hour}-{n}", n, f"t{hour}-{n}", None, None, "", "", "", categories=(c,))
            for n, c in enumerate(categories, 1)
        )
        return Digest(f"d{hour}", f"D{hour}", date, categories, items, Path("x.md"), f"h{hour}")

    archive.store(digest(8, ("硬件设施", "AI工具")))
    archive.store(digest(12, ("AI工具", "AI应用")))
    newest = actions.latest(archive, None)
    assert newest is not None and newest.title == "D12" and newest.newest
    assert [e.item.title for e in newest.entries] == ["t12-1", "t12-2"]
    apps = actions.latest(archive, {"AI应用"})
    assert apps is not None and [e.item.title for e in apps.entries] == ["t12-2"]
    older = actions.latest(archive, {"硬件设施"})
    assert older is not None and not older.newest
    assert [e.item.title for e in older.entries] == ["t8-1"]
    assert actions.known_categories(archive, TABLE) == TABLE.categories
    assert actions.delivery_counts(engine) == {}
    engine.dispose()
