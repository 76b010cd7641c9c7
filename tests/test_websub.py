"""WebSub: feeds announce the configured hub, and each build tells a hub stand-in on 127.0.0.1
which subscription documents changed; a failing hub changes nothing else."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import feedparser
import pytest
from lxml import etree
from test_feeds_support import load_test_table, make_digest, make_item, make_settings

from bot.feeds import build_feeds
from bot.feeds.websub import publish
from bot.settings import Settings
from bot.storing.archive import Archive
from bot.storing.database import open_database


class Hub:
    """A hub stand-in: records each publish ping; `status` is what it answers."""

    def __init__(self) -> None:
        self.pings: list[dict[str, list[str]]] = []
        self.status = 204
        self.changed = threading.Condition()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                form = parse_qs(self.rfile.read(length).decode())
                self.send_response(hub.status)
                self.send_header("content-length", "0")
                self.end_headers()
                with hub.changed:
                    hub.pings.append(form)
                    hub.changed.notify_all()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int) -> list[str]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.pings) >= count, timeout=20)
            return sorted(url for form in self.pings for url in form["hub.url"])


@pytest.fixture
def hub() -> Iterator[Hub]:
    running = Hub()
    yield running
    running.server.shutdown()
    running.server.server_close()


def settings_with(tmp_path: Path, hub_url: str | None) -> Settings:
    return make_settings(tmp_path, "https://news.example.com/", feeds={"websub_hub": hub_url})


def test_feeds_announce_the_hub_and_builds_ping_it(tmp_path: Path, hub: Hub) -> None:
    settings = settings_with(tmp_path, hub.url)
    archive = Archive(open_database(settings.database_url))
    archive.store(make_digest(0, [make_item(0, i, categories=("AI工具",)) for i in range(3)]))
    table = load_test_table()
    build_feeds(archive, table, settings)
    feeds = Path(settings.feeds_dir)
    rss = feedparser.parse((feeds / "rss.xml").read_bytes())
    assert {link.rel: link.href for link in rss.feed.links}["hub"] == hub.url
    atom = etree.fromstring((feeds / "c/ai-tools/atom.xml").read_bytes())
    ns = {"a": "http://www.w3.org/2005/Atom"}
    assert atom.xpath("/a:feed/a:link[@rel='hub']/@href", namespaces=ns) == [hub.url]
    hubs = json.loads((feeds / "feed.json").read_bytes())["hubs"]
    assert hubs == [{"type": "WebSub", "url": hub.url}]
    first = hub.wait_for(21)  # the first build writes every feed: overall and six categories
    assert all(form["hub.mode"] == ["publish"] for form in hub.pings)
    assert len(set(first)) == 21 and "https://news.example.com/c/ai-tools/feed.json" in first
    assert not [url for url in first if "/archive/" in url]

    # a digest in another category: only the feeds that changed are announced
    archive.store(make_digest(1, [make_item(1, 0, categories=("AI产业",))]))
    build_feeds(archive, table, settings)
    hub.wait_for(27)
    later = sorted(url for form in hub.pings[21:] for url in form["hub.url"])
    assert later == sorted(
        f"https://news.example.com/{path}{name}"
        for path in ("", "c/ai-industry/")
        for name in ("rss.xml", "atom.xml", "feed.json")
    )


def test_no_hub_no_link(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, None)
    archive = Archive(open_database(settings.database_url))
    archive.store(make_digest(0))
    build_feeds(archive, load_test_table(), settings)
    assert b'rel="hub"' not in (Path(settings.feeds_dir) / "rss.xml").read_bytes()


def test_a_failing_or_absent_hub_is_only_logged(hub: Hub, caplog: pytest.LogCaptureFixture) -> None:
    hub.status = 500
    assert publish(hub.url, ["https://news.example.com/rss.xml"]) == 0
    assert "answered 500" in caplog.text
    hub.server.shutdown()
    hub.server.server_close()
    assert publish(hub.url, ["https://news.example.com/rss.xml"], timeout=2) == 0
    assert "unreachable" in caplog.text
