"""The one HTML-safety module: URLs, escaping, which tags are HTML; and tag-like text that is no
HTML kept as text in all three outputs (Telegram, feeds, the index page) of the running service."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from service_process import ServiceProcess

from bot.formatting.telegram_html import parse_inline, plain_of
from bot.sanitizer import escape_attribute, escape_text, is_html_tag, safe_url

CHANNEL = -1001000000001


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/",
        "http://example.com:8080/a?b=c#d",
        "HTTPS://Example.COM/x",
        "https://例子.测试/路径",  # IDN host, as written
        "https://xn--fsqu00a.xn--0zwm56d/",
        "https://[2001:db8::1]:443/",
        "https://e.com/a'b",
    ],
)
def test_links_that_may_be_links(url: str) -> None:
    assert safe_url(url) == url
    assert safe_url(f"  {url}\n") == url  # surrounding whitespace is not part of it


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "https://",
        "https:///path",
        "https://:99999/x",
        "https://e.com:99999/x",
        "https://e.com:0/",
        "https://e.com:port/",
        "javascript:alert(1)",
        "JavaScript://e.com/%0aalert(1)",
        "data:text/html,<script>",
        "ftp://e.com/",
        "//e.com/x",
        "/relative",
        "https://e.com/a b",
        "https://e.com/\x00",
        "https://e.com/\x1b[31m",
        "https://e.com/\x85x",
        "https://e.com/\u202ex",
        'https://e.com/"onmouseover="x',
        "https://e.com/<script>",
        "https://e.com\\@evil.com/",
        "https://user:pass@e.com/",
        "https://good.com@evil.com/",
        "https://e.com/" + "a" * 2048,
    ],
)
def test_links_that_may_not(url: str | None) -> None:
    assert safe_url(url) is None


def test_escaping_of_text_and_attributes() -> None:
    assert escape_text("<b>&amp;\"'") == "&lt;b&gt;&amp;amp;\"'"
    assert escape_attribute('a"b<c>&') == "a&quot;b&lt;c&gt;&amp;"
    assert escape_text(42) == "42"

    class Attribute(HTMLParser):
        value = ""

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.value = dict(attrs)["title"] or ""

    hostile = '"><script>alert(1)</script>&quot;'
    parser = Attribute()
    parser.feed(f'<a title="{escape_attribute(hostile)}">')
    assert parser.value == hostile  # the attribute holds exactly the text, nothing escapes it


@pytest.mark.parametrize(
    ("name", "html"),
    [("b", True), ("br", True), ("BR", True), ("think", False), ("T", False), ("A", False)],
)
def test_which_tag_names_are_html(name: str, html: bool) -> None:
    assert is_html_tag(name) is html


def test_summary_html_keeps_only_the_allowlist() -> None:
    runs = parse_inline(
        '<b>b</b><script>x</script><a href="javascript:alert(1)">j</a>'
        '<a href="https://e.com" onclick="x">l</a><img src=x onerror=y><think>t</think>'
    )
    assert plain_of(runs) == "bjl<think>t</think>"
    assert {mark for run in runs for mark in run.marks} == {("b", ""), ("a", "https://e.com")}


# End to end: the three outputs of the running service -------------------------------------------

TAG_LIKE = ("<think>", "Vec<T>", "a<b")
DIGEST = """---
title: "2025.11.27.12 Tag-like text"
date: 2025-11-27T12:00:10+08:00
categories: ["AI工具"]
---

1. [Reasoning models show <think> blocks](https://e.com/think) - A
    The model wrote <think>step one</think> before answering, and Vec<T> is a type; a<b holds.
"""


def test_tag_like_text_stays_text_in_telegram_feeds_and_index_page(
    tmp_path: Path, fake_telegram
) -> None:  # type: ignore[no-untyped-def]
    fake_telegram.reset()
    fake_telegram.limits = None
    service = ServiceProcess(
        tmp_path,
        {
            "DIGESTBOT_TELEGRAM__TOKEN": fake_telegram.token,
            "DIGESTBOT_TELEGRAM__BASE_URL": fake_telegram.base_url,
            "DIGESTBOT_TELEGRAM__CHANNELS": json.dumps([{"chat": CHANNEL, "categories": []}]),
            "DIGESTBOT_TELEGRAM__POLL_TIMEOUT": "1",
        },
    )
    try:
        service.start()
        staged = tmp_path / "incoming.md"
        staged.write_text(DIGEST, "utf-8")
        staged.rename(service.digests / "2025.11.27.12.md")
        fake_telegram.wait_for(lambda f: len(f.messages(CHANNEL)) >= 1, timeout=30)
        service.wait_for_line(r"2025\.11\.27\.12\.md: digest \w+ published")

        shown = fake_telegram.messages(CHANNEL)[0].plain  # as Telegram parsed our HTML
        rss = httpx.get(f"{service.url}/rss.xml", timeout=5).text
        feed = httpx.get(f"{service.url}/feed.json", timeout=5).json()
        index = httpx.get(f"{service.url}/", timeout=5).text
    finally:
        service.kill()

    summary = feed["items"][0]["content_html"]
    for text in TAG_LIKE:
        assert text in shown
        assert text in feed["items"][0]["title"] or escape_text(text) in summary
        assert escape_text(text) in summary  # HTML of the summary shows the characters
        assert escape_text(text) in index
    assert "step one" in shown and escape_text("<think>step one</think>") in index
    # In RSS the HTML is itself escaped once more inside <description>.
    assert escape_text(escape_text("<think>step one</think>")) in rss
