"""Unit tests of the parsing helpers: dates, link normalisation and ids, Markdown, tags, text."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.parsing import (
    date_from_filename,
    digest_id,
    item_id,
    normalise_link,
    normalise_text,
    render_markdown,
    short_hash,
)
from bot.parsing.dates import parse_date_string, to_datetime
from bot.parsing.identity import assign_item_ids
from bot.parsing.tags import hashtags, split_tag_line

SHANGHAI = ZoneInfo("Asia/Shanghai")
CST = timezone(timedelta(hours=8))


# --- dates ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-11-27T12:00:10.236+08:00", datetime(2025, 11, 27, 12, 0, 10, 236000, tzinfo=CST)),
        ("2025-08-01 08:00:00 +0800", datetime(2025, 8, 1, 8, tzinfo=CST)),
        ("2025-11-27T04:00:10Z", datetime(2025, 11, 27, 4, 0, 10, tzinfo=UTC)),
        ("2025-11-27", datetime(2025, 11, 27, tzinfo=SHANGHAI)),
        ("2025-11-27 12:00", datetime(2025, 11, 27, 12, tzinfo=SHANGHAI)),
        ("2025/11/27 12:00:00", datetime(2025, 11, 27, 12, tzinfo=SHANGHAI)),
        ("2025-11-27T12:00:00.123456789-05:30", datetime(2025, 11, 27, 12, 0, 0, 123456,
                                                        tzinfo=timezone(-timedelta(hours=5.5)))),
        ("  2025-11-27T12:00:00 UTC ", datetime(2025, 11, 27, 12, tzinfo=UTC)),
    ],
)  # fmt: skip
def test_date_strings(text: str, expected: datetime) -> None:
    got = parse_date_string(text, SHANGHAI)
    assert got == expected and got.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize("text", ["tomorrow", "2025-13-01", "2025-11-27T25:00", "", "20251127"])
def test_bad_date_strings(text: str) -> None:
    with pytest.raises(ValueError):
        parse_date_string(text, SHANGHAI)


def test_values_yaml_already_parsed() -> None:
    aware = datetime(2025, 11, 27, 12, tzinfo=CST)
    assert to_datetime(aware, SHANGHAI) is aware
    assert to_datetime(datetime(2025, 11, 27, 12), SHANGHAI).tzinfo is SHANGHAI
    assert to_datetime(date(2025, 11, 27), SHANGHAI) == datetime(2025, 11, 27, tzinfo=SHANGHAI)
    for value in (12, 1.5, None, ["2025-11-27"], True):
        with pytest.raises(ValueError):
            to_datetime(value, SHANGHAI)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("2025-11-27-12.md", datetime(2025, 11, 27, 12, tzinfo=SHANGHAI)),
        ("2025.11.27.12.md", datetime(2025, 11, 27, 12, tzinfo=SHANGHAI)),
        ("seeds/2025.11.27.md", datetime(2025, 11, 27, tzinfo=SHANGHAI)),
        ("digest_2025_01_02_08.md", datetime(2025, 1, 2, 8, tzinfo=SHANGHAI)),
        ("notes.md", None),
        ("2025-02-30-12.md", None),
        ("12025-11-27.md", None),
    ],
)
def test_date_from_filename(name: str, expected: datetime | None) -> None:
    assert date_from_filename(name, SHANGHAI) == expected


# --- links and ids --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("HTTPS://WWW.Example.COM/Path/?b=2&a=1#frag", "https://example.com/Path?a=1&b=2"),
        ("https://example.com/a/?utm_source=x&utm_medium=y&id=3", "https://example.com/a?id=3"),
        ("https://example.com/?fbclid=1&gclid=2&ref=hn&ref_src=twsrc&spm=a.b&si=z", "https://example.com/"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com:443/x", "https://example.com/x"),
        ("http://example.com:8080/x", "http://example.com:8080/x"),
        ("https://twitter.com/GaryMarcus/status/1993742337491784144?s=20&t=abc",
         "https://x.com/i/status/1993742337491784144"),
        ("https://mobile.twitter.com/a/status/1/photo/1", "https://x.com/i/status/1"),
        ("https://x.com/i/web/status/42", "https://x.com/i/status/42"),
        ("https://x.com/someone?s=09&lang=en", "https://x.com/someone?lang=en"),
        ("https://example.com/?s=keep&t=keep", "https://example.com/?s=keep&t=keep"),
        ("https://example.com/中文/路径", "https://example.com/%E4%B8%AD%E6%96%87/%E8%B7%AF%E5%BE%84"),
        ("https://example.com/%7euser/%e4%b8%ad", "https://example.com/~user/%E4%B8%AD"),
        ("https://example.com/?q=a+b&r=a%20b", "https://example.com/?q=a%20b&r=a%20b"),
        ("  https://example.com/x  ", "https://example.com/x"),
        ("mailto:a@example.com", "mailto:a@example.com"),
        ("not a url", "not a url"),
        ("https://[::1]:8000/x", "https://[::1]:8000/x"),
        ("https://example.com:99999/", "https://example.com:99999/"),
        ("https://例子.com/a", "https://xn--fsqu00a.com/a"),
        ("https://www.Straße.例子。com/", "https://xn--strae-oqa.xn--fsqu00a.com/"),
        ("https://xn--fsqu00a.com/a", "https://xn--fsqu00a.com/a"),
        ("https://x.com/a/status/1?lang=en&s=20&t=abc&x=1", "https://x.com/i/status/1"),
    ],
)  # fmt: skip
def test_normalise_link(url: str, normal: str) -> None:
    assert normalise_link(url) == normal
    assert normalise_link(normal) == normal


def test_item_ids() -> None:
    did = digest_id(datetime(2025, 11, 27, 12, tzinfo=CST), "标题")
    link = "https://x.com/a/status/1"
    assert item_id(link, "anything", digest_id=did) == short_hash("https://x.com/i/status/1")
    assert item_id(link, "t", digest_id=did) == item_id(link + "?s=20", "other", digest_id="x")
    shared_a = item_id(link, "A", digest_id=did, shared_link=True)
    assert shared_a != item_id(link, "B", digest_id=did, shared_link=True)
    assert shared_a == item_id(link, "Ａ", digest_id="other", shared_link=True)  # NFKC
    assert item_id(None, "t", digest_id=did) != item_id(None, "t", digest_id="other")
    assert item_id(None, "Ｔ  t", digest_id=did) == item_id(None, "t t", digest_id=did)
    assert len(item_id(None, "t", digest_id=did)) == 16
    # one site whether its host is written in Unicode or in punycode
    assert item_id("https://例子.com/a", "t", digest_id=did) == item_id(
        "https://XN--FSQU00A.com/a", "t", digest_id=did
    )
    # a post is its number, however it was shared
    assert item_id(link + "?lang=en", "t", digest_id=did) == item_id(link, "t", digest_id=did)


def test_assign_item_ids() -> None:
    did = "d" * 16
    ids = assign_item_ids(
        did,
        [
            ("https://a.com/page#1", "One"),
            ("https://a.com/page#2", "Two"),
            ("https://b.com/", "Same"),
            ("https://www.b.com", "Same"),
            (None, "No link"),
            (None, "No link"),
        ],
    )
    assert len(set(ids)) == 6
    assert ids[0] == item_id("https://a.com/page", "One", digest_id=did, shared_link=True)
    assert ids[2] == short_hash("https://b.com/")
    assert ids[3] == item_id("https://b.com/", "Same", digest_id=did, occurrence=1)


def test_digest_id_depends_on_date_and_title_only() -> None:
    when = datetime(2025, 11, 27, 12, tzinfo=CST)
    assert digest_id(when, "标题") == digest_id(when, " 标题 ")
    assert digest_id(when, "ＡＩ") == digest_id(when, "AI")
    assert digest_id(when, "标题") != digest_id(when + timedelta(hours=4), "标题")


# --- Markdown -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "html", "text"),
    [
        ("a **b** c", "a <b>b</b> c", "a b c"),
        ("*i* _j_ `c<d>`", "<i>i</i> <i>j</i> <code>c&lt;d&gt;</code>", "i j c<d>"),
        ("这是**“重点”**的内容", "这是<b>“重点”</b>的内容", "这是“重点”的内容"),
        ('[t](https://a.com/?y="2")', '<a href="https://a.com/?y=%222%22">t</a>', "t"),
        ("[t](https://a.com/?x=1&y=2)", '<a href="https://a.com/?x=1&amp;y=2">t</a>', "t"),
        ("[t](javascript:alert(1))", "[t](javascript:alert(1))", "[t](javascript:alert(1))"),
        ("[t](ftp://a.com/) [r](/rel)", "t r", "t r"),
        ("<https://a.com>", '<a href="https://a.com">https://a.com</a>', "https://a.com"),
        # a picture is kept for the web (Telegram drops it); its text is the alt text
        ("![alt](https://a.com/i.png)", '<img src="https://a.com/i.png" alt="alt">', "alt"),
        ("a<br/>b<br>c", "a\nb\nc", "a\nb\nc"),
        ("<img src=x onerror=alert(1)>ok", "ok", "ok"),
        ("x <span onclick='y'>z</span> &lt;tag&gt; & 1 < 2", "x z &lt;tag&gt; &amp; 1 &lt; 2",
         "x z <tag> & 1 < 2"),
        ("<div>\n<script>evil()</script>\n</div>", "", ""),
        ("中文\n续行", "中文续行", "中文续行"),
        ("English\nline", "English line", "English line"),
        ("hard  \nbreak", "hard\nbreak", "hard\nbreak"),
        ("p1\n\np2", "p1\n\np2", "p1\n\np2"),
        ("- a\n- b", "• a\n• b", "• a\n• b"),
        ("3. a\n4. b", "3. a\n4. b", "3. a\n4. b"),
        ("# H", "<b>H</b>", "H"),
        ("    code <x>", "<code>code &lt;x&gt;</code>", "code <x>"),
        ("> quoted", "quoted", "quoted"),
        ("[](https://a.com)", '<a href="https://a.com">https://a.com</a>', ""),
        ("", "", ""),
    ],
)  # fmt: skip
def test_render_markdown(markdown: str, html: str, text: str) -> None:
    assert render_markdown(markdown) == (html, text)


# --- tags and text --------------------------------------------------------------------------


def test_tag_lines() -> None:
    lines = [
        "摘要。",
        "分类: AI工具, AI应用",
        "  Categories：#AI产业，硬件设施、AI伦理  ",
        "*Tags: a; b*",
    ]
    kept, tags = split_tag_line(lines)
    assert kept == ["摘要。"]
    assert tags == ["AI工具", "AI应用", "AI产业", "硬件设施", "AI伦理", "a", "b"]
    kept, tags = split_tag_line(["分类讨论很重要：这是正文。", "分类" + "x" * 400 + ": a"])
    assert tags == [] and len(kept) == 2


def test_hashtags() -> None:
    text = "发布 #AI工具 和 #AI应用。C# 与 a.com/#x、&#39;、#1、# 标题、(#括号)、#GPT-4.5."
    assert hashtags(text) == ["AI工具", "AI应用", "括号", "GPT-4.5"]


def test_normalise_text() -> None:
    assert normalise_text("ＡＩ工具\u200b") == "ai工具"
    assert normalise_text("AI\u00a0Tools") == "ai tools"
    assert normalise_text("Straße") == "strasse"
