"""Find the numbered items of a digest's body: each title line and the summary lines under it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from markdown_it.helpers import parseLinkDestination, parseLinkTitle

from bot.parsing.failure import ParseFailure
from bot.parsing.summary import inline_text
from bot.parsing.text import structural

# `1.  t`, `1、t`, `1．t`, `### 1. t`, `**1. t**`, `**1.** t`; at most three spaces of indent,
# as in Markdown, so that a numbered list inside an indented summary is not taken for an item.
_ITEM_RE = re.compile(
    r"[ ]{0,3}(?P<hashes>#{1,6}[ \t]+)?(?P<bold>\*\*|__)?[ \t]*(?P<num>\d{1,9})(?P<sep>[.、．])"
)
_SEPARATOR_RE = re.compile(r"[ \t]*(?:--?|——?|–|－)[ \t]*")
# The author separator inside a title line without a link must have a space on each side,
# so `GPT-4o` stays whole; lookarounds of one character keep the search linear.
_SPACED_SEPARATOR_RE = re.compile(r"(?<=[ \t])(?:--?|——?|–)(?=[ \t])")
_TAB = 4


@dataclass
class ItemDraft:
    """An item as found in the file, before its summary is rendered and its id given."""

    line: int
    position: int
    title: str
    url: str | None
    author: str | None
    summary: list[str] = field(default_factory=list)
    indented: bool | None = None  # whether the summary is indented under the title line


def scan_items(lines: list[str], first_line: int) -> list[ItemDraft]:
    """The items of the body `lines`, whose first line is line `first_line` of the file.

    Text before the first item, and after a heading or a `---` rule that ends an item, is not
    part of any item and is ignored.  An item's summary is every following line up to the next
    item; once the summary is indented, an unindented line after a blank line ends it too.
    """
    drafts: list[ItemDraft] = []
    current: ItemDraft | None = None
    after_blank = False
    for offset, line in enumerate(lines):
        number = first_line + offset
        flat = structural(line)
        draft = parse_item_line(line, flat, number)
        if draft is not None:
            drafts.append(draft)
            current, after_blank = draft, False
            continue
        if current is None:
            continue
        stripped = flat.strip()
        if not stripped:
            current.summary.append("")
            after_blank = True
            continue
        indent = indent_width(flat)
        if indent <= 3 and (is_heading(stripped) or _is_rule(stripped)):
            current = None
            continue
        if current.indented is None:
            current.indented = indent > 0
        elif current.indented and after_blank and indent == 0:
            current = None
            continue
        current.summary.append(line)
        after_blank = False
    return drafts


def parse_item_line(line: str, flat: str, number: int) -> ItemDraft | None:
    """The item that `line` (line `number`) starts, or None if it is not an item line.

    `flat` is `line` with space-like characters made ASCII spaces, index for index.
    """
    m = _ITEM_RE.match(flat)
    if m is None:
        return None
    rest_flat = flat[m.end() :]
    if m["sep"] == "." and rest_flat and rest_flat[0] not in " \t*_[":
        # `1.5 亿` or `2025.11` at the start of a line is text, not an item; `5.[t](u)` and
        # `5.**t**` are items, since no sentence goes on from a number like that
        return None
    start = m.end() + len(rest_flat) - len(rest_flat.lstrip(" \t"))
    body, body_flat = line[start:], flat[start:]
    if m["hashes"]:
        body, body_flat = _drop_closing_hashes(body, body_flat)
    marker = m["bold"]
    if marker and body.startswith(marker):  # `**1.** title`: only the number is bold
        skip = 2 + len(body_flat[2:]) - len(body_flat[2:].lstrip(" \t"))
        body, body_flat, marker = body[skip:], body_flat[skip:], None
    title, url, author = _title_url_author(body, body_flat, marker, number)
    if not title:
        raise ParseFailure(number, f"item {m['num']} has no title")
    return ItemDraft(number, int(m["num"]), title, url, author)


def _title_url_author(
    body: str, flat: str, marker: str | None, number: int
) -> tuple[str, str | None, str | None]:
    if marker is None and body.startswith(("**", "__")):
        marker, body, flat = body[:2], body[2:], flat[2:]
    if body.startswith("["):
        link = _parse_link(body, flat, number)
        if link is not None:
            label, url, end = link
            after, after_flat = _close_bold(body[end:], flat[end:], marker)
            title, author = inline_text(label), _author(after, after_flat)
            if author is None and after.strip():  # text after the link but no separator
                title = f"{title} {inline_text(after.strip())}"
            return title.strip(), url, author or None
    if marker is not None:
        close = body.find(marker)
        if close >= 0:
            author = _author(body[close + 2 :], flat[close + 2 :])
            if author is not None:
                title, url = _text_and_url(body[:close], flat[:close], number)
                return title, url, author or None
            if not body[close + 2 :].strip():  # `**1. title - author**`
                return _plain(body[:close], flat[:close], number)
            # `1. **重点** 其余`: the bold is only part of the title; render the whole as text
            body, flat = marker + body, marker + flat
    return _plain(body, flat, number)


def _plain(body: str, flat: str, number: int) -> tuple[str, str | None, str | None]:
    """Title, url and author of a title line not starting with a link: split at the last
    spaced dash (a link after it is the author's, not the item's)."""
    last = None
    for last in _SPACED_SEPARATOR_RE.finditer(flat):  # noqa: B007 - we want the last match
        pass
    if last is None:
        return *_text_and_url(body, flat, number), None
    author = inline_text(body[last.end() :]).strip()
    return *_text_and_url(body[: last.start()], flat[: last.start()], number), author or None


def _text_and_url(body: str, flat: str, number: int) -> tuple[str, str | None]:
    """The text of a title that does not start with a link, and the url of its first link.

    `[OpenAI] [标题](url)` and `标题：[原文](url)`: the link is the item's, and its label stays
    part of the title, as written.  Only web links count (`[注](见下文)` is text), and a
    `[` without `]` is text too (`区间 [0, 1)`), but a link left open is an error as ever.
    """
    opened: list[int] = []
    i, n = 0, len(body)
    while i < n:
        char = body[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            opened.append(i)
        elif char == "]" and opened:
            start = opened.pop()
            if body.startswith("(", i + 1) and _is_web(flat, _skip_spaces(flat, i + 2)):
                link = _parse_link(body[start:], flat[start:], number)
                return inline_text(body).strip(), link[1] if link else None
        i += 1
    return inline_text(body).strip(), None


def _is_web(flat: str, i: int) -> bool:
    """Whether a web address (`http://`, `https://`, `www.`) starts at `flat[i]`."""
    return flat[i : i + 8].lower().startswith(("http://", "https://", "www."))


def _parse_link(body: str, flat: str, number: int) -> tuple[str, str | None, int] | None:
    """`[label](destination "title")` at the start of `body`: (label, url, end) or None.

    None when the brackets are not followed by `(` (`[视频] 标题` is a plain title), or only by
    spaces and `(` without a web address (`[视频] (重制版)`).  A link
    that is opened but not closed is an error: it is what a file still being written looks like.
    """
    depth, i, n = 0, 0, len(body)
    while i < n:
        char = body[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                break
        i += 1
    else:
        raise ParseFailure(number, _unclosed("'[' without ']'"))
    label, i = body[1:i], _paren_after(body, flat, i + 1)
    if i >= n or body[i] != "(":
        return None
    i = _skip_spaces(flat, i + 1)
    destination = ""
    if i < n and body[i] != ")":
        dest = parseLinkDestination(body, i, n)
        if not dest.ok:
            raise ParseFailure(number, _unclosed("'(' without ')'"))
        destination, i = dest.str, _skip_spaces(flat, dest.pos)
        if i < n and body[i] in "\"'(":
            link_title = parseLinkTitle(body, i, n)
            if link_title.ok:
                i = _skip_spaces(flat, link_title.pos)
    if i >= n:
        raise ParseFailure(number, _unclosed("'(' without ')'"))
    if body[i] != ")":
        raise ParseFailure(
            number, "malformed link: the address holds a space (write it as %20) or stray text"
        )
    return label, _web_url(destination), i + 1


def _paren_after(body: str, flat: str, i: int) -> int:
    """Where the `(` after a link's `]` is: at `i`, or past spaces if a web address follows.

    `[t] (https://…)` is a link written with a stray space; `[视频] (重制版)` is text.
    """
    after = _skip_spaces(flat, i)
    if after > i and body.startswith("(", after) and _is_web(flat, _skip_spaces(flat, after + 1)):
        return after
    return i


def _unclosed(what: str) -> str:
    return f"unclosed Markdown link on the item line ({what}); is the file still being written?"


def _web_url(destination: str) -> str | None:
    """The link if it is an absolute http(s) URL (a bare `www.` address gets https), else None.

    Other schemes (`javascript:`, relative paths) are dropped rather than published.
    """
    url = destination.strip().replace(" ", "%20")  # `<https://a.com/a b>` is a valid destination
    if url.lower().startswith("www."):
        url = f"https://{url}"
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def _close_bold(after: str, flat: str, marker: str | None) -> tuple[str, str]:
    if marker is None:
        return after, flat
    skip = len(flat) - len(flat.lstrip(" \t"))
    if after[skip:].startswith(marker):
        return after[skip + 2 :], flat[skip + 2 :]
    end = len(flat.rstrip(" \t"))
    if flat[:end].endswith(marker):  # `**[t](u) - author**`
        return after[: end - 2], flat[: end - 2]
    return after, flat


def _author(after: str, flat: str) -> str | None:
    """The author named after a separator (` - name`, ` — name`, ` – name`).

    None if there is no separator; "" if the separator is followed by nothing.
    """
    m = _SEPARATOR_RE.match(flat)
    if m is None:
        return None
    return inline_text(after[m.end() :]).strip()


def _drop_closing_hashes(body: str, flat: str) -> tuple[str, str]:
    """`### 1. title ###`: the closing sequence of a Markdown heading is not part of the title."""
    trimmed = flat.rstrip(" \t")
    without = trimmed.rstrip("#")
    if without != trimmed and (not without or without[-1] in " \t"):
        keep = len(without.rstrip(" \t"))
        return body[:keep], flat[:keep]
    return body, flat


def _skip_spaces(flat: str, i: int) -> int:
    n = len(flat)
    while i < n and flat[i] in " \t":
        i += 1
    return i


def indent_width(flat: str) -> int:
    """Columns of leading whitespace, a tab counting to the next multiple of four."""
    width = 0
    for char in flat:
        if char == " ":
            width += 1
        elif char == "\t":
            width += _TAB - width % _TAB
        else:
            break
    return width


def dedent(lines: list[str]) -> list[str]:
    """The lines with their common indentation removed (blank lines become empty)."""
    measured = []
    for line in lines:
        flat = structural(line)
        content = len(flat) - len(flat.lstrip(" \t"))
        measured.append((indent_width(flat), content, content == len(flat)))
    common = min((width for width, _, blank in measured if not blank), default=0)
    return [
        "" if blank else " " * (width - common) + line[content:]
        for line, (width, content, blank) in zip(lines, measured, strict=True)
    ]


def is_heading(stripped: str) -> bool:
    """Whether a stripped line is a Markdown ATX heading (`# …` to `###### …`)."""
    hashes = len(stripped) - len(stripped.lstrip("#"))
    return 1 <= hashes <= 6 and (len(stripped) == hashes or stripped[hashes] in " \t")


def heading_text(stripped: str) -> str:
    """The text of a heading line, without its `#` marks."""
    text, _ = _drop_closing_hashes(stripped.lstrip("#"), structural(stripped.lstrip("#")))
    return inline_text(text.strip()).strip()


def _is_rule(stripped: str) -> bool:
    """Whether a stripped line is a Markdown thematic break (`---`, `***`, `- - -`)."""
    compact = stripped.replace(" ", "").replace("\t", "")
    return len(compact) >= 3 and compact[0] in "-*_" and compact == compact[0] * len(compact)
