"""Does a digest look cut off mid-write? A guess from the text of its last item.

A writer that writes a digest in place, slowly, leaves files that parse but end early. The watcher
asks this module before handing over a file that was not renamed in, and holds a file that looks
cut off until it has been quiet a while longer; then it is taken as it is (a digest may really
end that way). Only the last item is looked at, found by scanning back from the end.
"""

from __future__ import annotations

import re
import unicodedata

from bot.parsing.failure import ParseFailure
from bot.parsing.items import parse_item_line
from bot.parsing.tags import split_tag_line
from bot.parsing.text import structural

_OPEN_LINK_TARGET_RE = re.compile(r"\]\([^)]*$")
_OPEN_LINK_LABEL_RE = re.compile(r"\[[^\]]*$")
_TRAILING_URL_RE = re.compile(r"https?://\S+$")
# Characters a sentence does not end on: a comma, an opening bracket, a dash.
_MID_SENTENCE = frozenset(",，、:：;；([{（【《「『-–—")


def cut_off_reason(text: str) -> str | None:
    """Why `text` (a whole digest) looks cut off, or None if its end looks finished."""
    body = text.rstrip()
    if not body:
        return "the file is empty"
    lines = body.split("\n")
    start = _last_item_index(lines)
    if start is None:
        return None  # no item at all: the parser says so, clearly
    tail = [line for line in lines[start:] if line.strip()]
    if len(tail) == 1:
        return "the last item has a title line but no summary yet"
    last_item = "\n".join(tail)
    if last_item.count("**") % 2:
        return "the last item has an unclosed `**`"
    last = tail[-1].rstrip()
    if _OPEN_LINK_TARGET_RE.search(last) or _OPEN_LINK_LABEL_RE.search(last):
        return "the last line has a link left open"
    return _mid_sentence(last)


def _last_item_index(lines: list[str]) -> int | None:
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        try:
            if parse_item_line(line, structural(line), index + 1) is not None:
                return index
        except ParseFailure:  # an item line without a title yet: cut off too
            return index
    return None


def _mid_sentence(last: str) -> str | None:
    if split_tag_line([last])[1] or _TRAILING_URL_RE.search(last):
        return None  # a tag line or a bare link: nothing more to come on it
    final = last[-1]
    if final in _MID_SENTENCE or unicodedata.category(final)[0] in "LN":
        return f"the text ends mid-sentence ({last[-20:]!r})"
    return None
