"""The whole archive stays reachable: RFC 5005 archive documents, JSON Feed paging, the pages of
digests, months and categories, and builds that render only what changed."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import feedparser
import jsonschema
from lxml import etree
from test_feeds_support import (
    ZONE,
    Site,
    load_test_table,
    make_digest,
    make_item,
    make_settings,
)

from bot.feeds import build, build_feeds
from bot.storing.archive import Archive, new_feed_id
from bot.storing.database import open_database

pytest_plugins = ["test_feeds_support"]  # the `site` fixture

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "jsonfeed-1.1.json").read_text())
FH = "http://purl.org/syndication/history/1.0"
ATOM = "http://www.w3.org/2005/Atom"


def store_many(archive: Archive, count: int) -> set[str]:
    """`count` digests of 11 items, four hours apart (several months); their feed ids."""
    ids: set[str] = set()
    for number in range(count):
        digest = make_digest(number)
        archive.store(digest)
        ids.update(new_feed_id(item.id) for item in digest.items)
    return ids


def links(parsed: feedparser.FeedParserDict) -> dict[str, str]:
    return {link.rel: link.href for link in parsed.feed.get("links", [])}


async def test_following_archive_links_reaches_every_item_once(site: Site) -> None:
    wanted = store_many(site.archive, 455)  # 5,005 items over 76 days
    assert len(wanted) == 5005
    site.build()
    # RSS by feedparser (a reader's view of the links)
    seen: Counter[str] = Counter()
    url: str | None = site.url + "rss.xml"
    documents = 0
    while url:
        response = await site.get(url.removeprefix(site.url))
        assert response.status_code == 200, url
        parsed = feedparser.parse(response.content)
        assert parsed.bozo == 0, (url, parsed.get("bozo_exception"))
        seen.update(entry.id for entry in parsed.entries)
        rels = links(parsed)
        archived = etree.fromstring(response.content).findall(f".//{{{FH}}}archive")
        if documents == 0:
            assert "current" not in rels and not archived
        else:
            assert rels["current"] == site.url + "rss.xml"
            assert len(archived) == 1 and "/archive/20" in url
        url = rels.get("prev-archive")
        documents += 1
    assert documents == 5  # the subscription document and four months
    assert set(seen) == wanted and max(seen.values()) == 1

    # Atom (strict XML; feedparser takes seconds per thousand entries)
    seen = Counter()
    url = site.url + "atom.xml"
    while url:
        document = etree.fromstring((await site.get(url.removeprefix(site.url))).content)
        seen.update(document.xpath("//a:entry/a:id/text()", namespaces={"a": ATOM}))
        older = document.xpath("/a:feed/a:link[@rel='prev-archive']/@href", namespaces={"a": ATOM})
        url = older[0] if older else None
    assert set(seen) == wanted and max(seen.values()) == 1

    # JSON Feed pages by next_url
    seen = Counter()
    next_url: str | None = site.url + "feed.json"
    while next_url:
        data = (await site.get(next_url.removeprefix(site.url))).json()
        jsonschema.validate(data, SCHEMA)
        seen.update(item["id"] for item in data["items"])
        next_url = data.get("next_url")
    assert set(seen) == wanted and max(seen.values()) == 1

    # a category's feed has its own archive
    seen = Counter()
    category_url: str | None = site.url + "c/ai-tools/rss.xml"
    while category_url:
        document = etree.fromstring((await site.get(category_url.removeprefix(site.url))).content)
        seen.update(document.xpath("//item/guid/text()"))
        older = document.xpath(
            "/rss/channel/a:link[@rel='prev-archive']/@href", namespaces={"a": ATOM}
        )
        category_url = older[0] if older else None
    assert max(seen.values()) == 1 and len(seen) == sum(
        1 for n in range(455) for i in range(11) if "AI工具" in make_item(n, i).categories
    )


async def test_finished_months_are_cached_long(site: Site) -> None:
    store_many(site.archive, 455)
    site.build()
    older = await site.get("archive/2025-12/rss.xml")
    newest = feedparser.parse((await site.get("rss.xml")).content)
    current_month = links(newest)["prev-archive"]
    assert current_month.endswith("/archive/2026-02/rss.xml")
    assert "immutable" in older.headers["cache-control"]
    assert older.headers["access-control-allow-origin"] == "*"
    latest = await site.get(current_month.removeprefix(site.url))
    assert latest.headers["cache-control"] == "public, max-age=1800"  # the month goes on


def test_pages_link_every_digest_and_anchor_every_item(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "https://news.example.com/")
    archive = Archive(open_database(settings.database_url))
    table = load_test_table()
    store_many(archive, 30)
    build_feeds(archive, table, settings)
    feeds = Path(settings.feeds_dir)
    index = (feeds / "index.html").read_text()
    for month in ("2025-11", "2025-12"):
        assert f'href="archive/{month}/"' in index
        page = (feeds / "archive" / month / "index.html").read_text()
        assert 'lang="zh-CN"' in page and 'name="viewport"' in page and "<script" not in page
    for number in range(30):
        digest = make_digest(number)
        slug = digest.date.strftime("%Y-%m-%d-%H%M")
        page = (feeds / "d" / slug / "index.html").read_text()
        assert digest.title in page
        positions = [page.index(f'id="item-{item.id}"') for item in digest.items]
        assert positions == sorted(positions), "items in the digest's order"
        month = (feeds / "archive" / digest.date.strftime("%Y-%m") / "index.html").read_text()
        assert f'href="../../d/{slug}/"' in month
    tools = (feeds / "c" / "ai-tools" / "index.html").read_text()
    assert 'href="rss.xml"' in tools and 'type="application/rss+xml"' in tools
    assert "t.me/" not in tools  # no bot username configured


def test_adding_a_digest_renders_only_what_it_touches(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "https://news.example.com/")
    archive = Archive(open_database(settings.database_url))
    table = load_test_table()
    store_many(archive, 200)  # 2,200 items: three months of archive documents
    now = datetime(2026, 3, 1, tzinfo=ZONE)
    cold = build(archive, table, settings, now=now)
    again = build(archive, table, settings, now=now)
    assert again.changed == ()
    archive.store(make_digest(200))
    warm = build(archive, table, settings, now=now)
    written = {p.relative_to(settings.feeds_dir).as_posix() for p in warm.changed}
    pages = {p for p in written if p.startswith(("d/", "archive/"))}
    assert pages == {
        "d/2025-12-30-1600/index.html",  # the new digest
        "d/2025-12-30-1200/index.html",  # its older neighbour links to it now
        "archive/2025-12/index.html",
        "archive/2025-12/rss.xml",  # 100 entries roll from the subscription feed into it
        "archive/2025-12/atom.xml",
        "archive/2025-12/feed.json",
    }
    assert len(cold.files) == len(warm.files) - 1

    # a digest that is removed takes its page with it
    archive.remove_digest(make_digest(200).id)
    build(archive, table, settings, now=now)
    assert not (Path(settings.feeds_dir) / "d" / "2025-12-30-1600").exists()


def test_an_emptied_state_renders_everything_again(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "https://news.example.com/")
    archive = Archive(open_database(settings.database_url))
    store_many(archive, 12)
    table = load_test_table()
    build_feeds(archive, table, settings)
    page = Path(settings.feeds_dir) / "d" / "2025-11-27-0800" / "index.html"
    page.unlink()
    (Path(settings.feeds_dir) / ".build-state.json").write_text("not json")
    build_feeds(archive, table, settings)
    assert page.is_file()


def test_digest_slugs_are_unique_and_kept(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "https://news.example.com/")
    archive = Archive(open_database(settings.database_url))
    first = make_digest(0)
    twin = make_digest(0, [make_item(50, 0)])
    twin = type(twin)(**{**{f: getattr(twin, f) for f in twin.__dataclass_fields__}, "id": "twin"})
    archive.store(first)
    build_feeds(archive, load_test_table(), settings)
    archive.store(twin)
    build_feeds(archive, load_test_table(), settings)
    folder = Path(settings.feeds_dir) / "d"
    assert sorted(p.name for p in folder.iterdir()) == ["2025-11-27-0800", "2025-11-27-0800-twin"]
    assert first.date + timedelta(0) == twin.date


def test_entries_carry_content_source_icon_and_language(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "https://news.example.com/")
    archive = Archive(open_database(settings.database_url))
    long_text = "First sentence about a model. " + "Second sentence goes on and on. " * 20
    english = make_item(
        0, 0, title="An English story", summary_text=long_text, summary_html=long_text
    )
    digest = make_digest(0, [english, make_item(0, 1)])
    archive.store(digest)
    build_feeds(archive, load_test_table(), settings)
    feeds = Path(settings.feeds_dir)
    rss = feedparser.parse((feeds / "rss.xml").read_bytes())
    assert rss.bozo == 0
    first = rss.entries[0]
    assert first.content[0].value.startswith("First sentence")  # content:encoded
    assert first.source.title == digest.title
    assert rss.feed.image.href == "https://news.example.com/logo.png"
    atom = etree.fromstring((feeds / "atom.xml").read_bytes())
    ns = {"a": ATOM}
    assert atom.xpath("/a:feed/a:icon/text()", namespaces=ns) == [
        "https://news.example.com/favicon.ico"
    ]
    assert atom.xpath("/a:feed/a:logo/text()", namespaces=ns) == [
        "https://news.example.com/logo.png"
    ]
    assert atom.xpath("//a:entry[1]/a:source/a:title/text()", namespaces=ns) == [digest.title]
    data = json.loads((feeds / "feed.json").read_bytes())
    jsonschema.validate(data, SCHEMA)
    assert data["icon"].endswith("/logo.png") and data["favicon"].endswith("/favicon.ico")
    assert [item["language"] for item in data["items"]] == ["en", "zh-CN"]
    summary = data["items"][0]["summary"]
    assert summary.startswith("First sentence about a model.") and len(summary) <= 160
    assert (feeds / "favicon.ico").read_bytes()[:4] == b"\x00\x00\x01\x00"
    assert (feeds / "logo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_summary_picture_is_kept_for_the_web_and_dropped_for_telegram(tmp_path: Path) -> None:
    from bot.formatting.telegram_html import parse_inline
    from bot.parsing.summary import (
        _MD,  # the parser's own Markdown settings
        inline_text,
    )
    from bot.parsing.summary import render_inline as render

    markdown = '看图 ![一张"图"](https://img.example/a.png?x=1&y=2) 与 ![坏](ftp://x/y.png) 完'
    summary_html, summary_text = render(_MD.parseInline(markdown)[0].children or [])
    assert (
        '<img src="https://img.example/a.png?x=1&amp;y=2" alt="一张&quot;图&quot;">' in summary_html
    )
    assert summary_html.count("<img") == 1  # an ftp: source is no picture (its alt text stays)
    assert summary_text.startswith('看图 一张"图"')
    assert "img" not in "".join(run.text for run in parse_inline(summary_html))  # Telegram
    assert inline_text("![alt](https://img.example/a.png)") == "alt"

    settings = make_settings(tmp_path, "https://news.example.com/")
    archive = Archive(open_database(settings.database_url))
    item = make_item(0, 0, summary_html=summary_html, summary_text=summary_text)
    archive.store(make_digest(0, [item]))
    build_feeds(archive, load_test_table(), settings)
    feeds = Path(settings.feeds_dir)
    data = json.loads((feeds / "feed.json").read_bytes())
    assert data["items"][0]["image"] == "https://img.example/a.png?x=1&y=2"
    rss = feedparser.parse((feeds / "rss.xml").read_bytes())
    assert rss.entries[0].media_content[0]["url"] == "https://img.example/a.png?x=1&y=2"
    assert (
        '<img src="https://img.example/a.png?x=1&amp;y=2"'
        in (feeds / "d" / "2025-11-27-0800" / "index.html").read_text()
    )
