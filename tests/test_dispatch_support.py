"""Helpers shared by the dispatch, publish and PostgreSQL tests (no tests here)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bot.categorising.table import load_table
from bot.model import Digest, Item
from bot.settings import Settings
from bot.storing.archive import Archive

ROOT = Path(__file__).resolve().parent.parent
TABLE = load_table(ROOT / "config" / "categories.toml")
CST = timezone(timedelta(hours=8))
CATEGORIES = ("AI产业", "AI发展", "AI应用", "AI伦理", "硬件设施", "AI工具")
MARK = re.compile(r"\[(?P<item>[a-z0-9-]+)\]")  # every item title carries "[its id]"


def make_item(item_id: str, categories: tuple[str, ...], summary: str | None = None) -> Item:
    text = summary if summary is not None else f"关于 {item_id} 的摘要，有 <b>重点</b>。"
    return Item(
        id=item_id,
        position=0,
        title=f"新闻 [{item_id}]",
        url=f"https://example.com/{item_id}",
        author="作者",
        summary_md=text,
        summary_html=text,
        summary_text=re.sub(r"<[^>]+>", "", text),
        categories=categories,
        category_rule="tag",
    )


def make_digest(day: int, items: list[Item], hour: int = 12) -> Digest:
    numbered = tuple(replace(it, position=n) for n, it in enumerate(items, 1))
    return Digest(
        id=f"d{day:02d}{hour:02d}",
        title=f"2025.11.{day:02d}.{hour:02d} 过去4小时全球AI发生了什么？",
        date=datetime(2025, 11, day, hour, 0, tzinfo=CST),
        categories=CATEGORIES,
        items=numbered,
        source=Path(f"seeds/2025.11.{day:02d}.{hour:02d}.md"),
        content_hash=f"h{day}{hour}{len(items)}",
    )


def store(engine: Any, digest: Digest) -> str:
    Archive(engine).store(digest)
    return digest.id


def settings_for(database_url: str, **telegram: Any) -> Settings:
    return Settings(
        database_url=database_url,
        categories_file=ROOT / "config" / "categories.toml",
        site_url="https://news.example.com/",
        telegram=telegram,
    )


def items_in(text: str) -> list[str]:
    """The item ids a message holds, in order."""
    return [m.group("item") for m in MARK.finditer(text)]
