"""The index page in headless Chromium (Debian's, driven by Playwright), served over HTTP."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import ROOT, unavailable
from test_feeds_support import (
    HOSTILE_TITLE,
    TEST_CATEGORIES,
    Site,
    hostile_digest,
    make_digest,
)

pytest_plugins = ["test_feeds_support"]  # the `site` fixture

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.browser


def need_chromium() -> None:
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"{CHROMIUM} is absent (apt-get install chromium)")


async def test_index_page_in_chromium(site: Site) -> None:
    need_chromium()
    from playwright.async_api import async_playwright

    for n in range(3):
        site.archive.store(make_digest(n))
    site.archive.store(hostile_digest(3))
    site.build()
    feeds = site.feed_paths()
    assert len(feeds) == 3 * (1 + len(TEST_CATEGORIES))

    problems: list[str] = []
    requests: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1200, "height": 900}, locale="zh-CN")
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
            page.on("request", lambda r: requests.append(r.url))
            response = await page.goto(site.url, wait_until="load")
            assert response is not None and response.status == 200
            assert response.headers["content-type"] == "text/html; charset=utf-8"

            alternates = await page.eval_on_selector_all(
                'link[rel="alternate"]',
                "links => links.map(l => [l.type, l.href, l.title])",
            )
            anchors = await page.eval_on_selector_all(
                "a[href]", "links => links.map(a => [a.href, a.innerText])"
            )
            hrefs = {href for href, _ in anchors}
            for path in feeds:
                url = site.url + path
                assert url in hrefs, f"no visible link to {path}"
                assert any(href == url for _, href, _ in alternates), f"no autodiscovery of {path}"
            kinds = {kind for kind, _, _ in alternates}
            assert kinds == {
                "application/rss+xml",
                "application/atom+xml",
                "application/feed+json",
            }
            assert site.url + "opml.xml" in hrefs
            for category in TEST_CATEGORIES:
                link = f"https://t.me/digest_test_bot?start=sub-{category.slug}"
                assert link in hrefs, category
            # every feed link works from the page
            for path in feeds:
                fetched = await page.request.get(site.url + path)
                assert fetched.status == 200, path

            title = await page.title()
            assert title == site.settings.site_title
            text = await page.inner_text("body")
            shown = " ".join(HOSTILE_TITLE.replace("\x01", "").replace("\x1f", "").split())
            assert shown in " ".join(text.split()), "hostile text is shown as text"
            assert await page.eval_on_selector_all("script", "s => s.length") == 0
            items = await page.eval_on_selector_all("#recent li", "l => l.length")
            assert items == 35  # 3 digests of 11 items and 2 more

            ARTIFACTS.mkdir(exist_ok=True)
            shot = ARTIFACTS / "index-page.png"
            await page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            await page.screenshot(path=str(ARTIFACTS / "index-page-top.png"))
        finally:
            await browser.close()
    assert problems == []
    assert all(url.startswith(site.url) for url in requests), requests


def test_index_page_is_self_contained(tmp_path: Path) -> None:
    """No external resource, no script, a data: icon (no favicon request, no console error)."""
    from test_feeds_support import load_test_table, make_settings

    from bot.feeds import render_all
    from bot.storing.archive import Archive
    from bot.storing.database import open_database

    settings = make_settings(tmp_path, "https://news.example.com/")
    archive = Archive(open_database(settings.database_url))
    archive.store(make_digest(0))
    page = render_all(archive, load_test_table(), settings)["index.html"].decode()
    assert "<script" not in page
    assert 'rel="icon" href="favicon.ico"' in page
    for attribute in ("src=", "@import", "url("):
        assert attribute not in page, attribute
    assert page.count('rel="alternate"') == 3 * (1 + len(TEST_CATEGORIES))
    assert "t.me/" not in page  # no bot username known


PHONE = {"width": 390, "height": 844}


async def test_archive_pages_in_chromium_on_a_phone(site: Site) -> None:
    """Digest, month and category pages: reachable from the index, readable at phone width
    (nothing wider than the screen), `lang` set, no script, every link on them answers."""
    need_chromium()
    from playwright.async_api import async_playwright

    for n in range(3):
        site.archive.store(make_digest(n))
    site.archive.store(hostile_digest(3))
    site.build()
    problems: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page(viewport=PHONE, locale="zh-CN", is_mobile=True)
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
            await page.goto(site.url, wait_until="load")
            hrefs = await page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
            pages = {
                "digest": site.url + "d/2025-11-27-2000/",
                "month": site.url + "archive/2025-11/",
                "category": site.url + "c/ai-tools/",
            }
            for url in pages.values():
                assert url in hrefs, f"the index links {url}"
            ARTIFACTS.mkdir(exist_ok=True)
            for name, url in pages.items():
                response = await page.goto(url, wait_until="load")
                assert response is not None and response.status == 200, url
                assert await page.get_attribute("html", "lang") == "zh-CN"
                assert await page.eval_on_selector_all("script", "s => s.length") == 0
                assert await page.eval_on_selector_all('meta[name="viewport"]', "m => m.length")
                width = await page.evaluate("document.documentElement.scrollWidth")
                assert width <= PHONE["width"], f"{name} page is {width}px wide on a phone"
                links = await page.eval_on_selector_all("a[href]", "a => a.map(l => l.href)")
                # (the search page is the service's, not a file: tests/test_search.py)
                local = {u.split("#")[0] for u in links if u.startswith(site.url)}
                for link in local - {site.url + "search"}:
                    fetched = await page.request.get(link)
                    assert fetched.status == 200, (name, link)
                await page.screenshot(
                    path=str(ARTIFACTS / f"{name}-page-phone.png"), full_page=True
                )
            # the digest page: its items in order, each with its anchor; a linkless one too
            await page.goto(site.url + "d/2025-11-27-2000/", wait_until="load")
            ids = await page.eval_on_selector_all("ol.items > li", "l => l.map(e => e.id)")
            assert ids == [f"item-{item.id}" for item in hostile_digest(3).items]
            await page.goto(site.url + f"d/2025-11-27-2000/#{ids[1]}", wait_until="load")
            assert await page.evaluate("location.hash") == f"#{ids[1]}"
        finally:
            await browser.close()
    assert problems == []
