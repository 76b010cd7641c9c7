"""Search over the whole archive: the store (SQLite FTS5 trigram + short-query fallback, and
PostgreSQL), the search page and the feed of a search over HTTP, and /search in the bot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import feedparser
import httpx
import pytest
from fakebot import FakeTelegram
from test_commands import Bot, make_settings, started, stopped
from test_feeds_support import ZONE, load_test_table, make_digest, make_item

from bot.feeds.search_results import SearchSite
from bot.model import Entry
from bot.serving import FeedServer, create_app
from bot.serving.search import search_routes
from bot.settings import Settings
from bot.storing.archive import Archive
from bot.storing.browse import Browse
from bot.storing.database import open_database
from bot.storing.search import MAX_QUERY, QueryError, Search

pytest_plugins = ["test_feeds_support"]

TITLES = [
    "OpenAI 发布新的推理模型",  # 模型: a two-character Chinese word
    "谷歌推出视频生成工具",
    'Anthropic "OR" NEAR(a b) 与 -x* 的测试 50%_off',
    "无链接的条目：硬件设施",
]


def store_titles(archive: Archive, number: int = 0) -> None:
    items = [
        make_item(number, i, title=title, url=None if "无链接" in title else f"https://e.com/{i}")
        for i, title in enumerate(TITLES)
    ]
    # an older digest that also speaks of 模型 (newest first in the answers)
    archive.store(make_digest(number, items))
    archive.store(make_digest(number + 1, [make_item(number + 1, 0, title="小模型的新进展")]))
    Browse(archive.engine).assign_slugs(ZONE)  # as the build after an ingest does


def titles(entries: list[Entry]) -> list[str]:
    return [e.item.title for e in entries]


def test_search_finds_chinese_and_english_words(database_url: str) -> None:
    engine = open_database(database_url)
    try:
        archive = Archive(engine)
        store_titles(archive)
        search = Search(engine)
        assert titles(search.find("模型")) == ["小模型的新进展", TITLES[0]]  # newest first
        assert titles(search.find("推理模型")) == [TITLES[0]]
        assert titles(search.find("openai")) == [TITLES[0]]  # case does not matter
        assert titles(search.find("  视频  ")) == [TITLES[1]]
        assert titles(search.find("模型", limit=1)) == ["小模型的新进展"]
        assert search.find("不存在的词") == []
        # the summary and the author are searched too
        assert len(search.find("摘要 0.1")) == 1
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "query",
    ['"OR" NEAR', "NEAR(a b)", "-x*", "50%_off", '"', "OR", "%", "_", "*", "a b)"],
)
def test_operators_and_wildcards_are_literal(database_url: str, query: str) -> None:
    engine = open_database(database_url)
    try:
        store_titles(Archive(engine))
        assert titles(Search(engine).find(query)) == [TITLES[2]], query
    finally:
        engine.dispose()


def test_wildcards_match_only_themselves(database_url: str) -> None:
    engine = open_database(database_url)
    try:
        store_titles(Archive(engine))
        search = Search(engine)
        assert search.find("5%f") == []  # % is no wildcard
        assert search.find("0_o") == []  # nor is _
        assert search.find("谷*") == []
    finally:
        engine.dispose()


def test_oversized_and_empty_queries_are_refused(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path}/db.sqlite")
    search = Search(engine)
    search.find("模" * MAX_QUERY)
    with pytest.raises(QueryError) as refused:
        search.find("模" * (MAX_QUERY + 1))
    assert refused.value.too_long
    with pytest.raises(QueryError) as empty:
        search.find(" \x00\u200b ")
    assert not empty.value.too_long


def test_edits_and_removals_follow_into_the_index(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path}/db.sqlite")
    archive = Archive(engine)
    archive.store(make_digest(0, [make_item(0, 0, title="旧的标题 alpha")]))
    archive.store(make_digest(0, [make_item(0, 0, title="新的标题 beta")]))
    search = Search(engine)
    assert search.find("alpha") == [] and titles(search.find("beta")) == ["新的标题 beta"]
    archive.remove_digest(make_digest(0).id)
    assert search.find("beta") == []


# Over HTTP -------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def searching(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, str, Clock]]:
    settings = Settings(
        feeds_dir=tmp_path / "feeds",
        database_url=f"sqlite:///{tmp_path}/db.sqlite",
        site_url="https://news.example.com/",
    )
    engine = open_database(settings.database_url)
    store_titles(Archive(engine))
    clock = Clock()
    site = SearchSite(Search(engine), load_test_table(), settings)
    app = create_app(tmp_path, extra_routes=search_routes(site, 5, clock=clock))
    server = FeedServer(app, "127.0.0.1", 0)
    async with server, httpx.AsyncClient(timeout=10) as client:
        yield client, server.url, clock
    engine.dispose()


async def test_search_page_and_feed(searching: tuple[httpx.AsyncClient, str, Clock]) -> None:
    client, url, _ = searching
    page = await client.get(url + "search", params={"q": "模型"})
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    html = page.text
    assert "小模型的新进展" in html and TITLES[0] in html
    assert html.index("小模型的新进展") < html.index(TITLES[0])
    assert "<script" not in html and 'lang="zh-CN"' in html
    assert 'href="search.xml?q=%E6%A8%A1%E5%9E%8B"' in html

    hostile = await client.get(url + "search", params={"q": '<script>alert(1)</script>"'})
    assert hostile.status_code == 200 and "<script>alert" not in hostile.text

    feed = await client.get(url + "search.xml", params={"q": "OpenAI"})
    assert feed.status_code == 200
    assert feed.headers["content-type"] == "application/rss+xml; charset=utf-8"
    assert feed.headers["access-control-allow-origin"] == "*"
    parsed = feedparser.parse(feed.content)
    assert parsed.bozo == 0
    assert [e.title for e in parsed.entries] == [TITLES[0]]
    assert parsed.feed.link == "https://news.example.com/search?q=OpenAI"

    linkless = feedparser.parse((await client.get(url + "search.xml?q=硬件设施")).content)
    assert linkless.entries[0].link.startswith("https://news.example.com/d/")

    empty = await client.get(url + "search")
    assert empty.status_code == 200 and 'name="q"' in empty.text


async def test_oversized_query_is_400(searching: tuple[httpx.AsyncClient, str, Clock]) -> None:
    client, url, _ = searching
    page = await client.get(url + "search", params={"q": "x" * (MAX_QUERY + 1)})
    assert page.status_code == 400 and f"不能超过 {MAX_QUERY} 个字符" in page.text
    feed = await client.get(url + "search.xml", params={"q": "x" * (MAX_QUERY + 1)})
    assert feed.status_code == 400 and "longer than" in feed.text


async def test_searches_are_rate_limited_per_client(
    searching: tuple[httpx.AsyncClient, str, Clock],
) -> None:
    client, url, clock = searching
    for n in range(5):  # five a minute; distinct queries so that none is served from the cache
        assert (await client.get(url + "search", params={"q": f"模型{n}"})).status_code == 200
    refused = await client.get(url + "search.xml", params={"q": "another"})
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "12"
    assert "too many searches" in refused.text
    # a cached answer costs nothing
    assert (await client.get(url + "search", params={"q": "模型0"})).status_code == 200
    clock.now += 12
    assert (await client.get(url + "search.xml", params={"q": "another"})).status_code == 200


async def test_search_page_in_chromium_on_a_phone(
    searching: tuple[httpx.AsyncClient, str, Clock],
) -> None:
    """The search page as a reader's browser shows it: the answers, newest first, with links,
    `lang` set, no script, no wider than a phone; a screenshot is kept as a test artefact."""
    from test_index_page import ARGS, ARTIFACTS, CHROMIUM, PHONE, need_chromium

    need_chromium()
    from playwright.async_api import async_playwright

    _, url, _ = searching
    problems: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page(viewport=PHONE, locale="zh-CN", is_mobile=True)
            page.on("pageerror", lambda error: problems.append(str(error)))
            response = await page.goto(url + "search?q=%E6%A8%A1%E5%9E%8B", wait_until="load")
            assert response is not None and response.status == 200
            assert await page.get_attribute("html", "lang") == "zh-CN"
            assert await page.eval_on_selector_all("script", "s => s.length") == 0
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"the search page is {width}px wide on a phone"
            shown = await page.inner_text("body")
            assert shown.index("小模型的新进展") < shown.index(TITLES[0])
            links = await page.eval_on_selector_all("a[href]", "a => a.map(l => l.href)")
            assert "https://e.com/0" in links
            assert await page.input_value('input[name="q"]') == "模型"
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "search-page-phone.png"), full_page=True)
            # the form searches again from the page itself
            await page.fill('input[name="q"]', "OpenAI")
            async with page.expect_navigation():
                await page.press('input[name="q"]', "Enter")
            assert "q=OpenAI" in page.url
            assert TITLES[0] in await page.inner_text("body")
        finally:
            await browser.close()
    assert problems == []


# In the bot ------------------------------------------------------------------------------------


@pytest.fixture
async def search_bot(
    telegram: FakeTelegram,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Bot]:
    telegram.limits = None
    running = await started(make_settings(telegram, database_url, monkeypatch), telegram)
    try:
        yield running
    finally:
        await stopped(running)


async def test_search_command(search_bot: Bot) -> None:
    bot = search_bot
    store_titles(Archive(bot.engine))
    reply = await bot.ask(301, "/search 模型")
    assert reply.plain.index("小模型的新进展") < reply.plain.index(TITLES[0])
    links = [e["url"] for e in reply.entities if e["type"] == "text_link"]
    assert "https://e.com/0" in links
    assert "https://news.example.com/search?q=%E6%A8%A1%E5%9E%8B" in reply.plain

    linkless = await bot.ask(301, "/search 硬件设施")
    urls = [e["url"] for e in linkless.entities if e["type"] == "text_link"]
    assert urls and urls[0].startswith("https://news.example.com/d/")

    english = await bot.ask(301, "/search openai")
    assert english.plain.count(TITLES[0]) == 1 and "小模型的新进展" not in english.plain

    too_long = await bot.ask(301, "/search " + "长" * (MAX_QUERY + 1))
    assert f"最多 {MAX_QUERY} 个字符" in too_long.plain
    assert len(too_long.plain) < 80, "a short reply, not the query echoed back"
    refused = await bot.ask(302, "/search " + "x" * (MAX_QUERY + 1), language_code="en")
    assert "too long" in refused.plain and len(refused.plain) < 80
    assert "/search" in (await bot.ask(301, "/search")).plain
    nothing = await bot.ask(301, '/search "OR" 不存在')
    assert "没有找到" in nothing.plain


def test_a_common_text_still_answers_the_newest_first(tmp_path: Path) -> None:
    """More than 500 matches: read newest first instead of sorting every match."""
    engine = open_database(f"sqlite:///{tmp_path}/db.sqlite")
    archive = Archive(engine)
    for number in (50, 3, 20, *range(4, 20), *range(21, 50)):  # stored out of date order
        archive.store(make_digest(number))
    newest = [entry.item.title for entry in archive.recent(10)]
    assert titles(Search(engine).find("<发布>")) == newest
    assert titles(Search(engine).find("第 3 期第 1 条")) == ["第 3 期第 1 条：模型 <发布> & 更新"]
