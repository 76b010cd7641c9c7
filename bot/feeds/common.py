"""What every feed format shares: the feed's description, its entries ready to render, ids, URLs.

Rendering is a pure function of a `FeedSpec`: no clock, no environment, so two builds of the same
archive are byte-identical. Times are shown in the configured zone without microseconds; text is
stripped of the characters XML 1.0 cannot carry (lxml would raise on them).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.formatting.telegram_html import parse_inline, render
from bot.model import Category, Entry, Item
from bot.sanitizer import image_html, safe_url
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
    Pictures (which Telegram's reading drops) are put back between the pieces, each rebuilt
    by `bot.sanitizer.image_html` from its checked source and alt text.
    """
    source = item.summary_html or ""
    pieces, start = [], 0
    for found in _IMAGE_TAG.finditer(source):
        pieces.append(render(parse_inline(source[start : found.start()])))
        picture = image_html(html.unescape(found.group(1)), html.unescape(found.group(2)))
        if picture is not None:
            pieces.append(picture)
        start = found.end()
    pieces.append(render(parse_inline(source[start:])) if source[start:] else "")
    return clean("".join(pieces)).replace("\n", "<br />\n")


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
    digest_id: str = ""  # the digest that first carried it (whose page has its anchor)
    page_url: str = ""  # the item's anchor on its digest's page ("" when the page is unknown)

    @property
    def link(self) -> str | None:
        """What a reader opens: the item's own web link, else its anchor on the digest page."""
        url = self.item.url
        if url and url.lower().startswith(("https://", "http://")):
            return url
        return self.page_url or None


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
    # RFC 5005 archives, as folders relative to the site ("archive/2025-11/"); the format's file
    # name is added by each renderer. `archive_of` is set on an archive document: the folder of
    # the subscription document it belongs to.
    month: str | None = None
    prev_archive: str | None = None
    next_archive: str | None = None
    hub: str | None = None  # a WebSub hub announced in the feed
    home_page: str | None = None  # the page the feed belongs to, when not its folder's

    @property
    def feed_path(self) -> str:
        """Folder of the feed's subscription documents: "" or "c/<slug>/"."""
        return f"c/{self.category.slug}/" if self.category else ""

    @property
    def path(self) -> str:
        """Folder of this document's files: the feed's, or its month's archive folder."""
        return f"{self.feed_path}{archive_folder(self.month)}" if self.month else self.feed_path

    @property
    def is_archive(self) -> bool:
        return self.month is not None

    def url(self, name: str) -> str:
        return f"{self.site_url}{self.path}{name}"

    def link_to(self, folder: str, name: str) -> str:
        return f"{self.site_url}{folder}{name}"

    @property
    def home_url(self) -> str:
        """The page a reader links the feed to: the index page or the category's page."""
        return self.home_page or f"{self.site_url}{self.feed_path}"


def archive_folder(month: str) -> str:
    """The folder of a month's archive documents and page, relative to a feed's folder."""
    return f"archive/{month}/"


def local_time(moment: datetime, zone: ZoneInfo, now: datetime | None = None) -> datetime:
    """A time as feeds show it: in the site's zone, whole seconds, and never later than `now`
    (a digest dated in the future, from a writer's skewed clock, would pin its items on top)."""
    shown = moment.astimezone(zone)
    if now is not None and shown > now:
        shown = now.astimezone(zone)
    return shown.replace(microsecond=0)


def digest_page(site_url: str, slug: str) -> str:
    """The address of a digest's page."""
    return f"{site_url}d/{slug}/"


def item_anchor(item_id: str) -> str:
    return f"item-{item_id}"


def prepare(
    entry: Entry,
    zone: ZoneInfo,
    category_of: Callable[[str], Category],
    now: datetime | None = None,
    *,
    site_url: str = "",
    slugs: Mapping[str, str] | None = None,
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
        digest_id=entry.digest_id,
        page_url=_page_url(entry, site_url, slugs),
    )


def _page_url(entry: Entry, site_url: str, slugs: Mapping[str, str] | None) -> str:
    slug = (slugs or {}).get(entry.digest_id)
    if not slug or not site_url:
        return ""
    return f"{digest_page(site_url, slug)}#{item_anchor(entry.item.id)}"


def feed_updated(entries: tuple[FeedEntry, ...], zone: ZoneInfo) -> datetime:
    """The feed's time: its newest entry's `updated`; a fixed day for an empty feed."""
    if entries:
        return max(e.updated for e in entries)
    return datetime(EMPTY_FEED_YEAR, 1, 1, tzinfo=zone)


_CJK = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_SENTENCE_END = re.compile(r"(?<=[。！？!?])|(?<=[.;；])\s")
SUMMARY_CHARS = 160


def text_language(text: str) -> str:
    """zh-CN when the text has Chinese (or other CJK) characters, else en."""
    return "zh-CN" if _CJK.search(text) else "en"


def short_summary(text: str, limit: int = SUMMARY_CHARS) -> str:
    """The first sentence or two of a text, at most about `limit` characters (cut at a word
    or character with an ellipsis when a single sentence is longer)."""
    flat = " ".join(clean(text).split())
    if len(flat) <= limit:
        return flat
    shown = ""
    for sentence in _SENTENCE_END.split(flat):
        if not sentence.strip():
            continue
        if shown and len(shown) + len(sentence) > limit:
            break
        shown += sentence
        if len(shown) >= limit // 2:
            break
    shown = shown.strip()
    if not shown or len(shown) > limit:
        cut = flat[:limit]
        space = cut.rfind(" ")
        shown = (cut[:space] if space > limit // 2 else cut).rstrip() + "…"
    return shown


_IMAGE = re.compile(r'<img src="([^"]+)"')
_IMAGE_TAG = re.compile(r'<img src="([^"]*)" alt="([^"]*)">')


def first_image(item: Item) -> str | None:
    """The source of the summary's first picture with an http(s) source."""
    for found in _IMAGE.finditer(item.summary_html):
        url = safe_url(html.unescape(found.group(1)))
        if url:
            return url
    return None
