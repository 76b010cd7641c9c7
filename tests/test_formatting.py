"""The Telegram formatter: valid HTML by construction, within 4096 units, split between items."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import SAMPLE
from fakebot.html import EntityParseError, parse_html, utf16_len
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.categorising.assign import categorise
from bot.categorising.table import load_table
from bot.formatting.messages import (
    LIMIT,
    format_digest,
    hashtag,
    layout_digest,
    plain_text,
    split_runs,
)
from bot.formatting.telegram_html import Run, parse_inline, plain_of, render
from bot.model import Item
from bot.parsing import parse_file
from bot.sanitizer import safe_url

ROOT = Path(__file__).resolve().parent.parent
ZONE = ZoneInfo("Asia/Shanghai")
TABLE = load_table(ROOT / "config" / "categories.toml")
WHEN = datetime(2025, 11, 27, 12, 0, 10, tzinfo=timezone(timedelta(hours=8)))
FEED = "https://news.example.com/rss.xml"


def item(n: int, **fields: object) -> Item:
    values: dict = {
        "id": f"item{n}",
        "position": n,
        "title": f"标题 {n}",
        "url": f"https://example.com/{n}",
        "author": "作者",
        "summary_md": f"摘要 **{n}**",
        "summary_html": f"摘要 <b>{n}</b>",
        "summary_text": f"摘要 {n}",
        "categories": ("AI工具",),
    }
    values.update(fields)
    return Item(**values)


def parts_of(items: list[Item], limit: int = LIMIT, title: str = "每日 AI 资讯") -> list:
    return layout_digest(title, WHEN, items, zone=ZONE, feed_url=FEED, table=TABLE, limit=limit)


def parsed(html: str):  # type: ignore[no-untyped-def]
    """What Telegram shows; the fake's parser is strict (refuses what Telegram would mangle)."""
    return parse_html(html, strict=True)


def check_parts(parts: list, limit: int = LIMIT) -> list[str]:
    """Every part valid, within the limit (in UTF-16 units, after parsing); their plain texts."""
    texts = []
    for part in parts:
        shown = parsed(part.html)
        assert utf16_len(shown.text) <= limit
        assert utf16_len(shown.text) <= part.length  # our budget is never below Telegram's count
        assert shown.text.strip()
        for entity in shown.entities:
            if entity["type"] == "text_link":
                assert entity["url"].startswith(("http://", "https://"))
        texts.append(shown.text)
    return texts


@pytest.fixture(scope="module")
def sample():  # type: ignore[no-untyped-def]
    return categorise(parse_file(SAMPLE, zone=ZONE), TABLE)


def test_sample_digest_is_one_valid_message_with_header_items_and_footer(sample) -> None:  # type: ignore[no-untyped-def]
    parts = parts_of(list(sample.items), title=sample.title)
    texts = check_parts(parts)
    text = "\n".join(texts)
    assert texts[0].startswith(sample.title + "\n2025-11-27 12:00 (UTC+08:00)")
    positions = [text.index(f"{n}. {it.title}") for n, it in enumerate(sample.items, 1)]
    assert positions == sorted(positions)  # every item, in digest order
    assert f"RSS: {FEED}" in texts[-1]
    for name in {c for it in sample.items for c in it.categories}:
        assert hashtag(name) in texts[-1]
    # each item's title is a link to its URL, and the summary's bold is kept
    entities = [e for part in parts for e in parsed(part.html).entities]
    links = {e["url"] for e in entities if e["type"] == "text_link"}
    assert {it.url for it in sample.items} <= links
    bold = [e for e in entities if e["type"] == "bold"]
    assert len(bold) > 2 * len(sample.items)  # numbers, titles, and the summaries' bold
    assert all(part.disable_preview for part in parts)  # several items: no preview
    assert [i for p in parts for i in p.item_ids] == [it.id for it in sample.items]


def test_sample_with_a_small_limit_splits_only_between_items(sample) -> None:  # type: ignore[no-untyped-def]
    parts = parts_of(list(sample.items), limit=1200, title=sample.title)
    assert len(parts) > 2
    texts = check_parts(parts, 1200)
    seen = [i for p in parts for i in p.item_ids]
    assert seen == [it.id for it in sample.items]  # each item whole, in exactly one part
    for n, (part, text) in enumerate(zip(parts, texts, strict=True), 1):
        if n > 1:
            assert text.startswith(f"{sample.title} ({n}/{len(parts)})")
        for item_id in part.item_ids:
            it = next(i for i in sample.items if i.id == item_id)
            assert it.summary_text.split("。")[0] in text
    assert "RSS:" in texts[-1] and "RSS:" not in "".join(texts[:-1])


def test_huge_item_splits_between_sentences() -> None:
    sentences = [f"第{n}句话说明了一件事情，内容是{'很长的' * 20}描述。" for n in range(120)]
    big = item(2, summary_html="".join(sentences), summary_text="".join(sentences))
    parts = parts_of([item(1), big, item(3)])
    texts = check_parts(parts)
    assert len(parts) >= 3
    joined = "".join(texts)
    for sentence in sentences:  # nothing lost, no sentence cut in two
        assert sentence in joined
    for text in texts:
        body = text.rstrip()
        if "RSS:" in body:
            continue
        assert body.endswith("。"), body[-40:]
    assert parts[0].item_ids[0] == "item1"
    assert parts[-1].item_ids[-1] == "item3"


def test_huge_item_without_sentences_splits_between_words_then_characters() -> None:
    words = " ".join(f"word{n}" for n in range(3000))
    parts = parts_of([item(1, summary_html=words)])
    texts = check_parts(parts)
    assert len(parts) >= 4
    tokens = " ".join(texts).split()
    assert all(f"word{n}" in tokens for n in range(3000))  # no word cut

    emoji = "👨‍👩‍👧" * 800 + "😀" * 3000  # surrogate pairs and ZWJ sequences, no spaces
    parts = parts_of([item(2, summary_html=emoji)])
    texts = check_parts(parts)
    assert len(parts) >= 4
    # no code point lost or doubled, no surrogate pair or ZWJ sequence cut
    assert sum(t.count("😀") for t in texts) == 3000
    assert sum(t.count("👨‍👩‍👧") for t in texts) == 800


def test_budget_counts_utf16_units() -> None:
    # 2100 astral characters are 2100 code points but 4200 UTF-16 units: too long for one part
    text = "😀" * 2100
    parts = parts_of([item(1, summary_html=text, url=None)])
    assert len(parts) == 2
    for part in parts:
        assert part.length <= LIMIT
        assert utf16_len(parsed(part.html).text) <= LIMIT


HOSTILE = [
    "<script>alert(1)</script>",
    "AT&T &amp; &nbsp; &#0; &#x110000; &unknown; &",
    '<a href="javascript:alert(1)">js</a> <a href="data:text/html,x">data</a>',
    '<a href="http://ok.example/?a=1&b="2"">quote</a>',
    "<a href='https://a.example'><a href='https://b.example'>nested</a></a>",
    "<b><i>open <code>code in bold</code> and <u>never closed",
    "</b></i></a> stray closers <b/> <br> <p>para</p>",
    '<pre><code class="language-python">x < y && z > 0</code></pre>',
    "\x00\x01\x07 control \u202e RTL \u200b zero width \ufeff BOM \r\n CRLF",
    '<img src=x onerror=alert(1)> <iframe src="https://evil"></iframe>',
    "<tg-spoiler>spoiler</tg-spoiler> <span class='tg-spoiler'>x</span>",
    "<tg-emoji emoji-id=1>😀</tg-emoji> <blockquote expandable>q</blockquote>",
    "<<b>>double<</b>> <b<b>>",
    'unterminated <a href="https://x.example',
    "<!-- comment --> <![CDATA[ cdata ]]> <?pi?> <!doctype html>",
    "**not markdown** _nor_ `this`",
]


@pytest.mark.parametrize("summary", HOSTILE)
def test_hostile_summaries_become_valid_messages(summary: str) -> None:
    hostile = item(
        1,
        title="<b>title</b> & <a href='x'>",
        author="</i>& <script>",
        summary_html=summary,
        summary_text=summary,
    )
    parts = parts_of([hostile, item(2)], title='<digest> & "title" </b>')
    texts = check_parts(parts)
    text = "".join(texts)
    assert "<b>title</b> & <a href='x'>" in text  # shown as written, not interpreted
    assert '<digest> & "title" </b>' in text
    assert "alert(1)" not in text  # scripts, javascript: links and attributes are dropped
    for part in parts:
        assert "javascript:" not in part.html
        assert "<script" not in part.html and "<img" not in part.html


@given(
    title=st.text(max_size=300),
    author=st.none() | st.text(max_size=80),
    url=st.none() | st.sampled_from(["https://a.example/x?y=1&z=2", "javascript:x", "ftp://f"]),
    summary=st.text(
        alphabet=st.characters(blacklist_categories=("Cs",)) | st.sampled_from(list("<>&\"'/ab")),
        max_size=3000,
    ),
    count=st.integers(1, 6),
)
@example(title="", author=None, url=None, summary="<![0", count=1)  # html.parser asserted
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_text_gives_valid_parts_within_the_limit(
    title: str, author: str | None, url: str | None, summary: str, count: int
) -> None:
    items = [
        item(n, title=title or "t", author=author, url=url, summary_html=summary)
        for n in range(1, count + 1)
    ]
    parts = parts_of(items, limit=1500, title=title)
    check_parts(parts, 1500)
    assert sorted({i for p in parts for i in p.item_ids}) == sorted(i.id for i in items)


@pytest.mark.parametrize("text", ["<![0", "a <![0 <b>b</b>", "<![", "x<![ y"])
def test_a_malformed_marked_section_is_text_not_a_crash(text: str) -> None:
    # Python 3.11's html.parser raises AssertionError on these; a summary may hold them
    shown = plain_of(parse_inline(text))
    assert shown.startswith(text.split("<![", 1)[0] + "<![")
    assert plain_text(text).startswith(text.split("<![", 1)[0] + "<![")


def test_no_items_no_message_and_single_item_keeps_its_preview() -> None:
    assert format_digest("t", WHEN, [], zone=ZONE, feed_url=FEED, table=TABLE) == []
    single = parts_of([item(1)])
    assert len(single) == 1 and not single[0].disable_preview
    assert parts_of([item(1, url=None)])[0].disable_preview
    assert all(p.disable_preview for p in parts_of([item(1), item(2)]))


def test_naive_and_foreign_dates_are_shown_in_the_zone() -> None:
    utc = datetime(2025, 11, 27, 4, 0, tzinfo=UTC)
    text = parsed(parts_of([item(1)], title="x")[0].html).text
    assert "2025-11-27 12:00 (UTC+08:00)" in text
    html = format_digest(
        "x", utc, [item(1)], zone=ZoneInfo("Europe/London"), feed_url=FEED, table=TABLE
    )[0]
    assert "2025-11-27 04:00 (UTC+00:00)" in parsed(html).text


def test_inline_conversion_keeps_only_safe_markup() -> None:
    runs = parse_inline('a <b>b <i>c</i></b> <a href="https://x.example/?q=1&amp;r=2">d</a>')
    html = render(runs)
    assert html == ('a <b>b </b><b><i>c</i></b> <a href="https://x.example/?q=1&amp;r=2">d</a>')
    assert render(parse_inline('<a href="https://x.example"><code>c</code></a>')) == (
        '<a href="https://x.example">c</a>'
    )
    assert render(parse_inline("<b><code>c</code></b>")) == "<code>c</code>"
    assert render([Run('<&>"', (("a", 'https://x.example/"q"'),))]) == (
        '<a href="https://x.example/&quot;q&quot;">&lt;&amp;&gt;"</a>'
    )
    assert safe_url("https://example.com/a b") is None
    assert safe_url("HTTPS://Example.com/") == "HTTPS://Example.com/"
    assert safe_url("https:///nohost") is None
    assert safe_url("https://x.example:99999/") is None


def test_hashtags_are_telegram_hashtags() -> None:
    assert hashtag("AI工具") == "#AI工具"
    assert hashtag("Hardware & Infra-structure") == "#Hardware_Infra_structure"
    assert hashtag("2025") == "#_2025"
    assert hashtag("&&&") is None


def test_plain_text_fallback() -> None:
    html = '<b>标题</b> &amp; <a href="https://x.example/1">链接</a> <code>&lt;x&gt;</code>'
    assert plain_text(html) == "标题 & 链接 (https://x.example/1) <x>"
    long_html = '<a href="https://x.example/' + "y" * 100 + '">t</a>' + "z" * 4050
    text = plain_text(long_html)
    assert utf16_len(text) <= LIMIT and "https://" not in text


def test_split_runs_never_cuts_a_tag() -> None:
    runs = [Run("普通文字。" * 50), Run("加粗的很长一段文字。" * 50, (("b", ""),)), Run("尾。")]
    pieces = split_runs(runs, 200)
    assert len(pieces) > 3
    for piece in pieces:
        html = render(piece)
        parsed(html)  # valid on its own
        assert utf16_len("".join(r.text for r in piece)) <= 200
    assert "".join(r.text for piece in pieces for r in piece) == "".join(r.text for r in runs)


def test_fake_parser_refuses_what_we_must_never_send() -> None:
    """The check above is meaningful: the fake refuses a cut tag and a bare ampersand."""
    with pytest.raises(EntityParseError):
        parsed("<b>cut")
    with pytest.raises(EntityParseError):
        parsed("AT&T")
    assert re.search(r"&amp;", render([Run("AT&T")]))


def test_an_item_without_a_link_links_to_its_anchor_on_the_digest_page() -> None:
    page = "https://news.example.com/d/2025-11-27-1200/"
    linkless = item(2, url=None)
    parts = layout_digest(
        "每日", WHEN, [item(1), linkless], zone=ZONE, feed_url=FEED, table=TABLE, page_url=page
    )
    assert links_of(parts) == ["https://example.com/1", f"{page}#item-item2", FEED]
    # without a page (no site address), and with an address the sanitizer refuses: no link
    for bad in ("", 'https://news.example.com/d/x"onclick="/'):
        shown = layout_digest(
            "每日", WHEN, [linkless], zone=ZONE, feed_url=FEED, table=TABLE, page_url=bad
        )
        assert links_of(shown) == [FEED]
        assert "onclick" not in shown[0].html


def links_of(parts: list) -> list[str]:  # type: ignore[type-arg]
    return [e["url"] for p in parts for e in parsed(p.html).entities if e["type"] == "text_link"]
