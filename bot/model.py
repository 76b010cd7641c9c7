"""The domain model every stage shares: a `Digest` of `Item`s and the `Category` they belong to."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Category:
    """A category of the operator's table: Chinese name, ASCII slug for URLs, English label."""

    name: str
    slug: str
    label: str


@dataclass(frozen=True, slots=True)
class Item:
    """One story of a digest.

    `id` is stable across runs, renames and re-parses (see `bot.parsing.identity`);
    the summary is kept three ways: the Markdown as written, safe inline HTML, plain text.
    """

    id: str
    position: int
    title: str
    url: str | None
    author: str | None
    summary_md: str
    summary_html: str
    summary_text: str
    line: int = 0
    tags: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    category_rule: str = ""

    @property
    def content_key(self) -> str:
        """What a reader sees of the item; when it changes, the feed entry's `updated` moves."""
        return "\x1f".join((self.title, self.url or "", self.author or "", self.summary_md))


@dataclass(frozen=True, slots=True)
class Digest:
    """A parsed digest file: front matter plus its numbered items, in order."""

    id: str
    title: str
    date: datetime
    categories: tuple[str, ...]
    items: tuple[Item, ...]
    source: Path
    content_hash: str
    extra: dict[str, object] = field(default_factory=dict, compare=False)


class DigestError(ValueError):
    """A digest that cannot be understood; names the file, the line and the reason."""

    def __init__(self, source: str | Path, line: int, reason: str) -> None:
        self.source = str(source)
        self.line = line
        self.reason = reason
        super().__init__(f"{self.source}:{line}: {reason}")


@dataclass(frozen=True, slots=True)
class Entry:
    """An item as published: when it first appeared (never moves) and when its text last changed."""

    item: Item
    digest_id: str
    digest_title: str
    published: datetime
    updated: datetime
    feed_id: str = ""  # the id feeds give it, fixed when it was first stored ("" when unstored)
