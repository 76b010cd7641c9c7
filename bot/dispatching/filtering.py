"""A chat's keyword filter (`/filter +OpenAI -融资`): literal words, never patterns.

Text and words are compared in one normal form (NFKC, then case-folded), so full-width letters,
ligatures and case do not matter; matching is substring search (`in`), which costs linear time
whatever the words are: no regular expression, no ReDoS. With include words, an item must contain
one of them; an item containing an exclude word is never sent."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

MAX_WORDS = 20
MAX_WORD_LENGTH = 40


def normal(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def searchable(title: str, summary: str) -> str:
    """An item's title and summary in the normal form, as filters search them (the newline
    keeps a word from matching across the two)."""
    return normal(title) + "\n" + normal(summary)


def passes(include: Iterable[str], exclude: Iterable[str], text: str) -> bool:
    """Whether `searchable` text passes a filter of normalised words."""
    if any(word in text for word in exclude):
        return False
    words = tuple(include)
    return not words or any(word in text for word in words)


def admits(include: Iterable[str], exclude: Iterable[str], title: str, summary: str) -> bool:
    """Whether an item with this title and summary passes a filter of normalised words."""
    return passes(include, exclude, searchable(title, summary))
