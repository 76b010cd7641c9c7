"""The pure parts of a reader's settings: `/filter` arguments, the menu's callback data and
presses, keyword filters in routing, the compact and English layouts, and the store's reads for
sending and planning (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fakebot import parse_html
from test_dispatch_support import CST, TABLE, make_item

from bot.commands import settings_menu
from bot.commands.filter_argument import FilterError, parse_filter
from bot.dispatching.routing import Recipient, route, with_filters
from bot.formatting.messages import Style, layout_digest, revise_layout
from bot.storing.chat_settings import DEFAULT, ChatSettings, ChatSettingsStore, reading_language
from bot.storing.database import open_database
from bot.storing.subscribers import Subscribers

# /filter ----------------------------------------------------------------------------------------


def test_filter_words_are_added_in_order_and_change_sides() -> None:
    have = parse_filter("+OpenAI +Anthropic -融资 -招聘", DEFAULT)
    assert (have.include_words, have.exclude_words) == (("OpenAI", "Anthropic"), ("融资", "招聘"))
    have = parse_filter("Gemini，－ＯＰＥＮＡＩ、＋融资", have)
    assert have.include_words == ("Anthropic", "Gemini", "融资")
    assert have.exclude_words == ("招聘", "ＯＰＥＮＡＩ")
    assert parse_filter("clear", have) == DEFAULT
    assert parse_filter("clear +AI", have) == replace(DEFAULT, include_words=("AI",))
    assert parse_filter("+a +A +ａ", DEFAULT).include_words == ("ａ",)  # one word, last spelling


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("+", "empty"),
        ("+OpenAI -", "empty"),
        ("＋", "empty"),
        ("+" + "x" * 41, "long"),
        ("+ﷺ" * 3, "long"),  # one character that NFKC makes 18: over 40 when normalised
        (" ".join(f"+w{n}" for n in range(21)), "many"),
        (" ".join(f"+w{n}" for n in range(500)), "many"),
        ("x" * 2000, "many"),
    ],
)
def test_bad_filters_are_refused(raw: str, problem: str) -> None:
    with pytest.raises(FilterError) as refused:
        parse_filter(raw, DEFAULT)
    assert refused.value.problem == problem


def test_twenty_words_fit_counting_those_already_there() -> None:
    have = parse_filter(" ".join(f"+w{n}" for n in range(19)), DEFAULT)
    assert len(parse_filter("-x", have).exclude_words) == 1
    with pytest.raises(FilterError):
        parse_filter("-x -y", have)
    assert len(parse_filter("-w3 -w4", have).include_words) == 17  # moved sides: still 19


# The menu ---------------------------------------------------------------------------------------


def test_callback_data_round_trips_and_strangers_are_refused() -> None:
    for setting, value in (("lang", "en"), ("format", "compact"), ("filter", "")):
        text = settings_menu.data(setting, value)
        assert settings_menu.parse_callback(text) == settings_menu.Press(setting, value)
    for text in (
        None,
        "",
        "st:",
        "st:lang",
        "st:LANG:en",
        "sub:ai",
        "st:lang:e n",
        "st:a:" + "x" * 30,
    ):
        assert settings_menu.parse_callback(text) is None
    with pytest.raises(ValueError):
        settings_menu.data("lang", "中文")


def test_presses_change_only_what_they_name() -> None:
    press = settings_menu.Press
    assert settings_menu.apply(DEFAULT, press("lang", "en")) == replace(DEFAULT, language="en")
    assert settings_menu.apply(DEFAULT, press("preview", "off")) == replace(DEFAULT, preview=False)
    assert settings_menu.apply(DEFAULT, press("silent", "on")) == replace(DEFAULT, silent=True)
    for bad in (press("lang", "fr"), press("format", "x"), press("filter", ""), press("no", "on")):
        assert settings_menu.apply(DEFAULT, bad) is None


def test_every_row_fits_telegram() -> None:
    chosen = ChatSettings(
        include_words=tuple("很长的关键词" * 6 for _ in range(20)),
        paused=True,
        paused_until_ts=2_000_000_000.0,
        quiet_start="23:00",
        quiet_end="08:00",
        schedule=("08:00", "20:00"),
        timezone="America/Argentina/Buenos_Aires",
    )
    for lang in ("zh", "en"):
        view = settings_menu.View(chosen, lang, "Asia/Shanghai", 1_900_000_000.0)  # type: ignore[arg-type]
        for row in settings_menu.keyboard(view).inline_keyboard:
            for button in row:
                assert 0 < len(button.text) <= 64
                assert len((button.callback_data or "").encode()) <= 64  # type: ignore[union-attr]


# Routing ----------------------------------------------------------------------------------------


def test_filters_narrow_what_routing_selects() -> None:
    items = [
        replace(make_item("a", ("AI产业",)), title="OpenAI 发布新模型"),
        replace(make_item("b", ("AI产业",)), title="Anthropic", summary_text="完成新一轮融资"),
        replace(make_item("c", ("AI工具",)), title="ＯｐｅｎＡＩ tools"),
        replace(make_item("d", ("AI工具",)), title="Open", summary_text="AI"),  # not across
    ]
    targets = [Recipient(str(n), frozenset({"*"})) for n in range(4)]
    chosen = {
        "0": ChatSettings(include_words=("openai",)),
        "1": ChatSettings(exclude_words=("融资",)),
        "2": ChatSettings(include_words=("OPENAI", "anthropic"), exclude_words=("tools",)),
    }
    filtered = with_filters(targets, chosen)
    assert filtered[0].include == filtered[2].include[:1] == ("openai",)
    assert filtered[3] is targets[3]
    routed = route(items, filtered, TABLE)
    assert [i.id for i in routed["0"]] == ["a", "c"]
    assert [i.id for i in routed["1"]] == ["a", "c", "d"]
    assert [i.id for i in routed["2"]] == ["a", "b"]
    assert [i.id for i in routed["3"]] == ["a", "b", "c", "d"]
    nothing = with_filters([targets[0]], {"0": ChatSettings(include_words=("gemini",))})
    assert route(items, nothing, TABLE) == {}


# Layout -----------------------------------------------------------------------------------------


def _layout(style: Style) -> list[str]:
    from datetime import datetime

    items = [make_item(f"i{n}", ("AI产业",), f"摘要 {n}。") for n in range(3)]
    parts = layout_digest(
        "标题",
        datetime(2025, 11, 3, 9, 5, tzinfo=CST),
        items,
        zone=CST,
        feed_url="https://news.example.com/rss.xml",
        table=TABLE,
        style=style,
    )
    return [p.html for p in parts]


def test_compact_lists_numbered_linked_titles_only_and_english_fixed_texts() -> None:
    (full,) = _layout(Style())
    (compact,) = _layout(Style(compact=True))
    (english,) = _layout(Style("en", compact=True))
    assert "摘要 1" in full and "作者" in full
    assert "摘要 1" not in compact and "作者" not in compact
    assert '</a>\n<b>2. </b><a href="https://example.com/i1"><b>新闻 [i1]</b></a>\n<b>3.' in compact
    assert "2025-11-03 09:05 (UTC+08:00)" in compact and "RSS: " in compact
    assert "3 Nov 2025, 09:05 (UTC+08:00)" in english and "RSS feed: " in english
    for html in (full, compact, english):
        parse_html(html)  # valid Telegram HTML


def test_a_revision_keeps_the_style() -> None:
    from datetime import datetime

    items = [make_item(f"i{n}", ("AI产业",), f"摘要 {n}。") for n in range(2)]
    style = Style("en", compact=True)
    when = datetime(2025, 11, 3, 9, 5, tzinfo=CST)
    feed = "https://news.example.com/rss.xml"
    (part,) = layout_digest("t", when, items, zone=CST, feed_url=feed, table=TABLE, style=style)
    again = revise_layout("t", when, [items], zone=CST, feed_url=feed, table=TABLE, style=style)
    assert [p.html for p in again.parts] == [part.html]


# The store --------------------------------------------------------------------------------------


def test_languages_for_sending_and_planning(database_url: str) -> None:
    engine = open_database(database_url)
    chats = Subscribers(engine)
    chats.upsert_chat(1, "private", language="en-GB")
    chats.upsert_chat(2, "private", language="EN")
    chats.upsert_chat(3, "private", language="zh-hans")
    chats.upsert_chat(4, "supergroup")
    chats.upsert_chat(-1006, "channel")
    store = ChatSettingsStore(engine)
    store.save(2, ChatSettings(language="zh", silent=True))
    store.save(4, ChatSettings(language="en"))
    assert store.english_among(["1", "2", "3", "4", "5"]) == {"1", "2"}
    assert store.english_among(["2", "3"]) == {"2"}
    sending, channels = store.for_sending(["1", "2", "3", "4", "5", "-1006"])
    assert channels == {"-1006"}
    del sending["-1006"]
    assert {c: s.language for c, s in sending.items()} == {
        "1": "en",
        "2": "zh",
        "3": "zh",
        "4": "en",
        "5": "zh",
    }
    assert sending["2"].silent and not sending["1"].silent
    assert reading_language(None, "en-US") == "en" and reading_language("zh", "en") == "zh"
    assert reading_language(None, None) == "zh"
