"""Telegram's HTML dialect, built from a model so that it is valid by construction.

Text is held as `Run`s: a piece of plain text with the marks (bold, italic, code, a link) that
apply to all of it. Runs are what gets measured and split; HTML is rendered from them last, every
run with its own complete, correctly nested tags, so cutting between runs (or inside one) can
never leave a tag open. Lengths are counted in UTF-16 code units of the text Telegram shows
(never fewer than its code points), which is what the 4096 limit is checked against.

`summary_html` of an item is not trusted: it is parsed, and only b/strong, i/em, u/ins,
s/strike/del, code/pre and a href (http/https with a host) survive; the rest becomes text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urlsplit

__all__ = [
    "Run",
    "clean_text",
    "escape",
    "escape_attribute",
    "join_runs",
    "parse_inline",
    "plain_of",
    "render",
    "safe_url",
    "utf16_len",
]

# Marks in nesting order, outermost first: a link may hold bold/italic, never the other way.
_ORDER = {"a": 0, "b": 1, "i": 2, "u": 3, "s": 4, "code": 5}
_TAG_MARK = {
    "b": "b",
    "strong": "b",
    "i": "i",
    "em": "i",
    "u": "u",
    "ins": "u",
    "s": "s",
    "strike": "s",
    "del": "s",
    "code": "code",
    "pre": "code",
    "tt": "code",
}
_BREAKING = frozenset(
    {"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "hr"}
    | {"ul", "ol", "table"}
)
_SKIPPED = frozenset({"script", "style", "template", "head", "title"})
# C0/C1 controls except tab and newline, lone surrogates, non-characters: Telegram refuses or
# mangles them, readers never need them.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_MAX_URL = 2048

Mark = tuple[str, str]  # ("b", ""), ("a", "https://...")


@dataclass(frozen=True, slots=True)
class Run:
    """Plain text and the marks that apply to all of it (canonical order, see `marks_of`)."""

    text: str
    marks: tuple[Mark, ...] = ()


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units (Telegram's entity offsets; never less than code points)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def clean_text(text: str) -> str:
    """Line endings to `\\n`, tabs to spaces, control characters and lone surrogates removed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    return _CONTROL.sub("", text)


def escape(text: str) -> str:
    """Text for Telegram HTML: only `&`, `<` and `>` need escaping (and only named entities
    Telegram knows are used)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_attribute(text: str) -> str:
    return escape(text).replace('"', "&quot;")


def safe_url(url: str | None) -> str | None:
    """The URL if it may be a link: http(s), a host, no spaces or controls, not absurdly long."""
    if not url:
        return None
    url = url.strip()
    if len(url) > _MAX_URL or not re.match(r"(?i)^https?://", url):
        return None
    if re.search(r"[\s\x00-\x1f\x7f<>\"]", url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return None
    if not host:
        return None
    return url


def marks_of(marks: Iterable[Mark]) -> tuple[Mark, ...]:
    """Canonical marks: one of each kind, in nesting order, within Telegram's nesting rules
    (code holds nothing and sits in nothing; a link wins over code)."""
    chosen: dict[str, Mark] = {}
    for mark in marks:
        chosen.setdefault(mark[0], mark)
    if "code" in chosen:
        chosen = {"a": chosen["a"]} if "a" in chosen else {"code": chosen["code"]}
    return tuple(sorted(chosen.values(), key=lambda m: _ORDER[m[0]]))


def join_runs(runs: Iterable[Run]) -> list[Run]:
    """Adjacent runs with the same marks merged, empty runs dropped."""
    out: list[Run] = []
    for run in runs:
        if not run.text:
            continue
        if out and out[-1].marks == run.marks:
            out[-1] = Run(out[-1].text + run.text, run.marks)
        else:
            out.append(run)
    return out


def render(runs: Sequence[Run]) -> str:
    """Telegram HTML of the runs: every run opens and closes its own tags."""
    parts: list[str] = []
    for run in join_runs(runs):
        if not run.marks:
            parts.append(escape(run.text))
            continue
        opened, closing = [], []
        for kind, value in run.marks:
            if kind == "a":
                opened.append(f'<a href="{escape_attribute(value)}">')
            else:
                opened.append(f"<{kind}>")
            closing.append(f"</{kind}>")
        parts.append("".join(opened) + escape(run.text) + "".join(reversed(closing)))
    return "".join(parts)


def plain_of(runs: Iterable[Run]) -> str:
    return "".join(run.text for run in runs)


class _InlineParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.runs: list[Run] = []
        self.stack: list[tuple[str, Mark | None]] = []  # (tag, mark it contributes)
        self.skipping = 0

    def _marks(self) -> tuple[Mark, ...]:
        return marks_of(mark for _, mark in self.stack if mark is not None)

    def _newline(self) -> None:
        if self.runs and not self.runs[-1].text.endswith("\n"):
            self.runs.append(Run("\n"))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self.skipping += 1
            return
        if tag in _BREAKING:
            self._newline()
            return
        mark: Mark | None = None
        if tag == "a":
            href = safe_url(dict(attrs).get("href"))
            mark = ("a", href) if href else None
        elif tag in _TAG_MARK:
            mark = (_TAG_MARK[tag], "")
        self.stack.append((tag, mark))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BREAKING:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self.skipping = max(0, self.skipping - 1)
            return
        if tag in _BREAKING:
            self._newline()
            return
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index]
                break

    def handle_data(self, data: str) -> None:
        if not self.skipping and data:
            self.runs.append(Run(clean_text(data), self._marks()))


def parse_inline(html: str) -> list[Run]:
    """Runs of an inline HTML fragment, keeping only what Telegram can show safely."""
    parser = _InlineParser()
    parser.feed(html)
    parser.close()
    return join_runs(parser.runs)
