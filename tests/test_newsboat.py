"""Debian's newsboat, a real feed reader, run headless against the feed server on 127.0.0.1.

newsboat keys items by guid across feeds, sends If-None-Match / If-Modified-Since, and imports
OPML: what readers do to us every half hour. (newsboat 2.21 saves a feed's validators only once
the feed is in its cache, so its first conditional request is on the third reload.)
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
from dataclasses import replace
from pathlib import Path

from lxml import etree
from prometheus_client.parser import text_string_to_metric_families
from test_feeds_support import (
    Site,
    make_digest,
    make_item,
    need,
)

from bot.storing.archive import new_feed_id

pytest_plugins = ["test_feeds_support"]  # the `site` fixture


class Newsboat:
    def __init__(self, binary: str, folder: Path) -> None:
        self.binary = binary
        self.folder = folder
        self.urls = folder / "urls"
        self.cache = folder / "cache.db"
        (folder / "home").mkdir(parents=True)
        self.urls.touch()

    async def run(self, *args: str) -> str:
        env = {
            **os.environ,
            "HOME": str(self.folder / "home"),
            "XDG_CONFIG_HOME": str(self.folder / "home" / ".config"),
            "XDG_DATA_HOME": str(self.folder / "home" / ".local" / "share"),
            "LANG": "C.UTF-8",
        }
        process = await asyncio.create_subprocess_exec(
            self.binary,
            "-u",
            str(self.urls),
            "-c",
            str(self.cache),
            "-C",
            "/dev/null",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=self.folder,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, (out, err)
        return out.decode("utf-8", "replace")

    async def reload(self) -> int:
        out = await self.run("-x", "reload", "print-unread")
        match = re.search(r"(\d+) unread articles", out)
        assert match, out
        return int(match.group(1))

    def sql(self, query: str) -> list[tuple]:
        with sqlite3.connect(self.cache) as connection:
            return connection.execute(query).fetchall()

    def mark_all_read(self) -> None:
        with sqlite3.connect(self.cache) as connection:
            connection.execute("UPDATE rss_item SET unread = 0")


async def http_counts(site: Site, kind: str = "rss") -> dict[str, float]:
    """Feed requests of one kind the server answered so far, by status code."""
    text = (await site.get("metrics")).text
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "digestbot_http_requests":
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.labels["kind"] == kind:
                    counts[sample.labels["code"]] = sample.value
    return counts


def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


async def test_newsboat_reads_revalidates_and_keeps_ids(site: Site, tmp_path: Path) -> None:
    reader = Newsboat(need("newsboat"), tmp_path / "newsboat")
    digests = [make_digest(n) for n in range(3)]
    for digest in digests:
        site.archive.store(digest)
    site.build()

    # the OPML imports every feed
    opml = await site.get("opml.xml")
    (reader.folder / "feeds.opml").write_bytes(opml.content)
    await reader.run("-i", str(reader.folder / "feeds.opml"))
    imported = [line.split()[0] for line in reader.urls.read_text("utf-8").splitlines() if line]
    listed = [o.get("xmlUrl") for o in etree.fromstring(opml.content).iter("outline")]
    on_disk = sorted(
        site.url + p.relative_to(site.feeds_dir).as_posix() for p in site.feeds_dir.rglob("rss.xml")
    )
    assert sorted(imported) == sorted(u for u in listed if u) == on_disk
    feeds = len(imported)
    assert feeds == 7  # overall + the six categories of the table

    # first reload: every item, each once although it is in several feeds
    before = await http_counts(site)
    assert await reader.reload() == 33
    assert delta(await http_counts(site), before) == {"200": feeds}
    assert reader.sql("SELECT count(*), count(DISTINCT guid) FROM rss_item") == [(33, 33)]
    await reader.reload()  # newsboat now has the feeds in its cache and keeps their validators

    # nothing changed: every feed answers 304 and the count stays
    before = await http_counts(site)
    assert await reader.reload() == 33
    assert delta(await http_counts(site), before) == {"304": feeds}

    # a new digest adds exactly its items
    reader.mark_all_read()
    new = make_digest(3)
    site.archive.store(new)
    site.build()
    assert await reader.reload() == 11
    assert reader.sql("SELECT count(*) FROM rss_item") == [(44,)]
    unread = {row[0] for row in reader.sql("SELECT guid FROM rss_item WHERE unread = 1")}
    assert unread == {new_feed_id(item.id) for item in new.items}

    # an edited summary changes the feeds but adds no item, and no unread one
    reader.mark_all_read()
    edited = make_item(
        3,
        4,
        summary_md="改写后的摘要",
        summary_html="改写后的<b>摘要</b>",
        summary_text="改写后的摘要",
    )
    site.archive.store(replace(new, items=(*new.items[:4], edited, *new.items[5:])))
    assert site.build(), "the edit changes the feeds"
    before = await http_counts(site)
    assert await reader.reload() == 0
    assert delta(await http_counts(site), before).get("200", 0) >= 2
    assert reader.sql("SELECT count(*), count(DISTINCT guid) FROM rss_item") == [(44, 44)]
    assert "改写后的&lt;b&gt;摘要" in (await site.get("rss.xml")).text


async def test_newsboat_imports_the_atom_list_and_revalidates(site: Site, tmp_path: Path) -> None:
    """The Atom versions have their own subscription list; a reader that imports it gets every
    item once and 304s when nothing changed, as with RSS. (The JSON Feed list is not read here:
    newsboat 2.21 reads no JSON Feed, which is why no list mixes the formats.)"""
    reader = Newsboat(need("newsboat"), tmp_path / "newsboat")
    for n in range(3):
        site.archive.store(make_digest(n))
    site.build()
    lists = {name: await site.get(name) for name in ("opml.xml", "opml-atom.xml", "opml-json.xml")}
    urls = {
        name: [o.get("xmlUrl") for o in etree.fromstring(r.content).iter("outline")]
        for name, r in lists.items()
    }
    rss = [u for u in urls["opml.xml"] if u]
    assert len(rss) == 7
    for name, feed_file in (("opml-atom.xml", "atom.xml"), ("opml-json.xml", "feed.json")):
        assert lists[name].headers["content-type"] == "text/x-opml; charset=utf-8"
        assert [u for u in urls[name] if u] == [u.replace("rss.xml", feed_file) for u in rss]
    (reader.folder / "atom.opml").write_bytes(lists["opml-atom.xml"].content)
    await reader.run("-i", str(reader.folder / "atom.opml"))
    imported = [line.split()[0] for line in reader.urls.read_text("utf-8").splitlines() if line]
    assert sorted(imported) == sorted(u.replace("rss.xml", "atom.xml") for u in rss)
    assert await reader.reload() == 33
    await reader.reload()  # now in newsboat's cache, with validators
    before = await http_counts(site, "atom")
    assert await reader.reload() == 33
    assert delta(await http_counts(site, "atom"), before) == {"304": 7}
    assert reader.sql("SELECT count(*), count(DISTINCT guid) FROM rss_item") == [(33, 33)]
