"""Render a Markdown fragment (a summary or a title) to safe inline HTML and to plain text.

The HTML holds only what Telegram's HTML mode and feed readers both accept: `<b>`, `<i>`, `<code>`
and `<a href>` with a link `bot.sanitizer.safe_url` accepts; everything else is escaped text.  Raw
HTML written in the Markdown is reduced to its text (`<br/>` becomes a line break) and never
passed through; tag-like text that is no HTML element (`<think>`, `Vec<T>`) is kept as written.
Block structure becomes text: paragraphs are separated by a blank line, list items start on their
own line with `• ` or their number, headings become bold.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence

from markdown_it import MarkdownIt
from markdown_it.common.utils import isMdAsciiPunct, isPunctChar, isWhiteSpace
from markdown_it.rules_inline.state_inline import Delimiter, Scanned, StateInline
from markdown_it.token import Token

from bot.sanitizer import (
    BREAKING_TAGS,
    SKIPPED_TAGS,
    escape_attribute,
    escape_text,
    image_html,
    is_html_tag,
    safe_url,
)

_TAG_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)[^<>]*>")
_MANY_NEWLINES_RE = re.compile(r"\n{3,}")
_SPACED_NEWLINE_RE = re.compile(r"[ \t]*\n[ \t]*")
# Characters that can start inline Markdown (emphasis, code, links, HTML, entities, escapes).
_INLINE_MARKUP_RE = re.compile(r"[\\`*_\[\]<>&!\n]")


def _scan_delims(state: StateInline, start: int) -> Scanned:
    """CommonMark's delimiter-run rules, with wide (CJK) characters counted as punctuation.

    Plain CommonMark leaves `这是**“重点”**的` un-bolded: a closing `**` after `”` must be
    followed by a space or punctuation, and Chinese text has no spaces.  Counting CJK
    characters as punctuation (as the markdown-it-cjk-friendly plugin does) fixes that and
    changes nothing for text without CJK characters.
    """
    src, marker = state.src, state.src[start]
    end = start
    while end < state.posMax and src[end] == marker:
        end += 1
    last = src[start - 1] if start > 0 else " "
    nxt = src[end] if end < state.posMax else " "
    last_punct = isMdAsciiPunct(ord(last)) or isPunctChar(last) or _is_wide(last)
    next_punct = isMdAsciiPunct(ord(nxt)) or isPunctChar(nxt) or _is_wide(nxt)
    last_space, next_space = isWhiteSpace(ord(last)), isWhiteSpace(ord(nxt))
    left = not (next_space or (next_punct and not (last_space or last_punct)))
    right = not (last_space or (last_punct and not (next_space or next_punct)))
    split_word = marker == "*"
    return Scanned(
        left and (split_word or not right or last_punct),
        right and (split_word or not left or next_punct),
        end - start,
    )


def _emphasis(state: StateInline, silent: bool) -> bool:
    """markdown-it's emphasis tokenizer, using `_scan_delims`."""
    marker = state.src[state.pos]
    if silent or marker not in ("_", "*"):
        return False
    scanned = _scan_delims(state, state.pos)
    for _ in range(scanned.length):
        token = state.push("text", "", 0)
        token.content = marker
        state.delimiters.append(
            Delimiter(
                marker=ord(marker),
                length=scanned.length,
                token=len(state.tokens) - 1,
                end=-1,
                open=scanned.can_open,
                close=scanned.can_close,
            )
        )
    state.pos += scanned.length
    return True


# `html=True` so that raw HTML arrives as html_inline/html_block tokens we can reduce to text;
# with it off, `<br/>` would reach the reader as the literal characters "<br/>".
_MD = MarkdownIt("commonmark", {"html": True})
_MD.inline.ruler.at("emphasis", _emphasis)


def render(markdown: str) -> tuple[str, str]:
    """(safe HTML, plain text) of a Markdown fragment."""
    if not markdown.strip():
        return "", ""
    blocks: list[tuple[str, str, int]] = []  # (html, text, number of its outermost list or 0)
    lists: list[list[int] | None] = []  # per open list: None for bullets, [next number] if ordered
    outermost = 0
    prefix = ""
    heading = False
    for token in _MD.parse(markdown):
        kind = token.type
        if kind in ("bullet_list_open", "ordered_list_open"):
            outermost += not lists
            lists.append([_list_start(token)] if kind == "ordered_list_open" else None)
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
        elif kind == "list_item_open":
            prefix = "  " * (len(lists) - 1) + _bullet(lists[-1], token)
        elif kind == "heading_open":
            heading = True
        elif kind == "heading_close":
            heading = False
        elif kind == "inline":
            h, t = render_inline(token.children or [])
            if heading:
                h = f"<b>{h}</b>" if h else h
            blocks.append((escape_text(prefix) + h, prefix + t, outermost if lists else 0))
            prefix = ""
        elif kind in ("code_block", "fence"):
            code = token.content.rstrip("\n")
            html_code = f"{escape_text(prefix)}<code>{escape_text(code)}</code>"
            blocks.append((html_code, prefix + code, outermost if lists else 0))
            prefix = ""
        elif kind == "html_block":
            text = html_to_text(token.content).strip()
            if text:
                blocks.append(
                    (escape_text(prefix + text), prefix + text, outermost if lists else 0)
                )
                prefix = ""
    return _join([(b[0], b[2]) for b in blocks]), _join([(b[1], b[2]) for b in blocks])


def render_inline(children: Sequence[Token]) -> tuple[str, str]:
    """(safe HTML, plain text) of one inline token's children."""
    hs: list[str | None] = []  # None marks a soft line break, resolved once neighbours are known
    ts: list[str | None] = []
    links: list[tuple[int, str] | None] = []  # per open link: (index of <a>, href) if emitted
    for token in children:
        kind = token.type
        if kind == "text":
            hs.append(escape_text(token.content))
            ts.append(token.content)
        elif kind == "softbreak":
            hs.append(None)
            ts.append(None)
        elif kind == "hardbreak":
            hs.append("\n")
            ts.append("\n")
        elif kind in ("strong_open", "strong_close", "em_open", "em_close"):
            tag = "b" if kind.startswith("strong") else "i"
            hs.append(f"<{tag}>" if kind.endswith("open") else f"</{tag}>")
            ts.append("")
        elif kind == "code_inline":
            hs.append(f"<code>{escape_text(token.content)}</code>")
            ts.append(token.content)
        elif kind == "link_open":
            href = safe_url(str(token.attrGet("href") or ""))
            if href is not None:
                links.append((len(hs), href))
                hs.append(f'<a href="{escape_attribute(href)}">')
            else:
                links.append(None)
                hs.append("")
            ts.append("")
        elif kind == "link_close":
            opened = links.pop() if links else None
            if opened is not None:
                if opened[0] == len(hs) - 1:  # `[](url)`: show the address rather than nothing
                    hs.append(escape_text(opened[1]))
                hs.append("</a>")
            else:
                hs.append("")
            ts.append("")
        elif kind == "image":  # kept for the web when its source is safe; the text is its alt
            picture = image_html(str(token.attrGet("src") or ""), token.content)
            hs.append(picture if picture is not None else escape_text(token.content))
            ts.append(token.content)
        elif kind == "html_inline":
            text = html_to_text(token.content)
            hs.append(escape_text(text))
            ts.append(text)
        else:  # any other inline token: its source text, escaped
            hs.append(escape_text(token.content))
            ts.append(token.content)
    breaks = _soft_breaks(ts)
    return _tidy(_fill(hs, breaks)), _tidy(_fill(ts, breaks))


def inline_text(markdown: str) -> str:
    """The plain text of one line of Markdown (a title, an author)."""
    if _INLINE_MARKUP_RE.search(markdown) is None:  # most titles: nothing for Markdown to do
        return markdown
    tokens = _MD.parseInline(markdown)
    return render_inline(tokens[0].children or [])[1] if tokens else ""


def html_to_text(raw: str) -> str:
    """The text of a piece of raw HTML: tags dropped, entities decoded, breaks kept as newlines.

    A hand-written scan rather than one regex over the whole string so that unclosed comments
    or `<script>` elements cost linear time.
    """
    out: list[str] = []
    lowered = raw.lower()
    i, n = 0, len(raw)
    while i < n:
        lt = raw.find("<", i)
        if lt < 0:
            out.append(raw[i:])
            break
        out.append(raw[i:lt])
        if raw.startswith("<!--", lt):
            end = raw.find("-->", lt + 4)
            i = n if end < 0 else end + 3
            continue
        m = _TAG_RE.match(raw, lt)
        if m is None:
            out.append("<")
            i = lt + 1
            continue
        i = m.end()
        if not is_html_tag(m[2]):  # `<think>`, `<T>`: text that only looks like a tag
            out.append(m[0])
            continue
        name = m[2].lower()
        if name in SKIPPED_TAGS and not m[1]:
            end = lowered.find(f"</{name}", i)
            i = n if end < 0 else end
        elif name in BREAKING_TAGS:
            out.append("\n")
    return _MANY_NEWLINES_RE.sub("\n\n", html.unescape("".join(out)))


def _list_start(token: Token) -> int:
    try:
        return int(str(token.attrGet("start") or 1))
    except ValueError:
        return 1


def _bullet(counter: list[int] | None, token: Token) -> str:
    if counter is None:
        return "• "
    number = token.info if token.info.isdigit() else str(counter[0])
    counter[0] += 1
    return f"{number}. "


def _join(blocks: list[tuple[str, int]]) -> str:
    parts: list[str] = []
    for index, (text, in_list) in enumerate(blocks):
        if index:
            # Items of one list stay on consecutive lines; anything else is a new paragraph.
            parts.append("\n" if in_list and in_list == blocks[index - 1][1] else "\n\n")
        parts.append(text)
    return "".join(parts).strip()


def _soft_breaks(ts: list[str | None]) -> dict[int, str]:
    """What each soft line break becomes: nothing between two CJK characters, else a space."""
    before: dict[int, str] = {}
    last = ""
    for index, piece in enumerate(ts):
        if piece is None:
            before[index], last = last, ""
        elif piece:
            last = piece[-1]
    result: dict[int, str] = {}
    following = ""
    for index in range(len(ts) - 1, -1, -1):
        piece = ts[index]
        if piece is None:
            wide = _is_wide(before[index]) and _is_wide(following)
            result[index], following = ("" if wide else " "), ""
        elif piece:
            following = piece[0]
    return result


def _is_wide(char: str) -> bool:
    return bool(char) and unicodedata.east_asian_width(char) in ("W", "F")


def _fill(pieces: list[str | None], breaks: dict[int, str]) -> str:
    return "".join(breaks[i] if p is None else p for i, p in enumerate(pieces))


def _tidy(text: str) -> str:
    """No spaces around a line break (`a <br/> b` is `a\nb`)."""
    return _SPACED_NEWLINE_RE.sub("\n", text) if "\n" in text else text
