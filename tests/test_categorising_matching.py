"""The one-pass keyword matcher finds what the per-keyword regular expressions find."""

from __future__ import annotations

import random
from pathlib import Path

from bot.categorising.matching import KeywordMatcher, keyword_regex
from bot.categorising.table import load_table
from bot.parsing.text import normalise_text

TABLE = Path(__file__).resolve().parent.parent / "config" / "categories.toml"


def by_regex(entries: list[str], text: str) -> list[tuple[int, int, int]]:
    return sorted(
        (m.start(), m.end(), index)
        for index, word in enumerate(entries)
        for m in keyword_regex(word).finditer(text)
    )


def by_matcher(entries: list[str], text: str) -> list[tuple[int, int, int]]:
    return sorted((m.start, m.end, m.entry) for m in KeywordMatcher(entries).find(text))


def test_word_rules_as_the_regular_expressions_have_them() -> None:
    entries = ["agi", "chip", "regulat*", "scaling law", "大模型", "模型", "c++", "aa", "gpu"]
    for text in [
        "magic agi chips chipset regulators scaling   laws",
        "大模型和模型 c++ aaaa gpus gpues gpu's",
        "scaling\nlaw scaling\t \nlaws agi-agi",
        "",
        "chip",
    ]:
        assert by_matcher(entries, text) == by_regex(entries, text), text


def test_the_shipped_table_on_random_text_is_found_alike() -> None:
    table = load_table(TABLE)
    entries = [word for rule in table.rules for word, _ in rule.keywords]
    pieces = [w.rstrip("*") for w in entries] + [" ", "  ", "\n", "s", "es", "a", "中", "1", "-"]
    rng = random.Random(12)
    matcher = KeywordMatcher(entries)
    for _ in range(300):
        text = normalise_text("".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))))
        got = sorted((m.start, m.end, m.entry) for m in matcher.find(text))
        assert got == by_regex(entries, text), text
