"""Finding a table's keywords in an item's text: every keyword at once, in one pass.

A table has hundreds of keywords; searching them one regular expression at a time cost about
2 ms an item, most of an item's categorising. `KeywordMatcher` puts every keyword (weighted and
decisive, of every category) in one character trie and walks the text once from each position,
so the cost grows with the text, not with the table. The matches are those the per-keyword
regular expressions of `keyword_regex` give (the equivalence is tested):

- Chinese has no word boundaries, so CJK keywords match anywhere;
- a keyword that starts or ends with a Latin letter or digit must start or end a word there
  (`agi` is not in `magic`), taking an English plural (`chip` matches `chips`);
- a trailing `*` makes it a prefix (`regulat*` matches `regulation`);
- a space matches any run of whitespace;
- one keyword's matches do not overlap each other (as `re.finditer` gives them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_WHITESPACE = re.compile(r"\s+")
_UNUSUAL_SPACE = re.compile(r"\s\s|[^\S ]")  # a run, or whitespace other than a space
_END = ""  # the trie key under which a node lists the keywords that end there


@dataclass(frozen=True, slots=True)
class Match:
    """One keyword found: where (in the text as given) and which entry of the matcher."""

    start: int
    end: int
    entry: int


@dataclass(frozen=True, slots=True)
class _Keyword:
    entry: int
    needs_start: bool  # starts with a Latin letter or digit: must start a word
    needs_end: bool  # ends with one and is no prefix: must end a word, plural allowed


class KeywordMatcher:
    """Every occurrence of a set of keywords (see the module's notes) in a text.

    `entries` are the keywords as the table folds them; `find` reports matches by entry index,
    so one keyword listed by two categories (or as weighted and decisive) is two entries."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.entries = tuple(entries)
        self._root: dict[str, Any] = {}  # char → node; _END → the keywords ending here
        for index, keyword in enumerate(self.entries):
            prefix = keyword.endswith("*")
            word = " ".join(keyword.rstrip("*").split())
            if not word:
                continue
            node = self._root
            for char in word:
                child = node.get(char)
                if child is None:
                    child = node[char] = {}
                node = child
            node.setdefault(_END, []).append(
                _Keyword(index, word[0] in _WORD_CHARS, word[-1] in _WORD_CHARS and not prefix)
            )

    def find(self, text: str) -> list[Match]:
        """Every match in `text` (already normalised: `normalise_text`), by start position."""
        compact, where = _collapse(text)
        root, size = self._root, len(compact)
        found: list[Match] = []
        last_end: dict[int, int] = {}  # per entry: where its previous match ended (compact)
        for start in range(size):
            node = root.get(compact[start])
            if node is None:
                continue
            word_start = start == 0 or compact[start - 1] not in _WORD_CHARS
            position = start + 1
            while True:
                ends = node.get(_END)
                if ends is not None:
                    for keyword in ends:
                        if keyword.needs_start and not word_start:
                            continue
                        end = _word_end(compact, position) if keyword.needs_end else position
                        if end < 0 or start < last_end.get(keyword.entry, 0):
                            continue
                        last_end[keyword.entry] = end
                        found.append(Match(where[start], where[end - 1] + 1, keyword.entry))
                if position >= size:
                    break
                node = node.get(compact[position])
                if node is None:
                    break
                position += 1
        return found


def _word_end(text: str, end: int) -> int:
    """Where a keyword ending at `end` ends with its plural, as `(?:s|es)?(?![a-z0-9])` takes
    it (`s` tried first, then `es`, then nothing); -1 when it ends mid-word."""
    for suffix in ("s", "es", ""):
        stop = end + len(suffix)
        if text.startswith(suffix, end) and (stop >= len(text) or text[stop] not in _WORD_CHARS):
            return stop
    return -1


def _collapse(text: str) -> tuple[str, Sequence[int]]:
    """`text` with each whitespace run made one space, and each kept character's index in
    `text` (a keyword's space matches a whole run)."""
    if not _UNUSUAL_SPACE.search(text):
        return text, range(len(text))
    parts: list[str] = []
    where: list[int] = []
    position = 0
    for run in _WHITESPACE.finditer(text):
        parts.append(text[position : run.start()])
        where.extend(range(position, run.start()))
        parts.append(" ")
        where.append(run.start())
        position = run.end()
    parts.append(text[position:])
    where.extend(range(position, len(text)))
    return "".join(parts), where


@lru_cache(maxsize=8192)
def keyword_regex(keyword: str) -> re.Pattern[str]:
    """A keyword as a regular expression over normalised text: the specification of what
    `KeywordMatcher` finds (see the module's notes)."""
    prefix = keyword.endswith("*")
    word = keyword.rstrip("*").strip()
    body = r"\s+".join(re.escape(part) for part in word.split())
    if word[:1] in _WORD_CHARS:
        body = r"(?<![a-z0-9])" + body
    if word[-1:] in _WORD_CHARS and not prefix:
        body += r"(?:s|es)?(?![a-z0-9])"
    return re.compile(body)
