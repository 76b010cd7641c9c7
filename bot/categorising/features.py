"""The features the category model reads: character n-grams of an item's title and summary,
and in the later schemes a few more.

Training (`bot.categorising.training`) and inference (`bot.categorising.model`) both call
`features` with the model file's scheme, so the two can never disagree about what a feature
is. Character n-grams need no word segmentation, which Chinese lacks, and they survive
inflection and typos in English; but they do not carry across languages. The schemes:

- ``char-ngrams-v1``: character 1- to 3-grams (`ngrams`);
- ``char-ngrams-concepts-v1``: those, plus one feature ``~concept`` per concept of the
  committed bilingual glossary (`concepts.toml`) that the text names, in English or Chinese,
  so what is learned from 融资 in Chinese items also holds for "funding" in English ones;
- ``char-ngrams-words-concepts-v1``: those, plus one feature ``_word`` per Latin-script word
  of three or more letters (words longer than the n-grams).
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from functools import lru_cache
from importlib import resources

from bot.categorising.matching import KeywordMatcher

# The model file names the feature scheme; a file made for another scheme is refused.
SCHEME = "char-ngrams-v1"
SCHEME_CONCEPTS = "char-ngrams-concepts-v1"
SCHEME_WORDS_CONCEPTS = "char-ngrams-words-concepts-v1"
SCHEMES = (SCHEME, SCHEME_CONCEPTS, SCHEME_WORDS_CONCEPTS)
MIN_N = 1
MAX_N = 3
CONCEPT_MARK = "~"  # `~funding`: longer than any n-gram, so never one
WORD_MARK = "_"  # `_funding`: likewise (words of 3+ letters)

_SPACES = re.compile(r"\s+")
_ZERO_WIDTH = re.compile("[\u200b-\u200d\u2060\ufeff]")
_WORD = re.compile(r"[a-z][a-z0-9]{2,}")


def item_text(title: str, summary: str) -> str:
    """The text the model reads: NFKC, case-folded, whitespace collapsed. The title comes twice
    because it says what the story is about more often than the summary's details do."""
    text = f"{title} \n {title} \n {summary}"
    text = unicodedata.normalize("NFKC", _ZERO_WIDTH.sub("", text)).casefold()
    return _SPACES.sub(" ", text).strip()


def ngrams(title: str, summary: str) -> list[str]:
    """Every character n-gram (MIN_N..MAX_N) of the item text that is not only spaces, padded
    with a space at each end so word starts and ends are features of their own."""
    return _ngrams(f" {item_text(title, summary)} ")


def features(title: str, summary: str, scheme: str = SCHEME) -> list[str]:
    """The item's features under `scheme` (one of SCHEMES), repeated as often as they occur."""
    text = f" {item_text(title, summary)} "
    grams = _ngrams(text)
    if scheme == SCHEME:
        return grams
    if scheme not in SCHEMES:
        raise ValueError(f"unknown feature scheme {scheme!r}")
    matcher, concepts = _glossary()
    grams += [concepts[m.entry] for m in matcher.find(text)]
    if scheme == SCHEME_WORDS_CONCEPTS:
        grams += [WORD_MARK + word for word in _WORD.findall(text)]
    return grams


def _ngrams(text: str) -> list[str]:
    grams = [char for char in text if not char.isspace()] if MIN_N == 1 else []
    for n in range(max(MIN_N, 2), MAX_N + 1):
        # `item_text` leaves no two spaces together, so no longer n-gram is only spaces
        grams += [text[start : start + n] for start in range(len(text) - n + 1)]
    return grams


@lru_cache(maxsize=1)
def _glossary() -> tuple[KeywordMatcher, tuple[str, ...]]:
    """The glossary's matcher (every term once) and, per term, its concept's feature."""
    data = tomllib.loads(
        resources.files("bot.categorising").joinpath("concepts.toml").read_text(encoding="utf-8")
    )
    terms: list[str] = []
    concepts: list[str] = []
    for concept, words in data["concepts"].items():
        for word in words:
            folded = unicodedata.normalize("NFKC", word).casefold()
            terms.append(folded)
            concepts.append(CONCEPT_MARK + concept)
    return KeywordMatcher(terms), tuple(concepts)
