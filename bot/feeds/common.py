"""What every feed format shares: the feed's description, its entries ready to render, ids, URLs.

Rendering is a pure function of a `FeedSpec`: no clock, no environment, so two builds of the same
archive are byte-identical. Times are shown in the configured zone without microseconds; text is
stripped of the characters XML 1.0 cannot carry (lxml would raise on them).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.formatting.telegram_html import parse_inline, render
from bot.model import Category, Entry, Item
from bot.storing.archive import new_feed_id

# C0 controls except tab/newline/carriage return, DEL and C1 controls, lone surrogates and the two
# non-characters XML forbids. None of them is visible; all of them break one reader or another.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")

# The time of a feed that has no entry yet: fixed, so an empty feed is byte-identical across
# builds (Atom requires <updated>; the build time would change the bytes on every run).
EMPTY_FEED_YEAR = 2025

FEED_FILES = ("rss.xml", "atom.xml", "feed.json")
RSS, ATOM, JSON = FEED_FILES
OPML = "opml.xml"
INDEX = "index.html"


def clean(text: str | None) -> str:
    """Text safe for XML 1.0 and JSON readers: invisible control characters removed."""
    if not text:
        return ""
    return _CONTROL.sub("", text)


def html_content(item: Item) -> str:
    """An item's summary as HTML for feed readers and the index page.

    The summary HTML is shared with Telegram, where a newline is a line break; in HTML it is a
    space, so paragraphs and list items would run together: each newline becomes `<br />`. It is
    read through the one HTML boundary (`parse_inline`, `bot.sanitizer`'s allowlist), as for
    Telegram, not trusted as stored.
    """
    safe = render(parse_inline(item.summary_html)) if item.summary_html else ""
    return clean(safe).replace("\n", "<br />\n")


def entry_id(entry: Entry) -> str:
    """The id shared by Atom `<id>`, RSS `<guid isPermaLink="false">` and JSON Feed `id`.

    The one the archive fixed when the item was first stored, so it never follows the site's
    address, position, title or the build time: readers key items by it.
    """
    return entry.feed_id or new_feed_id(entry.item.id)


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """An archive entry as every format shows it."""

    id: str
    item: Item
    categories: tuple[Category, ...]
    published: datetime
    updated: datetime
    digest_title: str


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """One feed (overall or one category), in all of its formats."""

    site_url: str
    title: str
    description: str
    entries: tuple[FeedEntry, ...]
    updated: datetime
    category: Category | None = None
    language: str = "zh-CN"

    @property
    def path(self) -> str:
        """Folder of the feed's files relative to the site: "" or "c/<slug>/"."""
        return f"c/{self.category.slug}/" if self.category else ""

    def url(self, name: str) -> str:
        return f"{self.site_url}{self.path}{name}"

    @property
    def home_url(self) -> str:
        """The page a reader links the feed to: the index page (at the category's section)."""
        return f"{self.site_url}#c-{self.category.slug}" if self.category else self.site_url


def local_time(moment: datetime, zone: ZoneInfo, now: datetime | None = None) -> datetime:
    """A time as feeds show it: in the site's zone, whole seconds, and never later than `now`
    (a digest dated in the future, from a writer's skewed clock, would pin its items on top)."""
    shown = moment.astimezone(zone)
    if now is not None and shown > now:
        shown = now.astimezone(zone)
    return shown.replace(microsecond=0)


def prepare(
    entry: Entry,
    zone: ZoneInfo,
    category_of: Callable[[str], Category],
    now: datetime | None = None,
) -> FeedEntry:
    """An archive entry ready for rendering (id from the stored, never-moving `published`)."""
    item = entry.item
    published = local_time(entry.published, zone, now)
    updated = max(local_time(entry.updated, zone, now), published)
    return FeedEntry(
        id=entry_id(entry),
        item=item,
        categories=tuple(category_of(name) for name in dict.fromkeys(item.categories)),
        published=published,
        updated=updated,
        digest_title=entry.digest_title,
    )


def feed_updated(entries: tuple[FeedEntry, ...], zone: ZoneInfo) -> datetime:
    """The feed's time: its newest entry's `updated`; a fixed day for an empty feed."""
    if entries:
        return max(e.updated for e in entries)
    return datetime(EMPTY_FEED_YEAR, 1, 1, tzinfo=zone)
