"""Command arguments: the text after the command, and the categories it names.

A category is named by its name, slug or English label (case- and width-insensitive), or by a
unique part of one (`工具` → `AI工具`). Labels may hold spaces (`AI Tools`), so words are matched
greedily, longest phrase first; commas (`,，、;；`) also separate categories.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.categorising.table import CategoryTable, fold
from bot.model import Category

MAX_ARGUMENT_CHARS = 200
MAX_CATEGORIES = 20
ALL_WORDS = frozenset({"all", "*", "全部", "所有", "全部分类"})
_SEPARATORS = re.compile(r"[,，、;；]+")
_LONGEST_PHRASE = 6  # words; the longest label of the table is far shorter


class ArgumentError(ValueError):
    """Arguments refused before they are looked at: `kind` is "too_long" or "too_many"."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        super().__init__(kind)


@dataclass(frozen=True, slots=True)
class Selection:
    """What the words named: categories (in order, once each), or all; and what went wrong."""

    categories: tuple[Category, ...] = ()
    all: bool = False
    unknown: tuple[str, ...] = ()
    ambiguous: tuple[tuple[str, tuple[Category, ...]], ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.unknown and not self.ambiguous and (self.all or bool(self.categories))


def arguments(text: str | None) -> str:
    """The text after the command (`/subscribe@bot AI工具` → `AI工具`), stripped."""
    if not text:
        return ""
    parts = text.strip().split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""


def check_length(raw: str) -> None:
    if len(raw) > MAX_ARGUMENT_CHARS:
        raise ArgumentError("too_long")


def parse_categories(
    raw: str, table: CategoryTable, pool: tuple[Category, ...] | None = None
) -> Selection:
    """The categories `raw` names among `pool` (the table's categories by default).

    Raises ArgumentError when `raw` is too long or names more than MAX_CATEGORIES categories.
    """
    check_length(raw)
    pool = pool if pool is not None else table.categories
    found: list[Category] = []
    unknown: list[str] = []
    ambiguous: list[tuple[str, tuple[Category, ...]]] = []
    everything = False
    for piece in _SEPARATORS.split(raw):
        words = piece.split()
        i = 0
        while i < len(words):
            if fold(words[i]) in ALL_WORDS:
                everything, i = True, i + 1
                continue
            match, j = _match(words, i, table, pool)
            if match is not None:
                found.append(match)
            else:
                candidates = tuple(table.resolve(words[i], among=pool))
                if candidates:
                    ambiguous.append((words[i], candidates))
                else:
                    unknown.append(words[i])
            i = j
            if len(found) + len(unknown) + len(ambiguous) > MAX_CATEGORIES:
                raise ArgumentError("too_many")
    return Selection(
        categories=tuple(dict.fromkeys(found)),
        all=everything,
        unknown=tuple(dict.fromkeys(unknown)),
        ambiguous=tuple(ambiguous),
    )


def _match(
    words: list[str], start: int, table: CategoryTable, pool: tuple[Category, ...]
) -> tuple[Category | None, int]:
    """The category the longest phrase from `start` names exactly, else uniquely in part; and
    the index after the phrase (start + 1 when nothing matched)."""
    longest = min(len(words), start + _LONGEST_PHRASE)
    phrases = [
        (end, variant)
        for end in range(longest, start, -1)
        for variant in dict.fromkeys((" ".join(words[start:end]), "".join(words[start:end])))
    ]
    for end, phrase in phrases:
        wanted = fold(phrase)
        for category in pool:
            if wanted in (fold(category.name), fold(category.slug), fold(category.label)):
                return category, end
    for end, phrase in phrases:
        candidates = table.resolve(phrase, among=pool)
        if len(candidates) == 1:
            return candidates[0], end
    return None, start + 1


def find_slug(slug: str, pool: tuple[Category, ...]) -> Category | None:
    """The category with exactly this slug (deep links and buttons carry slugs)."""
    return next((c for c in pool if c.slug == slug), None)
