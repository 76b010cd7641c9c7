"""Telegram's HTML dialect, built from a model so that it is valid by construction.

Text is held as `Run`s: a piece of plain text with the marks (bold, italic, code, a link) that
apply to all of it. Runs are what gets measured and split; HTML is rendered from them last, every
run with its own complete, correctly nested tags, so cutting between runs (or inside one) can
never leave a tag open. Lengths are counted in UTF-16 code units of the text Telegram shows
(never fewer than its code points), which is what the 4096 limit is checked against.

`summary_html` of an item is not trusted: `parse_inline` is where it is read, for Telegram and
for the feeds alike, keeping only the tags of `bot.sanitizer`'s allowlist (b/strong, i/em, u/ins,
s/strike/del, code/pre, and a with an `href` that `safe_url` accepts); other HTML becomes its
text, and tag-like text that is no HTML (`<think>`) stays as written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser

from bot.sanitizer import (
    BREAKING_TAGS,
    HTML_ELEMENTS,
    LINK_ATTRIBUTE,
    LINK_TAG,
    SKIPPED_TAGS,
    TAG_MARKS,
    escape_attribute,
    escape_text,
    safe_url,
)

__all__ = [
    "Run",
    "clean_text",
    "join_runs",
    "parse_inline",
    "plain_of",
    "render",
    "utf16_len",
]

# Marks in nesting order, outermost first: a link may hold bold/italic, never the other way.
_ORDER = {"a": 0, "b": 1, "i": 2, "u": 3, "s": 4, "code": 5}
# C0/C1 controls except tab and newline, lone surrogates, non-characters: Telegram refuses or
# mangles them, readers never need them.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")

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
            parts.append(escape_text(run.text))
            continue
        opened, closing = [], []
        for kind, value in run.marks:
            if kind == "a":
                opened.append(f'<a href="{escape_attribute(value)}">')
            else:
                opened.append(f"<{kind}>")
            closing.append(f"</{kind}>")
        parts.append("".join(opened) + escape_text(run.text) + "".join(reversed(closing)))
    return "".join(parts)


def plain_of(runs: Iterable[Run]) -> str:
    return "".join(run.text for run in runs)


class TolerantParser(HTMLParser):
    """An HTMLParser that reads any text: on Python 3.11 a malformed marked section (`<![0`)
    raises AssertionError inside html.parser; such a `<!` is text, as a browser shows it."""

    def parse_html_declaration(self, i: int) -> int:
        try:
            return super().parse_html_declaration(i)
        except AssertionError:
            self.handle_data(self.rawdata[i : i + 2])
            return i + 2


class _InlineParser(TolerantParser):
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
        if tag not in HTML_ELEMENTS:  # `<think>`: text that looks like a tag, shown as written
            self.handle_data(self.get_starttag_text() or f"<{tag}>")
            return
        if tag in SKIPPED_TAGS:
            self.skipping += 1
            return
        if tag in BREAKING_TAGS:
            self._newline()
            return
        mark: Mark | None = None
        if tag == LINK_TAG:
            href = safe_url(dict(attrs).get(LINK_ATTRIBUTE))
            mark = ("a", href) if href else None
        elif tag in TAG_MARKS:
            mark = (TAG_MARKS[tag], "")
        self.stack.append((tag, mark))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in HTML_ELEMENTS:
            self.handle_data(self.get_starttag_text() or f"<{tag}/>")
        elif tag in BREAKING_TAGS:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag not in HTML_ELEMENTS:
            self.handle_data(f"</{tag}>")
            return
        if tag in SKIPPED_TAGS:
            self.skipping = max(0, self.skipping - 1)
            return
        if tag in BREAKING_TAGS:
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
