"""A digest as Telegram messages: header, numbered items, footer; split only between items.

Every item is laid out as a self-contained block of `Run`s; blocks are packed into parts while the
parsed text of a part stays within `limit` UTF-16 units (Telegram counts code points, which are
never more). An item too large for one part is split between sentences (else between words, else
between characters) and its pieces are packed like items. HTML is rendered from the runs last, so
a tag is never cut.

Layout of a message (the recipient's selection of one digest):

    <b>digest title</b>
    2025-11-27 12:00 (UTC+08:00)

    <b>1.</b> <a href="…"><b>item title</b></a> — author
    summary with <b>bold</b> kept

    #AI工具 #AI应用
    RSS: <a href="…">…</a>

Continuation parts start with `<b>digest title</b> (2/3)`.

Each chat reads its messages in its `Style`: the language of the fixed texts (the date line,
the footer's feed label) and the format: full as above, or compact (`/format compact`), where an
item is its number and linked title only.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from bot.categorising.table import CategoryTable
from bot.feeds.common import item_anchor
from bot.formatting.telegram_html import (
    Run,
    TolerantParser,
    clean_text,
    join_runs,
    parse_inline,
    plain_of,
    render,
    utf16_len,
)
from bot.model import Item
from bot.sanitizer import safe_url

__all__ = [
    "DEFAULT_STYLE",
    "LIMIT",
    "SETTINGS_DATA",
    "Part",
    "Revision",
    "Style",
    "format_digest",
    "hashtag",
    "layout_digest",
    "plain_text",
    "revise_layout",
    "settings_button",
]

LIMIT = 4096
SEPARATOR = "\n\n"
MAX_TITLE = 200  # digest title in the header, in characters
MAX_ITEM_TITLE = 1000
MAX_AUTHOR = 100
MAX_HASHTAGS = 12
MAX_HASHTAG = 40
_BOLD = (("b", ""),)
# A sentence ends after 。！？!?；; or … (closing quotes/brackets stay with it), after ". ",
# or at a line break.
_SENTENCE_END = re.compile(r"(?:[。！？!?；;…]+[”’\"'）)\]】」』》]*|\.(?=\s)|\n)[ \t\u3000]*\n*")
_SPACE_END = re.compile(r"\s+")
_MANY_NEWLINES = re.compile(r"\n{3,}")


@dataclass(frozen=True, slots=True)
class Style:
    """How one chat reads its messages: `lang` of the fixed texts ("zh" or "en"), and
    `compact`: numbered linked titles only."""

    lang: str = "zh"
    compact: bool = False


DEFAULT_STYLE = Style()
# the page link-less items link to: the digest's, or each item's by its id (a bundle)
Pages = str | Mapping[str, str]
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


SETTINGS_DATA = "st:open"  # the callback data of that button (bot.commands.settings_menu)


def settings_button(lang: str) -> str:
    """The label of the small button under a delivery's last part, which opens /settings."""
    return "⚙️ Settings" if lang == "en" else "⚙️ 设置"


@dataclass(frozen=True, slots=True)
class Part:
    """One message to send: Telegram HTML, its parsed length in UTF-16 units, the items in it."""

    html: str
    length: int
    item_ids: tuple[str, ...]
    disable_preview: bool


@dataclass(frozen=True, slots=True)
class _Block:
    runs: tuple[Run, ...]
    length: int
    item_id: str | None


def format_digest(
    digest_title: str,
    digest_date: datetime,
    items: Sequence[Item],
    *,
    zone: tzinfo,
    feed_url: str,
    table: CategoryTable,
    limit: int = LIMIT,
    page_url: Pages = "",
    style: Style = DEFAULT_STYLE,
) -> list[str]:
    """The HTML of each part of one message holding `items` (empty when there are none)."""
    parts = layout_digest(
        digest_title,
        digest_date,
        items,
        zone=zone,
        feed_url=feed_url,
        table=table,
        limit=limit,
        page_url=page_url,
        style=style,
    )
    return [part.html for part in parts]


def layout_digest(
    digest_title: str,
    digest_date: datetime,
    items: Sequence[Item],
    *,
    zone: tzinfo,
    feed_url: str,
    table: CategoryTable,
    limit: int = LIMIT,
    page_url: Pages = "",
    style: Style = DEFAULT_STYLE,
) -> list[Part]:
    """`format_digest` with what the outbox needs to know of each part. `page_url` is the
    digest's page (`…/d/<slug>/`): an item without a link of its own links to its anchor
    there ("" when the digest has no page: no link); or each item's page by item id, for a
    bundle of several digests' items."""
    if not items:
        return []
    frame = _Frame.of(
        digest_title, digest_date, items, zone, feed_url, table, limit, page_url, style
    )
    packed: list[list[_Block]] = []
    current: list[_Block] = []
    used = frame.head.length
    chunks = [chunk for _, chunk in frame.chunks(items)]
    for index, chunk in enumerate(chunks):
        need = len(SEPARATOR) + chunk.length
        if index == len(chunks) - 1:
            need += len(SEPARATOR) + frame.foot.length
        if current and used + need > limit:
            packed.append(current)
            current, used = [], frame.cont_reserve
        current.append(chunk)
        used += len(SEPARATOR) + chunk.length
    packed.append(current)
    return frame.render(packed, items)


@dataclass(frozen=True, slots=True)
class Revision:
    """A message laid out again after its digest changed: one part per part already planned,
    and the items that no longer fit into them (for a follow-up message)."""

    parts: list[Part]
    overflow: tuple[Item, ...]


def revise_layout(
    digest_title: str,
    digest_date: datetime,
    slots: Sequence[Sequence[Item]],
    extra: Sequence[Item] = (),
    *,
    zone: tzinfo,
    feed_url: str,
    table: CategoryTable,
    limit: int = LIMIT,
    page_url: Pages = "",
    style: Style = DEFAULT_STYLE,
) -> Revision:
    """Lay out a message again into its `len(slots)` existing parts.

    `slots` are the items each part held (their current text; items gone from the digest left
    out; an item split over several parts is in each); `extra` are items to add at the end.
    Every item stays in the part that held it, so a correction edits only the parts it touches
    (and an unchanged message comes out exactly as `layout_digest` laid it out). An item that
    no longer fits is left for a follow-up message, in `overflow`, whole.
    """
    if not slots:
        raise ValueError("a revision needs the parts of the message it revises")
    owner: dict[str, int] = {}
    for index, held in enumerate(slots):
        for item in held:
            owner.setdefault(item.id, index)
    members = list({item.id: item for held in slots for item in held}.values())
    members += [item for item in dict.fromkeys(extra) if item.id not in owner]
    overflow: dict[str, Item] = {}
    for _ in range(2):  # again without what overflowed: numbers and footer shrink with it
        placed = [item for item in members if item.id not in overflow]
        frame = _Frame.of(
            digest_title, digest_date, placed, zone, feed_url, table, limit, page_url, style
        )
        packed, spilled = _pack_into(frame, frame.chunks(placed), owner, len(slots))
        if not spilled:
            return Revision(frame.render(packed, placed), tuple(overflow.values()))
        overflow.update((item.id, item) for item in spilled)
    ordered = tuple(item for item in members if item.id in overflow)
    return Revision(frame.render(packed, placed), ordered)


def _pack_into(
    frame: _Frame,
    chunks: Sequence[tuple[Item, _Block]],
    owner: dict[str, int],
    count: int,
) -> tuple[list[list[_Block]], list[Item]]:
    """Chunks packed into exactly `count` parts: an item starts in the part that held it (or
    later), a chunk that does not fit moves on to the next part, and an item that would need a
    part after the last one is given up whole (and every new item after it, to keep order)."""
    packed: list[list[_Block]] = [[] for _ in range(count)]
    spilled: dict[str, Item] = {}
    current, used = 0, frame.head.length
    started: set[str] = set()
    for item, chunk in chunks:
        if item.id in spilled:
            continue
        target = owner.get(item.id)
        spot: int | None = current
        if target is None and spilled:
            spot = None
        elif item.id not in started and target is not None and target > current:
            current, used = target, _used(frame, packed[target], target)
            spot = current
        started.add(item.id)
        spot_used = used
        while spot is not None and not _fits(frame, packed[spot], spot_used, chunk, spot, count):
            if spot == count - 1:
                spot = None
            else:
                spot, spot_used = spot + 1, _used(frame, packed[spot + 1], spot + 1)
        if spot is None:
            spilled[item.id] = item
            for blocks in packed:
                blocks[:] = [b for b in blocks if b.item_id != item.id]
            used = _used(frame, packed[current], current)
            continue
        current, used = spot, spot_used
        packed[current].append(chunk)
        used += len(SEPARATOR) + chunk.length
    return packed, list(spilled.values())


def _fits(
    frame: _Frame, blocks: Sequence[_Block], used: int, chunk: _Block, index: int, count: int
) -> bool:
    need = len(SEPARATOR) + chunk.length
    if index == count - 1:
        need += len(SEPARATOR) + frame.foot.length
    return not blocks or used + need <= frame.limit


def _used(frame: _Frame, blocks: Sequence[_Block], index: int) -> int:
    start = frame.head.length if index == 0 else frame.cont_reserve
    return start + sum(len(SEPARATOR) + b.length for b in blocks)


@dataclass(frozen=True, slots=True)
class _Frame:
    """What every part of one message shares: header, continuation header, footer, room."""

    title: str
    head: _Block
    cont_reserve: int
    foot: _Block
    room: int
    limit: int
    page_url: Pages
    compact: bool

    @classmethod
    def of(
        cls,
        digest_title: str,
        digest_date: datetime,
        items: Sequence[Item],
        zone: tzinfo,
        feed_url: str,
        table: CategoryTable,
        limit: int,
        page_url: Pages = "",
        style: Style = DEFAULT_STYLE,
    ) -> _Frame:
        title = (
            _truncate(clean_text(digest_title).strip().replace("\n", " "), MAX_TITLE) or "digest"
        )
        moment = _local_time(digest_date, zone, style.lang)
        head = _block([Run(title, _BOLD), Run("\n" + moment)])
        cont_reserve = utf16_len(title) + len(" (999/999)")
        foot = _block(_footer(items, feed_url, table, style.lang))
        overhead = max(head.length, cont_reserve) + 2 * len(SEPARATOR) + foot.length
        room = limit - overhead
        if room < 64:
            raise ValueError(f"limit {limit} leaves no room for items after header and footer")
        return cls(title, head, cont_reserve, foot, room, limit, page_url, style.compact)

    def chunks(self, items: Sequence[Item]) -> list[tuple[Item, _Block]]:
        """Each item as one block, numbered in order, or as pieces when it exceeds the room."""
        out: list[tuple[Item, _Block]] = []
        for number, item in enumerate(items, 1):
            page = self.page_url
            if not isinstance(page, str):
                page = page.get(item.id, "")
            block = _item_block(number, item, page, self.compact)
            if block.length <= self.room:
                out.append((item, block))
            else:
                out.extend(
                    (item, _block(piece, block.item_id))
                    for piece in split_runs(list(block.runs), self.room)
                )
        return out

    def render(self, packed: Sequence[Sequence[_Block]], items: Sequence[Item]) -> list[Part]:
        distinct_items = {item.id for item in items}
        single_link = len(distinct_items) == 1 and safe_url(items[0].url) is not None
        parts: list[Part] = []
        for index, blocks in enumerate(packed):
            first = (
                self.head
                if index == 0
                else _block([Run(self.title, _BOLD), Run(f" ({index + 1}/{len(packed)})")])
            )
            sequence = [first, *blocks]
            if index == len(packed) - 1:
                sequence.append(self.foot)
            runs: list[Run] = []
            for position, block in enumerate(sequence):
                if position:
                    # compact titles are one a line (packing counted the longer separator)
                    between_items = 1 < position <= len(blocks) and self.compact
                    runs.append(Run("\n" if between_items else SEPARATOR))
                runs.extend(block.runs)
            runs = join_runs(runs)
            length = utf16_len(plain_of(runs))
            if length > self.limit:  # by construction impossible; never send what Telegram refuses
                raise AssertionError(f"part of {length} units exceeds {self.limit}")
            ids = tuple(dict.fromkeys(b.item_id for b in blocks if b.item_id is not None))
            parts.append(Part(render(runs), length, ids, not single_link))
        return parts


def hashtag(name: str) -> str | None:
    """`#name` with everything that ends a Telegram hashtag turned into `_` (None if nothing
    is left)."""
    body = re.sub(r"\W+", "_", clean_text(name)).strip("_")[:MAX_HASHTAG].strip("_")
    if not body:
        return None
    if body.isdigit():  # Telegram does not link an all-digit hashtag
        body = "_" + body
    return "#" + body


def _local_time(moment: datetime, zone: tzinfo, lang: str = "zh") -> str:
    local = moment.replace(tzinfo=zone) if moment.tzinfo is None else moment.astimezone(zone)
    offset = local.strftime("%z") or "+0000"
    utc = f"(UTC{offset[:3]}:{offset[3:]})"
    if lang == "en":  # month names spelled out here, never by the locale of the process
        return f"{local.day} {_MONTHS[local.month - 1]} {local.year}, {local:%H:%M} {utc}"
    return f"{local:%Y-%m-%d %H:%M} {utc}"


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _block(runs: Sequence[Run], item_id: str | None = None) -> _Block:
    runs = tuple(join_runs(runs))
    return _Block(runs, utf16_len(plain_of(runs)), item_id)


def _item_block(number: int, item: Item, page_url: str = "", compact: bool = False) -> _Block:
    title = _truncate(clean_text(item.title).strip().replace("\n", " "), MAX_ITEM_TITLE)
    url = safe_url(item.url)
    if not title:
        title = url or "…"
    if url is None and page_url:  # nothing of its own to open: its anchor on the digest page
        url = safe_url(f"{page_url}#{item_anchor(item.id)}")
    runs = [Run(f"{number}. ", _BOLD)]
    runs.append(Run(title, (("a", url), ("b", "")) if url else _BOLD))
    if compact:  # numbered linked titles only
        return _block(runs, item.id)
    author = _truncate(clean_text(item.author or "").strip().replace("\n", " "), MAX_AUTHOR)
    if author:
        runs.append(Run(f" — {author}"))
    summary = _summary_runs(item)
    if summary:
        runs.append(Run("\n"))
        runs.extend(summary)
    return _block(runs, item.id)


def _summary_runs(item: Item) -> list[Run]:
    if item.summary_html.strip():
        runs = parse_inline(item.summary_html)
    else:
        runs = [Run(clean_text(item.summary_text or item.summary_md))]
    runs = [Run(_MANY_NEWLINES.sub("\n\n", run.text), run.marks) for run in runs]
    return _strip_runs(join_runs(runs))


def _strip_runs(runs: list[Run]) -> list[Run]:
    """Leading and trailing white space removed (a run that becomes empty goes)."""
    while runs and not runs[0].text.strip():
        runs.pop(0)
    while runs and not runs[-1].text.strip():
        runs.pop()
    if runs:
        runs[0] = Run(runs[0].text.lstrip(), runs[0].marks)
        runs[-1] = Run(runs[-1].text.rstrip(), runs[-1].marks)
    return runs


def _footer(
    items: Sequence[Item], feed_url: str, table: CategoryTable, lang: str = "zh"
) -> list[Run]:
    order = {category.name: index for index, category in enumerate(table.categories)}
    names: dict[str, None] = {}
    for item in items:
        for name in item.categories:
            names.setdefault(table.get(name).name)
    ranked = sorted(names, key=lambda n: order.get(n, len(order)))
    tags = list(dict.fromkeys(t for t in map(hashtag, ranked) if t))[:MAX_HASHTAGS]
    runs: list[Run] = []
    if tags:
        runs.append(Run(" ".join(tags)))
    url = safe_url(feed_url)
    if url and len(url) <= 512:
        if runs:
            runs.append(Run("\n"))
        label = "RSS feed: " if lang == "en" else "RSS: "
        runs.extend([Run(label), Run(url, (("a", url),))])
    return runs


# Splitting -----------------------------------------------------------------------------------


def split_runs(runs: list[Run], room: int) -> list[list[Run]]:
    """Pieces of at most `room` UTF-16 units, cut between sentences where possible, else between
    words, else between characters (never inside a surrogate pair or a combining sequence)."""
    plain = plain_of(runs)
    offsets = [0]
    for char in plain:
        offsets.append(offsets[-1] + (2 if ord(char) > 0xFFFF else 1))
    sentence_ends = [m.end() for m in _SENTENCE_END.finditer(plain)]
    space_ends = [m.end() for m in _SPACE_END.finditer(plain)]
    cuts: list[tuple[int, int]] = []
    start = 0
    while start < len(plain):
        if offsets[-1] - offsets[start] <= room:
            cuts.append((start, len(plain)))
            break
        # the furthest index whose prefix from `start` fits
        reach = bisect.bisect_right(offsets, offsets[start] + room) - 1
        end = _last_before(sentence_ends, start, reach) or _last_before(space_ends, start, reach)
        if not end:
            end = reach
            while end > start + 1 and (_joins_previous(plain[end]) or plain[end - 1] == "\u200d"):
                end -= 1
        cuts.append((start, end))
        start = end
        while start < len(plain) and plain[start].isspace():
            start += 1
    return [_strip_runs(_slice(runs, a, b)) for a, b in cuts if plain[a:b].strip()]


def _last_before(ends: list[int], start: int, reach: int) -> int | None:
    index = bisect.bisect_right(ends, reach) - 1
    return ends[index] if index >= 0 and ends[index] > start else None


def _joins_previous(char: str) -> bool:
    """Characters that belong to the one before: combining marks, ZWJ, variation selectors,
    emoji modifiers."""
    code = ord(char)
    return (
        unicodedata.combining(char) != 0
        or code == 0x200D
        or 0xFE00 <= code <= 0xFE0F
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F
    )


def _slice(runs: list[Run], start: int, end: int) -> list[Run]:
    out: list[Run] = []
    position = 0
    for run in runs:
        a, b = position, position + len(run.text)
        position = b
        if b <= start or a >= end:
            continue
        out.append(Run(run.text[max(start, a) - a : min(end, b) - a], run.marks))
    return out


# Plain-text fallback -------------------------------------------------------------------------


class _TextParser(TolerantParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.bare: list[str] = []
        self.linked: list[str] = []
        self.links: list[tuple[str | None, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.links.append((dict(attrs).get("href"), len(self.bare)))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self.links:
            href, since = self.links.pop()
            shown = "".join(self.bare[since:])
            if href and href.strip() != shown.strip():
                self.linked.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        self.bare.append(data)
        self.linked.append(data)


def plain_text(html: str, limit: int = LIMIT) -> str:
    """What a message says without markup, for resending when Telegram refuses the HTML.
    Link targets follow their text in parentheses when that still fits in `limit`."""
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    linked = clean_text("".join(parser.linked)).strip()
    if utf16_len(linked) <= limit:
        return linked
    bare = clean_text("".join(parser.bare)).strip()
    if utf16_len(bare) <= limit:
        return bare
    return split_runs([Run(bare)], limit)[0][0].text
