"""The features the category model reads: character n-grams of an item's title and summary.

Training (`bot.categorising.training`) and inference (`bot.categorising.model`) both call
`ngrams`, so the two can never disagree about what a feature is. Character n-grams need no
word segmentation, which Chinese lacks, and they survive inflection and typos in English.
"""

from __future__ import annotations

import re
import unicodedata

# The model file names the feature scheme; a file made for another scheme is refused.
SCHEME = "char-ngrams-v1"
MIN_N = 1
MAX_N = 3

_SPACES = re.compile(r"\s+")
_ZERO_WIDTH = re.compile("[\u200b-\u200d\u2060\ufeff]")


def item_text(title: str, summary: str) -> str:
    """The text the model reads: NFKC, case-folded, whitespace collapsed. The title comes twice
    because it says what the story is about more often than the summary's details do."""
    text = f"{title} \n {title} \n {summary}"
    text = unicodedata.normalize("NFKC", _ZERO_WIDTH.sub("", text)).casefold()
    return _SPACES.sub(" ", text).strip()


def ngrams(title: str, summary: str) -> list[str]:
    """Every character n-gram (MIN_N..MAX_N) of the item text that is not only spaces, padded
    with a space at each end so word starts and ends are features of their own."""
    text = f" {item_text(title, summary)} "
    grams = [char for char in text if not char.isspace()] if MIN_N == 1 else []
    for n in range(max(MIN_N, 2), MAX_N + 1):
        # `item_text` leaves no two spaces together, so no longer n-gram is only spaces
        grams += [text[start : start + n] for start in range(len(text) - n + 1)]
    return grams
