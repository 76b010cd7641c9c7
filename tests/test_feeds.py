"""The feeds as readers see them, fetched over real HTTP: feedparser, sfeed, JSON Feed schema."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import jsonschema
import pytest
from lxml import etree
from test_feeds_support import (
    HOSTILE_AUTHOR,
    ZONE,
    Site,
    digest_markdown,
    hostile_digest,
    load_config_table,
    load_test_table,
    make_digest,
    make_item,
    make_settings,
    need,
)

from bot.feeds import build_feeds, entry_id, render_all
from bot.model import Digest
from bot.parsing import parse_file
from bot.settings import Settings
from bot.storing.archive import Archive, new_feed_id
from bot.storing.database import open_database

pytest_plugins = ["test_feeds_support"]  # the `site` fixture

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "jsonfeed-1.1.json").read_text("utf-8"))
FEED_NAMES = ("rss.xml", "atom.xml", "feed.json")
SLUGS = {
    "AI产业": "ai-industry",
    "AI发展": "ai-progress",
    "AI应用": "ai-applications",
    "AI伦理": "ai-ethics",
    "硬件设施": "hardware",
    "AI工具": "ai-tools",
}


def expected(digests: list[Digest], category: str | None = None) -> list[tuple[str, object]]:
    """(tag id, item) of every item, newest digest first, items in digest order."""
    rows = []
    for digest in sorted(digests, key=lambda d: d.date, reverse=True):
        for item in digest.items:
            if category is None or category in item.categories:
                rows.append((new_feed_id(item.id), item))
    return rows


def store(site: Site, *digests: Digest) -> list[Digest]:
    for digest in digests:
        site.archive.store(digest)
    return list(digests)


def assert_local_time(text: str, now: datetime) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.utcoffset() == timedelta(hours=8), text
    assert moment <= now, f"{text} is in the future"
    return moment


async def test_rss_and_atom_read_by_feedparser(site: Site) -> None:
    digests = store(site, *(make_digest(n) for n in range(3)))
    changed = site.build()
    assert changed, "the first build writes files"
    now = datetime.now(ZONE)
    for category in (None, "AI工具", "AI产业", "AI应用"):
        prefix = f"c/{SLUGS[category]}/" if category else ""
        rows = expected(digests, category)
        for name in ("rss.xml", "atom.xml"):
            response = await site.get(prefix + name)
            assert response.status_code == 200
            feed = feedparser.parse(response.content)
            assert feed.bozo == 0, (prefix + name, feed.get("bozo_exception"))
            assert feed.feed.language == "zh-CN"
            assert [e.id for e in feed.entries] == [row[0] for row in rows]
            previous = None
            for entry, (_, item) in zip(feed.entries, rows, strict=True):
                assert entry.title == item.title
                assert entry.link == item.url
                assert entry.get("author") == item.author
                assert [t.term for t in entry.tags] == list(item.categories)
                assert "<b>加粗</b>" in entry.summary
                if name == "atom.xml":
                    moment = assert_local_time(entry.published, now)
                    assert entry.updated == entry.published
                else:
                    assert entry.published.endswith("+0800"), entry.published
                    moment = datetime(*entry.published_parsed[:6], tzinfo=UTC)
                    assert moment <= now, f"{entry.published} is in the future"
                if previous is not None:
                    assert moment < previous, "newest first, items of a digest a second apart"
                previous = moment


async def test_times_are_the_digest_times_staggered(site: Site) -> None:
    digest = store(site, make_digest(0))[0]
    site.build()
    feed = feedparser.parse((await site.get("atom.xml")).content)
    times = [datetime.fromisoformat(e.published) for e in feed.entries]
    assert times[0] == digest.date.replace(microsecond=0)
    assert [t - times[0] for t in times] == [timedelta(seconds=-i) for i in range(11)]
    assert feed.feed.updated == times[0].isoformat()


async def test_sfeed_reads_the_same_ids(site: Site) -> None:
    sfeed = need("sfeed")
    digests = store(site, make_digest(0), make_digest(1), hostile_digest(2))
    site.build()
    for path in ("rss.xml", "atom.xml", "c/ai-tools/rss.xml", "c/ai-tools/atom.xml"):
        body = (await site.get(path)).content
        process = await asyncio.create_subprocess_exec(
            sfeed,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate(body)
        assert process.returncode == 0, err
        lines = [line.split("\t") for line in out.decode("utf-8").splitlines()]
        category = "AI工具" if path.startswith("c/") else None
        rows = expected(digests, category)
        assert [fields[5] for fields in lines] == [row[0] for row in rows], path
        for fields, (_, item) in zip(lines, rows, strict=True):
            assert fields[1] == item.title.replace("\x01", "").replace("\x1f", "")
            # an item without a link of its own links to its anchor on its digest's page
            assert fields[2] == (item.url or f"{site.url}d/2025-11-27-1600/#item-{item.id}")
            assert fields[6] == (item.author or "")
            assert fields[8].split("|") == list(item.categories)
            assert fields[0] and int(fields[0]) <= datetime.now(ZONE).timestamp()


async def test_json_feed_is_valid_and_shares_atom_ids(site: Site) -> None:
    digests = store(site, make_digest(0), hostile_digest(1))
    site.build()
    for prefix in ("", "c/ai-tools/", "c/hardware/"):
        response = await site.get(prefix + "feed.json")
        assert response.headers["content-type"] == "application/feed+json; charset=utf-8"
        feed = response.json()
        jsonschema.validate(feed, SCHEMA)
        atom = feedparser.parse((await site.get(prefix + "atom.xml")).content)
        assert [item["id"] for item in feed["items"]] == [e.id for e in atom.entries]
        assert feed["feed_url"] == site.url + prefix + "feed.json"
    feed = (await site.get("feed.json")).json()
    assert [item["id"] for item in feed["items"]] == [row[0] for row in expected(digests)]
    first = feed["items"][0]
    assert first["date_published"] == "2025-11-27T12:00:10+08:00"
    assert first["authors"] == [{"name": HOSTILE_AUTHOR}]


def test_schema_rejects_what_json_feed_forbids() -> None:
    """The schema kept in the tests is not a blank cheque."""
    good = {"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": []}
    jsonschema.validate(good, SCHEMA)
    bad_items = [
        {"id": "x"},  # no content
        {"id": 1, "content_text": "x"},  # id not a string
        {"id": "x", "content_html": "x", "date_published": "27 Nov 2025"},
        {"id": "x", "content_html": "x", "authors": []},
        {"id": "x", "content_html": "x", "tags": "AI"},
    ]
    for item in bad_items:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**good, "items": [item]}, SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**good, "version": "https://jsonfeed.org/version/1"}, SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"version": good["version"], "items": []}, SCHEMA)


async def test_hostile_text_round_trips(site: Site) -> None:
    digest = store(site, hostile_digest(0))[0]
    site.build()
    wanted_title = digest.items[0].title.replace("\x01", "").replace("\x1f", "")
    assert "\x01" not in wanted_title and "<script>" in wanted_title
    for name in ("rss.xml", "atom.xml"):
        raw = (await site.get(name)).content
        assert b"\xf0\x9f\x98\x80" in raw, "emoji as UTF-8, not character references"
        assert "ＡＩ全角".encode() in raw
        assert b"&#" not in raw
        feed = feedparser.parse(raw)
        assert feed.bozo == 0
        entry = feed.entries[0]
        assert entry.title == wanted_title
        assert entry.author == HOSTILE_AUTHOR
        assert entry.link == 'https://example.com/q?x=<1>&y="2"'
        assert "<b>bold</b>" in entry.summary
        assert "&lt;tag&gt;" in entry.summary and "😀 全角ＡＢＣ" in entry.summary
        assert "\x02" not in entry.summary
        no_link = feed.entries[1]
        assert no_link.title == "无链接的条目 ＡＢＣ"
        # an item without a link of its own links to its anchor on its digest's page
        assert no_link.link == f"{site.url}d/2025-11-27-0800/#item-{digest.items[1].id}"
        document = etree.fromstring(raw)  # strict XML too
        entries = document.xpath("//*[local-name()='item' or local-name()='entry']")
        assert [len(e.xpath("*[local-name()='link']")) for e in entries] == [1, 1]
    item = (await site.get("feed.json")).json()["items"][0]
    assert item["title"] == wanted_title
    assert item["url"] == 'https://example.com/q?x=<1>&y="2"'
    assert item["content_html"].startswith("Text with <b>bold</b>, &amp; &lt;tag&gt;")
    assert "\x02" not in item["content_html"]
    page = (await site.get("")).text
    assert "&lt;script&gt;alert" in page and "<script>" not in page
    assert "O&#x27;Brien &amp; &lt;Co&gt;" in page or "O'Brien &amp; &lt;Co&gt;" in page


def test_builds_are_byte_identical_and_write_only_changes(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "https://news.example.com/")
    archive = Archive(open_database(settings.database_url))
    table = load_test_table()
    for n in range(4):
        archive.store(make_digest(n))
    archive.store(hostile_digest(4))
    first = build_feeds(archive, table, settings)
    feeds = Path(settings.feeds_dir)
    # hidden files are the build's own notes (never served)
    files = sorted(p for p in feeds.rglob("*") if p.is_file() and not p.name.startswith("."))
    assert sorted(first) == files
    assert {p.relative_to(feeds).as_posix() for p in files} >= {
        "index.html",
        "opml.xml",
        "rss.xml",
        "atom.xml",
        "feed.json",
        *(f"c/{slug}/{name}" for slug in SLUGS.values() for name in ("rss.xml", "atom.xml")),
    }
    assert all(oct(p.stat().st_mode & 0o777) == "0o644" for p in files)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_ino) for p in files}
    assert build_feeds(archive, table, settings) == []
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_ino) for p in files} == before
    # the same archive, rendered in another process' lifetime, gives the same bytes
    other = settings.model_copy(update={"feeds_dir": tmp_path / "other"})
    build_feeds(archive, table, other)
    for path, (data, _, _) in before.items():
        assert (tmp_path / "other" / path.relative_to(feeds)).read_bytes() == data, path
    assert not [p for p in feeds.rglob(".*.tmp")], "no temporary file left behind"

    # a new digest changes the overall feeds and those of its categories, not the others; of
    # the pages: its own, its older neighbour's (which now links to it), its month's, the index
    # and its category's
    archive.store(make_digest(9, [make_item(9, i, categories=("AI工具",)) for i in range(11)]))
    changed = {p.relative_to(feeds).as_posix() for p in build_feeds(archive, table, settings)}
    assert changed == {
        "index.html",
        "rss.xml",
        "atom.xml",
        "feed.json",
        "c/ai-tools/rss.xml",
        "c/ai-tools/atom.xml",
        "c/ai-tools/feed.json",
        "c/ai-tools/index.html",
        "d/2025-11-28-2000/index.html",
        "d/2025-11-28-0000/index.html",
        "archive/2025-11/index.html",
    }


def test_an_edited_summary_moves_updated_not_published(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "https://news.example.com/")
    archive = Archive(open_database(settings.database_url))
    table = load_test_table()
    digest = make_digest(0)
    archive.store(digest)
    build_feeds(archive, table, settings)
    feeds = Path(settings.feeds_dir)
    before = feedparser.parse((feeds / "atom.xml").read_bytes())
    edited = make_item(
        0, 3, summary_md="改过的摘要", summary_html="改过的摘要", summary_text="改过的摘要"
    )
    archive.store(replace(digest, items=(*digest.items[:3], edited, *digest.items[4:])))
    build_feeds(archive, table, settings)
    after = feedparser.parse((feeds / "atom.xml").read_bytes())
    assert [e.id for e in after.entries] == [e.id for e in before.entries]
    old, new = before.entries[3], after.entries[3]
    assert new.summary == "改过的摘要" and new.published == old.published
    assert new.updated > old.updated
    assert datetime.fromisoformat(new.updated) <= datetime.now(ZONE)
    assert after.feed.updated == new.updated


def test_empty_archive_gives_valid_deterministic_feeds(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "https://news.example.com/")
    archive = Archive(open_database(settings.database_url))
    files = render_all(archive, load_test_table(), settings)
    again = render_all(archive, load_test_table(), settings)
    assert files == again
    for name in ("rss.xml", "atom.xml", "c/ai-tools/atom.xml"):
        feed = feedparser.parse(files[name])
        assert feed.bozo == 0 and feed.entries == []
    assert b"<updated>2025-01-01T00:00:00+08:00</updated>" in files["atom.xml"]
    jsonschema.validate(json.loads(files["feed.json"]), SCHEMA)
    assert "暂无条目" in files["index.html"].decode()


def test_limit_newest_entries_per_feed(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "https://news.example.com/", feed_entries=15)
    archive = Archive(open_database(settings.database_url))
    digests = [make_digest(n) for n in range(5)]
    for digest in reversed(digests):  # stored out of order: order comes from the dates
        archive.store(digest)
    files = render_all(archive, load_test_table(), settings)
    feed = feedparser.parse(files["atom.xml"])
    wanted = [e for e in expected(digests)][:15]
    assert [e.id for e in feed.entries] == [
        w[0].replace("127.0.0.1", "news.example.com") for w in wanted
    ]
    assert len(json.loads(files["c/ai-tools/feed.json"])["items"]) == 15


def test_categories_opml_and_subscribe_links(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "https://news.example.com/sub/")
    archive = Archive(open_database(settings.database_url))
    archive.store(make_digest(0, [make_item(0, 0, categories=("新分类", "AI工具"))]))
    files = render_all(archive, load_test_table(), settings, bot_username="digest_bot")
    extra = [
        p
        for p in files
        if p.startswith("c/")
        and p not in {f"c/{s}/{n}" for s in SLUGS.values() for n in (*FEED_NAMES, "index.html")}
    ]
    assert len(extra) == 4, extra
    slug = extra[0].split("/")[1]
    assert slug.isascii() and slug == slug.lower()
    feed = feedparser.parse(files[f"c/{slug}/atom.xml"])
    assert feed.bozo == 0 and len(feed.entries) == 1
    assert feed.feed.title.endswith("新分类")
    opml = etree.fromstring(files["opml.xml"])
    urls = [o.get("xmlUrl") for o in opml.iter("outline") if o.get("xmlUrl")]
    assert urls[0] == "https://news.example.com/sub/rss.xml"
    assert sorted(urls[1:]) == sorted(
        f"https://news.example.com/sub/c/{s}/rss.xml" for s in [*SLUGS.values(), slug]
    )
    page = files["index.html"].decode()
    for s in [*SLUGS.values(), slug]:
        assert f'href="https://t.me/digest_bot?start=sub-{s}"' in page
    assert "t.me" not in render_all(archive, load_test_table(), settings)["index.html"].decode()
    atom = feedparser.parse(files["atom.xml"])
    assert atom.entries[0].id == new_feed_id(make_item(0, 0).id)


def test_entry_id_is_the_stored_one_and_never_the_sites() -> None:
    from bot.model import Entry

    item = make_item(0, 0)
    moment = datetime(2024, 12, 31, 23, 59, 59, tzinfo=ZONE)
    kept = Entry(item, "d", "t", moment, moment, feed_id="tag:localhost,2024:item/x")
    assert entry_id(kept) == "tag:localhost,2024:item/x"
    fresh = Entry(item, "d", "t", moment, moment + timedelta(days=3))
    assert entry_id(fresh) == new_feed_id(item.id)
    assert entry_id(fresh).startswith("urn:uuid:") and new_feed_id("other") != entry_id(fresh)


def test_future_dates_never_shown(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "https://news.example.com/")
    archive = Archive(open_database(settings.database_url))
    digest = make_digest(0)
    archive.store(replace(digest, date=datetime.now(ZONE) + timedelta(days=2)))
    files = render_all(archive, load_test_table(), settings)
    feed = feedparser.parse(files["atom.xml"])
    assert feed.bozo == 0
    now = datetime.now(ZONE)
    assert all(datetime.fromisoformat(e.published) <= now for e in feed.entries)


async def test_real_digests_through_the_parser(site: Site) -> None:
    from conftest import SAMPLE

    from bot.categorising.assign import categorise

    folder = site.root / "digests"
    folder.mkdir()
    table = load_config_table()
    digests = [categorise(parse_file(SAMPLE, zone=ZONE), table)]
    for n in range(2):
        path = folder / f"2025.11.28.{n:02d}.md"
        path.write_text(digest_markdown(datetime(2025, 11, 28, n * 4, tzinfo=ZONE)), "utf-8")
        digests.append(categorise(parse_file(path, zone=ZONE), table))
    store(site, *digests)
    site.build()
    feed = feedparser.parse((await site.get("atom.xml")).content)
    assert feed.bozo == 0
    assert [e.id for e in feed.entries] == [row[0] for row in expected(digests)]
    sample = digests[0]
    by_id = {e.id: e for e in feed.entries}
    first = by_id[new_feed_id(sample.items[0].id)]
    assert first.title == "sfcompute 获得 4000 万美元融资并招聘 Linux 程序员"
    assert first.link == "https://x.com/bentossell/status/1993804613146038363"
    assert first.author == "Ben Tossell"
    assert first.published == "2025-11-27T12:00:10+08:00"
    assert (
        "<b>4000 万美元融资</b>" in first.summary
        or "<strong>4000 万美元融资</strong>" in first.summary
    )


def test_settings_site_url_feeds(tmp_path: Path) -> None:
    """Feed self links follow the configured site URL; entry ids (a reader's key) do not."""
    settings = Settings(
        feeds_dir=tmp_path / "feeds",
        database_url=f"sqlite:///{tmp_path}/db.sqlite",
        site_url="https://news.example.com",
    )
    archive = Archive(open_database(settings.database_url))
    archive.store(make_digest(0))
    files = render_all(archive, load_test_table(), settings)
    rss = etree.fromstring(files["rss.xml"])
    assert rss.findtext("channel/link") == "https://news.example.com/"
    assert rss.findtext("channel/ttl") == "60"
    self_link = rss.find("channel/{http://www.w3.org/2005/Atom}link")
    assert self_link.get("href") == "https://news.example.com/rss.xml"
    atom = etree.fromstring(files["c/ai-tools/atom.xml"])
    ns = {"a": "http://www.w3.org/2005/Atom"}
    assert atom.find("a:link[@rel='self']", ns).get("href") == (
        "https://news.example.com/c/ai-tools/atom.xml"
    )
    guids = [g.text for g in rss.iter("guid")]
    assert len(guids) == 11 and len(set(guids)) == 11
    before_the_move = settings.model_copy(update={"site_url": "http://localhost:8080/"})
    old_rss = etree.fromstring(render_all(archive, load_test_table(), before_the_move)["rss.xml"])
    assert [g.text for g in old_rss.iter("guid")] == guids
    assert old_rss.findtext("channel/link") == "http://localhost:8080/"


def test_summary_line_breaks_survive_in_html_readers(tmp_path: Path) -> None:
    """Summaries keep paragraphs and list items as line breaks (what Telegram shows); in feed
    HTML and on the index page a bare newline is a space, so they must become `<br>`."""
    settings = make_settings(tmp_path, "https://news.example.com/")
    archive = Archive(open_database(settings.database_url))
    text = "第一段。\n\n第二段：\n• 甲\n• 乙"
    item = make_item(0, 0, summary_md=text, summary_html=text, summary_text=text)
    archive.store(make_digest(0, [item]))
    files = render_all(archive, load_test_table(), settings)
    wanted = "第一段。<br />\n<br />\n第二段：<br />\n• 甲<br />\n• 乙"
    for name in ("rss.xml", "atom.xml"):
        feed = feedparser.parse(files[name])
        assert feed.bozo == 0
        assert wanted in feed.entries[0].summary.replace("<br/>", "<br />"), name
    content = json.loads(files["feed.json"])["items"][0]["content_html"]
    assert content.replace("<br/>", "<br />") == wanted
    # JSON Feed's summary is a line of plain text (the whole text is content_html)
    assert json.loads(files["feed.json"])["items"][0]["summary"] == "第一段。 第二段： • 甲 • 乙"
    page = files["index.html"].decode()
    assert wanted in page.replace("<br/>", "<br />")
