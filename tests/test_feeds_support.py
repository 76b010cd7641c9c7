"""Shared helpers of the feed and serving tests (no tests here): digests built directly or written
in the real digest format, an archive in a real SQLite file, and a feed server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from conftest import ROOT, unavailable

from bot.categorising.table import CategoryRule, CategoryTable, load_table
from bot.feeds import build_feeds
from bot.model import Category, Digest, Item
from bot.serving import FeedServer, create_app
from bot.settings import Settings
from bot.storing.archive import Archive
from bot.storing.database import open_database

ZONE = ZoneInfo("Asia/Shanghai")
TABLE_PATH = ROOT / "config" / "categories.toml"
HOSTILE_TITLE = '<script>alert("x")</script> & \'引号\' "双引号" \x01\x1f 😀🚀 ＡＩ全角 Tom&Jerry'
HOSTILE_AUTHOR = 'O\'Brien & <Co> "😀"'
CATEGORIES = ("AI产业", "AI工具", "AI应用")
FIRST_DAY = datetime(2025, 11, 27, 8, 0, 10, 236000, tzinfo=ZONE)


def item_id(digest_number: int, index: int) -> str:
    return hashlib.sha256(f"https://example.com/{digest_number}/{index}".encode()).hexdigest()[:16]


def make_item(digest_number: int, index: int, **changes: object) -> Item:
    title = f"第 {digest_number} 期第 {index + 1} 条：模型 <发布> & 更新"
    text = f"摘要 {digest_number}.{index}：**加粗** 与 <尖括号> & 符号"
    values: dict[str, object] = {
        "id": item_id(digest_number, index),
        "position": index + 1,
        "title": title,
        "url": f"https://example.com/{digest_number}/{index}?a=1&b=2",
        "author": f"作者{index % 3}" if index % 4 else None,
        "summary_md": text,
        "summary_html": escape(text).replace("**加粗**", "<b>加粗</b>"),
        "summary_text": text.replace("**", ""),
        "categories": (CATEGORIES[index % 3],) if index % 5 else ("AI工具", "AI产业"),
    }
    values.update(changes)
    return Item(**values)  # type: ignore[arg-type]


def make_digest(number: int, items: Iterable[Item] | None = None, hours: int = 4) -> Digest:
    date = FIRST_DAY + timedelta(hours=hours * number)
    digest_items = (
        tuple(items) if items is not None else tuple(make_item(number, i) for i in range(11))
    )
    return Digest(
        id=f"digest-{number:05d}",
        title=f"{date:%Y.%m.%d.%H} 过去4小时全球AI发生了什么？",
        date=date,
        categories=CATEGORIES,
        items=digest_items,
        source=Path(f"/digests/{date:%Y.%m.%d.%H}.md"),
        content_hash=hashlib.sha256(repr(digest_items).encode()).hexdigest(),
    )


def hostile_digest(number: int) -> Digest:
    summary = "Text with <b>bold</b>, &amp; &lt;tag&gt; &quot;quotes&quot; 😀 全角ＡＢＣ \x02"
    items = (
        make_item(
            number,
            0,
            title=HOSTILE_TITLE,
            author=HOSTILE_AUTHOR,
            url='https://example.com/q?x=<1>&y="2"',
            summary_html=summary,
            summary_text='Text with bold, & <tag> "quotes" 😀 全角ＡＢＣ \x02',
        ),
        make_item(number, 1, url=None, author=None, title="无链接的条目 ＡＢＣ"),
    )
    return make_digest(number, items)


def digest_markdown(date: datetime, items: int = 11, salt: str = "") -> str:
    """A digest in the real format (like seeds/2025.11.27.12.md)."""
    lines = [
        "---",
        f'title: "{date:%Y.%m.%d.%H} 过去4小时全球AI发生了什么？"',
        f"date: {date.isoformat(timespec='milliseconds')}",
        'categories: ["AI产业", "AI发展", "AI应用", "AI伦理", "硬件设施", "AI工具"]',
        "---",
        "",
    ]
    stamp = f"{date:%Y%m%d%H}"
    for i in range(1, items + 1):
        number = f"{i}."
        lines.append(
            f"{number:<4}[{stamp} 第{i}条：新模型发布与融资进展](https://x.com/user{i}/status/{stamp}{i:03d})"
            f" - 作者{i}"
        )
        lines.append(
            f"    公司宣布完成 **{i} 亿美元融资**，并发布新的 AI 工具和模型，推动芯片与数据中心"
            f"建设。{salt}"
        )
        lines.append("")
    return "\n".join(lines)


# The categories of config/categories.toml (names, slugs, labels), kept here so that these tests
# do not depend on the keyword rules being tuned in that file.
TEST_CATEGORIES = (
    Category("AI产业", "ai-industry", "AI Industry"),
    Category("AI发展", "ai-progress", "AI Progress"),
    Category("AI应用", "ai-applications", "AI Applications"),
    Category("AI伦理", "ai-ethics", "AI Ethics"),
    Category("硬件设施", "hardware", "Hardware & Infrastructure"),
    Category("AI工具", "ai-tools", "AI Tools"),
)


def load_test_table() -> CategoryTable:
    return CategoryTable(rules=tuple(CategoryRule(category) for category in TEST_CATEGORIES))


def load_config_table() -> CategoryTable:
    """The operator's table, rules included (for tests that categorise parsed digests)."""
    return load_table(TABLE_PATH)


@dataclass
class Site:
    """An archive, its feeds folder and the feed server serving it."""

    root: Path
    archive: Archive
    table: CategoryTable
    settings: Settings
    server: FeedServer
    client: httpx.AsyncClient
    bot_username: str | None = "digest_test_bot"
    changed: list[Path] = field(default_factory=list)

    @property
    def feeds_dir(self) -> Path:
        return Path(self.settings.feeds_dir)

    @property
    def url(self) -> str:
        return self.server.url

    def build(self) -> list[Path]:
        self.changed = build_feeds(
            self.archive, self.table, self.settings, bot_username=self.bot_username
        )
        return self.changed

    def feed_paths(self) -> list[str]:
        """Every feed file (relative URL paths) the build wrote."""
        return sorted(
            str(p.relative_to(self.feeds_dir))
            for p in self.feeds_dir.rglob("*")
            if p.name in ("rss.xml", "atom.xml", "feed.json")
        )

    async def get(self, path: str, **kwargs: object) -> httpx.Response:
        return await self.client.get(self.url + path.lstrip("/"), **kwargs)  # type: ignore[arg-type]


def make_settings(root: Path, site_url: str, **overrides: object) -> Settings:
    return Settings(
        feeds_dir=root / "feeds",
        database_url=f"sqlite:///{root}/db.sqlite",
        site_url=site_url,
        **overrides,  # type: ignore[arg-type]
    )


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    server = FeedServer(create_app(feeds), "127.0.0.1", 0)
    await server.start()
    settings = make_settings(tmp_path, server.url)
    archive = Archive(open_database(settings.database_url))
    async with httpx.AsyncClient(timeout=10) as client:
        try:
            yield Site(tmp_path, archive, load_test_table(), settings, server, client)
        finally:
            await server.stop()
            archive.engine.dispose()


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        unavailable(f"{binary} is not installed (apt-get install {binary})")
    return path
